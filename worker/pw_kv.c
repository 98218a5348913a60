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
/* Small requests are coalesced (docs/protocol.md, "Batches"): once a
 * quarter of training.inflight (1 to KV_DIRECT_MAX) messages to a server
 * are unanswered, requests of at most KV_SMALL_KEYS keys for it wait in a
 * queue, sent as one BATCH message when an answer comes back, when the
 * queue holds KV_BATCH_KEYS keys, or when the caller waits for one of
 * them. Each message costs far more than a few hundred keys' work, so
 * under load many requests share one; the messages sent on their own keep
 * the server busy meanwhile (sparse benchmark, 32 in flight: 2 direct
 * gave 10.4 M keys/s, 4 gave 11.4, 8 gave 12.6). */
#define KV_DIRECT_MAX 8
#define KV_SMALL_KEYS 4096
#define KV_BATCH_KEYS 65536
/* A packed Batch body: tag, length, and a varint of at most 3 bytes per
 * entry (key counts <= KV_SMALL_KEYS). */
#define KV_BODY_MAX (16 + 3 * PC_WIRE_MAX_BATCH)
/* request_id of a BATCH: this bit | id << 16 | batch slot. */
#define KV_BATCH_BIT (1ULL << 63)

/* One message of a request: where its reply goes. */
typedef struct kv_part {
  uint32_t server;
  int pending;
  int queued;     /* waits in the server's batch queue */
  int sparse;     /* values scatter through from[]; else land at out + off */
  uint64_t off;   /* range replies: first index in out */
  uint32_t *from; /* sparse replies: index in out of each value (kept for reuse) */
  size_t nfrom, cap;
} kv_part_t;

typedef struct kv_req {
  uint64_t ticket; /* 0: never used */
  uint32_t width;  /* values per key: the width of the request's table */
  int remaining;   /* parts without a reply */
  int zc_refs;     /* borrowed value frames ZeroMQ still reads (atomic) */
  int is_pull;
  uint32_t flags;  /* header flags of every message: 0 or PC_WIRE_FLAG_ASSIGN */
  float *out;
  kv_part_t *parts;
  size_t nparts, cap;
} kv_req_t;

/* Scratch for splitting one request's keys by server. */
typedef struct kv_slice {
  uint64_t *keys;
  uint32_t *from;
  float *vals;      /* n x width */
  size_t n, cap, vcap;
} kv_slice_t;

/* A request part inside a batch. */
typedef struct kv_entry {
  uint64_t ticket;
  uint32_t part;
  uint32_t nkeys;
  int push;
} kv_entry_t;

typedef struct kv_entries {
  kv_entry_t *e;
  size_t n, cap;
} kv_entries_t;

/* Small requests waiting to go to one server as one BATCH message. */
typedef struct kv_queue {
  uint64_t *keys;
  float *vals;
  size_t nkeys, kcap, nvals, vcap;
  uint32_t width; /* of every entry queued (one table width per BATCH) */
  kv_entries_t ents;
} kv_queue_t;

/* A BATCH on the wire: which request parts its reply answers. */
typedef struct kv_batch {
  uint64_t id; /* 0: slot free */
  uint32_t server;
  uint32_t width;
  kv_entries_t ents;
} kv_batch_t;

/* The page pw_kv_dump waits for: where its reply goes. */
typedef struct kv_dump {
  uint64_t id; /* request_id of the DUMP on the wire; 0: none */
  uint32_t server;
  uint32_t width;
  uint64_t *keys;
  float *vals;
  size_t max, n;
  uint64_t cursor;
  int done;
} kv_dump_t;

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
  int *sout;          /* messages outstanding per server */
  int direct;         /* sout below this: small requests go on their own */
  kv_queue_t *queues; /* per server */
  kv_batch_t *batches;
  size_t nbatches;    /* training.inflight + 1 slots */
  uint64_t next_batch;
  size_t nqueued;     /* request parts in the queues */
  uint64_t *enc;      /* Batch entries being packed */
  uint8_t *body;
  pc_bufpool_t *pool;
  kv_dump_t dump;
  uint64_t next_dump;
  uint64_t clock;     /* the caller's step, sent in every request's header */
  pw_kv_stats_t st;
  pc_wire_drops_t drops;
};

/* Width of the table of key (0: no such table). */
static uint32_t key_width(const pw_kv_t *kv, uint64_t key) {
  uint32_t t = pc_table_of(key);
  return t < kv->node.ntables ? kv->node.tables[t].width : 0;
}

pc_node_t *pw_kv_node(pw_kv_t *kv) { return &kv->node; }
void pw_kv_stats(const pw_kv_t *kv, pw_kv_stats_t *out) { *out = kv->st; }

static int slice_reserve(kv_slice_t *s, size_t need, size_t width) {
  if (need > s->cap) {
    size_t cap = s->cap ? s->cap : 256;
    while (cap < need)
      cap *= 2;
    uint64_t *k = realloc(s->keys, cap * sizeof *k);
    if (k)
      s->keys = k;
    uint32_t *f = realloc(s->from, cap * sizeof *f);
    if (f)
      s->from = f;
    if (!k || !f)
      return PC_ENOMEM;
    s->cap = cap;
  }
  if (s->cap * width > s->vcap) {
    float *v = realloc(s->vals, s->cap * width * sizeof *v);
    if (v == NULL)
      return PC_ENOMEM;
    s->vals = v;
    s->vcap = s->cap * width;
  }
  return PC_OK;
}

