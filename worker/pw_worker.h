/* A worker: joins the cluster, loads its own partition of the training
 * file, and trains asynchronously — pull the weights of a minibatch's keys
 * from the servers that own them, compute the gradient, push it — with at
 * most training.inflight pushes outstanding and without waiting for other
 * workers. Worker 0 also saves the model and evaluates it when told. */
#ifndef PW_WORKER_H
#define PW_WORKER_H

#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"

int pw_worker_run(const pc_config_t *cfg, int rank_req, pc_err_t *err);

/* Memory worker 0 needs to save the model: the dense layout pulls every
 * weight into one array; the sparse layout only the trained keys, which
 * nothing knows before training (0). */
uint64_t pw_worker_model_bytes(const pc_config_t *cfg);

#endif
