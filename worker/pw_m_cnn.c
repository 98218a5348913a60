/* Convolutional network for images (the data's height x width x channels):
 * the model.conv layers (convolution, 2x2 max-pool, ReLU), the dense layers
 * of model.hidden with ReLU, a softmax over model.classes. Each layer is
 * one dense table pulled as a range (pw_net.h has the layout). */
#include "pw_model.h"
#include "pw_modelops.h"
#include "pw_net.h"

static int cnn_init(void **state, const pc_config_t *cfg, const pw_shape_t *shape,
                    pc_table_t *tables, size_t *ntables, pc_err_t *err) {
  return pw_net_init(pw_net_cnn, state, cfg, shape, tables, ntables, err);
}

static int cnn_predict(const pw_model_t *m, const pw_dataset_t *ds, const size_t *rows, size_t n,
                       float *out, pc_err_t *err) {
  return pw_net_predict(pw_net_cnn, m, ds, rows, n, out, err);
}

const pw_model_ops_t pw_m_cnn = {
    .name = "cnn",
    .type = PC_MODEL_CNN,
    .labels = PW_LABEL_CLASS,
    .init = cnn_init,
    .fini = pw_net_fini,
    .batch_new = pw_net_batch_new,
    .batch_free = pw_net_batch_free,
    .batch_build = pw_net_batch_build,
    .batch_grad = pw_net_batch_grad,
    .outputs = pw_net_outputs,
    .predict = cnn_predict,
};
