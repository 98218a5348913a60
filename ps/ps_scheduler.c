#include "ps_scheduler.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "parasol.pb-c.h"
#include "pc_afile.h"
#include "pc_config.h"
#include "pc_log.h"
#include "pc_metrics.h"
#include "pc_node.h"
#include "pc_outdir.h"
#include "pc_partition.h"
#include "pc_proc.h"
#include "pc_wire.h"
#include "ps_epochs.h"
#include "ps_metrics.h"

#define SCHED_HWM 100000
#define BARRIER_READY 1
#define EVAL_TIMEOUT 600 /* s for worker 0 to fetch, save and evaluate the model */

typedef enum { PH_REGISTER, PH_TRAIN, PH_STATS, PH_EVAL, PH_DONE } phase_t;

typedef struct snode {
  int taken;
  zmq_msg_t id;
  char host[64];
  uint32_t pid;
  char endpoint[PC_WIRE_MAX_ENDPOINT];
  double last_seen;
  uint64_t at_barrier; /* the last barrier this worker reached (0: none) */
  int done;
  int have_stats;
  Parasol__Progress prog;
  Parasol__ServerStats stats;
} snode_t;

/* A registration with no requested rank, placed once everyone is in. */
typedef struct pending {
  pc_role_t role;
  zmq_msg_t id;
  char host[64];
  uint32_t pid;
  char endpoint[PC_WIRE_MAX_ENDPOINT];
} pending_t;

typedef struct sched {
  const pc_config_t *cfg;
  const ps_scheduler_opts_t *opts;
  void *zctx, *router;
  char endpoint[PC_ENDPOINT_MAX];
  snode_t *servers, *workers;
  int nservers, nworkers, nregistered;
  pending_t *pending;
  int npending;
  phase_t phase;
  double phase_deadline, barrier_first, start;
  int barrier_count;
  uint64_t barrier_id; /* the barrier workers are gathering at: 1 (ready), 2, ... */
  pc_shardmap_t map;
  pc_table_t tables[PC_TABLE_MAX]; /* the model's, as the first worker declared them */
  size_t ntables;
  char tables_from[160];           /* that worker, for messages */
  pc_wire_drops_t drops;
  Parasol__EvalResult *eval;
  char fail[PC_ERR_MSG_MAX];
  char refused[PC_ERR_MSG_MAX]; /* the last registration refused, for the deadline's message */
  pc_outdir_t outdir;           /* output.dir's run lock */
  ps_epochs_t epochs;           /* the per-epoch series: metrics.csv, metrics.json */
  int stop;                     /* worker 0 asked to stop early: the next release says so */
  uint32_t best_epoch;          /* early stopping: worker 0's best evaluation so far */
  uint64_t best_step;           /* its step inside best_epoch; 0: at the epoch's end */
  time_t wall_start;            /* for metrics.json */
} sched_t;

int ps_scheduler_bind_endpoint(const char *configured, char *out, size_t len, pc_err_t *err) {
  size_t n = strlen(configured);
  int w;
  if (strncmp(configured, "tcp://", 6) == 0 && n > 2 && strcmp(configured + n - 2, ":0") == 0)
    w = snprintf(out, len, "%.*s:*", (int)(n - 2), configured);
  else
    w = snprintf(out, len, "%s", configured);
  if (w < 0 || (size_t)w >= len)
    return pc_err_set(err, PC_EINVAL, "cluster.scheduler '%s' too long", configured);
  return PC_OK;
}

static snode_t *slot_of(sched_t *s, pc_role_t role, int rank) {
  if (role == PC_ROLE_SERVER && rank >= 0 && rank < s->nservers)
    return &s->servers[rank];
  if (role == PC_ROLE_WORKER && rank >= 0 && rank < s->nworkers)
    return &s->workers[rank];
  return NULL;
}

static const char *node_name(pc_role_t role, int rank, char *buf, size_t len) {
  snprintf(buf, len, "%s %d", pc_wire_role_name(role), rank);
  return buf;
}

static int send_to(sched_t *s, zmq_msg_t *id, pc_op_t op, uint64_t rid, const void *pb) {
  pc_wire_hdr_t h;
  pc_err_t err;
  pc_wire_hdr_init(&h, op, rid, pc_wire_sender(PC_ROLE_SCHEDULER, 0));
  int rc = pb ? pc_wire_send_pb(s->router, id, &h, pb, ZMQ_DONTWAIT, &err)
              : pc_wire_send(s->router, id, &h, NULL, NULL, 0, NULL, 0, ZMQ_DONTWAIT, &err);
  if (rc != PC_OK)
    PC_DEBUG("send %s failed: %s", pc_wire_op_name(op), err.msg);
  return rc;
}

/* A barrier's release; status 1 tells the workers to stop training here
 * (early stopping, asked for by worker 0 before it reached the barrier). */
static void send_release(sched_t *s, zmq_msg_t *id, uint64_t barrier) {
  pc_wire_hdr_t h;
  pc_err_t err;
  pc_wire_hdr_init(&h, PC_OP_BARRIER_DONE, barrier, pc_wire_sender(PC_ROLE_SCHEDULER, 0));
  h.status = s->stop ? 1 : 0;
  if (pc_wire_send(s->router, id, &h, NULL, NULL, 0, NULL, 0, ZMQ_DONTWAIT, &err) != PC_OK)
    PC_DEBUG("send %s failed: %s", pc_wire_op_name(h.op), err.msg);
}

/* failed: 0 the run finished, 1 it failed, 2 this node was refused. */
static void send_shutdown(sched_t *s, zmq_msg_t *id, const char *reason, int failed) {
  Parasol__Shutdown sd = PARASOL__SHUTDOWN__INIT;
  sd.reason = (char *)reason;
  sd.failed = failed != 0;
  sd.refused = failed == 2;
  send_to(s, id, PC_OP_SHUTDOWN, 0, &sd);
}