static kv_req_t *req_of(pw_kv_t *kv, uint64_t ticket) {
  kv_req_t *r = &kv->reqs[ticket % kv->nreqs];
  return r->ticket == ticket ? r : NULL;
}

/* Complete part `part` of r with a server's status and (pulls) values. */
static int deliver(pw_kv_t *kv, uint32_t s, kv_req_t *r, size_t part, int32_t st,
                   const float *vals, size_t nvals, pc_err_t *err) {
  kv_part_t *p = &r->parts[part];
  if (st == PC_EDATA && !r->is_pull && ++kv->st.rejected == 1)
    PC_WARN("server %u rejected a push with a non-finite gradient", s);
  else if (st != 0 && !(st == PC_EDATA && !r->is_pull))
    return pc_err_set(err, PC_EPEER, "server %u refused a %s: %s", s,
                      r->is_pull ? "pull" : "push", parasol_strerror(st));
  if (r->is_pull && st == 0) {
    size_t w = r->width;
    if (nvals != p->nfrom * w)
      return pc_err_set(err, PC_EPROTO, "server %u answered %zu values for %zu keys of width %zu",
                        s, nvals, p->nfrom, w);
    if (p->sparse && w == 1)
      for (size_t j = 0; j < p->nfrom; j++)
        r->out[p->from[j]] = vals[j];
    else if (p->sparse)
      for (size_t j = 0; j < p->nfrom; j++)
        memcpy(r->out + (size_t)p->from[j] * w, vals + j * w, w * sizeof *vals);
    else
      memcpy(r->out + p->off * w, vals, nvals * sizeof *vals);
  }
  p->pending = 0;
  r->remaining--;
  return PC_OK;
}

/* The pending, unqueued part of a live request that a reply names. */
static kv_req_t *part_of(pw_kv_t *kv, uint64_t ticket, size_t part, uint32_t s, int is_pull) {
  kv_req_t *r = req_of(kv, ticket);
  if (r == NULL || part >= r->nparts || !r->parts[part].pending || r->parts[part].queued ||
      r->parts[part].server != s || r->is_pull != is_pull)
    return NULL;
  return r;
}

/* The pulls' values lie back to back in the reply, in entry order. */
static int on_batch_reply(pw_kv_t *kv, uint32_t s, const pc_msg_t *m, pc_err_t *err) {
  uint64_t id = (m->hdr.request_id & ~KV_BATCH_BIT) >> 16;
  size_t slot = (size_t)(m->hdr.request_id & 0xffff);
  kv_batch_t *b = slot < kv->nbatches ? &kv->batches[slot] : NULL;
  if (b == NULL || b->id != id || id == 0 || b->server != s) {
    pc_wire_drop_note(&kv->drops, PC_DROP_OP, "unexpected batch reply from a server", NULL);
    return PC_OK;
  }
  if (m->hdr.status != 0)
    return pc_err_set(err, PC_EPEER, "server %u refused a batch of %zu requests: %s", s,
                      b->ents.n, parasol_strerror(m->hdr.status));
  size_t want = 0;
  for (size_t i = 0; i < b->ents.n; i++)
    want += b->ents.e[i].push ? 0 : (size_t)b->ents.e[i].nkeys * b->width;
  if (m->nbatch_status != b->ents.n || m->nvals != want)
    return pc_err_set(err, PC_EPROTO, "server %u answered a batch of %zu requests (%zu values) "
                      "with %zu statuses and %zu values", s, b->ents.n, want,
                      m->nbatch_status, m->nvals);
  size_t o = 0;
  for (size_t i = 0; i < b->ents.n; i++) {
    const kv_entry_t *e = &b->ents.e[i];
    kv_req_t *r = part_of(kv, e->ticket, e->part, s, !e->push);
    if (r == NULL)
      return pc_err_set(err, PC_EPROTO, "batch entry %zu has no live request", i);
    size_t nv = e->push ? 0 : (size_t)e->nkeys * b->width;
    int rc = deliver(kv, s, r, e->part, m->batch_status[i], e->push ? NULL : m->vals + o, nv,
                     err);
    if (rc != PC_OK)
      return rc;
    o += nv;
  }
  b->id = 0;
  kv->outstanding--;
  kv->sout[s]--;
  return PC_OK;
}

/* The page pw_kv_dump waits for (pc_wire_recv has checked that the frames
 * hold key_count keys and as many weights). */
