"""The binding layer: cffi declarations of the C functions used, the library loader, and the
helpers every wrapper goes through (array checks, status checks, long calls that Ctrl-C can
stop). A new C function needs its declaration in CDEF and a few lines in a wrapper.

Structs the Python side allocates or receives by value are declared in full, exactly as in
include/soma/*.h (python/tests/test_layout.py compiles a C program that checks every size and
offset); structs only read through pointers returned by the library are declared as a prefix.
"""

import os
import threading

import numpy as np
from cffi import FFI

CDEF = r"""
typedef int soma_status;
const char *soma_status_str(soma_status s);
const char *soma_errmsg(void);
void soma_error_clear(void);
void soma_cancel_request(void);
void soma_cancel_clear(void);
int soma_cancel_requested(void);
int soma_cancel_on_sigint(int on);
void soma_set_threads(int n);
int soma_get_threads(void);
int soma_have_openmp(void);
double soma_now(void);
void soma_free(void *p);
int soma_machine_describe(char *buf, size_t cap);
const char *soma_blas_core(void);
const char *soma_blas_core_advice(void);

typedef struct soma_shape { int rank; int d[4]; } soma_shape;
typedef struct soma_rng { uint64_t s[4]; double spare; int has_spare; } soma_rng;

/* io */
typedef struct soma_array {
    int dtype; int ndim; int64_t shape[8]; size_t n; void *data;
} soma_array;
void soma_array_deinit(soma_array *a);
soma_status soma_npy_read(const char *path, soma_array *out);
soma_status soma_idx_read(const char *path, soma_array *out);
soma_status soma_npy_write(const char *path, int dtype, int ndim, const int64_t *shape,
                           const void *data);
typedef struct soma_dataset {
    char name[64]; int n; soma_shape shape; size_t dim; int n_classes;
    uint8_t *x_u8; float scale; float *x_f32; int *y; int y_len; float *t; size_t t_dim;
    soma_shape t_shape;
} soma_dataset;
soma_status soma_dataset_load(const char *spec, int train, const char *fmnist_dir,
                              soma_dataset **out);
soma_status soma_dataset_from_arrays(const soma_array *x, const soma_array *y, const char *name,
                                     soma_dataset **out);
soma_status soma_dataset_synthetic(const char *kind, int n, int dim, int k, float sep,
                                   uint64_t seed, soma_dataset **out);
soma_status soma_dataset_split(const soma_dataset *d, double val_frac, uint64_t seed,
                               soma_dataset **train, soma_dataset **val);
void soma_dataset_free(soma_dataset *d);
void soma_dataset_batch(const soma_dataset *d, const int *idx, int n, float *x, int *y);
void soma_dataset_batch_targets(const soma_dataset *d, const int *idx, int n, int *y, float *t);

/* nn (soma_layer and soma_param: prefixes, read through pointers only) */
typedef struct soma_net soma_net;
typedef struct soma_layer { void *ops; void *impl; soma_shape in, out; } soma_layer;
typedef struct soma_param {
    char name[24]; float *value; float *grad; size_t n; int ndim; int dims[4];
} soma_param;
soma_status soma_net_new(soma_net **out, const char *spec, soma_shape in, uint64_t seed);
void soma_net_free(soma_net *net);
soma_status soma_net_reserve(soma_net *net, int max_n);
soma_status soma_net_forward(soma_net *net, const float *x, int n, int mode, const float **y);
int soma_net_n_layers(const soma_net *net);
soma_layer *soma_net_layer(soma_net *net, int i);
float *soma_net_activation(soma_net *net, int i);
soma_shape soma_net_in_shape(const soma_net *net);
soma_shape soma_net_out_shape(const soma_net *net);
const char *soma_net_spec(const soma_net *net);
int soma_net_n_params(const soma_net *net);
soma_param *soma_net_param(soma_net *net, int i);
const char *soma_net_param_name(const soma_net *net, int i);
void soma_net_summary(const soma_net *net, char *buf, size_t cap);
soma_status soma_net_save_npy(soma_net *net, const char *dir);
soma_status soma_net_load_npy(soma_net *net, const char *dir);
soma_status soma_snn_register_layers(void);

typedef struct soma_optim soma_optim;
typedef struct soma_optim_config {
    int kind; float momentum; int nesterov; float weight_decay; float beta1, beta2, eps;
} soma_optim_config;
soma_optim_config soma_optim_defaults(int kind);
soma_status soma_optim_new(soma_optim **out, soma_net *net, const soma_optim_config *cfg);
void soma_optim_free(soma_optim *o);
soma_status soma_optim_parse(const char *name, int *kind);
typedef struct soma_sched {
    int kind; float lr, lr_min, gamma; long step_size; long total; long warmup;
} soma_sched;
soma_status soma_sched_parse(const char *name, int *kind);

typedef struct soma_ckpt_meta {
    long epoch; long step; uint64_t seed; soma_rng data_rng; int version;
} soma_ckpt_meta;
soma_status soma_ckpt_save(const char *path, soma_net *net, soma_optim *opt,
                           const soma_ckpt_meta *meta);
soma_status soma_ckpt_load(const char *path, soma_net *net, soma_optim *opt, soma_ckpt_meta *meta);
soma_status soma_ckpt_peek(const char *path, char *spec, size_t cap, soma_shape *in);

/* learn */
typedef struct soma_rule soma_rule;
soma_status soma_loss_parse(const char *name, int *k);
soma_status soma_rule_kind_parse(const char *name, int *k);
typedef struct soma_rule_opts {
    int kind; int loss; uint64_t seed; float fb_scale; int pc_steps; float pc_rate;
    float pc_err_scale; int pc_fixed_pred; float ff_theta; int ff_negatives; int ff_hard;
    int ff_vote_all; int hebb;
} soma_rule_opts;
soma_rule_opts soma_rule_opts_default(void);
soma_status soma_rule_new(soma_rule **out, soma_net *net, const soma_rule_opts *o);
void soma_rule_free(soma_rule *r);
soma_status soma_rule_predict(soma_rule *r, soma_net *net, const float *x, int n, int positions,
                              int *pred);
typedef struct soma_train_hooks {
    void *user; void *after_grad; void *after_step; void *epoch_end; void *task_end;
    void *save; void *load;
} soma_train_hooks;
typedef struct soma_train_config {
    int epochs; int batch; soma_sched sched; uint64_t seed; int eval_batch; int eval_every;
    const char *ckpt_path; int resume; const char *label; int quiet; int data_parallel;
    soma_train_hooks hooks; int task; const char *log_path; int head_offset; int head_count;
    void *batch_hook; int batch_extra; void *target_hook; int distributed; int no_overlap;
} soma_train_config;
soma_train_config soma_train_defaults(void);
typedef struct soma_train_log {
    int epochs; float *train_loss, *train_acc, *test_acc, *test_loss, *lr;
    double *epoch_seconds; double train_seconds; double samples_per_second; long samples;
    int start_epoch; int ranks; double allreduce_seconds; int allreduce_overlap;
} soma_train_log;
void soma_train_log_free(soma_train_log *log);
soma_status soma_train(soma_net *net, soma_rule *rule, soma_optim *opt, const soma_dataset *train,
                       const soma_dataset *held_out, const soma_train_config *cfg,
                       soma_train_log *log);
soma_status soma_evaluate_rule(soma_net *net, soma_rule *rule, const soma_dataset *d, int batch,
                               float *acc, float *loss);

/* analysis */
typedef struct soma_rdm_opts { int metric; double shrinkage; } soma_rdm_opts;
soma_status soma_rdm_metric_parse(const char *name, int *out);
soma_status soma_rdm(const double *X, int n, int p, int n_rep, const soma_rdm_opts *o,
                     double *rdm);
void soma_rdm_to_square(const double *rdm, int n, double *sq);
soma_status soma_rdm_from_square(const double *sq, int n, double *rdm);
soma_status soma_rsa_method_parse(const char *name, int *out);
soma_status soma_rsa_compare(const double *a, const double *b, int n, int method, double *value);
soma_status soma_rsa_permtest(const double *a, const double *b, int n, int method,
                              long n_perm, uint64_t seed, double *value, double *p);
soma_status soma_rsa_noise_ceiling(const double *data, int n_subj, int n, int method,
                                   double *lower, double *upper);
typedef struct soma_cka_opts { int kernel; double sigma_frac; int unbiased; } soma_cka_opts;
soma_status soma_cka(const double *X, int p, const double *Y, int q, int n,
                     const soma_cka_opts *o, double *value);
soma_status soma_procrustes(const double *X, int p, const double *Y, int q, int n,
                            double *dist, double *angle);
typedef struct soma_ridge_opts {
    const double *alphas; int n_alphas; int folds; int intercept; uint64_t seed;
} soma_ridge_opts;
soma_ridge_opts soma_ridge_opts_default(void);
typedef struct soma_ridge { int p, q; double *W; double *b; double *alpha; double *cv_r2; } soma_ridge;
soma_status soma_ridge_fit(const double *X, const double *Y, int n, int p, int q,
                           const soma_ridge_opts *o, soma_ridge *out);
soma_status soma_ridge_predict(const soma_ridge *m, const double *X, int n, double *Yhat);
void soma_ridge_free(soma_ridge *m);
typedef struct soma_encode_result {
    int q; double *r; double *r2; double *ceiling; double *alpha;
    double mean_r, mean_r2, mean_ceiling; double mean_r_norm;
} soma_encode_result;
soma_status soma_encode(const double *X, int n, int p, const double *Y, int q, int n_rep,
                        const soma_ridge_opts *o, soma_encode_result *out);
void soma_encode_result_free(soma_encode_result *r);
typedef struct soma_pca {
    int p, k; double *mean; double *components; double *var; double total_var;
} soma_pca;
soma_status soma_pca_fit(const double *X, int n, int p, int k, soma_pca *out);
soma_status soma_pca_transform(const soma_pca *m, const double *X, int n, double *Z);
void soma_pca_free(soma_pca *m);
double soma_participation_ratio(const double *eig, int k);
soma_status soma_cvpca(const double *X1, const double *X2, int n, int p, int k, double *eig);
typedef struct soma_sparse_opts { int solver; float lambda; int iters; float tol; int nonneg; } soma_sparse_opts;
soma_status soma_sparse_code(const float *D, int k, int d, const float *X, int n,
                             const soma_sparse_opts *o, float *A);
typedef struct soma_dict_opts {
    soma_sparse_opts code; int k; int steps; int batch; float lr; uint64_t seed;
} soma_dict_opts;
soma_status soma_dict_learn(const float *X, int n, int d, const soma_dict_opts *o,
                            void *progress, float **D, double *mse, double *l0);

/* snn */
typedef struct soma_spikes {
    int n_neurons; long n, cap; int *id; double *t; double t_start, t_stop;
} soma_spikes;
typedef struct soma_snn soma_snn;
void soma_snn_free(soma_snn *net);
typedef struct soma_snn_json_monitor { char var[8]; int n_neurons; int *neurons; } soma_snn_json_monitor;
typedef struct soma_snn_json_info {
    double duration; uint64_t seed; int n_monitors; soma_snn_json_monitor *monitors;
} soma_snn_json_info;
soma_status soma_snn_from_json_info(const char *text, soma_snn **out, soma_snn_json_info *info);
void soma_snn_json_info_free(soma_snn_json_info *info);
soma_status soma_snn_run(soma_snn *net, double duration);
double soma_snn_time(const soma_snn *net);
double soma_snn_dt(const soma_snn *net);
int soma_snn_n_groups(const soma_snn *net);
const char *soma_snn_group_name(const soma_snn *net, int group);
int soma_snn_group_size(const soma_snn *net, int group);
int soma_snn_n_monitors(const soma_snn *net);
soma_status soma_snn_monitor_info(const soma_snn *net, int mon, int *kind, int *group);
const soma_spikes *soma_snn_spikes(const soma_snn *net, int mon);
soma_status soma_snn_state(const soma_snn *net, int mon, const float **data, const double **t,
                           long *n_samples, int *n_neurons);
soma_status soma_snn_rate(const soma_snn *net, int mon, const float **hz, long *n_steps);
soma_status soma_snn_get_state(const soma_snn *net, int group, const char *var, double *out);
soma_status soma_snn_set_state(soma_snn *net, int group, const char *var, const double *x);
soma_status soma_snn_set_rate(soma_snn *net, int group, double rate);
long soma_snn_n_synapses(const soma_snn *net);

/* rl (soma_env: a prefix, read through pointers only) */
typedef struct soma_env { void *ops; void *impl; int obs_dim; int n_actions; int n_states; int state; } soma_env;
soma_status soma_env_seed(soma_env *e, uint64_t seed);
soma_status soma_env_reset(soma_env *e, float *obs);
soma_status soma_env_step(soma_env *e, int action, float *obs, double *reward, int *done);
void soma_env_free(soma_env *e);
soma_status soma_env_cartpole_new(soma_env **out);
typedef struct soma_grid_config { int obs_rowcol; int random_start; double step_reward; long max_steps; } soma_grid_config;
soma_status soma_env_grid_new(soma_env **out, const char *map, const soma_grid_config *cfg);
const char *soma_grid_map_dyna_maze(void);
const char *soma_grid_map_blocking(int phase);
const char *soma_grid_map_shortcut(int phase);
typedef struct soma_tab_config {
    double alpha; double gamma; double epsilon; double alpha_actor; int planning_steps;
    double kappa; double theta; double q_init;
} soma_tab_config;
typedef struct soma_tab soma_tab;
soma_tab_config soma_tab_defaults(int kind);
soma_status soma_tab_new(soma_tab **out, int kind, int n_states, int n_actions,
                         const soma_tab_config *cfg, uint64_t seed);
void soma_tab_free(soma_tab *t);
const double *soma_tab_q(const soma_tab *t);
long soma_tab_updates(const soma_tab *t);
soma_status soma_tab_episode(soma_tab *t, soma_env *env, float *obs, long max_steps, long *steps, double *ret);
soma_status soma_tab_greedy_steps(soma_tab *t, soma_env *env, float *obs, long max_steps, long *steps);

/* neuro */
typedef struct soma_counts { int n_trials, n_bins, n_units; double bin_ms; float *x; double *t0; } soma_counts;
void soma_counts_free(soma_counts *c);
typedef struct soma_series { char *name; long n; int dim; float *data; double *t; } soma_series;
typedef struct soma_recording {
    soma_spikes spikes; int n_units; int64_t *unit_id; int64_t *electrode; int n_trials;
    double *trial_start, *trial_stop; int n_cols; char **col_name; double **col; int n_series;
    soma_series *series;
} soma_recording;
void soma_recording_free(soma_recording *r);
soma_status soma_nwb_read(const char *path, soma_recording *r);
soma_status soma_spikes_read_npy(const char *times_path, const char *ids_path, soma_recording *r);
soma_status soma_spikes_read_csv(const char *path, soma_recording *r);
typedef struct soma_bin_opts {
    double bin_ms; const char *align; double pre_ms, post_ms; double smooth_ms; int causal;
} soma_bin_opts;
soma_status soma_recording_bin(const soma_recording *r, const soma_bin_opts *o, soma_counts *out);
soma_status soma_latent_kind_parse(const char *name, int *out);
typedef struct soma_latent_opts {
    int kind; int n_latents; double smooth_ms; int max_iter; double tol; double tau_ms;
    double gp_noise; int vae_epochs; int vae_hidden; float vae_lr; double glm_alpha; uint64_t seed;
    int root;
} soma_latent_opts;
soma_latent_opts soma_latent_opts_default(int kind);
typedef struct soma_latent soma_latent;
soma_status soma_latent_fit(soma_latent **out, const soma_counts *data, const soma_latent_opts *o);
soma_status soma_latent_infer(soma_latent *m, const soma_counts *data, int orth, float *z);
int soma_latent_dim(const soma_latent *m);
const double *soma_latent_loglik(const soma_latent *m, int *n);
const double *soma_latent_tau_ms(const soma_latent *m);
soma_status soma_latent_params(const soma_latent *m, const double **C, const double **d, const double **R);
void soma_latent_free(soma_latent *m);

/* experiments (soma_experiment and soma_opt: prefixes, read through pointers only) */
typedef struct soma_opt {
    const char *key; int type; const char *def; double lo, hi; const char *choices;
    const char *help; int reduces;
} soma_opt;
typedef struct soma_experiment {
    const char *name; const char *summary; const void *landmarks; const soma_opt *opts;
} soma_experiment;
int soma_exp_count(void);
const soma_experiment *soma_exp_get(int i);
const soma_experiment *soma_exp_find(const char *name);
const soma_opt *soma_exp_global_opts(void);
typedef struct cJSON cJSON;
soma_status soma_exp_run(const soma_experiment *e, int argc, const char *const *argv,
                         const char *out_root, cJSON **results);
char *cJSON_PrintUnformatted(const cJSON *item);
void cJSON_Delete(cJSON *item);
void cJSON_free(void *object);

/* neuro models (LFADS, NDT) and VAE */
typedef struct soma_cosmooth {
    int kind; double co_bps; double latent_r2; double fit_s; int n_test, n_bins, n_units, n_latents;
    int *test_idx; float *z; float *rates;
} soma_cosmooth;
soma_status soma_neuro_cosmooth(const soma_counts *data, const unsigned char *heldout,
                                const unsigned char *test, const float *true_latents, int n_true,
                                const soma_latent_opts *o, soma_cosmooth *out);
void soma_cosmooth_free(soma_cosmooth *r);
soma_status soma_neuro_split(int n_units, int n_trials, double heldout_frac, double test_frac,
                             uint64_t seed, unsigned char *heldout, unsigned char *test);
typedef struct soma_lfads_opts {
    int enc_dim, gen_dim, factors; int epochs, batch; float lr; float cd_rate;
    float kl_weight, l2_gen; int kl_warmup, l2_warmup; float valid_frac; float clip; float logvar0;
    float lr_end; int glm_readout; uint64_t seed;
} soma_lfads_opts;
soma_lfads_opts soma_lfads_opts_default(void);
typedef struct soma_lfads soma_lfads;
soma_status soma_lfads_new(soma_lfads **out, int n_bins, int n_in, int n_out, const soma_lfads_opts *o);
void soma_lfads_free(soma_lfads *m);
soma_status soma_lfads_fit(soma_lfads *m, const soma_counts *c);
typedef struct soma_lfads_history {
    int n_epochs, best_epoch; const float *train_loss, *valid_loss;
} soma_lfads_history;
soma_lfads_history soma_lfads_get_history(const soma_lfads *m);
soma_status soma_lfads_infer(soma_lfads *m, const float *x, int K, float *factors, float *rates);
soma_status soma_lfads_batch_loss(soma_lfads *m, const float *y, int K, int train, uint64_t noise_seed,
                                  float kl_w, float l2_w, int grad, double *loss, double *parts,
                                  float *logrates, uint8_t *mask);
soma_status soma_lfads_cosmooth(const soma_counts *data, const unsigned char *heldout,
                                const unsigned char *test, const float *true_latents, int n_true,
                                const soma_lfads_opts *o, soma_cosmooth *out, soma_lfads **model);
float *soma_lfads_params(soma_lfads *m, size_t *n);
int soma_lfads_n_tensors(const soma_lfads *m);
const char *soma_lfads_tensor(const soma_lfads *m, int i, size_t *offset, size_t *n);
typedef struct soma_ndt_arch {
    int n_bins; int d_model; int n_layers; int n_heads; int subjects; uint64_t seed; float dropout;
} soma_ndt_arch;
soma_ndt_arch soma_ndt_arch_default(void);
typedef struct soma_ndt_train_opts {
    long steps; int batch; int mix; float mask_ratio; int mask; int forecast_bins;
    float forecast_share; float lr, lr_min; long warmup; float weight_decay; float clip;
    int train_trunk; float valid_frac; long eval_every; long ckpt_every; const char *ckpt_path;
    int progress; uint64_t seed;
} soma_ndt_train_opts;
soma_ndt_train_opts soma_ndt_train_default(void);
typedef struct soma_ndt_data { const soma_counts *counts; int session; const uint8_t *heldout; } soma_ndt_data;
typedef struct soma_ndt soma_ndt;
soma_status soma_ndt_new(soma_ndt **out, const soma_ndt_arch *a);
void soma_ndt_free(soma_ndt *m);
soma_ndt_arch soma_ndt_get_arch(const soma_ndt *m);
soma_status soma_ndt_add_session(soma_ndt *m, int n_units, int subject, int *session);
int soma_ndt_n_sessions(const soma_ndt *m);
int soma_ndt_session_units(const soma_ndt *m, int session);
size_t soma_ndt_n_params(const soma_ndt *m, int session);
soma_status soma_ndt_train(soma_ndt *m, const soma_ndt_data *d, int n, const soma_ndt_train_opts *o,
                           long until_step);
void soma_ndt_reset_run(soma_ndt *m);
long soma_ndt_step(const soma_ndt *m);
soma_ndt_train_opts soma_ndt_get_train_opts(const soma_ndt *m);
typedef struct soma_ndt_history {
    int n_evals; const long *step; const float *train_nll, *valid_nll, *valid_bps; double train_seconds;
} soma_ndt_history;
soma_ndt_history soma_ndt_get_history(const soma_ndt *m);
soma_status soma_ndt_save(soma_ndt *m, const char *path);
soma_status soma_ndt_load(soma_ndt **out, const char *path);
soma_status soma_ndt_infer(soma_ndt *m, int session, const float *x, int K, const uint8_t *mask,
                           float *latents, float *logrates);
float *soma_ndt_params(soma_ndt *m, int session, size_t *n);
soma_status soma_ndt_eval(soma_ndt *m, const soma_ndt_data *d, float ratio, int kind, int n_draws,
                          uint64_t seed, double *nll, double *bps);
soma_status soma_ndt_anomaly(soma_ndt *m, const soma_ndt_data *d, float ratio, int kind, int n_draws,
                             uint64_t seed, float *score);
soma_status soma_ndt_forecast(soma_ndt *m, int session, const soma_counts *c, int f, float *rates);
soma_status soma_vae_lik_parse(const char *name, int *k);
typedef struct soma_vae_opts {
    int latent; const char *enc_hidden; const char *dec_hidden; int lik; int learn_var;
    float gauss_logvar; float beta; long warmup; soma_optim_config optim; float lr; int max_batch;
    uint64_t seed;
} soma_vae_opts;
soma_vae_opts soma_vae_opts_default(void);
typedef struct soma_vae_loss { double loss; double rec; double kl; double beta; } soma_vae_loss;
typedef struct soma_vae soma_vae;
soma_status soma_vae_new(soma_vae **out, const soma_vae_opts *o, soma_shape in);
void soma_vae_free(soma_vae *v);
soma_status soma_vae_grad(soma_vae *v, const float *x, int n, const float *eps, soma_vae_loss *parts);
soma_status soma_vae_train(soma_vae *v, const soma_dataset *d, int epochs, int batch, soma_vae_loss *last);
soma_status soma_vae_encode(soma_vae *v, const float *x, int n, float *mu, float *lv);
soma_status soma_vae_decode(soma_vae *v, const float *z, int n, float *out);
soma_status soma_vae_sample(soma_vae *v, int n, float *out);
int soma_vae_latent(const soma_vae *v);
size_t soma_vae_dim(const soma_vae *v);
/* continual learning, deep RL, TD/SR, Hopfield, plotting */
float *soma_net_flat_values(soma_net *net, size_t *n);
void soma_rng_seed(soma_rng *r, uint64_t seed, uint64_t stream);
typedef struct soma_task_stream {
    char name[64]; int scenario; int n_tasks; int classes_per_task; int n_outputs;
    soma_dataset **train, **test; int *classes;
} soma_task_stream;
void soma_task_stream_free(soma_task_stream *s);
void soma_task_stream_head(const soma_task_stream *s, int t, int upto, int *offset, int *count);
const char *soma_cl_scenario_name(int s);
typedef struct soma_stream_opts {
    const char *fmnist_dir; int n_train, n_test; uint64_t seed; double test_frac;
} soma_stream_opts;
soma_stream_opts soma_stream_opts_default(void);
soma_status soma_task_stream_load(const char *spec, const soma_stream_opts *o, soma_task_stream **out);
soma_status soma_task_stream_permuted(const soma_dataset *train, const soma_dataset *test, int n_tasks,
                                      uint64_t seed, soma_task_stream **out);
soma_status soma_task_stream_split(const soma_dataset *train, const soma_dataset *test, int c,
                                   int scenario, soma_task_stream **out);
soma_status soma_task_stream_by_id(const soma_dataset *train, const int *tasks, const soma_dataset *test,
                                   const int *test_tasks, soma_task_stream **out);
typedef struct soma_cl_metrics { double acc, bwt, fwt, forgetting; } soma_cl_metrics;
void soma_cl_metrics_compute(const float *R, const float *b, int T, soma_cl_metrics *m);
soma_status soma_cl_fisher(soma_net *net, soma_rule *rule, const soma_dataset *d, int n, int batch,
                           int kind, int head_offset, int head_count, const int *labels,
                           soma_rng *rng, float *F);
const char *soma_cl_method_name(int k);
soma_status soma_cl_method_parse(const char *name, int *k);
typedef struct soma_cl_opts {
    int method; float ewc_lambda; float ewc_gamma; int fisher; int fisher_samples; int fisher_batch;
    float si_c, si_xi; long buffer; double buffer_frac; int replay_batch; uint64_t seed;
    int joint_sampled; int reset_optim;
    float lwf_alpha; float lwf_temp; int lwf_balance;
    int gen_latent; const char *gen_hidden; float gen_lr; float gen_beta; int gen_lik; int gen_iters;
    int gen_soft; float gen_temp;
    long cls_capacity; int cls_evict; int cls_keys; int cls_key_dim; int cls_layer; float cls_beta;
    int cls_knn; int cls_answer; float cls_confidence; int cls_sleep_every; int cls_sleep_steps;
    int cls_sleep_batch; float cls_sleep_lr; int cls_replay;
    int penalty_decoupled;
} soma_cl_opts;
soma_cl_opts soma_cl_opts_default(void);
soma_status soma_cls_keys_parse(const char *name, int *k);
soma_status soma_cls_answer_parse(const char *name, int *a);
soma_status soma_cls_evict_parse(const char *name, int *e);
typedef struct soma_cl_result {
    int n_tasks; float *R; float *b; soma_cl_metrics metrics; size_t memory_bytes; double seconds;
} soma_cl_result;
void soma_cl_result_free(soma_cl_result *r);
soma_status soma_cl_run(soma_net *net, soma_rule *rule, soma_optim *opt, const soma_task_stream *s,
                        const soma_cl_opts *o, const soma_train_config *cfg, void *progress,
                        void *progress_user, soma_cl_result *res);

typedef struct soma_dqn_config {
    const char *net; float gamma; float lr; int batch; long buffer; long learn_start; int train_every;
    long target_update; float tau; float eps_start, eps_end; long eps_decay; int double_dqn; int huber;
    float grad_clip; uint64_t seed;
} soma_dqn_config;
typedef struct soma_dqn soma_dqn;
soma_dqn_config soma_dqn_defaults(void);
soma_status soma_dqn_new(soma_dqn **out, int obs_dim, int n_actions, const soma_dqn_config *cfg);
void soma_dqn_free(soma_dqn *d);
soma_status soma_dqn_q(soma_dqn *d, const float *obs, int target, float *q);
int soma_dqn_act(soma_dqn *d, const float *obs, int eval);
float soma_dqn_epsilon(const soma_dqn *d);
soma_status soma_dqn_observe(soma_dqn *d, const float *obs, int action, double reward,
                             const float *next_obs, int done, float *loss);
soma_status soma_dqn_train_step(soma_dqn *d, float *loss);
void soma_dqn_sync_target(soma_dqn *d);
long soma_dqn_env_steps(const soma_dqn *d);
long soma_dqn_grad_steps(const soma_dqn *d);
soma_status soma_dqn_save(soma_dqn *d, const char *path);
soma_status soma_dqn_load(soma_dqn *d, const char *path);
typedef struct soma_wm_config {
    int obs_dim, n_actions; const char *net; const float *bounds; int capacity; int batch; float lr;
    int max_predict; uint64_t seed;
} soma_wm_config;
typedef struct soma_wm soma_wm;
soma_wm_config soma_wm_defaults(int obs_dim, int n_actions);
soma_status soma_wm_new(soma_wm **out, const soma_wm_config *cfg);
void soma_wm_free(soma_wm *m);
soma_status soma_wm_add(soma_wm *m, const float *s, int a, const float *s2);
long soma_wm_size(const soma_wm *m);
soma_status soma_wm_train(soma_wm *m, int steps, float *loss);
soma_status soma_wm_predict(soma_wm *m, float *s2, unsigned char *term, const float *s,
                            const int *a, int n);
typedef soma_status (*soma_mpc_model_fn)(void *ctx, float *s2, unsigned char *term,
                                         const float *s, const int *a, int n);
soma_status soma_wm_model(void *ctx, float *s2, unsigned char *term, const float *s,
                          const int *a, int n);
typedef struct soma_mpc_config {
    int kind; int horizon; int candidates; int iters; int elites; float smoothing; uint64_t seed;
    const float *tie_bounds;
} soma_mpc_config;
typedef struct soma_mpc soma_mpc;
soma_mpc_config soma_mpc_defaults(int kind);
soma_status soma_mpc_new(soma_mpc **out, const soma_mpc_config *cfg, int obs_dim, int n_actions,
                         soma_mpc_model_fn model, void *ctx);
void soma_mpc_free(soma_mpc *p);
void soma_mpc_reset(soma_mpc *p);
soma_status soma_mpc_act(soma_mpc *p, const float *obs, int *action, double *value);

typedef struct soma_conditioning_config {
    int n_steps; int cs_onset; int cs_jitter; int cs_duration; int isi; double reward; double p_reward;
    double p_omission; double p_probe;
} soma_conditioning_config;
typedef struct soma_trial_info { int kind; int cs_onset; int us_time; int us_given; } soma_trial_info;
soma_conditioning_config soma_conditioning_defaults(void);
soma_status soma_env_conditioning_new(soma_env **out, const soma_conditioning_config *cfg);
soma_status soma_env_conditioning_force(soma_env *e, int kind);
soma_status soma_env_conditioning_trial(const soma_env *e, soma_trial_info *info);
typedef struct soma_td_config { int n_features; double alpha; double gamma; double lambda; int trace; } soma_td_config;
typedef struct soma_td soma_td;
soma_td_config soma_td_defaults(int n_features);
soma_status soma_td_new(soma_td **out, const soma_td_config *cfg);
void soma_td_free(soma_td *td);
void soma_td_begin(soma_td *td);
double soma_td_step(soma_td *td, const float *x, double r, const float *x_next, int terminal, int learn);
double soma_td_value(const soma_td *td, const float *x);
float *soma_td_weights(soma_td *td);
typedef struct soma_stimrep_config {
    int kind; int n_stimuli; int n_steps; int n_micro; double decay; double sigma;
} soma_stimrep_config;
typedef struct soma_stimrep soma_stimrep;
soma_stimrep_config soma_stimrep_defaults(int kind);
soma_status soma_stimrep_new(soma_stimrep **out, const soma_stimrep_config *cfg);
void soma_stimrep_free(soma_stimrep *s);
int soma_stimrep_dim(const soma_stimrep *s);
soma_status soma_td_run_trial(soma_td *td, soma_stimrep *rep, soma_env *env, int learn, double *delta,
                              float *xs, int cap, int *len);
soma_status soma_sr_closed_form(double *M, const double *T, int n, double gamma, double *work);
soma_status soma_sr_policy_T(double *T, const int *next, const double *pi, const unsigned char *terminal,
                             int n, int n_actions, int restart);

typedef struct soma_hopfield soma_hopfield;
soma_status soma_hopfield_new(soma_hopfield **out, int n);
void soma_hopfield_free(soma_hopfield *h);
int soma_hopfield_units(const soma_hopfield *h);
int soma_hopfield_patterns(const soma_hopfield *h);
const float *soma_hopfield_weights(const soma_hopfield *h);
soma_status soma_hopfield_store(soma_hopfield *h, const float *patterns, int p, int n);
void soma_hopfield_clear(soma_hopfield *h);
soma_status soma_hopfield_energy(soma_hopfield *h, const float *s, int b, int n, float *e);
soma_status soma_hopfield_update_sync(soma_hopfield *h, float *s, int b, int n, int max_steps, int *steps);
soma_status soma_hopfield_update_async(soma_hopfield *h, float *s, int b, int n, int max_sweeps,
                                       uint64_t seed, int *sweeps);
typedef struct soma_mhn soma_mhn;
soma_status soma_mhn_new(soma_mhn **out, const float *patterns, int m, int d, float beta);
void soma_mhn_free(soma_mhn *h);
soma_status soma_mhn_set_beta(soma_mhn *h, float beta);
float soma_mhn_beta(const soma_mhn *h);
int soma_mhn_count(const soma_mhn *h);
int soma_mhn_dim(const soma_mhn *h);
soma_status soma_mhn_retrieve(soma_mhn *h, float *out, const float *xi, int b, int d, int steps,
                              float *probs);
soma_status soma_mhn_energy(soma_mhn *h, const float *xi, int b, int d, float *e);
int soma_mhn_kind_of(const float *p, int m, float *n_eff);
const char *soma_mhn_kind_name(int k);
soma_status soma_mhn_separation(soma_mhn *h, float *delta);
double soma_mhn_separation_bound(const soma_mhn *h);

typedef struct soma_fig soma_fig;
soma_status soma_fig_new(soma_fig **out, int rows, int cols, int width, int height);
void soma_fig_free(soma_fig *f);
soma_status soma_fig_title(soma_fig *f, const char *title);
soma_status soma_fig_labels(soma_fig *f, int panel, const char *title, const char *xlabel,
                            const char *ylabel);
soma_status soma_fig_logy(soma_fig *f, int panel, int on);
soma_status soma_fig_line(soma_fig *f, int panel, const float *x, const float *y, int n,
                          const char *label, const void *style);
soma_status soma_fig_heatmap(soma_fig *f, int panel, const float *m, int rows, int cols,
                             const void *opts);
soma_status soma_fig_hline(soma_fig *f, int panel, float y, const char *label);
soma_status soma_fig_xlim(soma_fig *f, int panel, double lo, double hi);
soma_status soma_fig_ylim(soma_fig *f, int panel, double lo, double hi);
soma_status soma_fig_scatter(soma_fig *f, int panel, const float *x, const float *y,
                             const int *cls, int n, const char *const *class_names,
                             int n_classes);
soma_status soma_fig_raster(soma_fig *f, int panel, const float *t, const int *id, int n,
                            int n_neurons);
soma_status soma_fig_images(soma_fig *f, int panel, const float *imgs, int n, int h, int w,
                            int cols, int normalize);
soma_status soma_fig_hband(soma_fig *f, int panel, float lo, float hi, const char *label);
soma_status soma_fig_bars(soma_fig *f, int panel, const float *v, const float *err, int n,
                          const char *const *labels, int color);
soma_status soma_fig_to_string(const soma_fig *f, char **out, size_t *len);
soma_status soma_fig_save(const soma_fig *f, const char *path);

/* bandits, SNN building, attention probabilities */
typedef struct soma_bandit_config { int k; int reward; double reward_sd; double drift_sd; long steps; } soma_bandit_config;
soma_bandit_config soma_bandit_defaults(void);
soma_status soma_env_bandit_new(soma_env **out, const soma_bandit_config *cfg);
soma_status soma_env_bandit_values(const soma_env *e, double *q, int k, int *best);
typedef struct soma_bandit_agent_config {
    int kind; int k; double epsilon; double c; double alpha; double q0; int baseline;
} soma_bandit_agent_config;
typedef struct soma_bandit_agent soma_bandit_agent;
soma_bandit_agent_config soma_bandit_agent_defaults(int kind, int k);
soma_status soma_bandit_agent_new(soma_bandit_agent **out, const soma_bandit_agent_config *cfg);
void soma_bandit_agent_free(soma_bandit_agent *a);
void soma_bandit_agent_reset(soma_bandit_agent *a);
int soma_bandit_agent_act(soma_bandit_agent *a, soma_rng *rng);
void soma_bandit_agent_update(soma_bandit_agent *a, int action, double reward);
const double *soma_bandit_agent_values(const soma_bandit_agent *a);
typedef struct soma_neuron_params {
    int model; int synapse; double C; double gL; double EL; double V_th; double V_reset; double t_ref;
    double I_ext; double tau_e, tau_i; double E_e, E_i; double delta_T, V_T, V_peak; double a; double b;
    double tau_w; double izh_a, izh_b, izh_c, izh_d; double rate; double V_init_lo, V_init_hi;
} soma_neuron_params;
void soma_neuron_defaults(int model, soma_neuron_params *p);
soma_status soma_izhikevich_preset(const char *name, soma_neuron_params *p);
int soma_neuron_model_parse(const char *name);
soma_status soma_snn_new(soma_snn **out, double dt, uint64_t seed);
soma_status soma_snn_add_group(soma_snn *net, const char *name, int n, const soma_neuron_params *p, int *group);
typedef struct soma_stdp {
    double tau_plus, tau_minus; double A_plus, A_minus; double w_max; int multiplicative;
} soma_stdp;
typedef struct soma_conn_spec {
    int pre, post; int target; int rule; double p; int k; const int *edge_pre, *edge_post;
    const float *edge_w; long n_edges; double weight; double delay; int autapses; const soma_stdp *stdp;
} soma_conn_spec;
soma_conn_spec soma_conn_default(void);
soma_status soma_snn_connect(soma_snn *net, const soma_conn_spec *c, int *proj);
int soma_snn_n_projections(const soma_snn *net);
long soma_snn_proj_size(const soma_snn *net, int proj);
soma_status soma_snn_proj_get(const soma_snn *net, int proj, int *pre, int *post, float *w);
soma_status soma_snn_set_current(soma_snn *net, int group, const double *I);
soma_status soma_snn_poisson_input(soma_snn *net, int group, int n_sources, double rate, double weight,
                                   int target);
soma_status soma_snn_record_spikes(soma_snn *net, int group, int *mon);
soma_status soma_snn_record_state(soma_snn *net, int group, const char *var, const int *neurons,
                                  int n, int every, int *mon);
soma_status soma_snn_record_rate(soma_snn *net, int group, int *mon);
typedef struct soma_snn_stats {
    long steps; long spikes; long syn_events; double setup_seconds; double sim_seconds; size_t bytes;
} soma_snn_stats;
void soma_snn_stats_get(const soma_snn *net, soma_snn_stats *s);
typedef struct soma_layer_ops {
    const char *kind; void *setup; void *init; void *reserve; void *forward; void *backward; void *destroy;
    void *clone; int (*n_children)(const soma_layer *l); soma_layer *(*child)(soma_layer *l, int i);
} soma_layer_ops;
soma_status soma_attn_probs(const soma_layer *l, int n, int h, float *p);
int soma_attn_heads(const soma_layer *l);
"""

