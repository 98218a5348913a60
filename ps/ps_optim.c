#include "ps_optim.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

void ps_optim_from_config(ps_optim_t *o, const pc_config_t *cfg) {
  o->type = cfg->optimizer.type;
  o->lr = (float)cfg->optimizer.lr;
  o->l2 = (float)cfg->optimizer.l2;
  o->eps = (float)cfg->optimizer.eps;
  o->init_accum = (float)cfg->optimizer.init_accum;
}

int ps_optim_state_slots(const ps_optim_t *o) {
  return o->type == PC_OPTIM_ADAGRAD ? 1 : 0;
}

void ps_optim_apply(const ps_optim_t *o, float *w, float *state, float g) {
  switch (o->type) {
  case PC_OPTIM_SGD:
    ps_optim_sgd_step(w, g, o->lr, o->l2);
    break;
  case PC_OPTIM_ADAGRAD:
    assert(state != NULL);
    ps_optim_adagrad_step(w, state, g, o->lr, o->l2, o->eps);
    break;
  }
}

static void rule_sgd(const ps_optim_t *o, float *restrict w, float *restrict state,
                     const float *restrict g, size_t n) {
  (void)state;
  const float lr = o->lr, l2 = o->l2;
  for (size_t i = 0; i < n; i++)
    ps_optim_sgd_step(&w[i], g[i], lr, l2);
}

static void rule_adagrad(const ps_optim_t *o, float *restrict w, float *restrict state,
                         const float *restrict g, size_t n) {
  const float lr = o->lr, l2 = o->l2, eps = o->eps;
  assert(state != NULL || n == 0);
  for (size_t i = 0; i < n; i++)
    ps_optim_adagrad_step(&w[i], &state[i], g[i], lr, l2, eps);
}

void ps_optim_apply_n(const ps_optim_t *o, float *restrict w, float *restrict state,
                      const float *restrict g, size_t n) {
  ps_optim_rule(o, 1)->apply_n(o, w, state, g, n);
}

void ps_optim_add_n(float *restrict w, const float *restrict g, size_t n) {
  for (size_t i = 0; i < n; i++)
    w[i] += g[i];
}

static void rule_add(const ps_optim_t *o, float *restrict w, float *restrict state,
                     const float *restrict g, size_t n) {
  (void)o;
  (void)state;
  ps_optim_add_n(w, g, n);
}

static const ps_optim_rule_t RULE_SGD = {"sgd", 0, rule_sgd};
static const ps_optim_rule_t RULE_ADAGRAD = {"adagrad", 1, rule_adagrad};
static const ps_optim_rule_t RULE_ADD = {"add", 0, rule_add};

const ps_optim_rule_t *ps_optim_rule(const ps_optim_t *o, int optimize) {
  if (!optimize)
    return &RULE_ADD;
  return o->type == PC_OPTIM_ADAGRAD ? &RULE_ADAGRAD : &RULE_SGD;
}

int ps_optim_all_finite(const float *g, size_t n) {
  unsigned bad = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t b;
    memcpy(&b, &g[i], sizeof b);
    bad |= (b & 0x7f800000u) == 0x7f800000u; /* all exponent bits: Inf or NaN */
  }
  return !bad;
}
