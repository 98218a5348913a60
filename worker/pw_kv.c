#include "pw_kv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pc_mem.h"

#include "pc_bufpool.h"
#include "pc_log.h"
#include "pc_proc.h"
#include "pc_wire.h"

#define KV_HWM 10000
#define KV_MAX_PARTS 4096     /* messages per logical request */
#define KV_PART_BITS 12       /* request_id = ticket << 12 | part */
#define KV_POOL_BYTES (256u << 20)
/* Bulk data moves in messages of at most 4 MiB of values (1M floats): the
 * receiving allocator then reuses freed blocks instead of mapping (and
 * page-faulting) fresh memory per message, and a server works on one chunk
 * while the next is on the wire. */
#define KV_CHUNK_VALS (1u << 20)
#define KV_CHUNK_KEYS (1u << 19) /* a 4 MiB keys frame */

/* One message of a request: where its reply goes. */
typedef struct kv_part {
  uint32_t server;
  int pending;
  int sparse;     /* values scatter through from[]; else land at out + off */
  uint64_t off;   /* range replies: first index in out */
  uint32_t *from; /* sparse replies: index in out of each value (kept for reuse) */
  size_t nfrom, cap;
} kv_part_t;

typedef struct kv_req {
  uint64_t ticket; /* 0: never used */
  int remaining;   /* parts without a reply */
  int is_pull;
  float *out;
  kv_part_t *parts;
  size_t nparts, cap;
} kv_req_t;

/* Scratch for splitting one request's keys by server. */
typedef struct kv_slice {
  uint64_t *keys;
  uint32_t *from;
  float *vals;
  size_t n, cap;
} kv_slice_t;

struct pw_kv {
  const pc_config_t *cfg;
  void *zctx;
  pc_node_t node;
  int joined;
  void **socks; /* DEALER per server */
  uint32_t nservers;
  kv_slice_t *slices;
  kv_req_t *reqs;
  size_t nreqs;
  uint64_t next_ticket;
  int outstanding;
  pc_bufpool_t *pool;
  pw_kv_stats_t st;
  pc_wire_drops_t drops;
  int stop, stop_failed;
  char stop_reason[256];
};

pc_node_t *pw_kv_node(pw_kv_t *kv) { return &kv->node; }
void pw_kv_stats(const pw_kv_t *kv, pw_kv_stats_t *out) { *out = kv->st; }

const char *pw_kv_stopped(const pw_kv_t *kv, int *failed) {
  if (failed)
    *failed = kv->stop_failed;
  return kv->stop ? kv->stop_reason : NULL;
}

static int slice_reserve(kv_slice_t *s, size_t need) {
  if (need <= s->cap)
    return PC_OK;
  size_t cap = s->cap ? s->cap : 256;
  while (cap < need)
    cap *= 2;
  uint64_t *k = realloc(s->keys, cap * sizeof *k);
  if (k)
    s->keys = k;
  uint32_t *f = realloc(s->from, cap * sizeof *f);
  if (f)
    s->from = f;
  float *v = realloc(s->vals, cap * sizeof *v);
  if (v)
    s->vals = v;
  if (!k || !f || !v)
    return PC_ENOMEM;
  s->cap = cap;
  return PC_OK;
}

static kv_req_t *req_of(pw_kv_t *kv, uint64_t ticket) {
  kv_req_t *r = &kv->reqs[ticket % kv->nreqs];
  return r->ticket == ticket ? r : NULL;
}

/* Deliver one reply to the request part it answers. */
static int on_reply(pw_kv_t *kv, uint32_t s, const pc_msg_t *m, pc_err_t *err) {
  uint64_t ticket = m->hdr.request_id >> KV_PART_BITS;
  size_t part = (size_t)(m->hdr.request_id & ((1u << KV_PART_BITS) - 1));
  kv_req_t *r = req_of(kv, ticket);
  if (r == NULL || part >= r->nparts || !r->parts[part].pending || r->parts[part].server != s ||
      (m->hdr.op == PC_OP_PULL_REPLY) != r->is_pull) {
    pc_wire_drop_note(&kv->drops, PC_DROP_OP, "unexpected reply from a server", NULL);
    return PC_OK;
  }
  kv_part_t *p = &r->parts[part];
  int32_t st = m->hdr.status;
  if (st == PC_EDATA && !r->is_pull && ++kv->st.rejected == 1)
    PC_WARN("server %u rejected a push with a non-finite gradient", s);
  else if (st != 0 && !(st == PC_EDATA && !r->is_pull))
    return pc_err_set(err, PC_EPEER, "server %u refused a %s: %s", s,
                      r->is_pull ? "pull" : "push", parasol_strerror(st));
  if (r->is_pull) {
    if (m->nvals != p->nfrom)
      return pc_err_set(err, PC_EPROTO, "server %u answered %zu values for %zu keys", s,
                        m->nvals, p->nfrom);
    if (p->sparse)
      for (size_t j = 0; j < p->nfrom; j++)
        r->out[p->from[j]] = m->vals[j];
    else
      memcpy(r->out + p->off, m->vals, m->nvals * sizeof *m->vals);
  }
  p->pending = 0;
  r->remaining--;
  kv->outstanding--;
  return PC_OK;
}

