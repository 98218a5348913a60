#include "ps_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parasol.pb-c.h"
#include "pc_bufpool.h"
#include "pc_log.h"
#include "pc_node.h"
#include "pc_outdir.h"
#include "pc_proc.h"
#include "pc_wire.h"
#include "ps_lrsched.h"
#include "ps_store.h"

#define SERVER_HWM 100000
#define SERVER_POOL_BYTES (512u << 20)

typedef struct ps_server {
  const pc_config_t *cfg;
  void *zctx;
  void *router; /* workers connect here */
  pc_node_t node;
  ps_store_t *store;
  ps_sched_t sched;
  ps_steps_t steps;  /* the workers' clocks: the global step */
  uint64_t lr_step;  /* the global step the store's lr was computed for */
  int lr_set;        /* lr_step is valid */
  float *out; /* small pull replies, reused */
  size_t out_cap;
  pc_bufpool_t *pool; /* large pull replies, handed to ZeroMQ without a copy */
  uint64_t pulls, pushes, keys_pulled, keys_pushed;
  pc_wire_drops_t drops;
  char endpoint[PC_WIRE_MAX_ENDPOINT];
} ps_server_t;

int ps_server_endpoints(const pc_config_t *cfg, char *bind_ep, size_t blen, pc_err_t *err) {
  int n;
  if (cfg->cluster.server_port == 0)
    n = snprintf(bind_ep, blen, "tcp://%s:*", cfg->cluster.bind);
  else
    n = snprintf(bind_ep, blen, "tcp://%s:%d", cfg->cluster.bind, cfg->cluster.server_port);
  if (n < 0 || (size_t)n >= blen)
    return pc_err_set(err, PC_EINVAL, "cluster.bind '%s' too long", cfg->cluster.bind);
  return PC_OK;
}

int ps_server_advertised(const pc_config_t *cfg, const char *bound, char *out, size_t len,
                         pc_err_t *err) {
  const char *port = strrchr(bound, ':');
  if (strncmp(bound, "tcp://", 6) != 0 || port == NULL)
    return pc_err_set(err, PC_EINVAL, "unexpected bound endpoint '%s'", bound);
  const char *host = cfg->cluster.advertise[0] ? cfg->cluster.advertise : cfg->cluster.bind;
  if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0)
    return pc_err_set(err, PC_ECONFIG, "cluster.bind is '%s': set cluster.advertise to the "
                      "address workers should dial", host);
  int n = snprintf(out, len, "tcp://%s%s", host, port);
  if (n < 0 || (size_t)n >= len)
    return pc_err_set(err, PC_EINVAL, "advertised endpoint too long");
  return PC_OK;
}

static int bind_router(ps_server_t *s, pc_err_t *err) {
  char ep[PC_WIRE_MAX_ENDPOINT], bound[PC_WIRE_MAX_ENDPOINT];
  size_t blen = sizeof bound;
  s->router = zmq_socket(s->zctx, ZMQ_ROUTER);
  if (s->router == NULL)
    return pc_err_set(err, PC_ESYS, "zmq_socket: %s", zmq_strerror(zmq_errno()));
  int rc = pc_wire_socket_setup(s->router, 1, SERVER_HWM, err);
  if (rc == PC_OK)
    rc = ps_server_endpoints(s->cfg, ep, sizeof ep, err);
  if (rc == PC_OK && zmq_bind(s->router, ep) != 0)
    return pc_err_set(err, PC_ESYS, "binding %s (cluster.bind, cluster.server_port): %s", ep,
                      zmq_strerror(zmq_errno()));
  if (rc == PC_OK && zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, bound, &blen) != 0)
    return pc_err_set(err, PC_ESYS, "ZMQ_LAST_ENDPOINT: %s", zmq_strerror(zmq_errno()));
  if (rc == PC_OK)
    rc = ps_server_advertised(s->cfg, bound, s->endpoint, sizeof s->endpoint, err);
  if (rc == PC_OK)
    PC_INFO("bound %s, advertising %s", bound, s->endpoint);
  return rc;
}

