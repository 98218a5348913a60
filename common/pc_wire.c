#include "pc_wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parasol.pb-c.h"
#include "pc_log.h"

/* What each op must carry; anything else is a protocol error. */
enum { NEED_KEYS = 1, NEED_VALS = 2, NO_KEYS = 4, NO_VALS = 8 };
static const unsigned op_rules[PC_OP_MAX_ + 1] = {
    [PC_OP_REGISTER] = NO_KEYS | NO_VALS,    [PC_OP_WELCOME] = NO_KEYS | NO_VALS,
    [PC_OP_PULL] = NEED_KEYS | NO_VALS,      [PC_OP_PULL_REPLY] = NEED_VALS,
    [PC_OP_PUSH] = NEED_KEYS | NEED_VALS,    [PC_OP_PUSH_REPLY] = NO_KEYS | NO_VALS,
    [PC_OP_BARRIER] = NO_KEYS | NO_VALS,     [PC_OP_BARRIER_DONE] = NO_KEYS | NO_VALS,
    [PC_OP_HEARTBEAT] = NO_KEYS | NO_VALS,   [PC_OP_PROGRESS] = NO_KEYS | NO_VALS,
    [PC_OP_STATS] = NO_KEYS | NO_VALS,       [PC_OP_STATS_REPLY] = NO_KEYS | NO_VALS,
    [PC_OP_EVALUATE] = NO_KEYS | NO_VALS,    [PC_OP_EVAL_RESULT] = NO_KEYS | NO_VALS,
    [PC_OP_SHUTDOWN] = NO_KEYS | NO_VALS,
    /* A batch's values are its pushes' (possibly none): checked against
     * the body by check_batch. */
    [PC_OP_BATCH] = NEED_KEYS,               [PC_OP_BATCH_REPLY] = NO_KEYS,
    /* A page may be empty: checked against the header by check_dump. */
    [PC_OP_DUMP] = NO_KEYS | NO_VALS,        [PC_OP_DUMP_REPLY] = 0,
};

static const char *op_names[PC_OP_MAX_ + 1] = {
    [PC_OP_REGISTER] = "register",     [PC_OP_WELCOME] = "welcome",
    [PC_OP_PULL] = "pull",             [PC_OP_PULL_REPLY] = "pull-reply",
    [PC_OP_PUSH] = "push",             [PC_OP_PUSH_REPLY] = "push-reply",
    [PC_OP_BARRIER] = "barrier",       [PC_OP_BARRIER_DONE] = "barrier-done",
    [PC_OP_HEARTBEAT] = "heartbeat",   [PC_OP_PROGRESS] = "progress",
    [PC_OP_STATS] = "stats",           [PC_OP_STATS_REPLY] = "stats-reply",
    [PC_OP_EVALUATE] = "evaluate",     [PC_OP_EVAL_RESULT] = "eval-result",
    [PC_OP_SHUTDOWN] = "shutdown",     [PC_OP_BATCH] = "batch",
    [PC_OP_BATCH_REPLY] = "batch-reply", [PC_OP_DUMP] = "dump",
    [PC_OP_DUMP_REPLY] = "dump-reply",
};

const char *pc_wire_op_name(uint32_t op) {
  if (op == 0 || op > PC_OP_MAX_)
    return "unknown-op";
  return op_names[op];
}

const char *pc_wire_role_name(pc_role_t role) {
  switch (role) {
  case PC_ROLE_SCHEDULER:
    return "scheduler";
  case PC_ROLE_SERVER:
    return "server";
  case PC_ROLE_WORKER:
    return "worker";
  case PC_ROLE_CLIENT:
    return "client";
  }
  return "unknown-role";
}

const char *pc_wire_drop_name(pc_drop_t reason) {
  static const char *names[PC_DROP_NREASONS] = {
      "wrong frame count", "bad header", "wrong version", "unexpected op",
      "frame sizes disagree with header", "over limits", "bad body"};
  return reason < PC_DROP_NREASONS ? names[reason] : "unknown";
}

void pc_wire_hdr_init(pc_wire_hdr_t *h, pc_op_t op, uint64_t request_id, uint32_t sender) {
  memset(h, 0, sizeof *h);
  h->version = PC_WIRE_VERSION;
  h->op = op;
  h->request_id = request_id;
  h->sender = sender;
}

