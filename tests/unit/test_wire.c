/* Wire codec: round trips over a real ZeroMQ socket pair, and every kind
 * of bad input (truncated, garbage, wrong version, sizes that disagree with
 * the header, over limits) dropped with the right reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parasol.pb-c.h"
#include "pc_wire.h"

typedef struct pair {
  void *ctx, *router, *dealer;
} pair_t;

static int setup(void **state) {
  static pair_t p;
  p.ctx = zmq_ctx_new();
  p.router = zmq_socket(p.ctx, ZMQ_ROUTER);
  p.dealer = zmq_socket(p.ctx, ZMQ_DEALER);
  assert_int_equal(pc_wire_socket_setup(p.router, 1, 1000, NULL), PC_OK);
  assert_int_equal(pc_wire_socket_setup(p.dealer, 0, 1000, NULL), PC_OK);
  assert_int_equal(zmq_bind(p.router, "inproc://wire-test"), 0);
  assert_int_equal(zmq_connect(p.dealer, "inproc://wire-test"), 0);
  *state = &p;
  return 0;
}

static int teardown(void **state) {
  pair_t *p = *state;
  zmq_close(p->router);
  zmq_close(p->dealer);
  zmq_ctx_term(p->ctx);
  return 0;
}

/* Receive on the router with a bounded wait. */
static int recv_router(pair_t *p, pc_msg_t *m, pc_drop_t *why, pc_err_t *err) {
  zmq_pollitem_t it = {p->router, 0, ZMQ_POLLIN, 0};
  assert_true(zmq_poll(&it, 1, 2000) == 1);
  return pc_wire_recv(p->router, 1, m, ZMQ_DONTWAIT, why, err);
}

static void test_push_round_trip(void **state) {
  pair_t *p = *state;
  uint64_t keys[3] = {7, 1ULL << 40, 42};
  float vals[3] = {0.5f, -1.25f, 3.0f};
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, PC_OP_PUSH, 99, pc_wire_sender(PC_ROLE_WORKER, 3));
  h.key_count = 3;
  h.vals_per_key = 1;
  h.clock = 12;
  assert_int_equal(pc_wire_send(p->dealer, NULL, &h, keys, vals, 3, NULL, 0, 0, NULL), PC_OK);
  pc_msg_t m;
  pc_drop_t why;
  pc_err_t err;
  assert_int_equal(recv_router(p, &m, &why, &err), PC_OK);
  assert_int_equal(m.hdr.op, PC_OP_PUSH);
  assert_int_equal(m.hdr.request_id, 99);
  assert_int_equal(m.hdr.clock, 12);
  assert_int_equal(pc_wire_sender_role(m.hdr.sender), PC_ROLE_WORKER);
  assert_int_equal(pc_wire_sender_rank(m.hdr.sender), 3);
  assert_int_equal(m.nkeys, 3);
  assert_int_equal(m.nvals, 3);
  assert_memory_equal(m.keys, keys, sizeof keys);
  assert_memory_equal(m.vals, vals, sizeof vals);
  /* Reply through the identity and read it back on the dealer. */
  pc_wire_hdr_t r;
  pc_wire_hdr_init(&r, PC_OP_PUSH_REPLY, 99, pc_wire_sender(PC_ROLE_SERVER, 0));
  r.status = PC_EDATA;
  assert_int_equal(pc_wire_send(p->router, &m.identity, &r, NULL, NULL, 0, NULL, 0, 0, NULL),
                   PC_OK);
  pc_msg_close(&m);
  pc_msg_t back;
  zmq_pollitem_t it = {p->dealer, 0, ZMQ_POLLIN, 0};
  assert_true(zmq_poll(&it, 1, 2000) == 1);
  assert_int_equal(pc_wire_recv(p->dealer, 0, &back, ZMQ_DONTWAIT, &why, &err), PC_OK);
  assert_int_equal(back.hdr.op, PC_OP_PUSH_REPLY);
  assert_int_equal(back.hdr.status, PC_EDATA);
  pc_msg_close(&back);
}