# Structs declared in full (allocated or passed by value from Python): test_layout checks them.
FULL_STRUCTS = [
    "soma_shape", "soma_rng", "soma_array", "soma_optim_config", "soma_sched", "soma_ckpt_meta",
    "soma_rule_opts", "soma_train_hooks", "soma_train_config", "soma_train_log", "soma_rdm_opts",
    "soma_cka_opts", "soma_ridge_opts", "soma_ridge", "soma_encode_result", "soma_pca",
    "soma_sparse_opts", "soma_dict_opts", "soma_spikes", "soma_snn_json_monitor",
    "soma_snn_json_info", "soma_dataset", "soma_opt", "soma_grid_config", "soma_tab_config",
    "soma_counts", "soma_series", "soma_recording", "soma_bin_opts", "soma_latent_opts",
    "soma_cosmooth", "soma_lfads_opts", "soma_lfads_history", "soma_ndt_arch", "soma_ndt_train_opts",
    "soma_ndt_data", "soma_ndt_history", "soma_vae_opts", "soma_vae_loss",
    # continual learning, deep RL, TD/SR
    "soma_task_stream", "soma_stream_opts", "soma_cl_metrics", "soma_cl_opts", "soma_cl_result",
    "soma_dqn_config", "soma_wm_config", "soma_mpc_config", "soma_conditioning_config", "soma_trial_info",
    "soma_td_config", "soma_stimrep_config",
    # bandits, SNN building, attention probabilities
    "soma_bandit_config", "soma_bandit_agent_config", "soma_neuron_params", "soma_stdp", "soma_conn_spec",
    "soma_snn_stats",
]
# Declared as a prefix (read through pointers the library returns): offsets checked only.
PREFIX_STRUCTS = ["soma_layer", "soma_param", "soma_experiment", "soma_env", "soma_layer_ops"]

