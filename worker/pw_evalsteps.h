/* training.eval_steps: where the evaluations inside epochs fall, worked out
 * by every worker alone from figures they all share, so that all of them
 * stop at the same barriers without talking (docs/lifecycle.md).
 *
 * A step is one mini-batch of every worker. Partitions differ by a row at
 * most, so the epoch's steps are the smallest partition's batches: with k
 * training rows and W workers (contiguous blocks [k*p/W, k*(p+1)/W)) that
 * is ceil(floor(k/W) / batch); a bigger partition's extra batch does not
 * count. The global step after batch b (1-based) of epoch e (1-based) is
 * (e-1)*B + min(b, B). */
#ifndef PW_EVALSTEPS_H
#define PW_EVALSTEPS_H

#include <stdint.h>

/* B: the steps of an epoch (0 when a worker would have no row, or an
 * argument is 0). */
uint64_t pw_evalsteps_per_epoch(uint64_t rows, uint64_t workers, uint64_t batch);

/* The global step after batch b (1-based) of epoch e (1-based). */
uint64_t pw_evalsteps_global(uint64_t per_epoch, uint64_t epoch, uint64_t b);

/* Whether batch b of epoch e ends with an evaluation inside the epoch:
 * b < B (the epoch's end belongs to training.eval_every) and its global
 * step a multiple of every (0: never). */
int pw_evalsteps_due(uint64_t every, uint64_t per_epoch, uint64_t epoch, uint64_t b);

#endif
