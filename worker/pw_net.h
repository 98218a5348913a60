/* The feed-forward network behind the mlp and cnn models: convolution
 * layers (each conv, 2x2 max-pool, ReLU), then dense layers with ReLU,
 * then a softmax over model.classes with cross-entropy loss, forward and
 * backward over a whole minibatch with sgemm (pw_layers.h).
 *
 * Tables, in this order (ids 0..): "conv1".."convC" of size k*k*c + 1 and
 * width filters, then "dense1".."denseD" of size in + 1 and width out (the
 * last one is the output layer, width classes). Every table is dense,
 * Glorot-uniform initialized, optimized, and pulled as one range: its
 * values are the row-major matrix of pw_layers.h, bias row last.
 *
 * Inputs are the example's features densified to `in` values (indices >=
 * in ignored); images are read channels-last: pixel (y, x) channel ch is
 * feature (y*width + x)*channels + ch (for one channel: row-major). */
#ifndef PW_NET_H
#define PW_NET_H

#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pc_table.h"
#include "pw_data.h"
#include "pw_modelops.h"

struct pw_model;

typedef struct pw_net_conv {
  uint32_t h, w, c; /* input maps */
  uint32_t k, f;    /* kernel side, filters */
  uint32_t oh, ow;  /* convolution output: h-k+1, w-k+1 */
  uint32_t ph, pw;  /* after pooling: oh/2, ow/2 */
} pw_net_conv_t;

typedef struct pw_net {
  uint64_t in; /* features per example */
  size_t nconv;
  pw_net_conv_t conv[PC_MAX_CONV];
  size_t ndense;                   /* model.hidden layers + the output layer */
  uint64_t dim[PC_MAX_HIDDEN + 2]; /* dense layer l maps dim[l] -> dim[l+1] */
} pw_net_t;

/* Largest layer matrix accepted (values): 1 GiB of floats. */
#define PW_NET_MAX_LAYER (UINT64_C(1) << 28)

/* The mlp of cfg over shape->features inputs (no model.conv allowed). */
int pw_net_mlp(pw_net_t *net, const pc_config_t *cfg, const pw_shape_t *shape, pc_err_t *err);
/* The cnn of cfg over the images of shape (refused when not images). */
int pw_net_cnn(pw_net_t *net, const pc_config_t *cfg, const pw_shape_t *shape, pc_err_t *err);
/* Its tables (see above): fills t[0..n), returns n (<= PC_TABLE_MAX). */
size_t pw_net_tables(const pw_net_t *net, pc_table_t *t);
/* Error unless m's tables are exactly net's, dense and complete. */
int pw_net_check_model(const pw_net_t *net, const struct pw_model *m, pc_err_t *err);

/* How a model makes its network from the config and the data's shape. */
typedef int (*pw_net_arch_fn)(pw_net_t *net, const pc_config_t *cfg, const pw_shape_t *shape,
                              pc_err_t *err);

/* The ops both models share, with arch their only difference: state is a
 * pw_net_t (made by init, freed by fini), a batch holds the activations of up to
 * the largest minibatch seen and one vals/grad buffer per table. */
int pw_net_init(pw_net_arch_fn arch, void **state, const pc_config_t *cfg,
                const pw_shape_t *shape, pc_table_t *tables, size_t *ntables, pc_err_t *err);
void pw_net_fini(void *state);
int pw_net_batch_new(void *state, void **batch, pc_err_t *err);
void pw_net_batch_free(void *batch);
int pw_net_batch_build(void *batch, const pw_dataset_t *ds, const size_t *rows, size_t n,
                       pw_req_t *reqs, size_t *nreqs, pc_err_t *err);
int pw_net_batch_grad(void *batch, const pw_dataset_t *ds, pw_req_t *reqs, size_t nreqs,
                      double *loss, pc_err_t *err);
size_t pw_net_outputs(const struct pw_model *m);
/* Class probabilities of rows[0..n) (NULL: 0..n-1) by the network arch
 * makes of m's settings and shape, with m's tables: out[i*classes ..].
 * The same forward pass as training. */
int pw_net_predict(pw_net_arch_fn arch, const struct pw_model *m, const pw_dataset_t *ds,
                   const size_t *rows, size_t n, float *out, pc_err_t *err);

#endif