static int pump_control(pw_kv_t *kv, pc_err_t *err) {
  pc_msg_t m;
  int rc;
  while ((rc = pc_node_recv(&kv->node, &m, err)) == PC_OK) {
    if (m.hdr.op == PC_OP_SHUTDOWN) {
      pc_node_shutdown_reason(&m, kv->stop_reason, sizeof kv->stop_reason, &kv->stop_failed);
      kv->stop = 1;
    }
    pc_msg_close(&m);
  }
  if (rc == PC_ENOTFOUND)
    rc = pc_node_tick(&kv->node, err);
  if (rc == PC_OK && kv->stop)
    rc = pc_err_set(err, PC_ECANCELED, "scheduler stopped the run: %s", kv->stop_reason);
  return rc;
}

static int drain_server(pw_kv_t *kv, uint32_t s, int *got, pc_err_t *err) {
  for (;;) {
    pc_msg_t m;
    pc_drop_t why;
    pc_err_t e;
    int rc = pc_wire_recv(kv->socks[s], 0, &m, ZMQ_DONTWAIT, &why, &e);
    if (rc == PC_ENOTFOUND)
      return PC_OK;
    if (rc == PC_EPROTO) {
      pc_wire_drop_note(&kv->drops, why, "from a server", &e);
      continue;
    }
    if (rc != PC_OK)
      return pc_err_set(err, rc, "%s", e.msg);
    *got = 1;
    rc = on_reply(kv, s, &m, err);
    pc_msg_close(&m);
    if (rc != PC_OK)
      return rc;
  }
}

/* Wait (bounded) until done(kv, arg) holds, serving replies and control. */
static int wait_for(pw_kv_t *kv, int (*done)(pw_kv_t *, uint64_t), uint64_t arg, pc_err_t *err) {
  zmq_pollitem_t it[PC_PARTITION_MAX_SERVERS + 1];
  double heard = pc_proc_now();
  int polled = 0;
  while (!done(kv, arg)) {
    /* Drain first: replies are often already queued, and zmq_poll costs a
     * system call. */
    if (polled) {
      for (uint32_t s = 0; s < kv->nservers; s++)
        it[s] = (zmq_pollitem_t){kv->socks[s], 0, ZMQ_POLLIN, 0};
      it[kv->nservers] = (zmq_pollitem_t){kv->node.sched, 0, ZMQ_POLLIN, 0};
      if (zmq_poll(it, (int)kv->nservers + 1, 100) < 0 && zmq_errno() != EINTR)
        return pc_err_set(err, PC_ESYS, "zmq_poll: %s", zmq_strerror(zmq_errno()));
    }
    polled = 1;
    int got = 0, rc = PC_OK;
    for (uint32_t s = 0; s < kv->nservers && rc == PC_OK; s++)
      rc = drain_server(kv, s, &got, err);
    if (rc == PC_OK)
      rc = pump_control(kv, err);
    if (rc != PC_OK)
      return rc;
    double now = pc_proc_now();
    if (got)
      heard = now;
    else if (now - heard > kv->cfg->cluster.node_timeout)
      return pc_err_set(err, PC_EPEER, "no reply from the servers for %.0f s "
                        "(cluster.node_timeout)", kv->cfg->cluster.node_timeout);
  }
  return PC_OK;
}

static int ticket_done(pw_kv_t *kv, uint64_t t) {
  kv_req_t *r = req_of(kv, t);
  return r == NULL || r->remaining == 0;
}
static int below_bound(pw_kv_t *kv, uint64_t unused) {
  (void)unused;
  return kv->outstanding < kv->cfg->training.inflight;
}
static int all_done(pw_kv_t *kv, uint64_t unused) {
  (void)unused;
  return kv->outstanding == 0;
}

int pw_kv_wait(pw_kv_t *kv, uint64_t ticket, pc_err_t *err) {
  return wait_for(kv, ticket_done, ticket, err);
}

int pw_kv_wait_all(pw_kv_t *kv, pc_err_t *err) { return wait_for(kv, all_done, 0, err); }