static void broadcast_shutdown(sched_t *s, const char *reason, int failed) {
  for (int i = 0; i < s->nservers; i++)
    if (s->servers[i].taken)
      send_shutdown(s, &s->servers[i].id, reason, failed);
  for (int i = 0; i < s->nworkers; i++)
    if (s->workers[i].taken)
      send_shutdown(s, &s->workers[i].id, reason, failed);
  for (int i = 0; i < s->npending; i++)
    send_shutdown(s, &s->pending[i].id, reason, failed);
}

static int fail(sched_t *s, pc_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(sched_t *s, pc_err_t *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->fail, sizeof s->fail, fmt, ap);
  va_end(ap);
  broadcast_shutdown(s, s->fail, 1);
  if (s->opts && s->opts->announce) { /* the launcher reports this reason */
    printf("@failed %s\n", s->fail);
    fflush(stdout);
  }
  return pc_err_set(err, PC_EPEER, "%s", s->fail);
}

/* "server 1, worker 0, worker 2" for every slot still empty / not flagged. */
static void list_missing(sched_t *s, int (*ok)(const sched_t *, const snode_t *), char *buf,
                         size_t len) {
  size_t off = 0;
  buf[0] = '\0';
  char name[32];
  for (int r = 0; r < 2; r++) {
    snode_t *arr = r == 0 ? s->servers : s->workers;
    int n = r == 0 ? s->nservers : s->nworkers;
    for (int i = 0; i < n && off < len; i++)
      if (!ok(s, &arr[i]))
        off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
                                node_name(r == 0 ? PC_ROLE_SERVER : PC_ROLE_WORKER, i, name,
                                          sizeof name));
  }
}

static void fill_slot(snode_t *n, zmq_msg_t *id, const char *host, uint32_t pid,
                      const char *endpoint) {
  n->taken = 1;
  zmq_msg_init(&n->id);
  zmq_msg_copy(&n->id, id);
  snprintf(n->host, sizeof n->host, "%s", host);
  n->pid = pid;
  snprintf(n->endpoint, sizeof n->endpoint, "%s", endpoint);
  n->last_seen = pc_proc_now();
}

static void reject(sched_t *s, zmq_msg_t *id, const char *why) {
  PC_WARN("registration refused: %s", why);
  snprintf(s->refused, sizeof s->refused, "%s", why);
  send_shutdown(s, id, why, 2); /* 2: refused, not a failed run */
}

/* A node started with other settings would train another model on the
 * same servers: 1 when its shared settings equal this scheduler's, else 0
 * with the first difference, both values, in why. */
static int settings_agree(sched_t *s, const Parasol__Register *r, char *why, size_t len) {
  const char *role = pc_wire_role_name((pc_role_t)r->role);
  if (r->n_settings > 4 * PC_CONFIG_MAX_SHARED) {
    snprintf(why, len, "the %s on host %.64s (pid %u) sent %zu settings", role, r->host, r->pid,
             r->n_settings);
    return 0;
  }
  pc_setting_t mine[PC_CONFIG_MAX_SHARED];
  size_t n = pc_config_shared(s->cfg, mine, PC_CONFIG_MAX_SHARED);
  for (size_t i = 0; i < n && i < PC_CONFIG_MAX_SHARED; i++) {
    const char *theirs = NULL;
    for (size_t j = 0; j < r->n_settings && theirs == NULL; j++)
      if (strcmp(r->settings[j]->name, mine[i].name) == 0)
        theirs = r->settings[j]->value;
    if (theirs != NULL && strcmp(theirs, mine[i].value) == 0)
      continue;
    if (theirs == NULL)
      snprintf(why, len, "the %s on host %.64s (pid %u) sent no %.47s (an older Parasol?)", role,
               r->host, r->pid, mine[i].name);
    else
      snprintf(why, len, "%.47s differs: %.80s on the %s (host %.64s, pid %u), %.95s on the "
               "scheduler; "
               "every node needs the same model, optimizer, training and data settings",
               mine[i].name, theirs, role, r->host, r->pid, mine[i].value);
    return 0;
  }
  return 1;
}

/* Nodes of a role registered so far, with or without a rank. */
static int role_count(sched_t *s, pc_role_t role) {
  int c = 0, count = role == PC_ROLE_SERVER ? s->nservers : s->nworkers;
  for (int i = 0; i < count; i++)
    c += slot_of(s, role, i)->taken;
  for (int i = 0; i < s->npending; i++)
    c += s->pending[i].role == role;
  return c;
}

static int table_equal(const pc_table_t *a, const pc_table_t *b) {
  return strcmp(a->name, b->name) == 0 && a->kind == b->kind && a->size == b->size &&
         a->width == b->width && a->init == b->init && a->scale == b->scale &&
         a->optimize == b->optimize;
}

/* Every worker must declare the same tables (the same model on the same
 * data shape): 1 when this one does (the first one's are kept), else 0
 * with the reason in why. */