static void test_body_round_trip(void **state) {
  pair_t *p = *state;
  Parasol__Register reg = PARASOL__REGISTER__INIT;
  reg.role = PC_ROLE_SERVER;
  reg.rank = 1;
  reg.endpoint = "tcp://127.0.0.1:5555";
  reg.host = "h";
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, PC_OP_REGISTER, 1, pc_wire_sender(PC_ROLE_SERVER, 1));
  assert_int_equal(pc_wire_send_pb(p->dealer, NULL, &h, &reg, 0, NULL), PC_OK);
  pc_msg_t m;
  pc_drop_t why;
  pc_err_t err;
  assert_int_equal(recv_router(p, &m, &why, &err), PC_OK);
  Parasol__Register *r = parasol__register__unpack(NULL, m.body_len, m.body);
  assert_non_null(r);
  assert_string_equal(r->endpoint, "tcp://127.0.0.1:5555");
  assert_int_equal(r->rank, 1);
  parasol__register__free_unpacked(r, NULL);
  pc_msg_close(&m);
}

static size_t header_bytes(uint8_t *buf, uint32_t version, uint32_t op, uint64_t nkeys,
                           uint32_t vpk) {
  Parasol__Header ph = PARASOL__HEADER__INIT;
  ph.version = version;
  ph.op = op;
  ph.key_count = nkeys;
  ph.vals_per_key = vpk;
  return parasol__header__pack(&ph, buf);
}