/* output.dir/logs/server-N.log on this server's host. */
static int open_log(ps_server_t *s, pc_err_t *err) {
  char name[32];
  snprintf(name, sizeof name, "server-%d", s->node.rank);
  int rc = pc_outdir_check(s->cfg->output.dir, err);
  return rc == PC_OK ? pc_log_to_file(s->cfg->output.dir, name, err) : rc;
}

/* A dense share is allocated up front and touched as training goes: check
 * it fits now, not when the kernel kills the server mid-run. */
static int check_memory(ps_server_t *s, uint64_t bytes, uint64_t dense_keys, pc_err_t *err) {
  char what[200];
  snprintf(what, sizeof what, "server %d's share of the model's dense tables (%llu keys; "
           "model.features=%llu)", s->node.rank, (unsigned long long)dense_keys,
           (unsigned long long)s->cfg->model.features);
  return pc_proc_check_memory(bytes, pc_proc_mem_available(), what,
                              "; use model.layout: sparse, fewer features or smaller layers, "
                              "or more servers on more machines", err);
}

#define SERVER_MAX_RANGES (2 * PC_TABLE_MAX)

static int make_store(ps_server_t *s, pc_err_t *err) {
  pc_range_t r[SERVER_MAX_RANGES];
  size_t nr = pc_shardmap_server_ranges(&s->node.map, (uint32_t)s->node.rank, r,
                                        SERVER_MAX_RANGES);
  ps_store_range_t sr[SERVER_MAX_RANGES];
  ps_optim_t o;
  ps_optim_from_config(&o, s->cfg);
  uint64_t dense_keys = 0, bytes = 0;
  for (size_t i = 0; i < nr; i++) {
    sr[i] = (ps_store_range_t){r[i].begin, r[i].end};
    dense_keys += r[i].end - r[i].begin;
    uint32_t t = pc_table_of(r[i].begin);
    uint64_t b = t < s->node.ntables
                     ? ps_store_dense_bytes(&o, &s->node.tables[t], r[i].end - r[i].begin)
                     : 0;
    bytes = b > UINT64_MAX - bytes ? UINT64_MAX : bytes + b;
  }
  int rc = check_memory(s, bytes, dense_keys, err);
  if (rc == PC_OK)
    rc = ps_store_new(&s->store, &o, s->cfg->training.seed, s->node.tables, s->node.ntables, sr,
                      nr, err);
  ps_sched_from_config(&s->sched, s->cfg);
  return rc == PC_OK ? ps_steps_init(&s->steps, s->node.num_workers, err) : rc;
}

/* The learning rate of a request's pushes, from the global step with the
 * sender's clock in it: computed once per request, and only when the
 * step moved. Only workers' clocks count (a worker's rank is below
 * num_workers: ps_steps_note ignores any other). */
static void schedule_lr(ps_server_t *s, const pc_msg_t *m) {
  if (ps_sched_is_constant(&s->sched))
    return;
  uint64_t step = s->steps.sum;
  if (pc_wire_sender_role(m->hdr.sender) == PC_ROLE_WORKER)
    step = ps_steps_note(&s->steps, (uint32_t)pc_wire_sender_rank(m->hdr.sender), m->hdr.clock);
  if (s->lr_set && step == s->lr_step)
    return;
  ps_store_set_lr(s->store, (float)ps_sched_lr(&s->sched, step));
  s->lr_step = step;
  s->lr_set = 1;
}

/* Values per key of a message's table (its first key's; the store checks
 * that every key belongs to that table). 0: no such table. */
static uint32_t msg_width(const ps_server_t *s, const pc_msg_t *m) {
  if (m->hdr.flags & PC_WIRE_FLAG_RANGE)
    return ps_store_width(s->store, m->range_begin);
  return m->nkeys ? ps_store_width(s->store, m->keys[0]) : 0;
}

/* A worker with a stale or wrong shard map must hear about it, not have
 * its keys silently stored on the wrong server. */
