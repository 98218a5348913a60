#include "pc_node.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parasol.pb-c.h"
#include "pc_log.h"
#include "pc_proc.h"

#define NODE_HWM 10000

int pc_node_send(pc_node_t *n, pc_op_t op, const void *pb_msg, pc_err_t *err) {
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, op, ++n->next_id, n->sender);
  return pb_msg ? pc_wire_send_pb(n->sched, NULL, &h, pb_msg, 0, err)
                : pc_wire_send(n->sched, NULL, &h, NULL, NULL, 0, NULL, 0, 0, err);
}

static int send_register(pc_node_t *n, int rank_req, const char *endpoint,
                         const pc_table_t *tables, size_t ntables, pc_err_t *err) {
  Parasol__Register reg = PARASOL__REGISTER__INIT;
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  reg.role = n->role;
  reg.rank = rank_req;
  reg.endpoint = (char *)(endpoint ? endpoint : "");
  reg.host = host;
  reg.pid = (uint32_t)getpid();
  pc_setting_t set[PC_CONFIG_MAX_SHARED];
  Parasol__Setting pbs[PC_CONFIG_MAX_SHARED], *ptrs[PC_CONFIG_MAX_SHARED];
  size_t ns = pc_config_shared(n->cfg, set, PC_CONFIG_MAX_SHARED);
  for (size_t i = 0; i < ns && i < PC_CONFIG_MAX_SHARED; i++) {
    parasol__setting__init(&pbs[i]);
    pbs[i].name = set[i].name;
    pbs[i].value = set[i].value;
    ptrs[i] = &pbs[i];
  }
  reg.n_settings = ns < PC_CONFIG_MAX_SHARED ? ns : PC_CONFIG_MAX_SHARED;
  reg.settings = ptrs;
  Parasol__Table tpb[PC_TABLE_MAX], *tptr[PC_TABLE_MAX];
  if (ntables > PC_TABLE_MAX)
    return pc_err_set(err, PC_EINVAL, "%zu tables (at most %d)", ntables, PC_TABLE_MAX);
  pc_wire_tables_to_pb(tables, ntables, tpb, tptr);
  reg.n_tables = ntables;
  reg.tables = tptr;
  return pc_node_send(n, PC_OP_REGISTER, &reg, err);
}

static int take_welcome(pc_node_t *n, const pc_msg_t *m, pc_err_t *err) {
  Parasol__Welcome *w = parasol__welcome__unpack(NULL, m->body_len, m->body);
  if (w == NULL || w->shard_map == NULL || w->rank < 0) {
    if (w)
      parasol__welcome__free_unpacked(w, NULL);
    return pc_err_set(err, PC_EPROTO, "malformed welcome from the scheduler");
  }
  n->rank = w->rank;
  n->num_servers = w->num_servers;
  n->num_workers = w->num_workers;
  n->sender = pc_wire_sender(n->role, n->rank);
  int rc = pc_wire_shardmap_from_pb(w->shard_map, &n->map, &n->endpoints, err);
  if (rc == PC_OK) {
    rc = pc_wire_tables_from_pb(w->tables, w->n_tables, n->tables, err);
    n->ntables = rc == PC_OK ? w->n_tables : 0;
  }
  if (rc == PC_OK && n->map.num_servers != n->num_servers)
    rc = pc_err_set(err, PC_EPROTO, "welcome: shard map has %u servers, cluster %u",
                    n->map.num_servers, n->num_servers);
  parasol__welcome__free_unpacked(w, NULL);
  return rc;
}

/* Block (bounded by deadline) for the next control message. */
static int wait_msg(pc_node_t *n, pc_msg_t *m, double deadline, pc_err_t *err) {
  for (;;) {
    int rc = pc_node_recv(n, m, err);
    if (rc != PC_ENOTFOUND)
      return rc;
    double left = deadline - pc_proc_now();
    if (left <= 0)
      return PC_ETIMEDOUT;
    zmq_pollitem_t it = {n->sched, 0, ZMQ_POLLIN, 0};
    long ms = (long)(left * 1000) + 1;
    zmq_poll(&it, 1, ms < 200 ? ms : 200);
    if ((rc = pc_node_tick(n, err)) != PC_OK)
      return rc;
  }
}