ffi = FFI()
ffi.cdef(CDEF)

SOMA_OK = 0
SOMA_ERR_NOMEM, SOMA_ERR_SHAPE, SOMA_ERR_ARG, SOMA_ERR_IO = 1, 2, 3, 4
SOMA_ERR_PARSE, SOMA_ERR_FORMAT, SOMA_ERR_INTERNAL, SOMA_ERR_CANCELLED = 5, 6, 7, 8


def _find_library():
    """SOMA_LIB, else the copy installed in the package, else ../build/libsoma.so next to the
    source tree, else the system's libsoma.so (ldconfig / LD_LIBRARY_PATH)."""
    env = os.environ.get("SOMA_LIB")
    if env:
        if not os.path.exists(env):
            raise ImportError(f"soma: SOMA_LIB={env} does not exist")
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "_lib", "libsoma.so"),
                 os.path.join(here, "..", "..", "build", "libsoma.so")):
        if os.path.exists(cand):
            return os.path.normpath(cand)
    return "libsoma.so.0"


LIB_PATH = _find_library()
try:
    lib = ffi.dlopen(LIB_PATH)
except OSError as e:  # pragma: no cover - the message is the point
    raise ImportError(f"soma: cannot load {LIB_PATH}: {e}; HINT: build it (make build) and set "
                      "SOMA_LIB=build/libsoma.so, or pip install ./python after the build") from e