static int on_dump_reply(pw_kv_t *kv, uint32_t s, const pc_msg_t *m, pc_err_t *err) {
  kv_dump_t *d = &kv->dump;
  if (d->id == 0 || m->hdr.request_id != d->id || s != d->server) {
    pc_wire_drop_note(&kv->drops, PC_DROP_OP, "unexpected dump reply from a server", NULL);
    return PC_OK;
  }
  if (m->hdr.status != 0)
    return pc_err_set(err, PC_EPEER, "server %u refused a dump: %s", s,
                      parasol_strerror(m->hdr.status));
  size_t n = (size_t)m->hdr.key_count;
  if (n > d->max)
    return pc_err_set(err, PC_EPROTO, "server %u answered a dump page of at most %zu keys "
                      "with %zu", s, d->max, n);
  if (n > 0 && m->hdr.vals_per_key != d->width)
    return pc_err_set(err, PC_EPROTO, "server %u answered a dump of a table of width %u with "
                      "%u values per key", s, d->width, m->hdr.vals_per_key);
  if (n > 0) {
    memcpy(d->keys, m->keys, n * sizeof *d->keys);
    memcpy(d->vals, m->vals, n * d->width * sizeof *d->vals);
  }
  d->n = n;
  d->cursor = m->dump_cursor;
  d->done = m->dump_done;
  d->id = 0;
  kv->outstanding--;
  kv->sout[s]--;
  return PC_OK;
}

/* Deliver one reply to the request part (or batch) it answers. */
static int on_reply(pw_kv_t *kv, uint32_t s, const pc_msg_t *m, pc_err_t *err) {
  if (m->hdr.op == PC_OP_DUMP_REPLY)
    return on_dump_reply(kv, s, m, err);
  if (m->hdr.op == PC_OP_BATCH_REPLY && (m->hdr.request_id & KV_BATCH_BIT))
    return on_batch_reply(kv, s, m, err);
  uint64_t ticket = m->hdr.request_id >> KV_PART_BITS;
  size_t part = (size_t)(m->hdr.request_id & ((1u << KV_PART_BITS) - 1));
  int is_pull = m->hdr.op == PC_OP_PULL_REPLY;
  kv_req_t *r = (m->hdr.request_id & KV_BATCH_BIT) ? NULL
                                                   : part_of(kv, ticket, part, s, is_pull);
  if (r == NULL || (!is_pull && m->hdr.op != PC_OP_PUSH_REPLY)) {
    pc_wire_drop_note(&kv->drops, PC_DROP_OP, "unexpected reply from a server", NULL);
    return PC_OK;
  }
  int rc = deliver(kv, s, r, part, m->hdr.status, m->vals, m->nvals, err);
  if (rc == PC_OK) {
    kv->outstanding--;
    kv->sout[s]--;
  }
  return rc;
}

