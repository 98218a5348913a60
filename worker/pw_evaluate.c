#include "pw_evaluate.h"

#include <stdlib.h>

#include "parasol.pb-c.h"

/* Examples predicted at a time: bounded memory whatever the test set. */
#define EVALUATE_CHUNK 1024

int pw_evaluate(const pw_model_ops_t *ops, const pw_model_t *m, const pw_dataset_t *ds,
                const pw_evaluate_tick_t *tick, pw_evalres_t *res, pc_err_t *err) {
  size_t k = ops->outputs(m);
  pw_eval_t *ev = NULL;
  float *out = malloc(EVALUATE_CHUNK * k * sizeof *out);
  size_t *rows = malloc(EVALUATE_CHUNK * sizeof *rows);
  int rc = out && rows ? pw_eval_new(&ev, ops->labels, k, err)
                       : pc_err_set(err, PC_ENOMEM, "predictions of %zu outputs", k);
  for (size_t b = 0; b < ds->n && rc == PC_OK; b += EVALUATE_CHUNK) {
    size_t n = ds->n - b < EVALUATE_CHUNK ? ds->n - b : EVALUATE_CHUNK;
    for (size_t i = 0; i < n; i++)
      rows[i] = b + i;
    rc = ops->predict(m, ds, rows, n, out, err);
    if (rc == PC_OK)
      rc = pw_eval_add(ev, out, ds->label + b, n, err);
    if (rc == PC_OK && tick != NULL)
      rc = tick->fn(tick->arg, err);
  }
  if (rc == PC_OK)
    rc = pw_eval_finish(ev, res, err);
  pw_eval_free(&ev);
  free(out);
  free(rows);
  return rc;
}

int pw_evaluate_report(pc_node_t *node, const pw_evalres_t *res, uint64_t lines_skipped,
                       const char *model_path, const char *error, pc_err_t *err) {
  Parasol__EvalResult r = PARASOL__EVAL_RESULT__INIT;
  pw_evalres_pb_t store;
  if (error[0] == '\0')
    pw_evalres_to_pb(res, &store, &r);
  r.lines_skipped = lines_skipped;
  r.model_path = (char *)model_path;
  r.error = (char *)error;
  return pc_node_send(node, PC_OP_EVAL_RESULT, &r, err);
}