# --- errors ---------------------------------------------------------------------------------


class Error(Exception):
    """A failure reported by the C library: .status is the soma_status code, .message the C
    library's one-line message (soma_errmsg)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class ArgumentError(Error, ValueError):
    """soma.Error for bad input (a bad option, shape, spec or file): also a ValueError."""


class Cancelled(Error):
    """A call stopped by soma_cancel_request() (raised as KeyboardInterrupt after Ctrl-C)."""


for _c in (Error, ArgumentError, Cancelled):
    _c.__module__ = "soma"


_ARG_STATUSES = (SOMA_ERR_SHAPE, SOMA_ERR_ARG, SOMA_ERR_PARSE, SOMA_ERR_FORMAT, SOMA_ERR_IO)


def make_error(st, msg=None):
    """The exception for status st, with msg or this thread's C error message."""
    if msg is None:
        msg = ffi.string(lib.soma_errmsg()).decode("utf-8", "replace")
    if not msg:
        msg = ffi.string(lib.soma_status_str(st)).decode()
    cls = Cancelled if st == SOMA_ERR_CANCELLED else ArgumentError if st in _ARG_STATUSES else Error
    return cls(st, msg)


def check(st):
    """Raises the soma.Error of a failed status (the message read on the calling thread)."""
    if st != SOMA_OK:
        raise make_error(st)