static int req_begin(pw_kv_t *kv, int is_pull, float *out, kv_req_t **rp, pc_err_t *err) {
  uint64_t t = ++kv->next_ticket;
  kv_req_t *r = &kv->reqs[t % kv->nreqs];
  if (r->remaining > 0) {
    int rc = wait_for(kv, ticket_done, r->ticket, err);
    if (rc != PC_OK)
      return rc;
  }
  r->ticket = t;
  r->remaining = 0;
  r->is_pull = is_pull;
  r->out = out;
  r->nparts = 0;
  *rp = r;
  return PC_OK;
}

static int req_part(kv_req_t *r, uint32_t server, uint64_t off, size_t *idx, pc_err_t *err) {
  if (r->nparts == KV_MAX_PARTS)
    return pc_err_set(err, PC_ERANGE, "a request may not span more than %d messages",
                      KV_MAX_PARTS);
  size_t old = r->cap;
  if (pc_mem_reserve((void **)&r->parts, &r->cap, r->nparts + 1, sizeof *r->parts) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "request parts");
  memset(r->parts + old, 0, (r->cap - old) * sizeof *r->parts);
  kv_part_t *p = &r->parts[r->nparts];
  p->server = server;
  p->off = off;
  p->nfrom = 0;
  p->pending = 0;
  p->sparse = 0;
  *idx = r->nparts++;
  return PC_OK;
}

typedef struct kv_send {
  pc_op_t op;
  const uint64_t *keys; /* frame contents: the keys, or [begin, end) */
  size_t nkeys;
  uint64_t key_count;
  uint32_t flags;
  const float *vals; /* NULL for pulls */
} kv_send_t;

static int send_part(pw_kv_t *kv, kv_req_t *r, size_t part, const kv_send_t *m, pc_err_t *err) {
  if (!below_bound(kv, 0)) {
    int rc = wait_for(kv, below_bound, 0, err);
    if (rc != PC_OK)
      return rc;
  }
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, m->op, (r->ticket << KV_PART_BITS) | part, kv->node.sender);
  h.key_count = m->key_count;
  h.flags = m->flags;
  h.vals_per_key = m->vals ? 1 : 0;
  uint32_t s = r->parts[part].server;
  int rc = pc_wire_send_bulk(kv->socks[s], NULL, &h, m->keys, m->nkeys, (float *)m->vals,
                             m->vals ? (size_t)m->key_count : 0, 0, kv->pool, 0, err);
  if (rc != PC_OK)
    return rc;
  r->parts[part].pending = 1;
  r->remaining++;
  kv->st.messages++;
  if (++kv->outstanding > kv->st.max_inflight)
    kv->st.max_inflight = kv->outstanding;
  return PC_OK;
}

/* Route keys[0..n) by the shard map into kv->slices (with vals when given). */
static int split(pw_kv_t *kv, const uint64_t *keys, size_t n, const float *vals, pc_err_t *err) {
  for (uint32_t s = 0; s < kv->nservers; s++)
    kv->slices[s].n = 0;
  for (size_t i = 0; i < n; i++) {
    kv_slice_t *sl = &kv->slices[pc_shardmap_lookup(&kv->node.map, keys[i])];
    if (sl->n == sl->cap && slice_reserve(sl, sl->n + 1) != PC_OK)
      return pc_err_set(err, PC_ENOMEM, "request of %zu keys", n);
    sl->keys[sl->n] = keys[i];
    if (vals)
      sl->vals[sl->n] = vals[i];
    sl->from[sl->n++] = (uint32_t)i;
  }
  return PC_OK;
}

/* One message for keys [c, c + KV_CHUNK_KEYS) of server s's slice. */
static int slice_part(pw_kv_t *kv, kv_req_t *r, uint32_t s, size_t c, uint64_t base,
                      pc_err_t *err) {
  kv_slice_t *sl = &kv->slices[s];
  size_t n = sl->n - c < KV_CHUNK_KEYS ? sl->n - c : KV_CHUNK_KEYS, part = 0;
  int rc = req_part(r, s, 0, &part, err);
  if (rc != PC_OK)
    return rc;
  kv_part_t *p = &r->parts[part];
  p->sparse = 1;
  if (r->is_pull) {
    if (pc_mem_reserve((void **)&p->from, &p->cap, n, sizeof *p->from) != PC_OK)
      return pc_err_set(err, PC_ENOMEM, "pull of %zu keys", n);
    for (size_t j = 0; j < n; j++)
      p->from[j] = (uint32_t)(base + sl->from[c + j]);
    p->nfrom = n;
  }
  kv_send_t m = {r->is_pull ? PC_OP_PULL : PC_OP_PUSH, sl->keys + c, n, n, 0,
                 r->is_pull ? NULL : sl->vals + c};
  return send_part(kv, r, part, &m, err);
}

