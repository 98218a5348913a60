#include "pw_modelops.h"

extern const pw_model_ops_t pw_m_logistic;
extern const pw_model_ops_t pw_m_softmax;
extern const pw_model_ops_t pw_m_linear;
extern const pw_model_ops_t pw_m_mf;
extern const pw_model_ops_t pw_m_mlp;
extern const pw_model_ops_t pw_m_cnn;

/* One line per model. */
static const pw_model_ops_t *const registry[] = {
    &pw_m_logistic,
    &pw_m_softmax,
    &pw_m_linear,
    &pw_m_mf,
    &pw_m_mlp,
    &pw_m_cnn,
};

const pw_model_ops_t *pw_model_ops_find(pc_model_type_t type) {
  for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
    if (registry[i]->type == type)
      return registry[i];
  return NULL;
}

const pw_model_ops_t *const *pw_model_ops_all(size_t *n) {
  *n = sizeof registry / sizeof registry[0];
  return registry;
}