# --- long calls: Ctrl-C stops them --------------------------------------------------------

_long_lock = threading.Lock()


def run_long(fn, *args):
    """Runs fn(*args) (a C call returning soma_status) so that Ctrl-C stops it: on the main
    thread, a SIGINT handler of soma's (soma_cancel_on_sigint) replaces Python's for the
    duration of the call and sets the cancellation flag, which training loops, simulations and
    experiments poll; afterwards Python's handler is back, and if Ctrl-C was pressed the flag is
    cleared and KeyboardInterrupt raised (whether the call stopped early or had finished). The
    call runs on the calling thread, as in the soma command (same OpenMP and BLAS threads);
    cffi releases the GIL during it. From other threads: a plain call (Ctrl-C goes to the main
    thread, as usual). Raises soma.Error on failure."""
    main = threading.current_thread() is threading.main_thread()
    if not main:
        check(fn(*args))
        return
    with _long_lock:
        lib.soma_cancel_clear()
        if lib.soma_cancel_on_sigint(1) != 0:  # pragma: no cover
            check(fn(*args))
            return
        try:
            st = fn(*args)
            msg = ffi.string(lib.soma_errmsg()).decode("utf-8", "replace") if st != SOMA_OK else None
        finally:
            lib.soma_cancel_on_sigint(0)
            interrupted = lib.soma_cancel_requested()
            lib.soma_cancel_clear()
        if interrupted:
            raise KeyboardInterrupt
        if st != SOMA_OK:
            raise make_error(st, msg)