static int pump_control(pw_kv_t *kv, pc_err_t *err) {
  pc_msg_t m;
  int rc;
  while ((rc = pc_node_recv(&kv->node, &m, err)) == PC_OK)
    pc_msg_close(&m); /* a SHUTDOWN is noted in kv->node */
  if (rc == PC_ENOTFOUND)
    rc = pc_node_tick(&kv->node, err);
  if (rc == PC_OK && kv->node.shut)
    rc = pc_err_set(err, PC_ECANCELED, "the run %s: %s",
                    kv->node.shut_failed ? "failed" : "was stopped", kv->node.shut_reason);
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

typedef enum kv_wait { KV_WAIT_TICKET, KV_WAIT_SLOT, KV_WAIT_ALL, KV_WAIT_DUMP } kv_wait_t;

static int ticket_done(pw_kv_t *kv, uint64_t t) {
  kv_req_t *r = req_of(kv, t);
  return r == NULL || (r->remaining == 0 && __atomic_load_n(&r->zc_refs, __ATOMIC_ACQUIRE) == 0);
}

static int borrowed_out(const pw_kv_t *kv) {
  for (size_t i = 0; i < kv->nreqs; i++)
    if (__atomic_load_n(&kv->reqs[i].zc_refs, __ATOMIC_ACQUIRE) != 0)
      return 1;
  return 0;
}

/* ZeroMQ's free callback for a borrowed values frame (pw_kv_push_range_nocopy):
 * runs on an I/O thread once the frame is written. */
static void borrowed_release(void *data, void *hint) {
  (void)data;
  __atomic_sub_fetch((int *)hint, 1, __ATOMIC_RELEASE);
}

/* Every reply is in, and only ZeroMQ's release of borrowed frames is
 * missing: poll briefly rather than for the usual 100 ms. */
static int only_borrowed(pw_kv_t *kv, kv_wait_t what, uint64_t arg) {
  kv_req_t *r = what == KV_WAIT_TICKET ? req_of(kv, arg) : NULL;
  if (what == KV_WAIT_TICKET)
    return r != NULL && r->remaining == 0;
  return what == KV_WAIT_ALL && kv->outstanding == 0 && kv->nqueued == 0;
}
static int below_bound(pw_kv_t *kv) { return kv->outstanding < kv->cfg->training.inflight; }

static int wait_done(pw_kv_t *kv, kv_wait_t what, uint64_t arg) {
  switch (what) {
  case KV_WAIT_TICKET:
    return ticket_done(kv, arg);
  case KV_WAIT_SLOT:
    return below_bound(kv);
  case KV_WAIT_DUMP:
    return kv->dump.id == 0;
  case KV_WAIT_ALL:
    break;
  }
  return kv->outstanding == 0 && kv->nqueued == 0 && !borrowed_out(kv);
}

static int queue_flush(pw_kv_t *kv, uint32_t s, pc_err_t *err);

/* Does the wait need server s's queue on the wire? Always when everything
 * must finish; for a ticket, when one of its parts waits there. */
static int wait_needs(pw_kv_t *kv, kv_wait_t what, uint64_t arg, uint32_t s) {
  if (what == KV_WAIT_ALL)
    return 1;
  kv_req_t *r = what == KV_WAIT_TICKET ? req_of(kv, arg) : NULL;
  for (size_t i = 0; r != NULL && i < r->nparts; i++)
    if (r->parts[i].queued && r->parts[i].server == s)
      return 1;
  return 0;
}

/* Send the queues that may go now: a server with fewer than kv->direct
 * messages unanswered, or one the wait needs. Never waits for a slot. */
static int flush_ready(pw_kv_t *kv, kv_wait_t what, uint64_t arg, pc_err_t *err) {
  for (uint32_t s = 0; s < kv->nservers && below_bound(kv); s++) {
    if (kv->queues[s].ents.n == 0)
      continue;
    if (kv->sout[s] < kv->direct || wait_needs(kv, what, arg, s)) {
      int rc = queue_flush(kv, s, err);
      if (rc != PC_OK)
        return rc;
    }
  }
  return PC_OK;
}

/* Wait (bounded) until the wait is over, serving replies and control. */
static int wait_for(pw_kv_t *kv, kv_wait_t what, uint64_t arg, pc_err_t *err) {
  zmq_pollitem_t it[PC_PARTITION_MAX_SERVERS + 1];
  double heard = pc_proc_now();
  int polled = 0;
  for (;;) {
    int rc = flush_ready(kv, what, arg, err);
    if (rc != PC_OK)
      return rc;
    if (wait_done(kv, what, arg))
      return PC_OK;
    /* Drain first: replies are often already queued, and zmq_poll costs a
     * system call. */
    if (polled) {
      for (uint32_t s = 0; s < kv->nservers; s++)
        it[s] = (zmq_pollitem_t){kv->socks[s], 0, ZMQ_POLLIN, 0};
      it[kv->nservers] = (zmq_pollitem_t){kv->node.sched, 0, ZMQ_POLLIN, 0};
      int ms = only_borrowed(kv, what, arg) ? 1 : 100;
      if (zmq_poll(it, (int)kv->nservers + 1, ms) < 0 && zmq_errno() != EINTR)
        return pc_err_set(err, PC_ESYS, "zmq_poll: %s", zmq_strerror(zmq_errno()));
    }
    polled = 1;
    int got = 0;
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
}

int pw_kv_wait(pw_kv_t *kv, uint64_t ticket, pc_err_t *err) {
  return wait_for(kv, KV_WAIT_TICKET, ticket, err);
}

int pw_kv_wait_all(pw_kv_t *kv, pc_err_t *err) { return wait_for(kv, KV_WAIT_ALL, 0, err); }

/* Queued requests go out first, with the clock they were made under: a
 * batch carries one clock. */
int pw_kv_set_clock(pw_kv_t *kv, uint64_t clock, pc_err_t *err) {
  for (uint32_t s = 0; s < kv->nservers && clock != kv->clock; s++) {
    int rc = kv->queues[s].ents.n ? queue_flush(kv, s, err) : PC_OK;
    if (rc != PC_OK)
      return rc;
  }
  kv->clock = clock;
  return PC_OK;
}

static int req_begin(pw_kv_t *kv, int is_pull, float *out, uint32_t width, kv_req_t **rp,
                     pc_err_t *err) {
  uint64_t t = ++kv->next_ticket;
  kv_req_t *r = &kv->reqs[t % kv->nreqs];
  if (r->remaining > 0) {
    int rc = wait_for(kv, KV_WAIT_TICKET, r->ticket, err);
    if (rc != PC_OK)
      return rc;
  }
  r->ticket = t;
  r->width = width;
  r->remaining = 0;
  r->is_pull = is_pull;
  r->flags = 0;
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
  p->queued = 0;
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
  int borrow;        /* send vals without a copy (pw_kv_push_range_nocopy) */
} kv_send_t;

/* A message to server s is on its way. */
static void sent_one(pw_kv_t *kv, uint32_t s) {
  kv->st.messages++;
  kv->sout[s]++;
  if (++kv->outstanding > kv->st.max_inflight)
    kv->st.max_inflight = kv->outstanding;
}

/* Take a free batch slot (one exists while below the inflight bound). */
static kv_batch_t *batch_slot(pw_kv_t *kv, size_t *slot) {
  for (size_t i = 0; i < kv->nbatches; i++)
    if (kv->batches[i].id == 0) {
      *slot = i;
      return &kv->batches[i];
    }
  return NULL;
}

/* Server s's queue as one BATCH message. */
static int queue_flush(pw_kv_t *kv, uint32_t s, pc_err_t *err) {
  if (!below_bound(kv)) {
    int rc = wait_for(kv, KV_WAIT_SLOT, 0, err);
    if (rc != PC_OK)
      return rc;
  }
  kv_queue_t *q = &kv->queues[s];
  size_t slot = 0;
  kv_batch_t *b = batch_slot(kv, &slot);
  if (q->ents.n == 0) /* the wait above may have sent it */
    return PC_OK;
  if (b == NULL)
    return pc_err_set(err, PC_EPROTO, "no free batch slot below the inflight bound");
  for (size_t i = 0; i < q->ents.n; i++)
    kv->enc[i] = (uint64_t)q->ents.e[i].nkeys << 1 | (uint64_t)q->ents.e[i].push;
  Parasol__Batch pb = PARASOL__BATCH__INIT;
  pb.entries = kv->enc;
  pb.n_entries = q->ents.n;
  size_t blen = parasol__batch__pack(&pb, kv->body);
  uint64_t id = ++kv->next_batch & 0x7fffffffffffULL;
  if (id == 0)
    id = kv->next_batch = 1;
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, PC_OP_BATCH, KV_BATCH_BIT | id << 16 | slot, kv->node.sender);
  h.clock = kv->clock;
  h.key_count = q->nkeys;
  h.vals_per_key = q->nvals ? q->width : 0;
  pc_wire_payload_t p = {.keys = q->keys, .nkeys = q->nkeys, .vals = q->nvals ? q->vals : NULL,
                         .nvals = q->nvals, .body = kv->body, .blen = blen};
  int rc = pc_wire_send_bulk(kv->socks[s], NULL, &h, &p, kv->pool, 0, err);
  if (rc != PC_OK)
    return rc;
  for (size_t i = 0; i < q->ents.n; i++)
    req_of(kv, q->ents.e[i].ticket)->parts[q->ents.e[i].part].queued = 0;
  kv_entries_t done = b->ents; /* the queue's entries move to the batch */
  b->ents = q->ents;
  q->ents = done;
  q->ents.n = 0;
  q->nkeys = q->nvals = 0;
  b->id = id;
  b->server = s;
  b->width = q->width;
  kv->st.batches++;
  kv->nqueued -= b->ents.n;
  sent_one(kv, s);
  return PC_OK;
}

/* Append one small request part to server s's queue. */
static int queue_add(pw_kv_t *kv, kv_req_t *r, size_t part, const uint64_t *keys, size_t n,
                     const float *vals, pc_err_t *err) {
  uint32_t s = r->parts[part].server;
  kv_queue_t *q = &kv->queues[s];
  size_t nv = n * r->width;
  if (q->ents.n && q->width != r->width) { /* one width per BATCH */
    int rc = queue_flush(kv, s, err);
    if (rc != PC_OK)
      return rc;
  }
  q->width = r->width;
  if (pc_mem_reserve((void **)&q->keys, &q->kcap, q->nkeys + n, sizeof *q->keys) != PC_OK ||
      (vals && pc_mem_reserve((void **)&q->vals, &q->vcap, q->nvals + nv, sizeof *q->vals) !=
                   PC_OK) ||
      pc_mem_reserve((void **)&q->ents.e, &q->ents.cap, q->ents.n + 1, sizeof *q->ents.e) !=
          PC_OK)
    return pc_err_set(err, PC_ENOMEM, "batch queue");
  memcpy(q->keys + q->nkeys, keys, n * sizeof *keys);
  q->nkeys += n;
  if (vals) {
    memcpy(q->vals + q->nvals, vals, nv * sizeof *vals);
    q->nvals += nv;
  }
  q->ents.e[q->ents.n++] = (kv_entry_t){r->ticket, (uint32_t)part, (uint32_t)n, vals != NULL};
  r->parts[part].pending = 1;
  r->parts[part].queued = 1;
  r->remaining++;
  kv->nqueued++;
  kv->st.batched++;
  return PC_OK;
}

/* One message on its own; anything queued for the server goes first, so
 * a server sees every worker's requests in the order they were made. */
static int send_part(pw_kv_t *kv, kv_req_t *r, size_t part, const kv_send_t *m, pc_err_t *err) {
  uint32_t s = r->parts[part].server;
  int rc = kv->queues[s].ents.n ? queue_flush(kv, s, err) : PC_OK;
  if (rc == PC_OK && !below_bound(kv))
    rc = wait_for(kv, KV_WAIT_SLOT, 0, err);
  if (rc != PC_OK)
    return rc;
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, m->op, (r->ticket << KV_PART_BITS) | part, kv->node.sender);
  h.clock = kv->clock;
  h.key_count = m->key_count;
  h.flags = m->flags;
  h.vals_per_key = m->vals ? r->width : 0;
  pc_wire_payload_t p = {.keys = m->keys, .nkeys = m->nkeys, .vals = (float *)m->vals,
                         .nvals = m->vals ? (size_t)m->key_count * r->width : 0};
  if (m->borrow && m->vals) {
    p.vals_free = borrowed_release;
    p.vals_hint = &r->zc_refs;
    __atomic_add_fetch(&r->zc_refs, 1, __ATOMIC_RELAXED);
  }
  rc = pc_wire_send_bulk(kv->socks[s], NULL, &h, &p, kv->pool, 0, err);
  if (rc != PC_OK)
    return rc;
  r->parts[part].pending = 1;
  r->remaining++;
  sent_one(kv, s);
  return PC_OK;
}

