/* Server-side optimizers: how a pushed gradient changes a weight.
 * One weight w with one optional state slot s (AdaGrad's accumulator). */
#ifndef PS_OPTIM_H
#define PS_OPTIM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"

typedef struct ps_optim {
  pc_optim_type_t type;
  float lr;
  float l2;
  float eps;
  float init_accum; /* AdaGrad: state value of a key never seen before */
} ps_optim_t;

/* Copy the optimizer settings out of the config. */
void ps_optim_from_config(ps_optim_t *o, const pc_config_t *cfg);

/* State floats per key: 0 for SGD, 1 for AdaGrad. */
int ps_optim_state_slots(const ps_optim_t *o);

/* Apply gradient g to one weight, L2 included:
 *   SGD:      w -= lr * (g + l2*w)
 *   AdaGrad:  g' = g + l2*w;  s += g'^2;  w -= lr * g' / (sqrt(s) + eps)
 * state may be NULL for SGD. */
void ps_optim_apply(const ps_optim_t *o, float *w, float *state, float g);

/* Same over arrays (dense ranges): w[i], state[i] (may be NULL for SGD), g[i]. */
void ps_optim_apply_n(const ps_optim_t *o, float *restrict w, float *restrict state,
                      const float *restrict g, size_t n);

/* 1 when every g[i] is finite. Branch-free, so it vectorizes: it runs over
 * every pushed gradient. */
int ps_optim_all_finite(const float *g, size_t n);

/* The two update rules as inline steps, so the store's per-key loops can
 * inline them (one switch outside the loop, no call per key) while the
 * formulas above stay written down once. Scalars are passed by value so a
 * store through w or s cannot force the compiler to reload lr/l2/eps. */
static inline void ps_optim_sgd_step(float *w, float g, float lr, float l2) {
  *w -= lr * (g + l2 * *w);
}

static inline void ps_optim_adagrad_step(float *w, float *s, float g, float lr, float l2,
                                         float eps) {
  float gp = g + l2 * *w;
  *s += gp * gp;
  *w -= lr * gp / (sqrtf(*s) + eps);
}

#endif
