/* Fine-tuning: a run that starts from a trained model (training.init,
 * `parasol launch CONFIG --init MODEL`). The model file must fit the
 * config: the same model type, and the same tables (names, kinds, sizes,
 * widths) as the config declares for the training data. Worker 0 loads
 * its values into the servers with assigning pushes (pw_kv_assign) before
 * the ready barrier, so no worker pulls before the servers hold them; the
 * optimizer state starts afresh. A model trained on standardized data
 * brings its transform, which the new data is read with and which the new
 * model keeps. docs/lifecycle.md, "Fine-tuning". */
#ifndef PW_INIT_H
#define PW_INIT_H

#include <stddef.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pc_table.h"
#include "pw_kv.h"
#include "pw_model.h"

/* Load cfg->training.init into *m and check that it fits: its type is
 * model.type, its tables are tables[0..n) (the model's, without the
 * moments table), a transform has `features` entries, and the config asks
 * for standardization (data.standardize) only if the model has a
 * transform. Every message starts with "--init PATH: " and names the
 * table and both values, with the model.* setting that differs when one
 * does. On error *m is empty. */
int pw_init_load(pw_model_t *m, const pc_config_t *cfg, const pc_table_t *tables, size_t n,
                 uint64_t features, pc_err_t *err);

/* The launcher's check before it starts any process: as pw_init_load for
 * what the config alone decides (the type and the transform always; the
 * tables when they do not depend on the data's shape). PC_OK when
 * training.init is empty. */
int pw_init_check_config(const pc_config_t *cfg, pc_err_t *err);

/* Worker 0: every table of m into the servers (dense tables by ranges,
 * sparse ones by keys, in blocks of at most PW_INIT_BLOCK values), then
 * wait until every server has acknowledged them. The cluster's tables
 * 0..m->ntables-1 are the model's (checked by pw_init_load). */
#define PW_INIT_BLOCK ((size_t)1 << 20)
int pw_init_push(pw_kv_t *kv, const pw_model_t *m, pc_err_t *err);

#endif