/* A small request part waits in the server's queue while the server is
 * busy (or others already wait); the queue goes once it is large. */
static int send_small(pw_kv_t *kv, kv_req_t *r, size_t part, const kv_send_t *m,
                      pc_err_t *err) {
  uint32_t s = r->parts[part].server;
  kv_queue_t *q = &kv->queues[s];
  if (m->nkeys * r->width > KV_SMALL_KEYS || m->flags ||
      (q->ents.n == 0 && kv->sout[s] < kv->direct))
    return send_part(kv, r, part, m, err);
  int rc = queue_add(kv, r, part, m->keys, m->nkeys, m->vals, err);
  if (rc == PC_OK && (q->nkeys >= KV_BATCH_KEYS || q->ents.n == PC_WIRE_MAX_BATCH))
    rc = queue_flush(kv, s, err);
  return rc;
}

/* Route keys[0..n) by the shard map into kv->slices (with vals, width
 * per key, when given). */
static int split(pw_kv_t *kv, const uint64_t *keys, size_t n, const float *vals, size_t w,
                 pc_err_t *err) {
  for (uint32_t s = 0; s < kv->nservers; s++)
    kv->slices[s].n = 0;
  for (size_t i = 0; i < n; i++) {
    kv_slice_t *sl = &kv->slices[pc_shardmap_lookup(&kv->node.map, keys[i])];
    if ((sl->n == sl->cap || sl->vcap < sl->cap * w) && slice_reserve(sl, sl->n + 1, w) != PC_OK)
      return pc_err_set(err, PC_ENOMEM, "request of %zu keys", n);
    sl->keys[sl->n] = keys[i];
    if (vals && w == 1)
      sl->vals[sl->n] = vals[i];
    else if (vals)
      memcpy(sl->vals + sl->n * w, vals + i * w, w * sizeof *vals);
    sl->from[sl->n++] = (uint32_t)i;
  }
  return PC_OK;
}

