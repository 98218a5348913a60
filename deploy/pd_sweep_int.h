/* Shared by the pd_sweep*.c files only. */
#ifndef PD_SWEEP_INT_H
#define PD_SWEEP_INT_H

#include "pd_sweep.h"

/* A run's --set list: every string owned. */
typedef struct pd_sets {
  char **v;
  size_t n;
} pd_sets_t;

int pd_sweep_run_sets(const pd_sweep_t *s, const pd_sweep_opts_t *o, size_t i, pd_sets_t *out,
                      pc_err_t *err);
void pd_sets_free(pd_sets_t *v);

#endif