static int check_keys(ps_server_t *s, const uint64_t *keys, size_t n, pc_err_t *err) {
  uint32_t me = (uint32_t)s->node.rank;
  for (size_t i = 0; i < n; i++)
    if (pc_shardmap_lookup(&s->node.map, keys[i]) != me)
      return pc_err_set(err, PC_EINVAL, "key %llu does not belong to server %u",
                        (unsigned long long)keys[i], me);
  return PC_OK;
}

/* A block is ours when one of our dense ranges holds it; otherwise every
 * key is checked (the block is bounded by the wire limits). */
static int check_block(ps_server_t *s, uint64_t b, uint64_t e, pc_err_t *err) {
  const pc_shardmap_t *m = &s->node.map;
  for (size_t i = 0; i < m->nranges; i++)
    if (m->ranges[i].begin <= b && e <= m->ranges[i].end &&
        m->ranges[i].server == (uint32_t)s->node.rank)
      return PC_OK;
  uint64_t keys[1024];
  for (uint64_t k = b; k < e; k += 1024) {
    size_t n = e - k < 1024 ? (size_t)(e - k) : 1024;
    for (size_t i = 0; i < n; i++)
      keys[i] = k + i;
    int rc = check_keys(s, keys, n, err);
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}

static int check_owned(ps_server_t *s, const pc_msg_t *m, pc_err_t *err) {
  if (s->node.num_servers == 1) /* every key is ours */
    return PC_OK;
  if (m->hdr.flags & PC_WIRE_FLAG_RANGE)
    return check_block(s, m->range_begin, m->range_end, err);
  return check_keys(s, m->keys, m->nkeys, err);
}

/* Reply to m; vals (n keys of w values) is a pool buffer when pooled
 * (taken over). */
static void reply(ps_server_t *s, pc_msg_t *m, pc_op_t op, int status, float *vals, size_t n,
                  uint32_t w, int pooled) {
  pc_wire_hdr_t h;
  pc_err_t err;
  pc_wire_hdr_init(&h, op, m->hdr.request_id, s->node.sender);
  h.status = status;
  h.key_count = vals ? n : 0;
  h.vals_per_key = vals ? w : 0;
  pc_wire_payload_t p = {.vals = vals, .nvals = vals ? n * w : 0, .vals_pooled = pooled};
  int rc = pc_wire_send_bulk(s->router, &m->identity, &h, &p, s->pool, ZMQ_DONTWAIT, &err);
  if (rc != PC_OK)
    PC_WARN("reply to %s %d dropped: %s", pc_wire_role_name(pc_wire_sender_role(m->hdr.sender)),
            pc_wire_sender_rank(m->hdr.sender), err.msg);
}

static void batch_reply(ps_server_t *s, pc_msg_t *m, const int32_t *status, float *vals,
                        size_t n, uint32_t w, int pooled) {
  pc_wire_hdr_t h;
  pc_err_t err;
  pc_wire_hdr_init(&h, PC_OP_BATCH_REPLY, m->hdr.request_id, s->node.sender);
  h.key_count = n;
  h.vals_per_key = n ? w : 0;
  Parasol__BatchReply pb = PARASOL__BATCH_REPLY__INIT;
  pb.status = (int32_t *)status;
  pb.n_status = m->nbatch;
  uint8_t body[PC_WIRE_MAX_BATCH * 6]; /* a zigzag varint of an int32: at most 5 bytes */
  size_t blen = parasol__batch_reply__pack(&pb, body);
  pc_wire_payload_t p = {.vals = vals, .nvals = n * w, .vals_pooled = pooled, .body = body,
                         .blen = blen};
  if (pc_wire_send_bulk(s->router, &m->identity, &h, &p, s->pool, ZMQ_DONTWAIT, &err) != PC_OK)
    PC_WARN("batch reply to worker %d dropped: %s", pc_wire_sender_rank(m->hdr.sender),
            err.msg);
}

/* Where a pull's n values are assembled: the reusable small buffer, or a
 * pool buffer that goes to ZeroMQ as is. */
static float *reply_buffer(ps_server_t *s, size_t n, int *pooled) {
  *pooled = n * sizeof(float) >= PC_WIRE_ZC_MIN;
  if (*pooled)
    return pc_bufpool_get(s->pool, n * sizeof(float));
  if (n > s->out_cap) {
    float *p = realloc(s->out, n * sizeof *p);
    if (p == NULL)
      return NULL;
    s->out = p;
    s->out_cap = n;
  }
  return s->out;
}

static void on_pull(ps_server_t *s, pc_msg_t *m) {
  pc_err_t err;
  int range = (m->hdr.flags & PC_WIRE_FLAG_RANGE) != 0, pooled = 0;
  size_t n = (size_t)m->hdr.key_count;
  uint32_t w = msg_width(s, m);
  float *vals = NULL;
  int rc = w == 0 ? PC_EINVAL : check_owned(s, m, &err);
  if (rc == PC_OK && (uint64_t)n * w > PC_WIRE_MAX_VALUES)
    rc = PC_ERANGE; /* the reply would exceed the wire's limit */
  if (rc == PC_OK && (vals = reply_buffer(s, n * w, &pooled)) == NULL)
    rc = PC_ENOMEM;
  if (rc == PC_OK)
    rc = range ? ps_store_pull_range(s->store, m->range_begin, m->range_end, vals)
               : ps_store_pull(s->store, m->keys, n, vals);
  s->pulls++;
  s->keys_pulled += n;
  if (rc != PC_OK && pooled)
    pc_bufpool_put(vals);
  if (rc != PC_OK)
    reply(s, m, PC_OP_PULL_REPLY, rc, NULL, 0, 0, 0);
  else
    reply(s, m, PC_OP_PULL_REPLY, 0, vals, n, w, pooled);
}

static void log_push_error(ps_server_t *s, const pc_msg_t *m, int rc, const pc_err_t *err) {
  if (rc == PC_EDATA) {
    ps_store_stats_t st;
    ps_store_stats(s->store, &st);
    if (st.pushes_rejected == 1 || st.pushes_rejected % 1000 == 0)
      PC_WARN("rejected push #%llu from worker %d: %s", (unsigned long long)st.pushes_rejected,
              pc_wire_sender_rank(m->hdr.sender), err->msg);
  } else if (rc != PC_OK) {
    PC_WARN("push from worker %d refused: %s", pc_wire_sender_rank(m->hdr.sender), err->msg);
  }
}

/* A push applies gradients; one with the assign flag (fine-tuning's load,
 * training.init) sets the values. */
static int store_push(ps_server_t *s, const pc_msg_t *m, pc_err_t *err) {
  int range = (m->hdr.flags & PC_WIRE_FLAG_RANGE) != 0;
  if (m->hdr.flags & PC_WIRE_FLAG_ASSIGN)
    return range ? ps_store_assign_range(s->store, m->range_begin, m->range_end, m->vals, err)
                 : ps_store_assign(s->store, m->keys, m->vals, m->nkeys, err);
  return range ? ps_store_push_range(s->store, m->range_begin, m->range_end, m->vals, err)
               : ps_store_push(s->store, m->keys, m->vals, m->nkeys, err);
}

static void on_push(ps_server_t *s, pc_msg_t *m) {
  pc_err_t err;
  int rc = PC_OK;
  uint32_t w = msg_width(s, m);
  if (w == 0 || m->hdr.vals_per_key != w || m->nvals != m->hdr.key_count * w)
    rc = pc_err_set(&err, PC_EINVAL, "push of %u values per key to a table of width %u",
                    m->hdr.vals_per_key, w);
  if (rc == PC_OK)
    rc = check_owned(s, m, &err);
  if (rc == PC_OK)
    schedule_lr(s, m);
  if (rc == PC_OK)
    rc = store_push(s, m, &err);
  s->pushes++;
  s->keys_pushed += m->hdr.key_count;
  log_push_error(s, m, rc, &err);
  reply(s, m, PC_OP_PUSH_REPLY, rc, NULL, 0, 0, 0);
}

/* The entries of a batch in order, each with its own status; the pulls'
 * values go back to back into one reply (pc_wire_recv has checked that the
 * entries cover the frames exactly). Every entry is of one table width,
 * the header's vals_per_key (the first key's table's for a batch of
 * pulls); an entry of another width is refused on its own. */
static void on_batch(ps_server_t *s, pc_msg_t *m) {
  int32_t status[PC_WIRE_MAX_BATCH];
  size_t npull = 0;
  uint32_t w = m->hdr.vals_per_key ? m->hdr.vals_per_key : msg_width(s, m);
  for (size_t i = 0; i < m->nbatch; i++)
    npull += (m->batch[i] & 1) ? 0 : (size_t)(m->batch[i] >> 1);
  if (w == 0 || (uint64_t)npull * w > PC_WIRE_MAX_VALUES) {
    reply(s, m, PC_OP_BATCH_REPLY, PC_EINVAL, NULL, 0, 0, 0);
    return;
  }
  int pooled = 0;
  float *out = npull ? reply_buffer(s, npull * w, &pooled) : NULL;
  pc_err_t err;
  int owned = check_owned(s, m, &err);
  if (owned != PC_OK)
    PC_WARN("batch from worker %d refused: %s", pc_wire_sender_rank(m->hdr.sender), err.msg);
  if (npull && out == NULL) {
    reply(s, m, PC_OP_BATCH_REPLY, PC_ENOMEM, NULL, 0, 0, 0);
    return;
  }
  schedule_lr(s, m); /* one clock per batch: the worker flushes its queue when it moves */
  size_t k = 0, v = 0, o = 0;
  for (size_t i = 0; i < m->nbatch; i++) {
    size_t n = (size_t)(m->batch[i] >> 1);
    int rc = owned;
    if (rc == PC_OK && ps_store_width(s->store, m->keys[k]) != w)
      rc = pc_err_set(&err, PC_EINVAL, "batch entry %zu: a table of width %u in a batch of "
                      "width %u", i, ps_store_width(s->store, m->keys[k]), w);
    if (m->batch[i] & 1) {
      if (rc == PC_OK)
        rc = ps_store_push(s->store, m->keys + k, m->vals + v, n, &err);
      log_push_error(s, m, rc, &err);
      s->pushes++;
      s->keys_pushed += n;
      v += n * w;
    } else {
      if (rc == PC_OK)
        rc = ps_store_pull(s->store, m->keys + k, n, out + o);
      if (rc != PC_OK)
        memset(out + o, 0, n * w * sizeof *out);
      s->pulls++;
      s->keys_pulled += n;
      o += n * w;
    }
    status[i] = rc;
    k += n;
  }
  batch_reply(s, m, status, out, npull, w, pooled);
}

/* A dump cursor, opaque to workers: the store iterator's dense range in
 * the top 16 bits and its offset (or hash table slot) in the low 48. A
 * range holds at most 2^40 + 1 keys and a table far fewer than 2^48 slots. */
#define DUMP_POS_BITS 48
#define DUMP_POS_MASK ((1ULL << DUMP_POS_BITS) - 1)

static void dump_reply(ps_server_t *s, pc_msg_t *m, int status, const uint64_t *keys,
                       const float *vals, size_t n, uint32_t w, const ps_store_iter_t *next,
                       int done) {
  pc_wire_hdr_t h;
  pc_err_t err;
  pc_wire_hdr_init(&h, PC_OP_DUMP_REPLY, m->hdr.request_id, s->node.sender);
  h.status = status;
  h.key_count = n;
  h.vals_per_key = n ? w : 0;
  Parasol__DumpReply pb = PARASOL__DUMP_REPLY__INIT;
  uint8_t body[32]; /* two varints */
  size_t blen = 0;
  if (status == 0) {
    pb.next_cursor = (uint64_t)next->range << DUMP_POS_BITS | next->pos;
    pb.done = done;
    blen = parasol__dump_reply__pack(&pb, body);
  }
  if (pc_wire_send(s->router, &m->identity, &h, n ? keys : NULL, n ? vals : NULL, n * w,
                   blen ? body : NULL, blen, ZMQ_DONTWAIT, &err) != PC_OK)
    PC_WARN("dump reply to worker %d dropped: %s", pc_wire_sender_rank(m->hdr.sender),
            err.msg);
}

/* Up to max keys (of w values) from *it on; *done when no key is left
 * after them. */
static int dump_page(ps_server_t *s, ps_store_iter_t *it, uint64_t *keys, float *vals,
                     uint32_t w, size_t max, size_t *n, int *done) {
  const float *v;
  while (*n < max && ps_store_iter_next(s->store, it, &keys[*n], &v, NULL)) {
    memcpy(vals + *n * w, v, w * sizeof *vals);
    (*n)++;
  }
  ps_store_iter_t peek = *it;
  uint64_t k;
  *done = !ps_store_iter_next(s->store, &peek, &k, &v, NULL);
  return *done || (it->pos & ~DUMP_POS_MASK) == 0 ? PC_OK : PC_ERANGE;
}

/* The next page of the stored keys, from the request's cursor. Workers
 * dump once training is over: a push between two pages could move hash
 * table entries, so a key could be sent twice or not at all. */
static void on_dump(ps_server_t *s, pc_msg_t *m) {
  pc_range_t r[SERVER_MAX_RANGES]; /* as in make_store: the store's dense ranges */
  size_t nr = pc_shardmap_server_ranges(&s->node.map, (uint32_t)s->node.rank, r,
                                        SERVER_MAX_RANGES);
  ps_store_iter_t it = {m->dump_table, (size_t)(m->dump_cursor >> DUMP_POS_BITS),
                        m->dump_cursor & DUMP_POS_MASK};
  uint32_t w = m->dump_table < s->node.ntables ? s->node.tables[m->dump_table].width : 0;
  size_t max = m->dump_max_keys, n = 0; /* 1 to PC_WIRE_MAX_DUMP_KEYS (pc_wire_recv) */
  uint64_t *keys = NULL;
  float *vals = NULL;
  int status, done = 0;
  if (w && max > PC_WIRE_MAX_VALUES / w)
    max = PC_WIRE_MAX_VALUES / w; /* a page within the wire's value limit */
  if (it.range > nr || w == 0) {
    PC_WARN("dump from worker %d refused: table %u of %zu, cursor 0x%llx names dense range %zu "
            "of %zu", pc_wire_sender_rank(m->hdr.sender), m->dump_table, s->node.ntables,
            (unsigned long long)m->dump_cursor, it.range, nr);
    status = PC_EINVAL;
  } else if ((keys = malloc(max * sizeof *keys)) == NULL ||
             (vals = malloc(max * w * sizeof *vals)) == NULL) {
    status = PC_ENOMEM;
  } else {
    status = dump_page(s, &it, keys, vals, w, max, &n, &done);
  }
  dump_reply(s, m, status, keys, vals, status == PC_OK ? n : 0, w, &it, done);
  free(keys);
  free(vals);
}

/* Serve worker traffic; bounded per call so control messages are not starved. */
static void drain_workers(ps_server_t *s) {
  for (int i = 0; i < 4096; i++) {
    pc_msg_t m;
    pc_drop_t why;
    pc_err_t err;
    int rc = pc_wire_recv(s->router, 1, &m, ZMQ_DONTWAIT, &why, &err);
    if (rc == PC_EPROTO) {
      pc_wire_drop_note(&s->drops, why, "from a worker", &err);
      continue;
    }
    if (rc != PC_OK)
      return;
    if (m.hdr.op == PC_OP_PULL)
      on_pull(s, &m);
    else if (m.hdr.op == PC_OP_PUSH)
      on_push(s, &m);
    else if (m.hdr.op == PC_OP_BATCH)
      on_batch(s, &m);
    else if (m.hdr.op == PC_OP_DUMP)
      on_dump(s, &m);
    else
      pc_wire_drop_note(&s->drops, PC_DROP_OP, "from a worker", NULL);
    pc_msg_close(&m);
  }
}

static int send_stats(ps_server_t *s, pc_err_t *err) {
  ps_store_stats_t st;
  ps_store_stats(s->store, &st);
  Parasol__ServerStats pb = PARASOL__SERVER_STATS__INIT;
  pb.sparse_keys = st.sparse_keys;
  pb.dense_keys = st.dense_keys;
  pb.bytes = st.bytes;
  pb.pushes = s->pushes;
  pb.pulls = s->pulls;
  pb.pushes_rejected = st.pushes_rejected;
  pb.messages_dropped = s->drops.total + s->node.drops.total;
  return pc_node_send(&s->node, PC_OP_STATS_REPLY, &pb, err);
}

/* Returns 1 when the scheduler ordered shutdown. */
static int drain_control(ps_server_t *s, pc_err_t *err, int *rc) {
  pc_msg_t m;
  while ((*rc = pc_node_recv(&s->node, &m, err)) == PC_OK) {
    int op = (int)m.hdr.op, stop = 0;
    if (op == PC_OP_STATS)
      *rc = send_stats(s, err);
    else if (op == PC_OP_SHUTDOWN && s->node.shut_failed)
      *rc = pc_err_set(err, PC_ECANCELED, "the run failed: %s", s->node.shut_reason);
    else if (op == PC_OP_SHUTDOWN) {
      PC_INFO("shutting down: %s", s->node.shut_reason);
      stop = 1;
    }
    pc_msg_close(&m);
    if (stop || *rc != PC_OK)
      return stop;
  }
  if (*rc == PC_ENOTFOUND)
    *rc = PC_OK;
  return 0;
}

static int serve(ps_server_t *s, pc_err_t *err) {
  int rc = PC_OK;
  for (;;) {
    zmq_pollitem_t it[2] = {{s->router, 0, ZMQ_POLLIN, 0}, {s->node.sched, 0, ZMQ_POLLIN, 0}};
    if (zmq_poll(it, 2, 100) < 0 && zmq_errno() != EINTR)
      return pc_err_set(err, PC_ESYS, "zmq_poll: %s", zmq_strerror(zmq_errno()));
    drain_workers(s);
    if (drain_control(s, err, &rc) || rc != PC_OK)
      return rc;
    if ((rc = pc_node_tick(&s->node, err)) != PC_OK)
      return rc;
  }
}

int ps_server_run(const pc_config_t *cfg, int rank_req, pc_err_t *err) {
  ps_server_t s = {.cfg = cfg};
  s.zctx = zmq_ctx_new();
  if (s.zctx == NULL)
    return pc_err_set(err, PC_ESYS, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
  int rc = pc_proc_catch_stop(err);
  if (rc == PC_OK)
    rc = pc_bufpool_new(&s.pool, SERVER_POOL_BYTES, err);
  if (rc == PC_OK)
    rc = bind_router(&s, err);
  if (rc == PC_OK)
    rc = pc_node_join(&s.node, s.zctx, cfg, PC_ROLE_SERVER, rank_req, s.endpoint, NULL, 0, err);
  if (rc == PC_OK) {
    pc_log_set_rank(s.node.rank);
    rc = open_log(&s, err);
  }
  if (rc == PC_OK)
    rc = make_store(&s, err);
  if (rc == PC_OK) {
    PC_INFO("serving shard %d of %u (%s, %s)", s.node.rank, s.node.num_servers,
            pc_config_optim_name(cfg->optimizer.type),
            cfg->model.layout == PC_LAYOUT_DENSE ? "dense ranges" : "hashed keys");
    if (!ps_sched_is_constant(&s.sched))
      PC_INFO("learning rate: schedule %s, warm-up %llu steps, from the global step",
              pc_config_sched_name(cfg->optimizer.schedule),
              (unsigned long long)cfg->optimizer.warmup);
    rc = serve(&s, err);
  }
  if (s.drops.total)
    PC_WARN("dropped %llu malformed messages", (unsigned long long)s.drops.total);
  /* The scheduler stops the others at once with this server's reason. */
  if (rc != PC_OK && s.node.rank >= 0 && !s.node.shut)
    pc_node_leave(&s.node, err->msg);
  ps_store_destroy(&s.store);
  ps_steps_free(&s.steps);
  free(s.out);
  pc_node_close(&s.node);
  if (s.router)
    zmq_close(s.router);
  zmq_ctx_term(s.zctx);
  pc_bufpool_destroy(&s.pool); /* after the context: ZeroMQ may hold its buffers */
  return rc;
}
