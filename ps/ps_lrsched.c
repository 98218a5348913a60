#include "ps_lrsched.h"

#include <math.h>
#include <stdlib.h>

void ps_sched_from_config(ps_sched_t *s, const pc_config_t *cfg) {
  s->type = cfg->optimizer.schedule;
  s->lr = cfg->optimizer.lr;
  s->warmup = cfg->optimizer.warmup;
  s->every = cfg->optimizer.step_every;
  s->factor = cfg->optimizer.step_factor;
  s->total = cfg->optimizer.cosine_steps;
  s->floor = cfg->optimizer.min_lr_fraction;
}

/* Each schedule's decay t steps after warm-up, in (0, 1]. An ops table
 * indexed by pc_sched_type_t: a new schedule is one function and one row. */
typedef double (*decay_fn)(const ps_sched_t *s, uint64_t t);

static double decay_constant(const ps_sched_t *s, uint64_t t) {
  (void)s;
  (void)t;
  return 1.0;
}

static double decay_step(const ps_sched_t *s, uint64_t t) {
  return s->every ? pow(s->factor, (double)(t / s->every)) : 1.0;
}

/* The warm-up length sets the time scale, so the rate halves 3W steps
 * after a warm-up of W (the Transformer's shape); without one, 1/sqrt(t+1). */
static double decay_invsqrt(const ps_sched_t *s, uint64_t t) {
  double scale = s->warmup ? (double)s->warmup : 1.0;
  return 1.0 / sqrt(1.0 + (double)t / scale);
}

static double decay_cosine(const ps_sched_t *s, uint64_t t) {
  uint64_t span = s->total > s->warmup ? s->total - s->warmup : 1;
  double x = t < span ? (double)t / (double)span : 1.0;
  double c = 0.5 * (1.0 + cos(M_PI * x));
  return s->floor + (1.0 - s->floor) * c; /* ends exactly at the floor */
}

static const decay_fn decays[] = {
    [PC_SCHED_CONSTANT] = decay_constant,
    [PC_SCHED_STEP] = decay_step,
    [PC_SCHED_INVSQRT] = decay_invsqrt,
    [PC_SCHED_COSINE] = decay_cosine,
};

#define NDECAYS (sizeof decays / sizeof decays[0])

double ps_sched_lr(const ps_sched_t *s, uint64_t step) {
  if (step < s->warmup)
    return s->lr * (double)(step + 1) / (double)s->warmup;
  if ((size_t)s->type >= NDECAYS || s->type == PC_SCHED_CONSTANT)
    return s->lr;
  double d = decays[s->type](s, step - s->warmup);
  return s->lr * (d > s->floor ? d : s->floor);
}

int ps_sched_is_constant(const ps_sched_t *s) {
  return s->type == PC_SCHED_CONSTANT && s->warmup == 0;
}

int ps_steps_init(ps_steps_t *s, uint32_t nworkers, pc_err_t *err) {
  *s = (ps_steps_t){0};
  s->last = calloc(nworkers ? nworkers : 1, sizeof *s->last);
  if (s->last == NULL)
    return pc_err_set(err, PC_ENOMEM, "clocks of %u workers", nworkers);
  s->nworkers = nworkers;
  return PC_OK;
}

void ps_steps_free(ps_steps_t *s) {
  free(s->last);
  *s = (ps_steps_t){0};
}

uint64_t ps_steps_note(ps_steps_t *s, uint32_t rank, uint64_t clock) {
  if (rank >= s->nworkers)
    return s->sum;
  if (clock > PS_STEPS_MAX_CLOCK)
    clock = PS_STEPS_MAX_CLOCK;
  s->sum = s->sum - s->last[rank] + clock;
  s->last[rank] = clock;
  return s->sum;
}
