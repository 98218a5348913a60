/* A worker: declares the model's tables (pw_modelops.h) when it joins the
 * cluster, loads its own partition of the training data, and trains
 * asynchronously -- for each minibatch pull what the model asks for from
 * the servers that own it, compute the gradients, push them -- with at
 * most training.inflight requests outstanding and without waiting for
 * other workers. Worker 0 also saves the model and evaluates it when
 * told. */
#ifndef PW_WORKER_H
#define PW_WORKER_H

#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pc_table.h"

int pw_worker_run(const pc_config_t *cfg, int rank_req, pc_err_t *err);

/* The model's tables for a config, with the data's shape taken from the
 * config alone (model.features): what `launch` and the benchmarks need
 * before any data is read. Fails for a model that needs the data's shape
 * (a cnn's images). */
int pw_worker_config_tables(const pc_config_t *cfg, pc_table_t *tables, size_t *n,
                            pc_err_t *err);

/* Memory worker 0 needs to save the model: its dense tables pulled whole;
 * sparse tables hold only the trained keys, which nothing knows before
 * training (0). 0 too when the tables need the data's shape. */
uint64_t pw_worker_model_bytes(const pc_config_t *cfg);

#endif