static int tables_agree(sched_t *s, const Parasol__Register *r, char *why, size_t len) {
  pc_table_t t[PC_TABLE_MAX];
  pc_err_t e = {0};
  if (r->n_tables == 0) /* failed before it knew them (pc_node_abandon): it leaves next */
    return 1;
  if (pc_wire_tables_from_pb(r->tables, r->n_tables, t, &e) != PC_OK) {
    snprintf(why, len, "the worker on host %.64s (pid %u) declared bad tables: %.200s", r->host,
             r->pid, e.msg);
    return 0;
  }
  if (s->ntables == 0) {
    memcpy(s->tables, t, r->n_tables * sizeof *t);
    s->ntables = r->n_tables;
    snprintf(s->tables_from, sizeof s->tables_from, "host %.64s, pid %u", r->host, r->pid);
    return 1;
  }
  for (size_t i = 0; i < s->ntables || i < r->n_tables; i++)
    if (i >= s->ntables || i >= r->n_tables || !table_equal(&s->tables[i], &t[i])) {
      snprintf(why, len, "the worker on host %.64s (pid %u) declares other model tables than "
               "the worker on %s (table %zu%s%.31s: %s); every worker needs the same model "
               "settings and data of the same shape", r->host, r->pid, s->tables_from, i,
               i < s->ntables ? " " : "", i < s->ntables ? s->tables[i].name : "",
               i >= s->ntables || i >= r->n_tables ? "present on one only"
               : s->tables[i].size != t[i].size ? "sizes differ"
               : s->tables[i].width != t[i].width ? "widths differ" : "specs differ");
      return 0;
    }
  return 1;
}

static int register_checked(sched_t *s, pc_msg_t *m, Parasol__Register *r) {
  char why[512];
  int count = r->role == PC_ROLE_SERVER ? s->nservers : s->nworkers;
  const char *role = pc_wire_role_name((pc_role_t)r->role);
  if (r->role != PC_ROLE_SERVER && r->role != PC_ROLE_WORKER) {
    reject(s, &m->identity, "unknown role");
    return 0;
  }
  if (r->role == PC_ROLE_SERVER && strncmp(r->endpoint, "tcp://", 6) != 0) {
    snprintf(why, sizeof why, "server on %s sent no endpoint", r->host);
    reject(s, &m->identity, why);
    return 0;
  }
  if (s->phase != PH_REGISTER || role_count(s, (pc_role_t)r->role) >= count) {
    snprintf(why, sizeof why, "the cluster already has its %d %ss", count, role);
    reject(s, &m->identity, why);
    return 0;
  }
  if (r->rank >= count || r->rank < -1) {
    snprintf(why, sizeof why, "%s rank %d out of range (cluster has %d)", role, r->rank, count);
    reject(s, &m->identity, why);
    return 0;
  }
  if (!settings_agree(s, r, why, sizeof why) ||
      (r->role == PC_ROLE_WORKER && !tables_agree(s, r, why, sizeof why))) {
    reject(s, &m->identity, why);
    return 0;
  }
  return 1;
}

static void on_register(sched_t *s, pc_msg_t *m) {
  Parasol__Register *r = parasol__register__unpack(NULL, m->body_len, m->body);
  if (r == NULL) {
    pc_wire_drop_note(&s->drops, PC_DROP_BODY, "register", NULL);
    return;
  }
  if (register_checked(s, m, r)) {
    snode_t *n = slot_of(s, (pc_role_t)r->role, r->rank);
    char name[32];
    if (r->rank >= 0 && n->taken) {
      char why[256];
      snprintf(why, sizeof why, "%s is already registered (host %s pid %u)",
               node_name((pc_role_t)r->role, r->rank, name, sizeof name), n->host, n->pid);
      reject(s, &m->identity, why);
    } else if (r->rank >= 0) {
      fill_slot(n, &m->identity, r->host, r->pid, r->endpoint);
      s->nregistered++;
      PC_INFO("registered %s (host %s, pid %u)%s%s",
              node_name((pc_role_t)r->role, r->rank, name, sizeof name), r->host, r->pid,
              r->endpoint[0] ? " at " : "", r->endpoint);
    } else {
      pending_t *p = &s->pending[s->npending++];
      p->role = (pc_role_t)r->role;
      zmq_msg_init(&p->id);
      zmq_msg_copy(&p->id, &m->identity);
      snprintf(p->host, sizeof p->host, "%s", r->host);
      p->pid = r->pid;
      snprintf(p->endpoint, sizeof p->endpoint, "%s", r->endpoint);
      PC_INFO("registered a %s (host %s, pid %u), rank to be assigned",
              pc_wire_role_name(p->role), r->host, r->pid);
    }
  }
  parasol__register__free_unpacked(r, NULL);
}

/* Give nodes that asked for any rank the lowest free one of their role. */
static int place_pending(sched_t *s) {
  for (int i = 0; i < s->npending; i++) {
    pending_t *p = &s->pending[i];
    int count = p->role == PC_ROLE_SERVER ? s->nservers : s->nworkers;
    snode_t *n = NULL;
    for (int r = 0; r < count && n == NULL; r++)
      if (!slot_of(s, p->role, r)->taken)
        n = slot_of(s, p->role, r);
    if (n == NULL)
      return PC_EINVAL; /* more of one role than configured */
    fill_slot(n, &p->id, p->host, p->pid, p->endpoint);
    zmq_msg_close(&p->id);
    s->nregistered++;
    PC_INFO("assigned rank %d to the %s on host %s (pid %u)",
            (int)(n - (p->role == PC_ROLE_SERVER ? s->servers : s->workers)),
            pc_wire_role_name(p->role), p->host, p->pid);
  }
  s->npending = 0;
  return PC_OK;
}

/* Each dense table is split in near-equal ranges over the servers; the
 * first range of table t goes to server t mod S, so small tables (a
 * layer's bias, a global mean) do not all land on server 0. */
