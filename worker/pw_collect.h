/* Worker 0's copy of the trained model, collected from the servers once
 * training is over: dense tables by range pulls, sparse tables page by
 * page with DUMP (memory follows the stored keys, not the table's size). */
#ifndef PW_COLLECT_H
#define PW_COLLECT_H

#include <stddef.h>

#include "pc_error.h"
#include "pc_table.h"
#include "pw_kv.h"
#include "pw_model.h"

/* Fill m->tables[0..n) from tables[0..n) (ids 0..n-1, as the cluster holds
 * them). Call with nothing outstanding and no worker pushing any more
 * (pw_kv_dump's contract). On error m's tables may be partly filled:
 * pw_model_free frees them. */
int pw_collect_model(pw_kv_t *kv, const pc_table_t *tables, size_t n, pw_model_t *m,
                     pc_err_t *err);

/* Bytes of values worker 0 holds to save a model with these tables: the
 * dense tables' size x width floats (the sparse tables' stored keys are
 * not known before training, and count 0). Saturates at UINT64_MAX. */
uint64_t pw_collect_dense_bytes(const pc_table_t *tables, size_t n);

#endif