/* Send raw frames from the dealer; expect the router to drop with `want`. */
static void expect_drop(pair_t *p, const void *const *frames, const size_t *lens, int n,
                        pc_drop_t want, const char *needle) {
  for (int i = 0; i < n; i++)
    assert_true(zmq_send(p->dealer, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
  pc_msg_t m;
  pc_drop_t why = PC_DROP_NREASONS;
  pc_err_t err = {0};
  assert_int_equal(recv_router(p, &m, &why, &err), PC_EPROTO);
  if (why != want || strstr(err.msg, needle) == NULL)
    print_error("dropped as '%s', want /%s/\n", err.msg, needle);
  assert_int_equal(why, want);
  assert_non_null(strstr(err.msg, needle));
}

static void test_garbage_and_truncation(void **state) {
  pair_t *p = *state;
  uint8_t junk[64];
  memset(junk, 0xff, sizeof junk);
  /* A lone frame is a header-only message; this one is garbage. */
  const void *f1[] = {junk};
  size_t l1[] = {sizeof junk};
  expect_drop(p, f1, l1, 1, PC_DROP_HEADER, "not a Header");
  const void *f4[] = {junk, "", "", ""};
  size_t l4[] = {sizeof junk, 0, 0, 0};
  expect_drop(p, f4, l4, 4, PC_DROP_HEADER, "not a Header");
  uint8_t big[PC_WIRE_MAX_HEADER + 1] = {0};
  const void *fb[] = {big, "", "", ""};
  size_t lb[] = {sizeof big, 0, 0, 0};
  expect_drop(p, fb, lb, 4, PC_DROP_HEADER, "header of");
  /* A truncated header: the first half of a valid one. */
  uint8_t hb[PC_WIRE_MAX_HEADER];
  /* key_count is the last field packed: cut its varint in the middle. */
  size_t hl = header_bytes(hb, PC_WIRE_VERSION, PC_OP_PULL, 1ULL << 33, 0);
  const void *ft[] = {hb, "", "", ""};
  size_t lt[] = {hl - 2, 0, 0, 0};
  expect_drop(p, ft, lt, 4, PC_DROP_HEADER, "not a Header");
}

static void test_version_op_sizes_limits(void **state) {
  pair_t *p = *state;
  uint8_t hb[PC_WIRE_MAX_HEADER];
  uint64_t keys[2] = {1, 2};
  float vals[2] = {1, 2};
  size_t hl = header_bytes(hb, PC_WIRE_VERSION + 1, PC_OP_PULL, 2, 0);
  const void *f[] = {hb, keys, "", ""};
  size_t l[] = {hl, sizeof keys, 0, 0};
  expect_drop(p, f, l, 4, PC_DROP_VERSION, "version 2");
  hl = header_bytes(hb, PC_WIRE_VERSION, 77, 2, 0);
  l[0] = hl;
  expect_drop(p, f, l, 4, PC_DROP_OP, "op 77");
  /* Header says 3 keys, frame holds 2. */
  hl = header_bytes(hb, PC_WIRE_VERSION, PC_OP_PULL, 3, 0);
  l[0] = hl;
  expect_drop(p, f, l, 4, PC_DROP_SIZES, "keys frame of 16 bytes for 3 keys");
  /* Keys frame not a multiple of 8. */
  hl = header_bytes(hb, PC_WIRE_VERSION, PC_OP_PULL, 2, 0);
  size_t l2[] = {hl, 15, 0, 0};
  expect_drop(p, f, l2, 4, PC_DROP_SIZES, "keys frame of 15 bytes");
  /* Push with values frame too short. */
  hl = header_bytes(hb, PC_WIRE_VERSION, PC_OP_PUSH, 2, 1);
  const void *fp[] = {hb, keys, vals, ""};
  size_t lp[] = {hl, sizeof keys, 4, 0};
  expect_drop(p, fp, lp, 4, PC_DROP_SIZES, "values frame of 4 bytes for 2 values");
  /* Push without values. */
  size_t lp2[] = {hl, sizeof keys, 0, 0};
  expect_drop(p, fp, lp2, 4, PC_DROP_SIZES, "values frame of 0 bytes");
  /* A pull must not carry values. */
  hl = header_bytes(hb, PC_WIRE_VERSION, PC_OP_PULL, 2, 1);
  size_t lp3[] = {hl, sizeof keys, sizeof vals, 0};
  expect_drop(p, fp, lp3, 4, PC_DROP_SIZES, "not allowed for pull");
  /* Counts above the limits are refused before any size arithmetic. */
  hl = header_bytes(hb, PC_WIRE_VERSION, PC_OP_PULL, PC_WIRE_MAX_KEYS + 1, 0);
  l[0] = hl;
  expect_drop(p, f, l, 4, PC_DROP_LIMIT, "key_count");
  hl = header_bytes(hb, PC_WIRE_VERSION, PC_OP_PUSH, 1ULL << 26, PC_WIRE_MAX_VALS_PER_KEY);
  l[0] = hl;
  expect_drop(p, f, l, 4, PC_DROP_LIMIT, "values (limit");
  /* Too many frames. */
  hl = header_bytes(hb, PC_WIRE_VERSION, PC_OP_PULL, 2, 0);
  const void *f5[] = {hb, keys, "", "", ""};
  size_t l5[] = {hl, sizeof keys, 0, 0, 0};
  expect_drop(p, f5, l5, 5, PC_DROP_FRAMES, "6 frames, expected 2 to 5");
  /* After all that, a good message still goes through. */
  const void *fg[] = {hb, keys, "", ""};
  size_t lg[] = {hl, sizeof keys, 0, 0};
  for (int i = 0; i < 4; i++)
    assert_true(zmq_send(p->dealer, fg[i], lg[i], i < 3 ? ZMQ_SNDMORE : 0) >= 0);
  pc_msg_t m;
  pc_drop_t why;
  pc_err_t err;
  assert_int_equal(recv_router(p, &m, &why, &err), PC_OK);
  assert_int_equal(m.nkeys, 2);
  assert_int_equal(m.keys[1], 2);
  pc_msg_close(&m);
}

static void test_error_reply_without_payload(void **state) {
  pair_t *p = *state;
  uint8_t hb[PC_WIRE_MAX_HEADER];
  Parasol__Header ph = PARASOL__HEADER__INIT;
  ph.version = PC_WIRE_VERSION;
  ph.op = PC_OP_PULL_REPLY;
  ph.status = PC_EINVAL;
  size_t hl = parasol__header__pack(&ph, hb);
  const void *f[] = {hb, "", "", ""};
  size_t l[] = {hl, 0, 0, 0};
  for (int i = 0; i < 4; i++)
    assert_true(zmq_send(p->dealer, f[i], l[i], i < 3 ? ZMQ_SNDMORE : 0) >= 0);
  pc_msg_t m;
  pc_drop_t why;
  pc_err_t err;
  assert_int_equal(recv_router(p, &m, &why, &err), PC_OK);
  assert_int_equal(m.hdr.status, PC_EINVAL);
  assert_null(m.vals);
  pc_msg_close(&m);
  /* A successful pull reply with no values is malformed. */
  ph.status = 0;
  ph.key_count = 2;
  ph.vals_per_key = 1;
  l[0] = parasol__header__pack(&ph, hb);
  expect_drop(p, f, l, 4, PC_DROP_SIZES, "values frame of 0 bytes");
}

static size_t batch_body(uint8_t *buf, const uint64_t *entries, size_t n) {
  Parasol__Batch b = PARASOL__BATCH__INIT;
  b.entries = (uint64_t *)entries;
  b.n_entries = n;
  return parasol__batch__pack(&b, buf);
}

/* A batch (push of 2 keys, pull of 1) and its reply go through with their
 * entries; batches whose entries do not cover the frames are dropped. */
static void test_batch(void **state) {
  pair_t *p = *state;
  uint64_t keys[3] = {5, 6, 7}, ent[2] = {2 << 1 | 1, 1 << 1};
  float vals[2] = {0.5f, 1.5f};
  uint8_t body[64];
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, PC_OP_BATCH, 1, pc_wire_sender(PC_ROLE_WORKER, 0));
  h.key_count = 3;
  h.vals_per_key = 1;
  pc_wire_payload_t pl = {.keys = keys, .nkeys = 3, .vals = vals, .nvals = 2, .body = body,
                          .blen = batch_body(body, ent, 2)};
  assert_int_equal(pc_wire_send_bulk(p->dealer, NULL, &h, &pl, NULL, 0, NULL), PC_OK);
  pc_msg_t m;
  pc_drop_t why;
  pc_err_t err;
  assert_int_equal(recv_router(p, &m, &why, &err), PC_OK);
  assert_int_equal(m.nbatch, 2);
  assert_int_equal(m.batch[0], 2 << 1 | 1);
  assert_int_equal(m.nvals, 2);
  assert_int_equal(m.keys[2], 7);
  /* The reply: one status per entry, the pull's value. */
  int32_t st[2] = {0, PC_EDATA};
  Parasol__BatchReply br = PARASOL__BATCH_REPLY__INIT;
  br.status = st;
  br.n_status = 2;
  uint8_t rbody[64];
  float one = 9.0f;
  pc_wire_hdr_init(&h, PC_OP_BATCH_REPLY, 1, 0);
  h.key_count = 1;
  h.vals_per_key = 1;
  pc_wire_payload_t rp = {.vals = &one, .nvals = 1, .body = rbody,
                          .blen = parasol__batch_reply__pack(&br, rbody)};
  assert_int_equal(pc_wire_send_bulk(p->router, &m.identity, &h, &rp, NULL, 0, NULL), PC_OK);
  pc_msg_close(&m);
  zmq_pollitem_t it = {p->dealer, 0, ZMQ_POLLIN, 0};
  assert_int_equal(zmq_poll(&it, 1, 2000), 1);
  assert_int_equal(pc_wire_recv(p->dealer, 0, &m, ZMQ_DONTWAIT, &why, &err), PC_OK);
  assert_int_equal(m.nbatch_status, 2);
  assert_int_equal(m.batch_status[1], PC_EDATA);
  assert_float_equal(m.vals[0], 9.0f, 0);
  pc_msg_close(&m);

  uint8_t hb[PC_WIRE_MAX_HEADER];
  size_t hl = header_bytes(hb, PC_WIRE_VERSION, PC_OP_BATCH, 3, 1);
  const void *f[] = {hb, keys, vals, body};
  /* Entries for 4 keys, 3 in the frame. */
  uint64_t over[2] = {2 << 1 | 1, 2 << 1};
  size_t l[] = {hl, sizeof keys, sizeof vals, batch_body(body, over, 2)};
  expect_drop(p, f, l, 4, PC_DROP_BODY, "overruns");
  /* Entries for 2 keys, 3 in the frame. */
  uint64_t under[1] = {2 << 1 | 1};
  l[3] = batch_body(body, under, 1);
  expect_drop(p, f, l, 4, PC_DROP_BODY, "cover 2 keys");
  /* Pushes of 3 keys, but 2 values. */
  uint64_t allpush[1] = {3 << 1 | 1};
  l[3] = batch_body(body, allpush, 1);
  expect_drop(p, f, l, 4, PC_DROP_BODY, "3 values");
  /* An empty entry, no body, a body that is not a Batch. */
  uint64_t zero[3] = {2 << 1 | 1, 0, 1 << 1};
  l[3] = batch_body(body, zero, 3);
  expect_drop(p, f, l, 4, PC_DROP_BODY, "entry 1 of 0 keys");
  expect_drop(p, f, l, 3, PC_DROP_BODY, "batch of 0 entries");
  l[3] = 3;
  memcpy(body, "\xff\xff\xff", 3);
  expect_drop(p, f, l, 4, PC_DROP_BODY, "not a Batch");
  /* More values than keys. */
  float four[4] = {0};
  const void *f4[] = {hb, keys, four, body};
  size_t l4[] = {hl, sizeof keys, sizeof four, batch_body(body, ent, 2)};
  expect_drop(p, f4, l4, 4, PC_DROP_SIZES, "in a batch of 3 keys");
}

/* A raw header with flags and status, for dump cases. */
static size_t header_full(uint8_t *buf, uint32_t op, uint64_t nkeys, uint32_t vpk,
                          uint32_t flags, int32_t status) {
  Parasol__Header ph = PARASOL__HEADER__INIT;
  ph.version = PC_WIRE_VERSION;
  ph.op = op;
  ph.key_count = nkeys;
  ph.vals_per_key = vpk;
  ph.flags = flags;
  ph.status = status;
  return parasol__header__pack(&ph, buf);
}

static size_t dump_body(uint8_t *buf, uint64_t cursor, uint32_t max) {
  Parasol__Dump d = PARASOL__DUMP__INIT;
  d.cursor = cursor;
  d.max_keys = max;
  return parasol__dump__pack(&d, buf);
}

static size_t dump_reply_body(uint8_t *buf, uint64_t next, int done) {
  Parasol__DumpReply r = PARASOL__DUMP_REPLY__INIT;
  r.next_cursor = next;
  r.done = done;
  return parasol__dump_reply__pack(&r, buf);
}

/* A dump request and its pages go through with cursor, size and done. */
static void test_dump_round_trip(void **state) {
  pair_t *p = *state;
  Parasol__Dump d = PARASOL__DUMP__INIT;
  d.cursor = 3ULL << 48 | 7;
  d.max_keys = PC_WIRE_MAX_DUMP_KEYS;
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, PC_OP_DUMP, 41, pc_wire_sender(PC_ROLE_WORKER, 0));
  assert_int_equal(pc_wire_send_pb(p->dealer, NULL, &h, &d, 0, NULL), PC_OK);
  pc_msg_t m, back;
  pc_drop_t why;
  pc_err_t err;
  assert_int_equal(recv_router(p, &m, &why, &err), PC_OK);
  assert_int_equal(m.hdr.op, PC_OP_DUMP);
  assert_true(m.dump_cursor == (3ULL << 48 | 7));
  assert_int_equal(m.dump_max_keys, PC_WIRE_MAX_DUMP_KEYS);
  /* A page of 3 keys, then an empty last page. */
  uint64_t keys[3] = {9, 1ULL << 40, 2};
  float vals[3] = {0.5f, -1.0f, 2.0f};
  uint8_t body[32];
  zmq_pollitem_t it = {p->dealer, 0, ZMQ_POLLIN, 0};
  for (int page = 0; page < 2; page++) {
    size_t n = page == 0 ? 3 : 0;
    pc_wire_hdr_init(&h, PC_OP_DUMP_REPLY, 41, pc_wire_sender(PC_ROLE_SERVER, 1));
    h.key_count = n;
    h.vals_per_key = n ? 1 : 0;
    size_t blen = dump_reply_body(body, 1000 + (uint64_t)page, page);
    assert_int_equal(pc_wire_send(p->router, &m.identity, &h, n ? keys : NULL, n ? vals : NULL,
                                  n, body, blen, 0, NULL), PC_OK);
    assert_int_equal(zmq_poll(&it, 1, 2000), 1);
    assert_int_equal(pc_wire_recv(p->dealer, 0, &back, ZMQ_DONTWAIT, &why, &err), PC_OK);
    assert_int_equal(back.hdr.op, PC_OP_DUMP_REPLY);
    assert_int_equal(back.nkeys, n);
    assert_int_equal(back.nvals, n);
    assert_int_equal(back.dump_cursor, 1000 + page);
    assert_int_equal(back.dump_done, page);
    if (n)
      assert_memory_equal(back.keys, keys, sizeof keys);
    pc_msg_close(&back);
  }
  /* An error reply: header alone. */
  pc_wire_hdr_init(&h, PC_OP_DUMP_REPLY, 41, pc_wire_sender(PC_ROLE_SERVER, 1));
  h.status = PC_EINVAL;
  assert_int_equal(pc_wire_send(p->router, &m.identity, &h, NULL, NULL, 0, NULL, 0, 0, NULL),
                   PC_OK);
  assert_int_equal(zmq_poll(&it, 1, 2000), 1);
  assert_int_equal(pc_wire_recv(p->dealer, 0, &back, ZMQ_DONTWAIT, &why, &err), PC_OK);
  assert_int_equal(back.hdr.status, PC_EINVAL);
  pc_msg_close(&back);
  pc_msg_close(&m);
}