static int build_map(sched_t *s, pc_err_t *err) {
  const pc_config_t *c = s->cfg;
  uint32_t ns = (uint32_t)s->nservers;
  pc_range_t *r = calloc(PC_TABLE_MAX * (size_t)ns, sizeof *r);
  if (r == NULL)
    return pc_err_set(err, PC_ENOMEM, "shard map");
  size_t nr = 0;
  for (size_t t = 0; t < s->ntables; t++) {
    const pc_table_t *tb = &s->tables[t];
    if (tb->kind != PC_TABLE_DENSE)
      continue;
    size_t k = pc_partition_dense_split(tb->size, ns, r + nr);
    for (size_t i = 0; i < k; i++) {
      r[nr + i].begin += pc_table_key(tb->id, 0);
      r[nr + i].end += pc_table_key(tb->id, 0);
      r[nr + i].server = (uint32_t)((i + t) % ns);
    }
    nr += k;
  }
  int rc = pc_shardmap_build(&s->map, 1, ns, (uint32_t)c->cluster.vnodes, r, nr, err);
  free(r);
  return rc;
}

static int send_welcomes(sched_t *s, pc_err_t *err) {
  char(*eps)[PC_WIRE_MAX_ENDPOINT] = calloc((size_t)s->nservers, sizeof *eps);
  if (eps == NULL)
    return pc_err_set(err, PC_ENOMEM, "welcome");
  for (int i = 0; i < s->nservers; i++)
    snprintf(eps[i], sizeof eps[i], "%s", s->servers[i].endpoint);
  Parasol__ShardMap pbm;
  Parasol__Table tpb[PC_TABLE_MAX], *tptr[PC_TABLE_MAX];
  pc_wire_tables_to_pb(s->tables, s->ntables, tpb, tptr);
  int rc = pc_wire_shardmap_to_pb(&s->map, eps, &pbm, err);
  for (int r = 0; r < 2 && rc == PC_OK; r++) {
    int n = r == 0 ? s->nservers : s->nworkers;
    for (int i = 0; i < n; i++) {
      Parasol__Welcome w = PARASOL__WELCOME__INIT;
      w.rank = i;
      w.num_servers = (uint32_t)s->nservers;
      w.num_workers = (uint32_t)s->nworkers;
      w.shard_map = &pbm;
      w.n_tables = s->ntables;
      w.tables = tptr;
      send_to(s, &(r == 0 ? s->servers : s->workers)[i].id, PC_OP_WELCOME, 0, &w);
    }
  }
  if (rc == PC_OK)
    pc_wire_shardmap_pb_free(&pbm);
  free(eps);
  return rc;
}

static int all_registered(sched_t *s, pc_err_t *err) {
  if (place_pending(s) != PC_OK)
    return fail(s, err, "more nodes of one role registered than configured");
  if (s->ntables == 0)
    return fail(s, err, "no worker declared the model's tables");
  int rc = build_map(s, err);
  if (rc == PC_OK)
    rc = send_welcomes(s, err);
  if (rc != PC_OK)
    return fail(s, err, "%s", err->msg);
  PC_INFO("all %d servers and %d workers registered; shard map v%llu published",
          s->nservers, s->nworkers, (unsigned long long)s->map.version);
  s->phase = PH_TRAIN;
  s->start = pc_proc_now();
  return PC_OK;
}

static int taken(const sched_t *s, const snode_t *n) {
  (void)s;
  return n->taken;
}

static int check_register_deadline(sched_t *s, pc_err_t *err) {
  if (pc_proc_now() < s->phase_deadline)
    return PC_OK;
  /* Seat the nodes that asked for any rank, so what is left is who is missing. */
  place_pending(s);
  char missing[1024];
  list_missing(s, taken, missing, sizeof missing);
  return fail(s, err, "timed out after %.0f s (cluster.register_timeout) waiting for: %s%s%.300s",
              s->cfg->cluster.register_timeout, missing,
              s->refused[0] ? "; last refused: " : "", s->refused);
}

static int same_id(const zmq_msg_t *a, const zmq_msg_t *b) {
  size_t n = zmq_msg_size((zmq_msg_t *)a);
  return n == zmq_msg_size((zmq_msg_t *)b) &&
         memcmp(zmq_msg_data((zmq_msg_t *)a), zmq_msg_data((zmq_msg_t *)b), n) == 0;
}

static snode_t *sender_node(sched_t *s, const pc_msg_t *m, pc_role_t *role, int *rank) {
  *role = pc_wire_sender_role(m->hdr.sender);
  *rank = pc_wire_sender_rank(m->hdr.sender);
  snode_t *n = slot_of(s, *role, *rank);
  /* Only the identity that registered may speak for a rank. */
  if (n == NULL || !n->taken || !same_id(&n->id, &m->identity))
    return NULL;
  return n;
}

static int at_barrier(const sched_t *s, const snode_t *n) {
  return n->at_barrier >= s->barrier_id;
}

/* Barriers are numbered 1 (ready: every worker has its data), 2, ... in
 * the order every worker passes them; the scheduler releases one when all
 * workers have reached it. */
static void on_barrier(sched_t *s, snode_t *n, pc_role_t role, uint64_t id) {
  if (role != PC_ROLE_WORKER || id != s->barrier_id || n->at_barrier >= id)
    return;
  n->at_barrier = id;
  if (s->barrier_count++ == 0)
    s->barrier_first = pc_proc_now();
  if (s->barrier_count < s->nworkers)
    return;
  for (int i = 0; i < s->nworkers; i++)
    send_release(s, &s->workers[i].id, id);
  if (id == BARRIER_READY)
    PC_INFO("all %d workers ready: training starts", s->nworkers);
  s->barrier_id++;
  s->barrier_count = 0;
}

