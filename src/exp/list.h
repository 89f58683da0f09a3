/* Every experiment in the registry, in the order `soma list` shows them. Adding one: a file
 * src/exp/NAME.c defining `const soma_experiment soma__exp_NAME`, and one line here. */
SOMA_EXP(perceptron)
SOMA_EXP(mlp_fmnist)
SOMA_EXP(lenet_fmnist)
SOMA_EXP(lif_fi)
SOMA_EXP(izhikevich)
SOMA_EXP(cuba)
SOMA_EXP(coba)
SOMA_EXP(brunel2000)
SOMA_EXP(stdp_song2000)
SOMA_EXP(snn_fmnist)
SOMA_EXP(dqn_cartpole)
SOMA_EXP(world_model_cartpole)