/* Dump messages whose body, size or frames are wrong are dropped. */
static void test_dump_malformed(void **state) {
  pair_t *p = *state;
  uint8_t hb[PC_WIRE_MAX_HEADER], body[32];
  uint64_t keys[3] = {1, 2, 3};
  float vals[6] = {0};
  const void *f[] = {hb, "", "", body};
  size_t l[] = {header_full(hb, PC_OP_DUMP, 0, 0, 0, 0), 0, 0, dump_body(body, 0, 0)};
  expect_drop(p, f, l, 4, PC_DROP_BODY, "dump of 0 keys (1 to 65536)");
  l[3] = dump_body(body, 0, PC_WIRE_MAX_DUMP_KEYS + 1);
  expect_drop(p, f, l, 4, PC_DROP_BODY, "dump of 65537 keys");
  expect_drop(p, f, l, 1, PC_DROP_BODY, "dump of 0 keys"); /* no body at all */
  Parasol__Dump bad_table = PARASOL__DUMP__INIT;
  bad_table.max_keys = 10;
  bad_table.table = PC_TABLE_MAX; /* tables are 0 .. 15 */
  l[3] = parasol__dump__pack(&bad_table, body);
  expect_drop(p, f, l, 4, PC_DROP_BODY, "dump of table 16 (0 to 15)");
  memcpy(body, "\xff\xff\xff", 3);
  l[3] = 3;
  expect_drop(p, f, l, 4, PC_DROP_BODY, "not a Dump");
  /* A dump request carries no keys. */
  const void *fk[] = {hb, keys, "", body};
  size_t lk[] = {header_full(hb, PC_OP_DUMP, 3, 0, 0, 0), sizeof keys, 0,
                 dump_body(body, 0, 10)};
  expect_drop(p, fk, lk, 4, PC_DROP_SIZES, "not allowed for dump");

  /* Replies: a page over the limit, keys without values, fewer values than
   * keys x vals_per_key, a range header, an empty page that is not the
   * last, no DumpReply. */
  const void *fr[] = {hb, "", "", body};
  size_t lr[] = {header_full(hb, PC_OP_DUMP_REPLY, PC_WIRE_MAX_DUMP_KEYS + 1, 1, 0, 0), 0, 0,
                 dump_reply_body(body, 5, 0)};
  expect_drop(p, fr, lr, 4, PC_DROP_LIMIT, "dump page of 65537 keys (limit 65536)");
  const void *fp[] = {hb, keys, vals, body};
  size_t lp[] = {header_full(hb, PC_OP_DUMP_REPLY, 3, 1, 0, 0), sizeof keys, 0,
                 dump_reply_body(body, 5, 0)};
  expect_drop(p, fp, lp, 4, PC_DROP_SIZES, "dump page of 3 keys with 3 keys, 0 values");
  lp[0] = header_full(hb, PC_OP_DUMP_REPLY, 3, 2, 0, 0);
  lp[2] = 3 * sizeof(float);
  expect_drop(p, fp, lp, 4, PC_DROP_SIZES, "values frame of 12 bytes for 6 values");
  uint64_t range[2] = {10, 12};
  const void *fg[] = {hb, range, vals, body};
  size_t lg[] = {header_full(hb, PC_OP_DUMP_REPLY, 2, 1, PC_WIRE_FLAG_RANGE, 0), sizeof range,
                 2 * sizeof(float), dump_reply_body(body, 5, 0)};
  expect_drop(p, fg, lg, 4, PC_DROP_HEADER, "a dump-reply cannot be a range message");
  lr[0] = header_full(hb, PC_OP_DUMP_REPLY, 0, 0, 0, 0);
  lr[3] = dump_reply_body(body, 5, 0);
  expect_drop(p, fr, lr, 4, PC_DROP_BODY, "an empty dump page that is not the last");
  memcpy(body, "\xff\xff\xff", 3);
  lr[3] = 3;
  expect_drop(p, fr, lr, 4, PC_DROP_BODY, "not a DumpReply");
}