static int check_barrier_deadline(sched_t *s, pc_err_t *err) {
  if (s->barrier_count == 0 || s->barrier_count >= s->nworkers ||
      pc_proc_now() - s->barrier_first < s->cfg->cluster.register_timeout)
    return PC_OK;
  char missing[1024];
  /* list_missing walks servers too; they never join this barrier. */
  for (int i = 0; i < s->nservers; i++)
    s->servers[i].at_barrier = s->barrier_id;
  list_missing(s, at_barrier, missing, sizeof missing);
  char name[32];
  if (s->barrier_id == BARRIER_READY)
    snprintf(name, sizeof name, "'ready'");
  else
    snprintf(name, sizeof name, "%llu", (unsigned long long)s->barrier_id);
  return fail(s, err, "barrier %s timed out after %.0f s (cluster.register_timeout) waiting "
              "for: %s", name, s->cfg->cluster.register_timeout, missing);
}

/* "epoch 3" or "epoch 3 step 1200": where an evaluation was. */
static const char *eval_place(char *buf, size_t len, uint32_t epoch, uint64_t step) {
  if (step > 0)
    snprintf(buf, len, "epoch %u step %llu", epoch, (unsigned long long)step);
  else
    snprintf(buf, len, "epoch %u", epoch);
  return buf;
}

/* Worker 0's evaluation on data.valid, at an epoch's end or inside it
 * (p->step); its names are checked as the test metrics' are (at most
 * PC_METRICS_MAX, valid names), else dropped. */
static void record_valid(sched_t *s, const Parasol__Progress *p) {
  pc_metric_t m[PC_METRICS_MAX];
  size_t n = 0;
  for (size_t i = 0; i < p->n_valid && n < PC_METRICS_MAX; i++) {
    const Parasol__Metric *v = p->valid[i];
    if (v->name == NULL || pc_metric_name_check(v->name, NULL) != PC_OK)
      continue;
    snprintf(m[n].name, sizeof m[n].name, "%s", v->name);
    m[n++].value = v->value;
  }
  pc_err_t e = {0};
  if (ps_epochs_evaluation(&s->epochs, p->epoch, p->step, p->valid_n, m, n, &e) != PC_OK)
    PC_WARN("metrics.json will miss an evaluation: %s", e.msg);
  char text[PC_METRICS_TEXT_MAX], at[64], best[64];
  PC_INFO("%s validation: %s  (%llu examples)", eval_place(at, sizeof at, p->epoch, p->step),
          pc_metrics_format(text, sizeof text, m, n), (unsigned long long)p->valid_n);
  s->best_epoch = p->best_epoch;
  s->best_step = p->best_step;
  if (p->stop && !s->stop) {
    s->stop = 1;
    PC_INFO("early stopping %s %s (training.early_stop: no better %s for %d evaluations; "
            "best at %s)", p->step ? "in" : "after", at,
            pc_config_stop_metric_name(s->cfg->training.early_stop), s->cfg->training.patience,
            eval_place(best, sizeof best, p->best_epoch, p->best_step));
  }
}

static void on_progress(sched_t *s, snode_t *n, int rank, const pc_msg_t *m) {
  Parasol__Progress *p = parasol__progress__unpack(NULL, m->body_len, m->body);
  if (p == NULL) {
    pc_wire_drop_note(&s->drops, PC_DROP_BODY, "progress", NULL);
    return;
  }
  if (p->step > 0) { /* an evaluation inside an epoch: figures, not the epoch's report */
    if (rank == 0 && !p->done && p->n_valid > 0)
      record_valid(s, p);
    parasol__progress__free_unpacked(p, NULL);
    return;
  }
  n->prog = *p;
  if (rank == 0 && !p->done && p->n_valid > 0)
    record_valid(s, p);
  if (!p->done) /* a report per epoch; the last ("done") repeats the last epoch */
    ps_epochs_add(&s->epochs, rank, p->epoch, p->samples, p->loss_sum, p->seconds);
  if (p->done && !n->done) {
    n->done = 1;
    PC_INFO("worker %d finished: %u epochs, %llu samples in %.2f s, last epoch loss %.4f", rank,
            p->epoch, (unsigned long long)p->total_samples, p->seconds,
            p->samples ? p->loss_sum / (double)p->samples : NAN);
  }
  parasol__progress__free_unpacked(p, NULL);
}

static void on_stats(sched_t *s, snode_t *n, const pc_msg_t *m) {
  Parasol__ServerStats *st = parasol__server_stats__unpack(NULL, m->body_len, m->body);
  if (st == NULL) {
    pc_wire_drop_note(&s->drops, PC_DROP_BODY, "stats", NULL);
    return;
  }
  n->stats = *st;
  n->have_stats = 1;
  parasol__server_stats__free_unpacked(st, NULL);
}

/* Worker 0's figures are kept only when metrics.json can hold them as
 * they are (ps_metrics_eval_check); a result that cannot is a protocol
 * error, and the run fails saying so rather than waiting out the deadline. */
static int on_eval(sched_t *s, const pc_msg_t *m, pc_err_t *err) {
  Parasol__EvalResult *e = parasol__eval_result__unpack(NULL, m->body_len, m->body);
  pc_err_t why = {0};
  if (e == NULL) {
    pc_wire_drop_note(&s->drops, PC_DROP_BODY, "eval-result", NULL);
    return PC_OK;
  }
  if (ps_metrics_eval_check(e, &why) != PC_OK) {
    parasol__eval_result__free_unpacked(e, NULL);
    pc_wire_drop_note(&s->drops, PC_DROP_BODY, "eval-result", &why);
    return fail(s, err, "worker 0 sent an evaluation the scheduler refuses: %s", why.msg);
  }
  if (s->eval)
    parasol__eval_result__free_unpacked(s->eval, NULL);
  s->eval = e;
  return PC_OK;
}

/* Who a node still waiting for its welcome is: it speaks without a rank. */
typedef struct registrant {
  pc_role_t role;
  const char *host;
  uint32_t pid;
} registrant_t;

/* A node that registered but has no welcome yet heartbeats without a rank;
 * it must hear back, or it takes the scheduler for dead while others are
 * still starting. Returns 1 and fills out when id is such a node. */