/* Messages per server (chunked) for keys[0..n); a pull's values land at
 * out[base + i]. */
static int sparse_parts(pw_kv_t *kv, kv_req_t *r, const uint64_t *keys, size_t n,
                        const float *vals, uint64_t base, pc_err_t *err) {
  if (n > UINT32_MAX)
    return pc_err_set(err, PC_ERANGE, "%zu keys in one request", n);
  int rc = split(kv, keys, n, vals, err);
  for (uint32_t s = 0; s < kv->nservers && rc == PC_OK; s++)
    for (size_t c = 0; c < kv->slices[s].n && rc == PC_OK; c += KV_CHUNK_KEYS)
      rc = slice_part(kv, r, s, c, base, err);
  return rc;
}

int pw_kv_pull(pw_kv_t *kv, const uint64_t *keys, size_t n, float *out, uint64_t *ticket,
               pc_err_t *err) {
  kv_req_t *r = NULL;
  int rc = req_begin(kv, 1, out, &r, err);
  if (rc == PC_OK)
    rc = sparse_parts(kv, r, keys, n, NULL, 0, err);
  *ticket = r ? r->ticket : 0;
  kv->st.pulls++;
  return rc;
}

int pw_kv_push(pw_kv_t *kv, const uint64_t *keys, size_t n, const float *vals, pc_err_t *err) {
  kv_req_t *r = NULL;
  int rc = req_begin(kv, 0, NULL, &r, err);
  if (rc == PC_OK)
    rc = sparse_parts(kv, r, keys, n, vals, 0, err);
  kv->st.pushes++;
  return rc;
}

/* The dense range holding key k, or NULL; *next: the begin of the first
 * range after k (UINT64_MAX when none), which bounds a sparse gap. */
static const pc_range_t *range_at(const pc_shardmap_t *m, uint64_t k, uint64_t *next) {
  size_t lo = 0, hi = m->nranges;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->ranges[mid].begin <= k)
      lo = mid + 1;
    else
      hi = mid;
  }
  *next = lo < m->nranges ? m->ranges[lo].begin : UINT64_MAX;
  if (lo > 0 && k < m->ranges[lo - 1].end)
    return &m->ranges[lo - 1];
  return NULL;
}

#define GAP_CHUNK (1u << 20)

/* Keys of [k, end) that no dense range holds go key by key. */
static int gap_parts(pw_kv_t *kv, kv_req_t *r, uint64_t k, uint64_t end, uint64_t base,
                     const float *vals, pc_err_t *err) {
  size_t n = end - k < GAP_CHUNK ? (size_t)(end - k) : GAP_CHUNK;
  uint64_t *keys = malloc(n * sizeof *keys);
  if (keys == NULL)
    return pc_err_set(err, PC_ENOMEM, "key list of %zu", n);
  int rc = PC_OK;
  for (uint64_t c = k; c < end && rc == PC_OK; c += n) {
    size_t m = end - c < n ? (size_t)(end - c) : n;
    for (size_t i = 0; i < m; i++)
      keys[i] = c + i;
    rc = sparse_parts(kv, r, keys, m, vals ? vals + (c - base) : NULL, c - base, err);
  }
  free(keys);
  return rc;
}

/* Cover [begin, end) with one message per dense piece, key lists for gaps. */
static int range_parts(pw_kv_t *kv, kv_req_t *r, uint64_t begin, uint64_t end,
                       const float *vals, pc_err_t *err) {
  if (begin >= end || end - begin > UINT32_MAX)
    return pc_err_set(err, PC_ERANGE, "key block [%llu, %llu)", (unsigned long long)begin,
                      (unsigned long long)end);
  int rc = PC_OK;
  for (uint64_t k = begin; k < end && rc == PC_OK;) {
    uint64_t next, stop;
    const pc_range_t *d = range_at(&kv->node.map, k, &next);
    if (d == NULL) {
      stop = next < end ? next : end;
      rc = gap_parts(kv, r, k, stop, begin, vals, err);
      k = stop;
      continue;
    }
    stop = d->end < end ? d->end : end;
    if (stop - k > KV_CHUNK_VALS)
      stop = k + KV_CHUNK_VALS;
    size_t part = 0;
    if ((rc = req_part(r, d->server, k - begin, &part, err)) != PC_OK)
      break;
    r->parts[part].nfrom = (size_t)(stop - k);
    uint64_t kr[2] = {k, stop};
    kv_send_t m = {r->is_pull ? PC_OP_PULL : PC_OP_PUSH, kr, 2, stop - k, PC_WIRE_FLAG_RANGE,
                   vals ? vals + (k - begin) : NULL};
    rc = send_part(kv, r, part, &m, err);
    k = stop;
  }
  return rc;
}