/* Trailing empty frames are not sent, and a receiver treats missing ones
 * as empty: a push reply is the header alone, a pull just header + keys. */
/* The assign flag (fine-tuning's load) goes through on a push, keyed and
 * by range, and is dropped on any other op; unknown flags are dropped. */
static void test_assign_flag(void **state) {
  pair_t *p = *state;
  uint64_t keys[2] = {5, 9}, range[2] = {10, 12};
  float vals[2] = {1.5f, -2.0f};
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, PC_OP_PUSH, 7, pc_wire_sender(PC_ROLE_WORKER, 0));
  h.key_count = 2;
  h.vals_per_key = 1;
  h.flags = PC_WIRE_FLAG_ASSIGN;
  assert_int_equal(pc_wire_send(p->dealer, NULL, &h, keys, vals, 2, NULL, 0, 0, NULL), PC_OK);
  pc_msg_t m;
  pc_drop_t why;
  pc_err_t err;
  assert_int_equal(recv_router(p, &m, &why, &err), PC_OK);
  assert_int_equal(m.hdr.flags, PC_WIRE_FLAG_ASSIGN);
  assert_memory_equal(m.keys, keys, sizeof keys);
  assert_memory_equal(m.vals, vals, sizeof vals);
  pc_msg_close(&m);
  h.flags = PC_WIRE_FLAG_ASSIGN | PC_WIRE_FLAG_RANGE;
  assert_int_equal(pc_wire_send(p->dealer, NULL, &h, range, vals, 2, NULL, 0, 0, NULL), PC_OK);
  assert_int_equal(recv_router(p, &m, &why, &err), PC_OK);
  assert_int_equal(m.hdr.flags, PC_WIRE_FLAG_ASSIGN | PC_WIRE_FLAG_RANGE);
  assert_true(m.range_begin == 10 && m.range_end == 12);
  pc_msg_close(&m);
  uint8_t hb[PC_WIRE_MAX_HEADER];
  const void *f[] = {hb, keys};
  size_t l[] = {header_full(hb, PC_OP_PULL, 2, 0, PC_WIRE_FLAG_ASSIGN, 0), sizeof keys};
  expect_drop(p, f, l, 2, PC_DROP_HEADER, "the assign flag on a pull");
  l[0] = header_full(hb, PC_OP_PUSH, 2, 0, 4, 0);
  expect_drop(p, f, l, 2, PC_DROP_HEADER, "unknown flags 0x4");
}

