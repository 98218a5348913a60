/* Learning-rate schedules (docs/schedules.md) and the global step they
 * read (docs/protocol.md, "The global step"). A server computes the rate
 * once per request from the global step and hands it to its store
 * (ps_store_set_lr); nothing here runs per key. */
#ifndef PS_LRSCHED_H
#define PS_LRSCHED_H

#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"

typedef struct ps_sched {
  pc_sched_type_t type;
  double lr;        /* optimizer.lr: the rate after warm-up, before decay */
  uint64_t warmup;  /* steps of linear warm-up */
  uint64_t every;   /* step: steps between decays (> 0) */
  double factor;    /* step: the decay factor */
  uint64_t total;   /* cosine: total steps, warm-up included (> warmup) */
  double floor;     /* min_lr_fraction: the decay stops at lr x floor */
} ps_sched_t;

/* Copy the schedule out of a validated config. */
void ps_sched_from_config(ps_sched_t *s, const pc_config_t *cfg);

/* The learning rate at global step `step` (0-based):
 *   warm-up, step < W:  lr * (step + 1) / W
 *   then, t = step - W: lr * max(floor, decay(t)), decay(t) being
 *     constant: 1 (no floor)
 *     step:     factor ^ floor(t / every)
 *     invsqrt:  1 / sqrt(1 + t / max(W, 1))
 *     cosine:   (1 + cos(pi * min(t, T) / T)) / 2 rescaled to [floor, 1],
 *               T = total - W
 * Pure: the same step always gives the same rate. */
double ps_sched_lr(const ps_sched_t *s, uint64_t step);

/* 1 when the rate never changes (constant, no warm-up): the server then
 * skips the per-request work. */
int ps_sched_is_constant(const ps_sched_t *s);

/* Workers' clocks are capped here so that the sum over 4096 workers cannot
 * overflow (2^12 x 2^48 = 2^60). */
#define PS_STEPS_MAX_CLOCK (UINT64_C(1) << 48)

/* The global step: the sum over workers of the latest clock each has sent
 * this server (its minibatch count). */
typedef struct ps_steps {
  uint64_t *last;   /* [nworkers], owned */
  uint32_t nworkers;
  uint64_t sum;
} ps_steps_t;

/* All clocks 0. *s is zeroed on failure. */
int ps_steps_init(ps_steps_t *s, uint32_t nworkers, pc_err_t *err);
void ps_steps_free(ps_steps_t *s);

/* Record worker `rank`'s clock; returns the global step. A rank outside
 * the cluster changes nothing (only workers send clocks; a server checks
 * the role). */
uint64_t ps_steps_note(ps_steps_t *s, uint32_t rank, uint64_t clock);

#endif