/* One message of keys[0..n) for server s. A pull's values land at
 * out[base + from[j]], or at out[base + j] without from. */
static int keys_part(pw_kv_t *kv, kv_req_t *r, uint32_t s, const uint64_t *keys,
                     const float *vals, size_t n, const uint32_t *from, uint64_t base,
                     pc_err_t *err) {
  size_t part = 0;
  int rc = req_part(r, s, base, &part, err);
  if (rc != PC_OK)
    return rc;
  kv_part_t *p = &r->parts[part];
  p->sparse = from != NULL;
  if (r->is_pull) {
    if (from && pc_mem_reserve((void **)&p->from, &p->cap, n, sizeof *p->from) != PC_OK)
      return pc_err_set(err, PC_ENOMEM, "pull of %zu keys", n);
    for (size_t j = 0; from && j < n; j++)
      p->from[j] = (uint32_t)(base + from[j]);
    p->nfrom = n;
  }
  kv_send_t m = {r->is_pull ? PC_OP_PULL : PC_OP_PUSH, keys, n, n, r->flags,
                 r->is_pull ? NULL : vals, 0};
  return send_small(kv, r, part, &m, err);
}

/* Messages per server (chunked) for keys[0..n); a pull's values land at
 * out[(base + i) * width]. With one server the keys go as they are,
 * unsplit. */
static int sparse_parts(pw_kv_t *kv, kv_req_t *r, const uint64_t *keys, size_t n,
                        const float *vals, uint64_t base, pc_err_t *err) {
  if (n > UINT32_MAX)
    return pc_err_set(err, PC_ERANGE, "%zu keys in one request", n);
  size_t w = r->width, chunk = KV_CHUNK_VALS / w;
  chunk = chunk < 1 ? 1 : chunk > KV_CHUNK_KEYS ? KV_CHUNK_KEYS : chunk;
  int rc = PC_OK;
  if (kv->nservers == 1) {
    for (size_t c = 0; c < n && rc == PC_OK; c += chunk)
      rc = keys_part(kv, r, 0, keys + c, vals ? vals + c * w : NULL,
                     n - c < chunk ? n - c : chunk, NULL, base + c, err);
    return rc;
  }
  rc = split(kv, keys, n, vals, w, err);
  for (uint32_t s = 0; s < kv->nservers && rc == PC_OK; s++) {
    kv_slice_t *sl = &kv->slices[s];
    for (size_t c = 0; c < sl->n && rc == PC_OK; c += chunk)
      rc = keys_part(kv, r, s, sl->keys + c, vals ? sl->vals + c * w : NULL,
                     sl->n - c < chunk ? sl->n - c : chunk, sl->from + c, base, err);
  }
  return rc;
}

/* The width of the table of keys[0..n), which must all belong to it. */
static int keys_width(const pw_kv_t *kv, const uint64_t *keys, size_t n, uint32_t *w,
                      pc_err_t *err) {
  if (n == 0)
    return pc_err_set(err, PC_EINVAL, "a request of no keys");
  uint32_t t = pc_table_of(keys[0]);
  *w = key_width(kv, keys[0]);
  if (*w == 0)
    return pc_err_set(err, PC_EINVAL, "key %llu: no table %u", (unsigned long long)keys[0], t);
  for (size_t i = 1; i < n; i++)
    if (pc_table_of(keys[i]) != t)
      return pc_err_set(err, PC_EINVAL, "one request mixes tables %u and %u", t,
                        pc_table_of(keys[i]));
  return PC_OK;
}