int pc_node_join(pc_node_t *n, void *zctx, const pc_config_t *cfg, pc_role_t role, int rank_req,
                 const char *endpoint, const pc_table_t *tables, size_t ntables,
                 pc_err_t *err) {
  memset(n, 0, sizeof *n);
  n->cfg = cfg;
  n->role = role;
  n->rank = -1;
  n->sender = pc_wire_sender(role, 0xffffff);
  n->sched = zmq_socket(zctx, ZMQ_DEALER);
  if (n->sched == NULL)
    return pc_err_set(err, PC_ESYS, "zmq_socket: %s", zmq_strerror(zmq_errno()));
  int rc = pc_wire_socket_setup(n->sched, 0, NODE_HWM, err);
  if (rc == PC_OK && zmq_connect(n->sched, cfg->cluster.scheduler) != 0)
    rc = pc_err_set(err, PC_ESYS, "connecting to scheduler %s: %s", cfg->cluster.scheduler,
                    zmq_strerror(zmq_errno()));
  if (rc == PC_OK)
    rc = send_register(n, rank_req, endpoint, tables, ntables, err);
  double deadline = pc_proc_now() + cfg->cluster.register_timeout;
  while (rc == PC_OK) {
    pc_msg_t m;
    rc = wait_msg(n, &m, deadline, err);
    if (rc == PC_ETIMEDOUT)
      return pc_err_set(err, PC_ETIMEDOUT, "no welcome from the scheduler at %s within %.0f s "
                        "(cluster.register_timeout)", cfg->cluster.scheduler,
                        cfg->cluster.register_timeout);
    if (rc != PC_OK)
      break;
    if (m.hdr.op == PC_OP_WELCOME)
      rc = take_welcome(n, &m, err);
    else if (m.hdr.op == PC_OP_SHUTDOWN)
      rc = pc_err_set(err, PC_ECANCELED, "%s: %s",
                      n->shut_refused ? "scheduler refused registration"
                                      : "the run failed before it began",
                      n->shut_reason);
    int op = (int)m.hdr.op;
    pc_msg_close(&m);
    if (op == PC_OP_WELCOME || rc != PC_OK)
      break;
  }
  if (rc == PC_ECANCELED && !n->shut)
    pc_node_leave(n, err ? err->msg : "stopped");
  return rc;
}

void pc_node_abandon(const pc_config_t *cfg, pc_role_t role, const char *reason) {
  pc_node_t n;
  pc_err_t err = {0};
  void *ctx = zmq_ctx_new();
  if (ctx == NULL)
    return;
  memset(&n, 0, sizeof n);
  n.cfg = cfg;
  n.role = role;
  n.rank = -1;
  n.sender = pc_wire_sender(role, 0xffffff);
  n.sched = zmq_socket(ctx, ZMQ_DEALER);
  if (n.sched != NULL && pc_wire_socket_setup(n.sched, 0, NODE_HWM, &err) == PC_OK &&
      zmq_connect(n.sched, cfg->cluster.scheduler) == 0 &&
      send_register(&n, -1, NULL, NULL, 0, &err) == PC_OK)
    pc_node_leave(&n, reason);
  pc_node_close(&n);
  zmq_ctx_term(ctx);
}

