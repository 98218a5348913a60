/* Server-side optimizers: how a pushed gradient changes a value. Every
 * rule works per value: value w with one optional state slot s (AdaGrad's
 * accumulator). A table without `optimize` uses the add rule instead. */
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

/* w[i] += g[i]: the rule of a table without `optimize` (sums, counters,
 * statistics): no learning rate, no L2, no state. */
void ps_optim_add_n(float *restrict w, const float *restrict g, size_t n);

/* The update rule of one table's values, chosen once per table: an ops
 * table, so the store calls one function per row and never switches on the
 * optimizer per key. */
typedef struct ps_optim_rule {
  const char *name; /* "sgd", "adagrad", "add" */
  int slots;        /* state floats per value */
  /* As ps_optim_apply_n: n values, state NULL when slots == 0. */
  void (*apply_n)(const ps_optim_t *o, float *restrict w, float *restrict state,
                  const float *restrict g, size_t n);
} ps_optim_rule_t;

/* The rule for a table: o's optimizer when optimize, else the add rule. */
const ps_optim_rule_t *ps_optim_rule(const ps_optim_t *o, int optimize);

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