int pw_kv_pull(pw_kv_t *kv, const uint64_t *keys, size_t n, float *out, uint64_t *ticket,
               pc_err_t *err) {
  kv_req_t *r = NULL;
  uint32_t w = 0;
  *ticket = 0;
  int rc = keys_width(kv, keys, n, &w, err);
  if (rc == PC_OK)
    rc = req_begin(kv, 1, out, w, &r, err);
  if (rc == PC_OK)
    rc = sparse_parts(kv, r, keys, n, NULL, 0, err);
  *ticket = r ? r->ticket : 0;
  kv->st.pulls++;
  return rc;
}

static int push_keys(pw_kv_t *kv, const uint64_t *keys, size_t n, const float *vals,
                     uint32_t flags, pc_err_t *err) {
  kv_req_t *r = NULL;
  uint32_t w = 0;
  int rc = keys_width(kv, keys, n, &w, err);
  if (rc == PC_OK)
    rc = req_begin(kv, 0, NULL, w, &r, err);
  if (rc == PC_OK) {
    r->flags = flags;
    rc = sparse_parts(kv, r, keys, n, vals, 0, err);
  }
  kv->st.pushes++;
  return rc;
}

int pw_kv_push(pw_kv_t *kv, const uint64_t *keys, size_t n, const float *vals, pc_err_t *err) {
  return push_keys(kv, keys, n, vals, 0, err);
}

int pw_kv_assign(pw_kv_t *kv, const uint64_t *keys, size_t n, const float *vals,
                 pc_err_t *err) {
  return push_keys(kv, keys, n, vals, PC_WIRE_FLAG_ASSIGN, err);
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
    rc = sparse_parts(kv, r, keys, m, vals ? vals + (c - base) * r->width : NULL, c - base, err);
  }
  free(keys);
  return rc;
}

/* Cover [begin, end) with one message per dense piece, key lists for gaps. */
static int range_parts(pw_kv_t *kv, kv_req_t *r, uint64_t begin, uint64_t end,
                       const float *vals, int borrow, pc_err_t *err) {
  if (begin >= end || end - begin > UINT32_MAX)
    return pc_err_set(err, PC_ERANGE, "key block [%llu, %llu)", (unsigned long long)begin,
                      (unsigned long long)end);
  size_t w = r->width, chunk = KV_CHUNK_VALS / w ? KV_CHUNK_VALS / w : 1;
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
    if (stop - k > chunk)
      stop = k + chunk;
    size_t part = 0;
    if ((rc = req_part(r, d->server, k - begin, &part, err)) != PC_OK)
      break;
    r->parts[part].nfrom = (size_t)(stop - k);
    uint64_t kr[2] = {k, stop};
    kv_send_t m = {r->is_pull ? PC_OP_PULL : PC_OP_PUSH, kr, 2, stop - k,
                   PC_WIRE_FLAG_RANGE | r->flags, vals ? vals + (k - begin) * w : NULL, borrow};
    rc = send_part(kv, r, part, &m, err);
    k = stop;
  }
  return rc;
}

/* The width of the table holding the block [begin, end). */
static int range_width(const pw_kv_t *kv, uint64_t begin, uint64_t end, uint32_t *w,
                       pc_err_t *err) {
  if (begin >= end || pc_table_of(begin) != pc_table_of(end - 1))
    return pc_err_set(err, PC_ERANGE, "key block [%llu, %llu) is empty or spans tables",
                      (unsigned long long)begin, (unsigned long long)end);
  *w = key_width(kv, begin);
  if (*w == 0)
    return pc_err_set(err, PC_EINVAL, "key block [%llu, %llu): no table %u",
                      (unsigned long long)begin, (unsigned long long)end, pc_table_of(begin));
  return PC_OK;
}

int pw_kv_pull_range(pw_kv_t *kv, uint64_t begin, uint64_t end, float *out, uint64_t *ticket,
                     pc_err_t *err) {
  kv_req_t *r = NULL;
  uint32_t w = 0;
  *ticket = 0;
  int rc = range_width(kv, begin, end, &w, err);
  if (rc == PC_OK)
    rc = req_begin(kv, 1, out, w, &r, err);
  if (rc == PC_OK)
    rc = range_parts(kv, r, begin, end, NULL, 0, err);
  *ticket = r ? r->ticket : 0;
  kv->st.pulls++;
  return rc;
}

static int push_range(pw_kv_t *kv, uint64_t begin, uint64_t end, const float *vals, int borrow,
                      uint32_t flags, uint64_t *ticket, pc_err_t *err) {
  kv_req_t *r = NULL;
  uint32_t w = 0;
  int rc = range_width(kv, begin, end, &w, err);
  if (rc == PC_OK)
    rc = req_begin(kv, 0, NULL, w, &r, err);
  if (rc == PC_OK) {
    r->flags = flags;
    rc = range_parts(kv, r, begin, end, vals, borrow, err);
  }
  if (ticket)
    *ticket = r ? r->ticket : 0;
  kv->st.pushes++;
  return rc;
}

int pw_kv_push_range(pw_kv_t *kv, uint64_t begin, uint64_t end, const float *vals,
                     pc_err_t *err) {
  return push_range(kv, begin, end, vals, 0, 0, NULL, err);
}

int pw_kv_assign_range(pw_kv_t *kv, uint64_t begin, uint64_t end, const float *vals,
                       pc_err_t *err) {
  return push_range(kv, begin, end, vals, 0, PC_WIRE_FLAG_ASSIGN, NULL, err);
}