# --- arrays ----------------------------------------------------------------------------------

_CTYPE = {np.dtype(np.float32): "float *", np.dtype(np.float64): "double *",
          np.dtype(np.int32): "int *", np.dtype(np.uint8): "uint8_t *"}


def as_array(x, dtype, name, ndim=None, shape=None, finite=True, copy_ok=True):
    """Checks x for a C call and returns (array, cffi pointer).

    dtype: the dtype the C function reads (np.float32, np.float64, np.int32). A C-contiguous
    array of exactly that dtype is passed without a copy (zero-copy: the C code reads the
    caller's memory). Anything else raises TypeError when copy_ok is False; otherwise a
    non-contiguous array, or one of another real numeric dtype that converts without loss of
    kind (ints to floats, float64 to float32 and back), is copied once. Booleans, complex,
    object and string arrays always raise TypeError.
    ndim: an int or tuple of allowed ranks (ValueError otherwise); shape: a tuple whose None
    entries match anything (ValueError on a mismatch). finite: NaN or inf raise ValueError.
    Every check runs before any C call."""
    if not isinstance(x, np.ndarray):
        if isinstance(x, (list, tuple)) or (np.isscalar(x) and not isinstance(x, (str, bytes))):
            x = np.asarray(x)
        else:
            raise TypeError(f"{name}: want a NumPy array, got {type(x).__name__}")
    want = np.dtype(dtype)
    k = x.dtype.kind
    if k not in "fiu" or x.dtype == np.float16:
        raise TypeError(f"{name}: dtype {x.dtype} is not supported; want {want}")
    if want.kind in "iu" and k == "f":
        raise TypeError(f"{name}: dtype {x.dtype}: want integers ({want})")
    if x.dtype != want or not x.flags.c_contiguous:
        if not copy_ok:
            why = f"dtype {x.dtype}" if x.dtype != want else "not C-contiguous"
            raise TypeError(f"{name}: {why}; want a C-contiguous {want} array "
                            "(np.ascontiguousarray(x, dtype=np.%s))" % want.name)
        if want.kind in "iu" and x.size and (x.min() < np.iinfo(want).min or x.max() > np.iinfo(want).max):
            raise ValueError(f"{name}: values outside the range of {want}")
        x = np.ascontiguousarray(x, dtype=want)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            raise ValueError(f"{name}: {x.ndim}-D array of shape {x.shape}; want "
                             + " or ".join(f"{d}-D" for d in allowed))
    if shape is not None:
        if len(shape) != x.ndim or any(s is not None and s != d for s, d in zip(shape, x.shape)):
            want_s = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: shape {x.shape}; want {want_s}")
    if x.size == 0:
        raise ValueError(f"{name}: empty array (shape {x.shape})")
    if finite and want.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    return x, ffi.cast(_CTYPE[want], ffi.from_buffer(x))