static void test_trailing_frames_omitted(void **state) {
  pair_t *p = *state;
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, PC_OP_PUSH_REPLY, 5, pc_wire_sender(PC_ROLE_SERVER, 0));
  assert_int_equal(pc_wire_send(p->dealer, NULL, &h, NULL, NULL, 0, NULL, 0, 0, NULL), PC_OK);
  uint64_t keys[2] = {3, 4};
  pc_wire_hdr_init(&h, PC_OP_PULL, 6, pc_wire_sender(PC_ROLE_WORKER, 0));
  h.key_count = 2;
  assert_int_equal(pc_wire_send(p->dealer, NULL, &h, keys, NULL, 0, NULL, 0, 0, NULL), PC_OK);
  /* Frames as they travel: identity + header, then identity + header + keys. */
  zmq_pollitem_t it = {p->router, 0, ZMQ_POLLIN, 0};
  int want[2] = {2, 3};
  for (int i = 0; i < 2; i++) {
    assert_true(zmq_poll(&it, 1, 2000) == 1);
    int n = 0, more = 1;
    zmq_msg_t raw[5];
    while (more && n < 5) {
      zmq_msg_init(&raw[n]);
      assert_true(zmq_msg_recv(&raw[n], p->router, 0) >= 0);
      more = zmq_msg_more(&raw[n]);
      n++;
    }
    assert_int_equal(n, want[i]);
    for (int k = 0; k < n; k++)
      zmq_msg_close(&raw[k]);
  }
  pc_wire_hdr_init(&h, PC_OP_PULL, 7, pc_wire_sender(PC_ROLE_WORKER, 0));
  h.key_count = 2;
  assert_int_equal(pc_wire_send(p->dealer, NULL, &h, keys, NULL, 0, NULL, 0, 0, NULL), PC_OK);
  pc_msg_t m;
  pc_drop_t why;
  pc_err_t err;
  assert_int_equal(recv_router(p, &m, &why, &err), PC_OK);
  assert_int_equal(m.nkeys, 2);
  assert_null(m.vals);
  assert_int_equal(m.body_len, 0);
  pc_msg_close(&m);
}