int pw_kv_push_range_nocopy(pw_kv_t *kv, uint64_t begin, uint64_t end, const float *vals,
                            uint64_t *ticket, pc_err_t *err) {
  return push_range(kv, begin, end, vals, 1, 0, ticket, err);
}

int pw_kv_dump(pw_kv_t *kv, uint32_t server, uint32_t table, uint64_t *cursor, size_t max,
               uint64_t *keys, float *vals, size_t *n, int *done, pc_err_t *err) {
  *n = 0;
  *done = 0;
  uint32_t w = table < kv->node.ntables ? kv->node.tables[table].width : 0;
  if (server >= kv->nservers || max == 0 || max > PC_WIRE_MAX_DUMP_KEYS || !keys || !vals ||
      w == 0 || (uint64_t)max * w > PC_WIRE_MAX_VALUES)
    return pc_err_set(err, PC_EINVAL, "pw_kv_dump: server %u of %u, table %u of %zu, page of %zu "
                      "keys (1 to %u, at most %llu values)", server, kv->nservers, table,
                      kv->node.ntables, max, PC_WIRE_MAX_DUMP_KEYS,
                      (unsigned long long)PC_WIRE_MAX_VALUES);
  if (kv->outstanding != 0 || kv->nqueued != 0)
    return pc_err_set(err, PC_EINVAL, "pw_kv_dump: %d messages still outstanding "
                      "(pw_kv_wait_all first)", kv->outstanding + (int)kv->nqueued);
  Parasol__Dump pb = PARASOL__DUMP__INIT;
  pb.cursor = *cursor;
  pb.max_keys = (uint32_t)max;
  pb.table = table;
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, PC_OP_DUMP, ++kv->next_dump, kv->node.sender);
  int rc = pc_wire_send_pb(kv->socks[server], NULL, &h, &pb, 0, err);
  if (rc != PC_OK)
    return rc;
  kv->dump = (kv_dump_t){h.request_id, server, w, keys, vals, max, 0, 0, 0};
  sent_one(kv, server);
  rc = wait_for(kv, KV_WAIT_DUMP, 0, err);
  if (rc != PC_OK && kv->dump.id != 0) { /* a late reply is dropped as unexpected */
    kv->dump.id = 0;
    kv->outstanding--;
    kv->sout[server]--;
  }
  if (rc != PC_OK)
    return rc;
  *cursor = kv->dump.cursor;
  *n = kv->dump.n;
  *done = kv->dump.done;
  return PC_OK;
}

static int connect_servers(pw_kv_t *kv, pc_err_t *err) {
  kv->nservers = kv->node.num_servers;
  kv->socks = calloc(kv->nservers, sizeof *kv->socks);
  kv->slices = calloc(kv->nservers, sizeof *kv->slices);
  kv->nreqs = (size_t)kv->cfg->training.inflight + 1;
  kv->reqs = calloc(kv->nreqs, sizeof *kv->reqs);
  kv->sout = calloc(kv->nservers, sizeof *kv->sout);
  kv->queues = calloc(kv->nservers, sizeof *kv->queues);
  kv->nbatches = kv->nreqs;
  kv->direct = kv->cfg->training.inflight / 4;
  kv->direct = kv->direct < 1 ? 1 : kv->direct > KV_DIRECT_MAX ? KV_DIRECT_MAX : kv->direct;
  kv->batches = calloc(kv->nbatches, sizeof *kv->batches);
  kv->enc = malloc(PC_WIRE_MAX_BATCH * sizeof *kv->enc);
  kv->body = malloc(KV_BODY_MAX);
  if (kv->socks == NULL || kv->slices == NULL || kv->reqs == NULL || kv->sout == NULL ||
      kv->queues == NULL || kv->batches == NULL || kv->enc == NULL || kv->body == NULL)
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

int pw_kv_open(pw_kv_t **out, const pc_config_t *cfg, int rank_req, const pc_table_t *tables,
               size_t ntables, pc_err_t *err) {
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
    rc = pc_node_join(&kv->node, kv->zctx, cfg, PC_ROLE_WORKER, rank_req, NULL, tables, ntables,
                      err);
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
  /* The sockets and the context go first: ZeroMQ may still hold pool
   * buffers and borrowed values, whose release touches kv->reqs. */
  for (uint32_t s = 0; kv->socks && s < kv->nservers; s++)
    if (kv->socks[s])
      zmq_close(kv->socks[s]);
  pc_node_close(&kv->node);
  if (kv->zctx)
    zmq_ctx_term(kv->zctx);
  pc_bufpool_destroy(&kv->pool);
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
  for (uint32_t s = 0; kv->queues && s < kv->nservers; s++) {
    free(kv->queues[s].keys);
    free(kv->queues[s].vals);
    free(kv->queues[s].ents.e);
  }
  for (size_t i = 0; kv->batches && i < kv->nbatches; i++)
    free(kv->batches[i].ents.e);
  free(kv->queues);
  free(kv->batches);
  free(kv->sout);
  free(kv->enc);
  free(kv->body);
  free(kv->socks);
  free(kv->slices);
  free(kv->reqs);
  free(kv);
  *kvp = NULL;
}