static int registrant(sched_t *s, const zmq_msg_t *id, registrant_t *out) {
  for (int i = 0; i < s->npending; i++)
    if (same_id(&s->pending[i].id, id)) {
      *out = (registrant_t){s->pending[i].role, s->pending[i].host, s->pending[i].pid};
      return 1;
    }
  for (int r = 0; r < 2; r++) {
    snode_t *arr = r == 0 ? s->servers : s->workers;
    int n = r == 0 ? s->nservers : s->nworkers;
    for (int i = 0; i < n; i++)
      if (arr[i].taken && same_id(&arr[i].id, id)) {
        *out = (registrant_t){r == 0 ? PC_ROLE_SERVER : PC_ROLE_WORKER, arr[i].host, arr[i].pid};
        return 1;
      }
  }
  return 0;
}

/* A node says it is leaving (failed, or stopped by a signal): the run cannot
 * go on without it, and the others hear why at once. */
static int on_leave(sched_t *s, const pc_msg_t *m, const char *host, uint32_t pid,
                    const char *who, pc_err_t *err) {
  char why[PC_ERR_MSG_MAX - 96];
  pc_node_shutdown_reason(m, why, sizeof why, NULL);
  return fail(s, err, "%s (host %s, pid %u) failed: %s", who, host, pid,
              why[0] ? why : "no reason given");
}

/* A message from a peer without a rank: a node still registering may
 * heartbeat or leave; anything else is junk, counted. */
static int dispatch_unranked(sched_t *s, pc_msg_t *m, pc_err_t *err) {
  registrant_t r;
  int known = registrant(s, &m->identity, &r);
  if (known && m->hdr.op == PC_OP_HEARTBEAT) {
    send_to(s, &m->identity, PC_OP_HEARTBEAT, m->hdr.request_id, NULL);
    return PC_OK;
  }
  if (known && m->hdr.op == PC_OP_SHUTDOWN) {
    char who[48];
    snprintf(who, sizeof who, "a %s still registering", pc_wire_role_name(r.role));
    return on_leave(s, m, r.host, r.pid, who, err);
  }
  pc_wire_drop_note(&s->drops, PC_DROP_OP, "from an unregistered peer", NULL);
  return PC_OK;
}

static int dispatch(sched_t *s, pc_msg_t *m, pc_err_t *err) {
  pc_role_t role;
  int rank;
  char name[48];
  if (m->hdr.op == PC_OP_REGISTER) {
    on_register(s, m);
    return PC_OK;
  }
  snode_t *n = sender_node(s, m, &role, &rank);
  if (n == NULL)
    return dispatch_unranked(s, m, err);
  n->last_seen = pc_proc_now();
  switch (m->hdr.op) {
  case PC_OP_HEARTBEAT:
    send_to(s, &n->id, PC_OP_HEARTBEAT, m->hdr.request_id, NULL);
    break;
  case PC_OP_BARRIER:
    on_barrier(s, n, role, m->hdr.request_id);
    break;
  case PC_OP_PROGRESS:
    if (role == PC_ROLE_WORKER)
      on_progress(s, n, rank, m);
    break;
  case PC_OP_SHUTDOWN:
    return on_leave(s, m, n->host, n->pid, node_name(role, rank, name, sizeof name), err);
  case PC_OP_STATS_REPLY:
    if (role == PC_ROLE_SERVER)
      on_stats(s, n, m);
    break;
  case PC_OP_EVAL_RESULT:
    if (role == PC_ROLE_WORKER && rank == 0)
      return on_eval(s, m, err);
    break;
  default:
    pc_wire_drop_note(&s->drops, PC_DROP_OP, "unexpected op", NULL);
  }
  return PC_OK;
}

/* A node silent for cluster.node_timeout is dead: the run fails naming it.
 * Worker 0 evaluating is busy, not silent, so the eval phase has its own
 * deadline instead. */
static int check_liveness(sched_t *s, pc_err_t *err) {
  double now = pc_proc_now(), limit = s->cfg->cluster.node_timeout;
  char name[32];
  for (int r = 0; r < 2; r++) {
    snode_t *arr = r == 0 ? s->servers : s->workers;
    int n = r == 0 ? s->nservers : s->nworkers;
    pc_role_t role = r == 0 ? PC_ROLE_SERVER : PC_ROLE_WORKER;
    for (int i = 0; i < n; i++) {
      if (s->phase == PH_EVAL && role == PC_ROLE_WORKER && i == 0)
        continue;
      /* Before the ready barrier a worker may be busy loading its partition. */
      double lim = role == PC_ROLE_WORKER && !arr[i].at_barrier
                       ? limit + s->cfg->cluster.register_timeout : limit;
      if (now - arr[i].last_seen > lim)
        return fail(s, err, "%s (host %s, pid %u) silent for %.1f s (cluster.node_timeout)",
                    node_name(role, i, name, sizeof name), arr[i].host, arr[i].pid,
                    now - arr[i].last_seen);
    }
  }
  return PC_OK;
}

static int all_done(sched_t *s) {
  for (int i = 0; i < s->nworkers; i++)
    if (!s->workers[i].done)
      return 0;
  return 1;
}

static int all_stats(sched_t *s) {
  for (int i = 0; i < s->nservers; i++)
    if (!s->servers[i].have_stats)
      return 0;
  return 1;
}

static int has_stats(const sched_t *s, const snode_t *n) {
  (void)s;
  return n->have_stats || n->done;
}