static void test_drop_counting(void **state) {
  (void)state;
  pc_wire_drops_t d = {0};
  for (int i = 0; i < 25; i++)
    pc_wire_drop_note(&d, PC_DROP_VERSION, "test", NULL);
  pc_wire_drop_note(&d, PC_DROP_SIZES, "test", NULL);
  assert_int_equal(d.count[PC_DROP_VERSION], 25);
  assert_int_equal(d.count[PC_DROP_SIZES], 1);
  assert_int_equal(d.total, 26);
}

static void test_shardmap_pb_round_trip(void **state) {
  (void)state;
  pc_shardmap_t m, back;
  pc_range_t r[2] = {{0, 100, 1}, {100, 200, 0}};
  assert_int_equal(pc_shardmap_build(&m, 7, 2, 16, r, 2, NULL), PC_OK);
  char eps[2][PC_WIRE_MAX_ENDPOINT] = {"tcp://a:1", "tcp://b:2"};
  Parasol__ShardMap pb;
  assert_int_equal(pc_wire_shardmap_to_pb(&m, eps, &pb, NULL), PC_OK);
  size_t len = parasol__shard_map__get_packed_size(&pb);
  uint8_t buf[512];
  assert_true(len <= sizeof buf);
  parasol__shard_map__pack(&pb, buf);
  pc_wire_shardmap_pb_free(&pb);
  Parasol__ShardMap *u = parasol__shard_map__unpack(NULL, len, buf);
  char(*beps)[PC_WIRE_MAX_ENDPOINT] = NULL;
  assert_int_equal(pc_wire_shardmap_from_pb(u, &back, &beps, NULL), PC_OK);
  parasol__shard_map__free_unpacked(u, NULL);
  assert_int_equal(back.version, 7);
  assert_string_equal(beps[1], "tcp://b:2");
  for (uint64_t k = 0; k < 5000; k += 7)
    assert_int_equal(pc_shardmap_lookup(&m, k), pc_shardmap_lookup(&back, k));
  assert_int_equal(pc_shardmap_lookup(&back, 50), 1);
  pc_shardmap_free(&m);
  pc_shardmap_free(&back);
  free(beps);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_push_round_trip),
      cmocka_unit_test(test_assign_flag),
      cmocka_unit_test(test_body_round_trip),
      cmocka_unit_test(test_garbage_and_truncation),
      cmocka_unit_test(test_version_op_sizes_limits),
      cmocka_unit_test(test_error_reply_without_payload),
      cmocka_unit_test(test_trailing_frames_omitted),
      cmocka_unit_test(test_drop_counting),
      cmocka_unit_test(test_batch),
      cmocka_unit_test(test_dump_round_trip),
      cmocka_unit_test(test_dump_malformed),
      cmocka_unit_test(test_shardmap_pb_round_trip),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