static int zmq_fail(pc_err_t *err, const char *what) {
  int e = zmq_errno();
  if (e == EHOSTUNREACH)
    return pc_err_set(err, PC_EPEER, "%s: peer is not connected", what);
  return pc_err_set(err, PC_ESYS, "%s: %s", what, zmq_strerror(e));
}

static int send_frame(void *sock, const void *data, size_t len, int flags, pc_err_t *err) {
  if (zmq_send(sock, len ? data : "", len, flags) < 0)
    return zmq_fail(err, "zmq_send");
  return PC_OK;
}

/* Hand a pool buffer to ZeroMQ; on failure it goes back to the pool. */
static int send_pooled(void *sock, void *buf, size_t len, int flags, pc_err_t *err) {
  zmq_msg_t m;
  if (zmq_msg_init_data(&m, buf, len, pc_bufpool_zmq_free, NULL) != 0) {
    pc_bufpool_put(buf);
    return zmq_fail(err, "zmq_msg_init_data");
  }
  if (zmq_msg_send(&m, sock, flags) < 0) {
    zmq_msg_close(&m); /* runs the free callback */
    return zmq_fail(err, "zmq_msg_send");
  }
  return PC_OK;
}

static size_t keys_in_frame(const pc_wire_hdr_t *h) {
  return (h->flags & PC_WIRE_FLAG_RANGE) ? 2 : (size_t)h->key_count;
}

static size_t pack_header(const pc_wire_hdr_t *h, uint8_t *buf) {
  Parasol__Header ph = PARASOL__HEADER__INIT;
  ph.version = h->version;
  ph.op = h->op;
  ph.request_id = h->request_id;
  ph.sender = h->sender;
  ph.key_count = h->key_count;
  ph.clock = h->clock;
  ph.status = h->status;
  ph.vals_per_key = h->vals_per_key;
  ph.flags = h->flags;
  return parasol__header__pack(&ph, buf);
}

/* The identity frame (ROUTER replies) and the packed header; `more` is the
 * header's flags (without ZMQ_SNDMORE when nothing follows it). */
static int send_prologue(void *sock, zmq_msg_t *identity, const pc_wire_hdr_t *h, int more,
                         pc_err_t *err) {
  uint8_t hbuf[PC_WIRE_MAX_HEADER];
  size_t hlen = pack_header(h, hbuf);
  if (identity != NULL) {
    zmq_msg_t id;
    zmq_msg_init(&id);
    zmq_msg_copy(&id, identity);
    if (zmq_msg_send(&id, sock, more | ZMQ_SNDMORE) < 0) { /* the header always follows */
      zmq_msg_close(&id);
      return zmq_fail(err, "zmq_msg_send(identity)");
    }
  }
  return send_frame(sock, hbuf, hlen, more, err);
}

/* Frames after the last non-empty one are not sent: a push reply is a
 * header alone. 0: header only, 1: keys, 2: values, 3: body. */
static int last_frame(size_t klen, size_t vlen, size_t blen) {
  return blen ? 3 : vlen ? 2 : klen ? 1 : 0;
}

int pc_wire_send(void *sock, zmq_msg_t *identity, const pc_wire_hdr_t *h, const uint64_t *keys,
                 const float *vals, size_t nvals, const void *body, size_t blen, int flags,
                 pc_err_t *err) {
  size_t klen = keys ? keys_in_frame(h) * sizeof *keys : 0, vlen = vals ? nvals * sizeof *vals : 0;
  int last = last_frame(klen, vlen, body ? blen : 0), more = flags | ZMQ_SNDMORE;
  int rc = send_prologue(sock, identity, h, last > 0 ? more : flags, err);
  if (rc == PC_OK && last >= 1)
    rc = send_frame(sock, keys, klen, last > 1 ? more : flags, err);
  if (rc == PC_OK && last >= 2)
    rc = send_frame(sock, vals, vlen, last > 2 ? more : flags, err);
  if (rc == PC_OK && last >= 3)
    rc = send_frame(sock, body, blen, flags, err);
  return rc;
}

/* One frame: small ones copied by ZeroMQ, large ones copied once into a
 * pool buffer that ZeroMQ frees back to the pool when sent. */
static int send_bulk_frame(void *sock, const void *data, size_t len, pc_bufpool_t *pool,
                           int flags, pc_err_t *err) {
  if (len < PC_WIRE_ZC_MIN || pool == NULL)
    return send_frame(sock, data, len, flags, err);
  void *buf = pc_bufpool_get(pool, len);
  if (buf == NULL)
    return pc_err_set(err, PC_ENOMEM, "send buffer of %zu bytes", len);
  memcpy(buf, data, len);
  return send_pooled(sock, buf, len, flags, err);
}