/* Move through the end-of-run phases as their conditions are met. */
static int advance(sched_t *s, pc_err_t *err) {
  double now = pc_proc_now();
  if (s->phase == PH_TRAIN && all_done(s)) {
    for (int i = 0; i < s->nservers; i++)
      send_to(s, &s->servers[i].id, PC_OP_STATS, 0, NULL);
    s->phase = PH_STATS;
    s->phase_deadline = now + s->cfg->cluster.node_timeout;
  }
  if (s->phase == PH_STATS && all_stats(s)) {
    send_to(s, &s->workers[0].id, PC_OP_EVALUATE, 0, NULL);
    s->phase = PH_EVAL;
    s->phase_deadline = now + EVAL_TIMEOUT;
    PC_INFO("training finished; worker 0 saves the model and evaluates");
  } else if (s->phase == PH_STATS && now > s->phase_deadline) {
    char missing[1024];
    for (int i = 0; i < s->nworkers; i++)
      s->workers[i].done = 1;
    list_missing(s, has_stats, missing, sizeof missing);
    return fail(s, err, "no statistics within %.0f s from: %s", s->cfg->cluster.node_timeout,
                missing);
  }
  if (s->phase == PH_EVAL && s->eval != NULL)
    s->phase = PH_DONE;
  else if (s->phase == PH_EVAL && now > s->phase_deadline)
    return fail(s, err, "worker 0 did not report its evaluation within %d s", EVAL_TIMEOUT);
  return PC_OK;
}

/* metrics.json from what the scheduler holds now; error NULL: finished. */
static int write_metrics(sched_t *s, const char *error, pc_err_t *err) {
  ps_metrics_worker_t *w = calloc((size_t)s->nworkers, sizeof *w);
  ps_metrics_server_t *v = calloc((size_t)s->nservers, sizeof *v);
  int rc = w && v ? PC_OK : pc_err_set(err, PC_ENOMEM, "metrics of %d nodes",
                                       s->nworkers + s->nservers);
  for (int i = 0; rc == PC_OK && i < s->nworkers; i++) {
    snode_t *n = &s->workers[i];
    /* on_progress copies each report whole: a descriptor means one arrived. */
    w[i] = (ps_metrics_worker_t){n->taken ? n->host : NULL,
                                 n->prog.base.descriptor ? &n->prog : NULL};
  }
  for (int i = 0; rc == PC_OK && i < s->nservers; i++) {
    snode_t *n = &s->servers[i];
    v[i] = (ps_metrics_server_t){n->taken ? n->host : NULL, n->have_stats ? &n->stats : NULL};
  }
  ps_metrics_run_t run = {.error = error, .started = s->wall_start, .ended = time(NULL),
                          .epochs = s->cfg->training.epochs, .workers = w,
                          .nworkers = s->nworkers, .servers = v, .nservers = s->nservers,
                          .eval = s->eval, .messages_dropped = s->drops.total,
                          .series = &s->epochs, .best_epoch = s->best_epoch,
                          .best_step = s->best_step};
  ps_epochs_flush(&s->epochs);
  if (rc == PC_OK && (rc = ps_metrics_write(s->cfg->output.dir, &run, err)) == PC_OK)
    PC_INFO("wrote %s/" PS_METRICS_FILE, s->cfg->output.dir);
  free(w);
  free(v);
  return rc;
}

/* A failed run leaves a metrics.json that says so, with the figures known
 * so far, so it is never taken for a finished one (or for the last run's). */
static void record_failure(sched_t *s, const char *why) {
  pc_err_t e = {0};
  if (write_metrics(s, why, &e) != PC_OK)
    PC_WARN("could not record the failure in %s/" PS_METRICS_FILE ": %s", s->cfg->output.dir,
            e.msg);
}

/* The effective settings of this run, every default filled in. */
static int write_config(const pc_config_t *cfg, pc_err_t *err) {
  char path[PC_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/config.yaml", cfg->output.dir);
  pc_afile_t a;
  int rc = pc_afile_open(&a, path, err);
  if (rc == PC_OK) {
    pc_config_dump(cfg, a.f);
    rc = pc_afile_commit(&a, err);
  }
  return rc;
}

/* An earlier run's outputs move to output.dir/previous before anything of
 * this run is written, so a file in output.dir is always this run's. */
static const char *const run_outputs[] = {"metrics.json", PS_EPOCHS_FILE, "curves.png",
                                          "curves.gp",    "model.bin",    "config.yaml",
                                          "logs"};

/* Checked, locked for this run, cleared of an earlier run's outputs; then
 * this run's log and settings go in. */
static int take_outdir(sched_t *s, pc_err_t *err) {
  const char *dir = s->cfg->output.dir;
  int rc = pc_outdir_check(dir, err);
  if (rc == PC_OK)
    rc = pc_outdir_lock(&s->outdir, dir, err);
  if (rc == PC_OK)
    rc = pc_outdir_retire(dir, run_outputs, sizeof run_outputs / sizeof run_outputs[0], NULL,
                          err);
  if (rc == PC_OK)
    rc = pc_log_to_file(dir, "scheduler", err);
  if (rc == PC_OK)
    rc = write_config(s->cfg, err);
  if (rc == PC_OK)
    rc = ps_epochs_open(&s->epochs, dir, err);
  return rc;
}

static int bind_router(sched_t *s, const ps_scheduler_opts_t *opts, pc_err_t *err) {
  char ep[PC_ENDPOINT_MAX];
  size_t len = sizeof s->endpoint;
  int rc = ps_scheduler_bind_endpoint(s->cfg->cluster.scheduler, ep, sizeof ep, err);
  if (rc != PC_OK)
    return rc;
  s->router = zmq_socket(s->zctx, ZMQ_ROUTER);
  if (s->router == NULL)
    return pc_err_set(err, PC_ESYS, "zmq_socket: %s", zmq_strerror(zmq_errno()));
  if ((rc = pc_wire_socket_setup(s->router, 1, SCHED_HWM, err)) != PC_OK)
    return rc;
  if (zmq_bind(s->router, ep) != 0)
    return pc_err_set(err, PC_ESYS, "binding %s (cluster.scheduler): %s", ep,
                      zmq_strerror(zmq_errno()));
  if (zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, s->endpoint, &len) != 0)
    return pc_err_set(err, PC_ESYS, "ZMQ_LAST_ENDPOINT: %s", zmq_strerror(zmq_errno()));
  PC_INFO("listening on %s for %d servers and %d workers", s->endpoint, s->nservers,
          s->nworkers);
  if (opts && opts->announce) {
    printf("@endpoint %s\n", s->endpoint);
    fflush(stdout);
  }
  return PC_OK;
}