void pc_node_close(pc_node_t *n) {
  if (n->sched) {
    /* A last message (a failure report) may still be queued: give it a
     * bounded chance to leave. */
    int linger = 500;
    zmq_setsockopt(n->sched, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(n->sched);
  }
  n->sched = NULL;
  pc_shardmap_free(&n->map);
  free(n->endpoints);
  n->endpoints = NULL;
}

/* The scheduler's SHUTDOWN, kept for whoever asks why this node stopped. */
static void note_shutdown(pc_node_t *n, const pc_msg_t *m) {
  Parasol__Shutdown *sd = parasol__shutdown__unpack(NULL, m->body_len, m->body);
  n->shut = 1;
  n->shut_failed = sd != NULL && sd->failed;
  n->shut_refused = sd != NULL && sd->refused;
  snprintf(n->shut_reason, sizeof n->shut_reason, "%s",
           sd != NULL && sd->reason[0] ? sd->reason : "no reason given");
  if (sd != NULL)
    parasol__shutdown__free_unpacked(sd, NULL);
}

/* Messages already queued mean the scheduler spoke; the caller has not
 * read them yet. */
static int input_waiting(pc_node_t *n) {
  int ev = 0;
  size_t len = sizeof ev;
  return zmq_getsockopt(n->sched, ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLIN);
}

int pc_node_tick(pc_node_t *n, pc_err_t *err) {
  int sig = pc_proc_stop_signal();
  if (sig != 0)
    return pc_err_set(err, PC_ECANCELED, "stopped by %s", pc_proc_signal_name(sig));
  double now = pc_proc_now();
  if (n->unanswered > 0 && now - n->unanswered > n->cfg->cluster.node_timeout &&
      !input_waiting(n))
    return pc_err_set(err, PC_EPEER, "scheduler at %s silent for %.1f s (cluster.node_timeout)",
                      n->cfg->cluster.scheduler, now - n->unanswered);
  if (now - n->last_beat < n->cfg->cluster.heartbeat)
    return PC_OK;
  int rc = pc_node_send(n, PC_OP_HEARTBEAT, NULL, err);
  if (rc == PC_OK) {
    n->last_beat = now;
    if (n->unanswered == 0)
      n->unanswered = now;
  }
  return rc;
}

int pc_node_recv(pc_node_t *n, pc_msg_t *m, pc_err_t *err) {
  for (;;) {
    pc_drop_t why;
    pc_err_t e;
    int rc = pc_wire_recv(n->sched, 0, m, ZMQ_DONTWAIT, &why, &e);
    if (rc == PC_EPROTO) {
      pc_wire_drop_note(&n->drops, why, "from scheduler", &e);
      continue;
    }
    if (rc != PC_OK) {
      if (rc != PC_ENOTFOUND && err)
        *err = e;
      return rc;
    }
    n->unanswered = 0;
    if (m->hdr.op == PC_OP_SHUTDOWN)
      note_shutdown(n, m);
    if (m->hdr.op != PC_OP_HEARTBEAT)
      return PC_OK;
    pc_msg_close(m);
  }
}

int pc_node_barrier(pc_node_t *n, uint64_t id, pc_err_t *err) {
  return pc_node_barrier_flag(n, id, NULL, err);
}

int pc_node_barrier_flag(pc_node_t *n, uint64_t id, int *flag, pc_err_t *err) {
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, PC_OP_BARRIER, id, n->sender);
  int rc = pc_wire_send(n->sched, NULL, &h, NULL, NULL, 0, NULL, 0, 0, err);
  /* The scheduler enforces the barrier's deadline and names who is missing;
   * this side only needs to outlive it. */
  double deadline = pc_proc_now() + n->cfg->cluster.register_timeout + n->cfg->cluster.node_timeout;
  while (rc == PC_OK) {
    pc_msg_t m;
    rc = wait_msg(n, &m, deadline, err);
    if (rc == PC_ETIMEDOUT)
      return pc_err_set(err, PC_ETIMEDOUT, "barrier %llu not released by the scheduler",
                        (unsigned long long)id);
    if (rc != PC_OK)
      return rc;
    int op = (int)m.hdr.op;
    uint64_t rid = m.hdr.request_id;
    if (flag != NULL && op == PC_OP_BARRIER_DONE && rid == id)
      *flag = m.hdr.status == 1;
    if (op == PC_OP_SHUTDOWN)
      rc = pc_err_set(err, PC_ECANCELED, "the run failed before training began: %s",
                      n->shut_reason);
    pc_msg_close(&m);
    if (op == PC_OP_BARRIER_DONE && rid == id)
      return PC_OK;
  }
  return rc;
}

void pc_node_leave(pc_node_t *n, const char *reason) {
  Parasol__Shutdown sd = PARASOL__SHUTDOWN__INIT;
  sd.reason = (char *)reason;
  sd.failed = 1;
  pc_err_t ignored;
  if (n->sched != NULL)
    pc_node_send(n, PC_OP_SHUTDOWN, &sd, &ignored);
}

void pc_node_shutdown_reason(const pc_msg_t *m, char *buf, size_t len, int *failed) {
  Parasol__Shutdown *s = parasol__shutdown__unpack(NULL, m->body_len, m->body);
  snprintf(buf, len, "%s", s && s->reason ? s->reason : "");
  if (failed)
    *failed = s ? s->failed : 0;
  if (s)
    parasol__shutdown__free_unpacked(s, NULL);
}