/* A borrowed values frame (see pc_wire_payload_t). */
static int send_borrowed(void *sock, const pc_wire_payload_t *p, size_t len, int flags,
                         pc_err_t *err) {
  if (len < PC_WIRE_ZC_MIN) {
    int rc = send_frame(sock, p->vals, len, flags, err);
    p->vals_free(p->vals, p->vals_hint);
    return rc;
  }
  zmq_msg_t m;
  if (zmq_msg_init_data(&m, p->vals, len, p->vals_free, p->vals_hint) != 0) {
    p->vals_free(p->vals, p->vals_hint);
    return zmq_fail(err, "zmq_msg_init_data");
  }
  if (zmq_msg_send(&m, sock, flags) < 0) {
    zmq_msg_close(&m); /* runs vals_free */
    return zmq_fail(err, "zmq_msg_send");
  }
  return PC_OK;
}

int pc_wire_send_bulk(void *sock, zmq_msg_t *identity, const pc_wire_hdr_t *h,
                      const pc_wire_payload_t *p, pc_bufpool_t *pool, int flags,
                      pc_err_t *err) {
  float *vals = p->vals;
  size_t klen = p->keys ? p->nkeys * sizeof *p->keys : 0;
  size_t vlen = vals ? p->nvals * sizeof *vals : 0, blen = p->body ? p->blen : 0;
  int last = last_frame(klen, vlen, blen), more = flags | ZMQ_SNDMORE;
  int vflags = last > 2 ? more : flags;
  int rc = send_prologue(sock, identity, h, last > 0 ? more : flags, err);
  if (rc == PC_OK && last >= 1)
    rc = send_bulk_frame(sock, p->keys, klen, pool, last > 1 ? more : flags, err);
  if (rc == PC_OK && last >= 2 && (p->vals_pooled || p->vals_free)) {
    rc = p->vals_pooled ? send_pooled(sock, vals, vlen, vflags, err)
                        : send_borrowed(sock, p, vlen, vflags, err);
    vals = NULL; /* taken over either way */
  } else if (rc == PC_OK && last >= 2) {
    rc = send_bulk_frame(sock, vals, vlen, pool, vflags, err);
  }
  if (vals != NULL && p->vals_pooled)
    pc_bufpool_put(vals);
  else if (vals != NULL && p->vals_free)
    p->vals_free(vals, p->vals_hint);
  if (rc == PC_OK && last >= 3)
    rc = send_frame(sock, p->body, blen, flags, err);
  return rc;
}

int pc_wire_send_pb(void *sock, zmq_msg_t *identity, const pc_wire_hdr_t *h,
                    const void *pb_msg, int flags, pc_err_t *err) {
  const ProtobufCMessage *pm = pb_msg;
  size_t len = protobuf_c_message_get_packed_size(pm);
  if (len > PC_WIRE_MAX_BODY)
    return pc_err_set(err, PC_ERANGE, "%s body of %zu bytes exceeds %u", pc_wire_op_name(h->op),
                      len, PC_WIRE_MAX_BODY);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL)
    return pc_err_set(err, PC_ENOMEM, "packing %s body", pc_wire_op_name(h->op));
  protobuf_c_message_pack(pm, buf);
  int rc = pc_wire_send(sock, identity, h, NULL, NULL, 0, buf, len, flags, err);
  free(buf);
  return rc;
}