static int step(sched_t *s, pc_err_t *err) {
  zmq_pollitem_t it = {s->router, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&it, 1, 100) < 0 && zmq_errno() != EINTR)
    return pc_err_set(err, PC_ESYS, "zmq_poll: %s", zmq_strerror(zmq_errno()));
  for (int i = 0; i < 10000; i++) {
    pc_msg_t m;
    pc_drop_t why;
    pc_err_t e;
    int rc = pc_wire_recv(s->router, 1, &m, ZMQ_DONTWAIT, &why, &e);
    if (rc == PC_EPROTO) {
      pc_wire_drop_note(&s->drops, why, "scheduler", &e);
      continue;
    }
    if (rc != PC_OK)
      break;
    rc = dispatch(s, &m, err);
    pc_msg_close(&m);
    if (rc != PC_OK)
      return rc;
  }
  /* After the drain: a node's own failure report, already queued, names
   * the cause better than the signal that followed it. */
  if (pc_proc_stop_signal() != 0)
    return fail(s, err, "scheduler stopped by %s", pc_proc_signal_name(pc_proc_stop_signal()));
  if (s->phase == PH_REGISTER) {
    if (s->nregistered + s->npending == s->nservers + s->nworkers)
      return all_registered(s, err);
    return check_register_deadline(s, err);
  }
  int rc = check_liveness(s, err);
  if (rc == PC_OK)
    rc = check_barrier_deadline(s, err);
  if (rc == PC_OK)
    rc = advance(s, err);
  return rc;
}

static int finish(sched_t *s, pc_err_t *err) {
  if (s->eval->error[0])
    return fail(s, err, "worker 0 could not evaluate: %s", s->eval->error);
  if (write_metrics(s, NULL, err) != PC_OK)
    return fail(s, err, "%s", err->msg);
  char text[PC_METRICS_TEXT_MAX];
  pc_metric_t list[PC_METRICS_MAX];
  size_t nm = ps_metrics_eval_list(s->eval, list);
  if (s->eval->n > 0) /* the launcher prints the same line from metrics.json */
    PC_INFO("test %s  (%llu examples)", pc_metrics_format(text, sizeof text, list, nm),
            (unsigned long long)s->eval->n);
  broadcast_shutdown(s, "training finished", 0);
  return PC_OK;
}

static void sched_free(sched_t *s) {
  for (int i = 0; s->servers && i < s->nservers; i++)
    if (s->servers[i].taken)
      zmq_msg_close(&s->servers[i].id);
  for (int i = 0; s->workers && i < s->nworkers; i++)
    if (s->workers[i].taken)
      zmq_msg_close(&s->workers[i].id);
  for (int i = 0; i < s->npending; i++)
    zmq_msg_close(&s->pending[i].id);
  free(s->servers);
  free(s->workers);
  free(s->pending);
  pc_shardmap_free(&s->map);
  if (s->eval)
    parasol__eval_result__free_unpacked(s->eval, NULL);
  if (s->router) {
    /* Let the shutdown orders leave before the socket goes. */
    int linger = 1000;
    zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s->router);
  }
  if (s->zctx)
    zmq_ctx_term(s->zctx);
  pc_outdir_unlock(&s->outdir);
  ps_epochs_free(&s->epochs);
}

int ps_scheduler_run(const pc_config_t *cfg, const ps_scheduler_opts_t *opts, pc_err_t *err) {
  sched_t s = {.cfg = cfg, .opts = opts, .barrier_id = BARRIER_READY, .nservers = cfg->cluster.servers,
               .nworkers = cfg->cluster.workers, .outdir = {-1}, .wall_start = time(NULL)};
  s.servers = calloc((size_t)s.nservers, sizeof *s.servers);
  s.workers = calloc((size_t)s.nworkers, sizeof *s.workers);
  s.pending = calloc((size_t)(s.nservers + s.nworkers), sizeof *s.pending);
  s.zctx = zmq_ctx_new();
  int rc = PC_OK;
  if (!s.servers || !s.workers || !s.pending || !s.zctx)
    rc = pc_err_set(err, PC_ENOMEM, "scheduler state");
  if (rc == PC_OK)
    rc = pc_proc_catch_stop(err);
  if (rc == PC_OK)
    rc = ps_epochs_init(&s.epochs, cfg->training.epochs, s.nworkers, pc_config_validating(cfg),
                        err);
  if (rc == PC_OK)
    rc = take_outdir(&s, err);
  if (rc == PC_OK)
    rc = bind_router(&s, opts, err);
  s.phase_deadline = pc_proc_now() + cfg->cluster.register_timeout;
  while (rc == PC_OK && s.phase != PH_DONE)
    rc = step(&s, err);
  if (rc == PC_OK)
    rc = finish(&s, err);
  if (rc != PC_OK && s.endpoint[0] != '\0') /* the run began here: record its end */
    record_failure(&s, s.fail[0] ? s.fail : err ? err->msg : "unknown error");
  sched_free(&s);
  return rc;
}