def cstr(s, name="argument"):
    """A str as bytes for a const char * argument (TypeError for anything else)."""
    if not isinstance(s, str):
        raise TypeError(f"{name}: want a str, got {type(s).__name__}")
    if "\0" in s:
        raise ValueError(f"{name}: contains a NUL character")
    return s.encode()


def to_str(p):
    """A C string (char *) as str ("" for NULL)."""
    return "" if p == ffi.NULL else ffi.string(p).decode("utf-8", "replace")


def parse_enum(parser, name, value):
    """An enum value by name through a C parser (soma_rdm_metric_parse, ...): the C library's
    list of valid names is in the ArgumentError."""
    out = ffi.new("int *")
    check(parser(cstr(value, name), out))
    return out[0]


def copy_out(ptr, n, dtype):
    """A NumPy copy of n values at ptr (library-owned memory)."""
    if n == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(ffi.buffer(ptr, n * np.dtype(dtype).itemsize), dtype=dtype).copy()


def set_threads(n):
    """Sets the thread count of soma's OpenMP loops and its BLAS (n >= 1). Results do not
    depend on it, bit for bit."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"threads: want an integer >= 1, got {n!r}")
    lib.soma_set_threads(int(n))


def get_threads():
    """The thread count soma uses."""
    return lib.soma_get_threads()
