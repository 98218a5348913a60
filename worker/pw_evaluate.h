/* A trained model evaluated on a dataset, and the result reported to the
 * scheduler: predictions in bounded chunks through the model's ops, the
 * metrics of its label kind (pw_eval). */
#ifndef PW_EVALUATE_H
#define PW_EVALUATE_H

#include <stdint.h>

#include "pc_error.h"
#include "pc_node.h"
#include "pw_data.h"
#include "pw_eval.h"
#include "pw_model.h"
#include "pw_modelops.h"

/* Called between chunks of an evaluation (e.g. to keep a node's
 * heartbeats going during a long one); a non-PC_OK return stops it. */
typedef struct pw_evaluate_tick {
  int (*fn)(void *arg, pc_err_t *err);
  void *arg;
} pw_evaluate_tick_t;

/* res: every metric of the model's kind over ds (already transformed).
 * tick: NULL, or called after every chunk of predictions. */
int pw_evaluate(const pw_model_ops_t *ops, const pw_model_t *m, const pw_dataset_t *ds,
                const pw_evaluate_tick_t *tick, pw_evalres_t *res, pc_err_t *err);

/* Send EVAL_RESULT to the scheduler: res's metrics (none when error is
 * non-empty), the test set's skipped lines, the model's path. */
int pw_evaluate_report(pc_node_t *node, const pw_evalres_t *res, uint64_t lines_skipped,
                       const char *model_path, const char *error, pc_err_t *err);

#endif