int pw_kv_pull_range(pw_kv_t *kv, uint64_t begin, uint64_t end, float *out, uint64_t *ticket,
                     pc_err_t *err) {
  kv_req_t *r = NULL;
  int rc = req_begin(kv, 1, out, &r, err);
  if (rc == PC_OK)
    rc = range_parts(kv, r, begin, end, NULL, err);
  *ticket = r ? r->ticket : 0;
  kv->st.pulls++;
  return rc;
}

int pw_kv_push_range(pw_kv_t *kv, uint64_t begin, uint64_t end, const float *vals,
                     pc_err_t *err) {
  kv_req_t *r = NULL;
  int rc = req_begin(kv, 0, NULL, &r, err);
  if (rc == PC_OK)
    rc = range_parts(kv, r, begin, end, vals, err);
  kv->st.pushes++;
  return rc;
}

static int connect_servers(pw_kv_t *kv, pc_err_t *err) {
  kv->nservers = kv->node.num_servers;
  kv->socks = calloc(kv->nservers, sizeof *kv->socks);
  kv->slices = calloc(kv->nservers, sizeof *kv->slices);
  kv->nreqs = (size_t)kv->cfg->training.inflight + 1;
  kv->reqs = calloc(kv->nreqs, sizeof *kv->reqs);
  if (kv->socks == NULL || kv->slices == NULL || kv->reqs == NULL)
    return pc_err_set(err, PC_ENOMEM, "server connections");
  for (uint32_t s = 0; s < kv->nservers; s++) {
    kv->socks[s] = zmq_socket(kv->zctx, ZMQ_DEALER);
    if (kv->socks[s] == NULL)
      return pc_err_set(err, PC_ESYS, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    int rc = pc_wire_socket_setup(kv->socks[s], 0, KV_HWM, err);
    if (rc != PC_OK)
      return rc;
    if (zmq_connect(kv->socks[s], kv->node.endpoints[s]) != 0)
      return pc_err_set(err, PC_ESYS, "connecting to server %u at %s: %s", s,
                        kv->node.endpoints[s], zmq_strerror(zmq_errno()));
  }
  return PC_OK;
}

int pw_kv_open(pw_kv_t **out, const pc_config_t *cfg, int rank_req, pc_err_t *err) {
  pw_kv_t *kv = calloc(1, sizeof *kv);
  if (kv == NULL)
    return pc_err_set(err, PC_ENOMEM, "key/value client");
  kv->cfg = cfg;
  kv->zctx = zmq_ctx_new();
  int rc = kv->zctx ? PC_OK : pc_err_set(err, PC_ESYS, "zmq_ctx_new: %s",
                                          zmq_strerror(zmq_errno()));
  if (rc == PC_OK)
    rc = pc_bufpool_new(&kv->pool, KV_POOL_BYTES, err);
  if (rc == PC_OK)
    rc = pc_node_join(&kv->node, kv->zctx, cfg, PC_ROLE_WORKER, rank_req, NULL, err);
  kv->joined = rc == PC_OK;
  if (rc == PC_OK)
    rc = connect_servers(kv, err);
  *out = kv;
  return rc;
}

void pw_kv_close(pw_kv_t **kvp) {
  pw_kv_t *kv = *kvp;
  if (kv == NULL)
    return;
  for (size_t i = 0; kv->reqs && i < kv->nreqs; i++) {
    for (size_t p = 0; p < kv->reqs[i].cap; p++)
      free(kv->reqs[i].parts[p].from);
    free(kv->reqs[i].parts);
  }
  for (uint32_t s = 0; kv->slices && s < kv->nservers; s++) {
    free(kv->slices[s].keys);
    free(kv->slices[s].from);
    free(kv->slices[s].vals);
  }
  for (uint32_t s = 0; kv->socks && s < kv->nservers; s++)
    if (kv->socks[s])
      zmq_close(kv->socks[s]);
  free(kv->socks);
  free(kv->slices);
  free(kv->reqs);
  pc_node_close(&kv->node);
  if (kv->zctx)
    zmq_ctx_term(kv->zctx);
  pc_bufpool_destroy(&kv->pool); /* after the context: zmq may still hold buffers */
  free(kv);
  *kvp = NULL;
}
