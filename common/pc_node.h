/* A node's link to the scheduler, shared by servers and workers: register,
 * wait for the welcome (rank + shard map) under a deadline, heartbeat, run
 * barriers, receive control messages. */
#ifndef PC_NODE_H
#define PC_NODE_H

#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pc_partition.h"
#include "pc_table.h"
#include "pc_wire.h"

typedef struct pc_node {
  void *sched; /* DEALER connected to the scheduler (owned) */
  const pc_config_t *cfg;
  pc_role_t role;
  int rank;
  uint32_t sender;
  uint32_t num_servers, num_workers;
  pc_shardmap_t map;
  char (*endpoints)[PC_WIRE_MAX_ENDPOINT]; /* [num_servers] (owned) */
  pc_table_t tables[PC_TABLE_MAX]; /* the model's tables, from the welcome */
  size_t ntables;
  double last_beat;  /* when the last heartbeat left */
  double unanswered; /* first heartbeat sent since the scheduler was last heard; 0 = none */
  uint64_t next_id;
  pc_wire_drops_t drops;
  /* Set once a SHUTDOWN from the scheduler has been received. */
  int shut, shut_failed, shut_refused;
  char shut_reason[PC_ERR_MSG_MAX];
} pc_node_t;

/* Connect to cfg->cluster.scheduler, register (requested rank rank_req or
 * -1; endpoint: where this node serves, or NULL; tables: a worker's model
 * tables, NULL/0 for a server), and wait up to cluster.register_timeout
 * for the welcome, which carries the cluster's tables. Interrupted by
 * SIGINT/SIGTERM while waiting, it tells the scheduler before it returns. */
int pc_node_join(pc_node_t *n, void *zctx, const pc_config_t *cfg, pc_role_t role, int rank_req,
                 const char *endpoint, const pc_table_t *tables, size_t ntables,
                 pc_err_t *err);
void pc_node_close(pc_node_t *n);

/* For a node that failed before it could join (a worker whose data cannot
 * be read, so it has no tables to declare): register without tables and
 * leave at once with the reason, so the scheduler stops the run now
 * instead of waiting out cluster.register_timeout. Best effort, bounded by
 * the linger of pc_node_close. */
void pc_node_abandon(const pc_config_t *cfg, pc_role_t role, const char *reason);

/* Send a heartbeat every cluster.heartbeat, whatever else this node sends;
 * fail with PC_EPEER when no message has come from the scheduler for
 * cluster.node_timeout after a heartbeat went out unanswered. A node busy
 * for a while (loading data) is not mistaken for a silent scheduler: the
 * clock starts at its first heartbeat after the pause. Also where a caught
 * SIGINT/SIGTERM surfaces: PC_ECANCELED, "stopped by SIGTERM". Call it at
 * least every cluster.heartbeat. */
int pc_node_tick(pc_node_t *n, pc_err_t *err);

/* Tell the scheduler this node is leaving the run and why (best effort:
 * the scheduler then stops the others at once with that reason). */
void pc_node_leave(pc_node_t *n, const char *reason);

/* Next control message from the scheduler without blocking: PC_OK (caller
 * closes m), PC_ENOTFOUND when none is queued. Heartbeat echoes are
 * consumed here; malformed messages are counted and skipped. A SHUTDOWN is
 * passed on and also noted in n->shut, shut_failed and shut_reason. */
int pc_node_recv(pc_node_t *n, pc_msg_t *m, pc_err_t *err);

/* Wait at barrier id until the scheduler releases it (or times out, or
 * says shut down: PC_ECANCELED with the reason in err). */
int pc_node_barrier(pc_node_t *n, uint64_t id, pc_err_t *err);
/* The same, with the scheduler's word on the way out: *flag = the release's
 * status (1: training stops here, early stopping; 0: go on). */
int pc_node_barrier_flag(pc_node_t *n, uint64_t id, int *flag, pc_err_t *err);

/* Send a control message with an optional protobuf body (NULL). */
int pc_node_send(pc_node_t *n, pc_op_t op, const void *pb_msg, pc_err_t *err);

/* Reason text from a SHUTDOWN message body ("" when none); failed set
 * when the scheduler says the run failed. */
void pc_node_shutdown_reason(const pc_msg_t *m, char *buf, size_t len, int *failed);

#endif
