/* The worker's key/value client: joins the cluster as a worker, connects to
 * every server, and moves keys and values. Requests are asynchronous:
 * pulls return a ticket to wait on (the next minibatch can be fetched while
 * the current one computes), pushes return once sent. At most
 * training.inflight messages are outstanding at any time; every wait is
 * bounded by cluster.node_timeout without a reply. Benchmarks and the
 * training loop use the same client. Not thread-safe: one thread owns it. */
#ifndef PW_KV_H
#define PW_KV_H

#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pc_node.h"
#include "pc_table.h"

typedef struct pw_kv pw_kv_t;

typedef struct pw_kv_stats {
  uint64_t pulls, pushes;   /* logical requests */
  uint64_t messages;        /* per-server messages sent */
  uint64_t batches;         /* of them, BATCH messages */
  uint64_t batched;         /* request parts that went in a BATCH */
  uint64_t rejected;        /* pushes refused for non-finite gradients */
  int max_inflight;         /* peak messages outstanding */
} pw_kv_stats_t;

/* Join the cluster (rank_req or -1) declaring the model's tables (which
 * the scheduler checks against every other worker's; the cluster's tables
 * are then pw_kv_node(kv)->tables), and connect to the servers. */
int pw_kv_open(pw_kv_t **out, const pc_config_t *cfg, int rank_req, const pc_table_t *tables,
               size_t ntables, pc_err_t *err);
void pw_kv_close(pw_kv_t **kv);

/* The link to the scheduler: rank, cluster size, control messages. A
 * SHUTDOWN seen while waiting ends the wait with PC_ECANCELED and is noted
 * in the node (shut, shut_failed, shut_reason). */
pc_node_t *pw_kv_node(pw_kv_t *kv);

/* Keys are global (pc_table_key); every key of one request belongs to one
 * table, and each carries that table's width of values: n keys move
 * n x width floats, key i's at [i * width, (i + 1) * width).
 *
 * Fetch the values of keys[0..n) into out[0..n x width) (out must stay
 * valid until the ticket completes). keys may be reused as soon as this
 * returns. */
int pw_kv_pull(pw_kv_t *kv, const uint64_t *keys, size_t n, float *out, uint64_t *ticket,
               pc_err_t *err);
/* The same for the block [begin, end): one message per server range, no key
 * list on the wire when the block lies in dense ranges. */
int pw_kv_pull_range(pw_kv_t *kv, uint64_t begin, uint64_t end, float *out, uint64_t *ticket,
                     pc_err_t *err);

/* Send gradients for keys[0..n) / the block [begin, end); both arrays may be
 * reused as soon as this returns. */
int pw_kv_push(pw_kv_t *kv, const uint64_t *keys, size_t n, const float *vals, pc_err_t *err);
int pw_kv_push_range(pw_kv_t *kv, uint64_t begin, uint64_t end, const float *vals,
                     pc_err_t *err);
/* pw_kv_push_range without copying: blocks of 64 KiB or more in the dense
 * ranges go out straight from vals, which must stay unchanged until
 * pw_kv_wait(*ticket) (or pw_kv_wait_all) returns. Saves a pass over the
 * block on the worker; a dense model's trainer pushes its gradient buffer
 * this way and waits before writing the next gradient into it. */
int pw_kv_push_range_nocopy(pw_kv_t *kv, uint64_t begin, uint64_t end, const float *vals,
                            uint64_t *ticket, pc_err_t *err);

/* Fine-tuning's load (training.init): like pw_kv_push / pw_kv_push_range,
 * but the values replace the keys' values on the servers, whose optimizer
 * state for them starts afresh (the push carries PC_WIRE_FLAG_ASSIGN;
 * never batched with other requests). */
int pw_kv_assign(pw_kv_t *kv, const uint64_t *keys, size_t n, const float *vals,
                 pc_err_t *err);
int pw_kv_assign_range(pw_kv_t *kv, uint64_t begin, uint64_t end, const float *vals,
                       pc_err_t *err);

/* The caller's step (the training loop's minibatch count), sent as the
 * header `clock` of every request from now on; servers sum the workers'
 * latest clocks into the global step that learning-rate schedules read
 * (docs/protocol.md). Requests still queued go out first, under the clock
 * they were made with. Starts at 0. */
int pw_kv_set_clock(pw_kv_t *kv, uint64_t clock, pc_err_t *err);

/* Wait until the request with this ticket has completed. */
int pw_kv_wait(pw_kv_t *kv, uint64_t ticket, pc_err_t *err);
/* Wait until nothing is outstanding (all pushes acknowledged). */
int pw_kv_wait_all(pw_kv_t *kv, pc_err_t *err);

/* One page of what server `server` stores of table `table`: up to max
 * keys (1 to PC_WIRE_MAX_DUMP_KEYS, and max x width <= PC_WIRE_MAX_VALUES)
 * with their values, into keys[0..*n) and vals[0..*n x width). Start with *cursor = 0; each call moves *cursor on, and sets
 * *done once the page is the server's last (a page before the last holds at
 * least one key; the last may be empty). Keys come in the server's storage
 * order, not sorted: every key of its dense ranges (never-pushed ones read
 * 0), then every hashed key that has been pushed. Synchronous: sends one
 * DUMP and waits for its reply (bounded by cluster.node_timeout).
 * Contract: call only with nothing outstanding (after pw_kv_wait_all;
 * otherwise PC_EINVAL), and only once no worker pushes any more -- worker 0
 * does it on the scheduler's EVALUATE, sent after every worker finished
 * training. A push between two pages may move the server's hash table
 * entries, so a key could come twice or not at all. */
int pw_kv_dump(pw_kv_t *kv, uint32_t server, uint32_t table, uint64_t *cursor, size_t max,
               uint64_t *keys, float *vals, size_t *n, int *done, pc_err_t *err);

void pw_kv_stats(const pw_kv_t *kv, pw_kv_stats_t *out);

#endif
