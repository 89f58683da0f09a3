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
]
# Declared as a prefix (read through pointers the library returns): offsets checked only.
PREFIX_STRUCTS = ["soma_layer", "soma_param", "soma_experiment", "soma_env"]

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