static int drop(pc_drop_t *out, pc_drop_t reason, pc_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int drop(pc_drop_t *out, pc_drop_t reason, pc_err_t *err, const char *fmt, ...) {
  *out = reason;
  char detail[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return pc_err_set(err, PC_EPROTO, "%s: %s", pc_wire_drop_name(reason), detail);
}

/* Receive every frame of one message into m. Extra frames beyond what fits
 * are read and discarded so the socket stays at a message boundary. */
static int recv_frames(void *sock, int router, pc_msg_t *m, int flags, int *nparts,
                       pc_err_t *err) {
  zmq_msg_t *slots[5];
  int nslots = 0;
  if (router)
    slots[nslots++] = &m->identity;
  for (int i = 0; i < 4; i++)
    slots[nslots++] = &m->frames[i];
  int n = 0, more = 1;
  while (more) {
    zmq_msg_t scratch, *dst = n < nslots ? slots[n] : &scratch;
    zmq_msg_init(dst);
    if (zmq_msg_recv(dst, sock, n == 0 ? flags : 0) < 0) {
      int e = zmq_errno();
      zmq_msg_close(dst);
      *nparts = n;
      if (n == 0 && e == EAGAIN)
        return PC_ENOTFOUND;
      return zmq_fail(err, "zmq_msg_recv");
    }
    more = zmq_msg_more(dst);
    if (dst == &scratch)
      zmq_msg_close(&scratch);
    n++;
  }
  *nparts = n;
  return PC_OK;
}

static void close_parts(pc_msg_t *m, int router, int nparts) {
  int i = 0;
  if (router && nparts > 0) {
    zmq_msg_close(&m->identity);
    i = 1;
  }
  for (int f = 0; i < nparts && f < 4; i++, f++)
    zmq_msg_close(&m->frames[f]);
}

static int unpack_header(pc_msg_t *m, pc_drop_t *d, pc_err_t *err) {
  size_t len = zmq_msg_size(&m->frames[0]);
  if (len > PC_WIRE_MAX_HEADER)
    return drop(d, PC_DROP_HEADER, err, "header of %zu bytes (limit %d)", len,
                PC_WIRE_MAX_HEADER);
  Parasol__Header *ph = parasol__header__unpack(NULL, len, zmq_msg_data(&m->frames[0]));
  if (ph == NULL)
    return drop(d, PC_DROP_HEADER, err, "%zu bytes are not a Header", len);
  pc_wire_hdr_t *h = &m->hdr;
  h->version = ph->version;
  h->op = ph->op;
  h->request_id = ph->request_id;
  h->sender = ph->sender;
  h->key_count = ph->key_count;
  h->clock = ph->clock;
  h->status = ph->status;
  h->vals_per_key = ph->vals_per_key;
  h->flags = ph->flags;
  parasol__header__free_unpacked(ph, NULL);
  if (h->version != PC_WIRE_VERSION)
    return drop(d, PC_DROP_VERSION, err, "version %u, expected %d", h->version,
                PC_WIRE_VERSION);
  if (h->op == 0 || h->op > PC_OP_MAX_)
    return drop(d, PC_DROP_OP, err, "op %u", h->op);
  if (h->flags & ~PC_WIRE_FLAGS_KNOWN)
    return drop(d, PC_DROP_HEADER, err, "unknown flags 0x%x", h->flags);
  if ((h->flags & PC_WIRE_FLAG_ASSIGN) && h->op != PC_OP_PUSH)
    return drop(d, PC_DROP_HEADER, err, "the assign flag on a %s (only a push may assign)",
                pc_wire_op_name(h->op));
  return PC_OK;
}

/* Frame sizes must match the header exactly; counts within limits. */
static int check_sizes(pc_msg_t *m, pc_drop_t *d, pc_err_t *err) {
  const pc_wire_hdr_t *h = &m->hdr;
  if (h->key_count > PC_WIRE_MAX_KEYS || h->vals_per_key > PC_WIRE_MAX_VALS_PER_KEY)
    return drop(d, PC_DROP_LIMIT, err, "key_count %llu, vals_per_key %u",
                (unsigned long long)h->key_count, h->vals_per_key);
  uint64_t nvals = h->key_count * h->vals_per_key; /* both bounded: no overflow */
  if (nvals > PC_WIRE_MAX_VALUES)
    return drop(d, PC_DROP_LIMIT, err, "%llu values (limit %llu)",
                (unsigned long long)nvals, PC_WIRE_MAX_VALUES);
  size_t klen = zmq_msg_size(&m->frames[1]), vlen = zmq_msg_size(&m->frames[2]);
  size_t blen = zmq_msg_size(&m->frames[3]);
  uint64_t kwant = h->key_count * 8;
  if (h->flags & PC_WIRE_FLAG_RANGE) {
    if (klen != 16)
      return drop(d, PC_DROP_SIZES, err, "range message with a keys frame of %zu bytes", klen);
    uint64_t r[2];
    memcpy(r, zmq_msg_data(&m->frames[1]), sizeof r);
    if (r[0] >= r[1] || r[1] - r[0] != h->key_count)
      return drop(d, PC_DROP_SIZES, err, "range [%llu, %llu) for key_count %llu",
                  (unsigned long long)r[0], (unsigned long long)r[1],
                  (unsigned long long)h->key_count);
    m->range_begin = r[0];
    m->range_end = r[1];
    kwant = 16;
  }
  unsigned rules = op_rules[h->op];
  if (h->status != 0) /* an error reply carries no payload */
    rules &= ~(unsigned)(NEED_KEYS | NEED_VALS);
  if (klen != 0 && klen != kwant)
    return drop(d, PC_DROP_SIZES, err, "keys frame of %zu bytes for %llu keys", klen,
                (unsigned long long)h->key_count);
  int batch = h->op == PC_OP_BATCH;
  if (batch && (h->flags & PC_WIRE_FLAG_RANGE))
    return drop(d, PC_DROP_HEADER, err, "a batch cannot be a range message");
  if (batch && (vlen % 4 != 0 || vlen > nvals * 4))
    return drop(d, PC_DROP_SIZES, err, "values frame of %zu bytes in a batch of %llu keys",
                vlen, (unsigned long long)h->key_count);
  if (!batch && vlen != 0 && vlen != nvals * 4)
    return drop(d, PC_DROP_SIZES, err, "values frame of %zu bytes for %llu values", vlen,
                (unsigned long long)nvals);
  if (((rules & NEED_KEYS) && (klen == 0 || h->key_count == 0)) || ((rules & NO_KEYS) && klen))
    return drop(d, PC_DROP_SIZES, err, "keys frame of %zu bytes not allowed for %s", klen,
                pc_wire_op_name(h->op));
  if (((rules & NEED_VALS) && (vlen == 0 || nvals == 0)) || ((rules & NO_VALS) && vlen))
    return drop(d, PC_DROP_SIZES, err, "values frame of %zu bytes not allowed for %s", vlen,
                pc_wire_op_name(h->op));
  if (blen > PC_WIRE_MAX_BODY)
    return drop(d, PC_DROP_LIMIT, err, "body of %zu bytes (limit %u)", blen, PC_WIRE_MAX_BODY);
  m->nkeys = klen / 8;
  m->nvals = vlen / 4;
  m->body_len = blen;
  return PC_OK;
}

/* BATCH / BATCH_REPLY bodies: unpacked here so that a batch whose
 * entries do not cover its frames exactly never reaches a receiver. */
static int check_batch(pc_msg_t *m, pc_drop_t *d, pc_err_t *err) {
  const uint8_t *b = zmq_msg_data(&m->frames[3]);
  if (m->hdr.op == PC_OP_BATCH_REPLY) {
    Parasol__BatchReply *r = parasol__batch_reply__unpack(NULL, m->body_len, b);
    if (r == NULL)
      return drop(d, PC_DROP_BODY, err, "%zu bytes are not a BatchReply", m->body_len);
    m->pb = r;
    m->batch_status = r->status;
    m->nbatch_status = r->n_status;
    if (r->n_status == 0 || r->n_status > PC_WIRE_MAX_BATCH)
      return drop(d, PC_DROP_BODY, err, "batch reply with %zu statuses", r->n_status);
    return PC_OK;
  }
  Parasol__Batch *q = parasol__batch__unpack(NULL, m->body_len, b);
  if (q == NULL)
    return drop(d, PC_DROP_BODY, err, "%zu bytes are not a Batch", m->body_len);
  m->pb = q;
  m->batch = q->entries;
  m->nbatch = q->n_entries;
  if (q->n_entries == 0 || q->n_entries > PC_WIRE_MAX_BATCH)
    return drop(d, PC_DROP_BODY, err, "batch of %zu entries (1 to %d)", q->n_entries,
                PC_WIRE_MAX_BATCH);
  uint64_t keys = 0, pushed = 0;
  for (size_t i = 0; i < q->n_entries; i++) {
    uint64_t n = q->entries[i] >> 1;
    if (n == 0 || n > m->hdr.key_count - keys)
      return drop(d, PC_DROP_BODY, err, "batch entry %zu of %llu keys overruns %llu keys", i,
                  (unsigned long long)n, (unsigned long long)m->hdr.key_count);
    keys += n;
    pushed += (q->entries[i] & 1) ? n : 0;
  }
  /* Every entry of a batch has the header's vals_per_key (one table width). */
  if (keys != m->hdr.key_count || pushed * m->hdr.vals_per_key != m->nvals)
    return drop(d, PC_DROP_BODY, err, "batch entries cover %llu keys and %llu values, the "
                "frames %llu and %zu", (unsigned long long)keys, (unsigned long long)pushed,
                (unsigned long long)m->hdr.key_count, m->nvals);
  return PC_OK;
}

/* DUMP / DUMP_REPLY bodies: a page is bounded, and a reply's frames hold
 * exactly its key_count keys and as many weights, so a receiver copies
 * them without further checks. */
static int check_dump(pc_msg_t *m, pc_drop_t *d, pc_err_t *err) {
  const uint8_t *b = zmq_msg_data(&m->frames[3]);
  const pc_wire_hdr_t *h = &m->hdr;
  if (h->flags & PC_WIRE_FLAG_RANGE)
    return drop(d, PC_DROP_HEADER, err, "a %s cannot be a range message", pc_wire_op_name(h->op));
  if (h->op == PC_OP_DUMP) {
    Parasol__Dump *q = parasol__dump__unpack(NULL, m->body_len, b);
    if (q == NULL)
      return drop(d, PC_DROP_BODY, err, "%zu bytes are not a Dump", m->body_len);
    m->dump_cursor = q->cursor;
    m->dump_max_keys = q->max_keys;
    m->dump_table = q->table;
    parasol__dump__free_unpacked(q, NULL);
    if (m->dump_table >= PC_TABLE_MAX)
      return drop(d, PC_DROP_BODY, err, "dump of table %u (0 to %d)", m->dump_table,
                  PC_TABLE_MAX - 1);
    if (m->dump_max_keys == 0 || m->dump_max_keys > PC_WIRE_MAX_DUMP_KEYS)
      return drop(d, PC_DROP_BODY, err, "dump of %u keys (1 to %u)", m->dump_max_keys,
                  PC_WIRE_MAX_DUMP_KEYS);
    return PC_OK;
  }
  if (h->key_count > PC_WIRE_MAX_DUMP_KEYS)
    return drop(d, PC_DROP_LIMIT, err, "dump page of %llu keys (limit %u)",
                (unsigned long long)h->key_count, PC_WIRE_MAX_DUMP_KEYS);
  if (m->nkeys != h->key_count || m->nvals != h->key_count * h->vals_per_key ||
      (h->key_count && h->vals_per_key == 0))
    return drop(d, PC_DROP_SIZES, err, "dump page of %llu keys with %zu keys, %zu values",
                (unsigned long long)h->key_count, m->nkeys, m->nvals);
  Parasol__DumpReply *r = parasol__dump_reply__unpack(NULL, m->body_len, b);
  if (r == NULL)
    return drop(d, PC_DROP_BODY, err, "%zu bytes are not a DumpReply", m->body_len);
  m->dump_cursor = r->next_cursor;
  m->dump_done = r->done;
  parasol__dump_reply__free_unpacked(r, NULL);
  if (h->key_count == 0 && !m->dump_done)
    return drop(d, PC_DROP_BODY, err, "an empty dump page that is not the last");
  return PC_OK;
}

static void free_body(pc_msg_t *m) {
  if (m->pb == NULL)
    return;
  if (m->hdr.op == PC_OP_BATCH_REPLY)
    parasol__batch_reply__free_unpacked(m->pb, NULL);
  else
    parasol__batch__free_unpacked(m->pb, NULL);
  m->pb = NULL;
}

/* ZeroMQ may hand out frames at any offset inside its receive buffer;
 * typed access needs alignment, so copy in the rare misaligned case. */
static int align_payload(pc_msg_t *m, pc_err_t *err) {
  void *k = zmq_msg_data(&m->frames[1]), *v = zmq_msg_data(&m->frames[2]);
  size_t klen = m->nkeys * 8, vlen = m->nvals * 4;
  int kbad = klen && ((uintptr_t)k % 8), vbad = vlen && ((uintptr_t)v % 4);
  m->keys = klen ? k : NULL;
  m->vals = vlen ? v : NULL;
  m->body = m->body_len ? zmq_msg_data(&m->frames[3]) : NULL;
  if (!kbad && !vbad)
    return PC_OK;
  m->copy = malloc(klen + vlen);
  if (m->copy == NULL)
    return pc_err_set(err, PC_ENOMEM, "aligning a %zu-byte payload", klen + vlen);
  memcpy(m->copy, k, klen);
  memcpy((char *)m->copy + klen, v, vlen);
  m->keys = klen ? m->copy : NULL;
  m->vals = vlen ? (const float *)((char *)m->copy + klen) : NULL;
  return PC_OK;
}

int pc_wire_recv(void *sock, int router, pc_msg_t *m, int flags, pc_drop_t *d,
                 pc_err_t *err) {
  memset(m, 0, sizeof *m);
  int nparts = 0;
  int rc = recv_frames(sock, router, m, flags, &nparts, err);
  int base = router ? 1 : 0;
  if (rc == PC_OK && (nparts < 1 + base || nparts > 4 + base))
    rc = drop(d, PC_DROP_FRAMES, err, "%d frames, expected %d to %d", nparts, 1 + base,
              4 + base);
  /* Omitted trailing frames are empty ones. */
  for (int f = nparts - base; rc == PC_OK && f < 4; f++)
    zmq_msg_init(&m->frames[f]);
  if (rc == PC_OK)
    nparts = 4 + base;
  if (rc == PC_OK)
    rc = unpack_header(m, d, err);
  if (rc == PC_OK)
    rc = check_sizes(m, d, err);
  if (rc == PC_OK && (m->hdr.op == PC_OP_BATCH ||
                      (m->hdr.op == PC_OP_BATCH_REPLY && m->hdr.status == 0)))
    rc = check_batch(m, d, err);
  if (rc == PC_OK && (m->hdr.op == PC_OP_DUMP ||
                      (m->hdr.op == PC_OP_DUMP_REPLY && m->hdr.status == 0)))
    rc = check_dump(m, d, err);
  if (rc == PC_OK)
    rc = align_payload(m, err);
  if (rc != PC_OK) {
    free_body(m);
    close_parts(m, router, nparts);
    memset(m, 0, sizeof *m);
    return rc;
  }
  m->has_identity = router;
  m->nframes = 4;
  return PC_OK;
}

void pc_msg_close(pc_msg_t *m) {
  if (m->nframes == 0)
    return;
  free_body(m);
  close_parts(m, m->has_identity, 4 + m->has_identity);
  free(m->copy);
  memset(m, 0, sizeof *m);
}

void pc_wire_drop_note(pc_wire_drops_t *d, pc_drop_t reason, const char *who,
                       const pc_err_t *err) {
  if (reason >= PC_DROP_NREASONS)
    return;
  uint64_t c = ++d->count[reason];
  d->total++;
  /* Log the first of each kind, then at 10, 100, ... so a flood stays quiet. */
  int log = c == 1;
  for (uint64_t p = 10; p <= c && !log; p *= 10)
    log = c == p;
  if (log)
    PC_WARN("%s: dropped message #%llu of this kind (%s)", who, (unsigned long long)c,
            err ? err->msg : pc_wire_drop_name(reason));
}

int pc_wire_socket_setup(void *sock, int router, int hwm, pc_err_t *err) {
  int zero = 0, one = 1;
  if (zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
      zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
      zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0)
    return zmq_fail(err, "zmq_setsockopt");
  if (router && zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0)
    return zmq_fail(err, "zmq_setsockopt(ROUTER_MANDATORY)");
  return PC_OK;
}

int pc_wire_shardmap_to_pb(const pc_shardmap_t *m, char (*eps)[PC_WIRE_MAX_ENDPOINT],
                           Parasol__ShardMap *pb, pc_err_t *err) {
  parasol__shard_map__init(pb);
  pb->version = m->version;
  pb->num_servers = m->num_servers;
  pb->vnodes = m->vnodes;
  pb->ranges = calloc(m->nranges ? m->nranges : 1, sizeof *pb->ranges);
  Parasol__DenseRange *r = calloc(m->nranges ? m->nranges : 1, sizeof *r);
  pb->endpoints = calloc(m->num_servers, sizeof *pb->endpoints);
  if (pb->ranges == NULL || r == NULL || pb->endpoints == NULL) {
    free(r);
    pc_wire_shardmap_pb_free(pb);
    return pc_err_set(err, PC_ENOMEM, "encoding the shard map");
  }
  pb->ranges[0] = &r[0]; /* owns the array, also when there are no ranges */
  for (size_t i = 0; i < m->nranges; i++) {
    parasol__dense_range__init(&r[i]);
    r[i].begin = m->ranges[i].begin;
    r[i].end = m->ranges[i].end;
    r[i].server = m->ranges[i].server;
    pb->ranges[i] = &r[i];
  }
  pb->n_ranges = m->nranges;
  for (uint32_t s = 0; s < m->num_servers; s++)
    pb->endpoints[s] = eps[s];
  pb->n_endpoints = m->num_servers;
  return PC_OK;
}

/* Frees only what pc_wire_shardmap_to_pb allocated (endpoints are borrowed). */
void pc_wire_shardmap_pb_free(Parasol__ShardMap *pb) {
  if (pb->ranges != NULL)
    free(pb->ranges[0]);
  free(pb->ranges);
  free(pb->endpoints);
  pb->ranges = NULL;
  pb->endpoints = NULL;
  pb->n_ranges = pb->n_endpoints = 0;
}

int pc_wire_shardmap_from_pb(const Parasol__ShardMap *pb, pc_shardmap_t *m,
                             char (**eps)[PC_WIRE_MAX_ENDPOINT], pc_err_t *err) {
  if (pb->num_servers == 0 || pb->num_servers > PC_PARTITION_MAX_SERVERS ||
      pb->n_endpoints != pb->num_servers || pb->n_ranges > PC_PARTITION_MAX_RANGES)
    return pc_err_set(err, PC_EPROTO, "shard map: %u servers, %zu endpoints, %zu ranges",
                      pb->num_servers, pb->n_endpoints, pb->n_ranges);
  pc_range_t *r = calloc(pb->n_ranges ? pb->n_ranges : 1, sizeof *r);
  *eps = calloc(pb->num_servers, sizeof **eps);
  if (r == NULL || *eps == NULL) {
    free(r);
    free(*eps);
    *eps = NULL;
    return pc_err_set(err, PC_ENOMEM, "decoding the shard map");
  }
  for (size_t i = 0; i < pb->n_ranges; i++)
    r[i] = (pc_range_t){pb->ranges[i]->begin, pb->ranges[i]->end, pb->ranges[i]->server};
  int rc = PC_OK;
  for (uint32_t s = 0; s < pb->num_servers && rc == PC_OK; s++) {
    if (strlen(pb->endpoints[s]) >= PC_WIRE_MAX_ENDPOINT)
      rc = pc_err_set(err, PC_EPROTO, "shard map: endpoint of server %u too long", s);
    else
      strcpy((*eps)[s], pb->endpoints[s]);
  }
  if (rc == PC_OK)
    rc = pc_shardmap_build(m, pb->version, pb->num_servers, pb->vnodes, r, pb->n_ranges, err);
  free(r);
  if (rc != PC_OK) {
    free(*eps);
    *eps = NULL;
  }
  return rc;
}

int pc_wire_tables_to_pb(const pc_table_t *t, size_t n, Parasol__Table *pbs,
                         Parasol__Table **ptrs) {
  for (size_t i = 0; i < n; i++) {
    parasol__table__init(&pbs[i]);
    pbs[i].name = (char *)t[i].name;
    pbs[i].kind = (uint32_t)t[i].kind;
    pbs[i].size = t[i].size;
    pbs[i].width = t[i].width;
    pbs[i].init = (uint32_t)t[i].init;
    pbs[i].scale = t[i].scale;
    pbs[i].optimize = t[i].optimize != 0;
    ptrs[i] = &pbs[i];
  }
  return PC_OK;
}

int pc_wire_tables_from_pb(Parasol__Table *const *pb, size_t n, pc_table_t *out,
                           pc_err_t *err) {
  if (n == 0 || n > PC_TABLE_MAX)
    return pc_err_set(err, PC_EPROTO, "%zu tables (1 to %d)", n, PC_TABLE_MAX);
  for (size_t i = 0; i < n; i++) {
    const Parasol__Table *p = pb[i];
    pc_table_t *t = &out[i];
    memset(t, 0, sizeof *t);
    if (p->name == NULL || strlen(p->name) >= PC_TABLE_NAME_MAX)
      return pc_err_set(err, PC_EPROTO, "table %zu: name missing or too long", i);
    memcpy(t->name, p->name, strlen(p->name) + 1);
    t->id = (uint32_t)i;
    t->kind = p->kind == 1 ? PC_TABLE_DENSE : p->kind == 0 ? PC_TABLE_SPARSE : (pc_table_kind_t)-1;
    t->size = p->size;
    t->width = p->width;
    t->init = p->init <= 2 ? (pc_init_t)p->init : (pc_init_t)-1;
    t->scale = p->scale;
    t->optimize = p->optimize;
  }
  pc_err_t e = {0};
  if (pc_table_check(out, n, &e) != PC_OK)
    return pc_err_set(err, PC_EPROTO, "tables: %s", e.msg);
  return PC_OK;
}
