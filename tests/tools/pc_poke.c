/* Test tool: connect to a running server as a rogue client and send every
 * kind of malformed message, then a push with a NaN gradient, a valid pull,
 * and a batch of a NaN push and a pull. Exit 0 when the server rejected the
 * NaN pushes (status PC_EDATA, in the batch for that entry alone) and still
 * answered the pulls, i.e. it survived the garbage.
 * usage: pc_poke ENDPOINT TIMEOUT_SECONDS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "parasol.pb-c.h"
#include "pc_wire.h"

static void send_raw(void *s, const void *const *f, const size_t *l, int n) {
  for (int i = 0; i < n; i++)
    zmq_send(s, f[i], l[i], i + 1 < n ? ZMQ_SNDMORE : 0);
}

static size_t hdr(uint8_t *buf, uint32_t version, uint32_t op, uint64_t nkeys, uint32_t vpk) {
  Parasol__Header h = PARASOL__HEADER__INIT;
  h.version = version;
  h.op = op;
  h.key_count = nkeys;
  h.vals_per_key = vpk;
  return parasol__header__pack(&h, buf);
}

static size_t batch_body(uint8_t *buf, uint64_t *entries, size_t n) {
  Parasol__Batch b = PARASOL__BATCH__INIT;
  b.entries = entries;
  b.n_entries = n;
  return parasol__batch__pack(&b, buf);
}

/* Eight malformed messages, one per drop reason the server can see. */
static int send_garbage(void *s) {
  uint8_t junk[200], hb[PC_WIRE_MAX_HEADER];
  uint64_t keys[2] = {1, 2};
  memset(junk, 0xa5, sizeof junk);
  const void *f6[] = {junk, junk, junk, junk, junk, junk};
  size_t l6[] = {10, 10, 10, 10, 10, 10};
  send_raw(s, f6, l6, 6); /* frame count */
  const void *f4[] = {junk, "", "", ""};
  size_t l4[] = {sizeof junk, 0, 0, 0};
  send_raw(s, f4, l4, 4); /* header too big */
  l4[0] = 7;
  send_raw(s, f4, l4, 4); /* not a header */
  const void *fk[] = {hb, keys, "", ""};
  size_t lk[] = {hdr(hb, 99, PC_OP_PULL, 2, 0), sizeof keys, 0, 0};
  send_raw(s, fk, lk, 4); /* version */
  lk[0] = hdr(hb, PC_WIRE_VERSION, 200, 2, 0);
  send_raw(s, fk, lk, 4); /* op */
  lk[0] = hdr(hb, PC_WIRE_VERSION, PC_OP_PULL, 5, 0);
  send_raw(s, fk, lk, 4); /* sizes */
  lk[0] = hdr(hb, PC_WIRE_VERSION, PC_OP_PULL, 1ULL << 40, 0);
  send_raw(s, fk, lk, 4); /* limits */
  uint8_t body[32];
  uint64_t over[2] = {2 << 1, 5 << 1}; /* 7 keys' entries, 2 keys in the frame */
  const void *fb[] = {hb, keys, "", body};
  size_t lb[] = {hdr(hb, PC_WIRE_VERSION, PC_OP_BATCH, 2, 0), sizeof keys, 0,
                 batch_body(body, over, 2)};
  send_raw(s, fb, lb, 4); /* batch body */
  return 8;
}

static int await(void *s, pc_msg_t *m, double timeout) {
  zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&it, 1, (long)(timeout * 1000)) != 1)
    return -1;
  pc_drop_t why;
  pc_err_t err;
  return pc_wire_recv(s, 0, m, 0, &why, &err) == PC_OK ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: pc_poke ENDPOINT TIMEOUT_SECONDS\n");
    return 2;
  }
  double timeout = atof(argv[2]);
  void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
  pc_wire_socket_setup(s, 0, 1000, NULL);
  if (zmq_connect(s, argv[1]) != 0)
    return 2;
  int sent = send_garbage(s);
  uint64_t key = 5;
  float nan_grad = NAN;
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, PC_OP_PUSH, 1, pc_wire_sender(PC_ROLE_CLIENT, 0));
  h.key_count = 1;
  h.vals_per_key = 1;
  pc_wire_send(s, NULL, &h, &key, &nan_grad, 1, NULL, 0, 0, NULL);
  pc_wire_hdr_init(&h, PC_OP_PULL, 2, pc_wire_sender(PC_ROLE_CLIENT, 0));
  h.key_count = 1;
  pc_wire_send(s, NULL, &h, &key, NULL, 0, NULL, 0, 0, NULL);
  /* A batch: a NaN push of key 6, then a pull of key 6. */
  uint64_t bkeys[2] = {6, 6}, ent[2] = {1 << 1 | 1, 1 << 1};
  uint8_t body[32];
  pc_wire_hdr_init(&h, PC_OP_BATCH, 3, pc_wire_sender(PC_ROLE_CLIENT, 0));
  h.key_count = 2;
  h.vals_per_key = 1;
  pc_wire_payload_t p = {.keys = bkeys, .nkeys = 2, .vals = &nan_grad, .nvals = 1,
                         .body = body, .blen = batch_body(body, ent, 2)};
  pc_wire_send_bulk(s, NULL, &h, &p, NULL, 0, NULL);
  int rc = 1;
  pc_msg_t a, b, c;
  if (await(s, &a, timeout) == 0) {
    if (await(s, &b, timeout) == 0) {
      int nan_rejected = a.hdr.op == PC_OP_PUSH_REPLY && a.hdr.status == PC_EDATA;
      int pulled = b.hdr.op == PC_OP_PULL_REPLY && b.hdr.status == 0 && b.nvals == 1 &&
                   isfinite(b.vals[0]);
      printf("sent %d malformed messages; NaN push %s; pull %s\n", sent,
             nan_rejected ? "rejected" : "NOT rejected", pulled ? "answered" : "NOT answered");
      int batch = 0;
      if (await(s, &c, timeout) == 0) {
        batch = c.hdr.op == PC_OP_BATCH_REPLY && c.hdr.status == 0 && c.nbatch_status == 2 &&
                c.batch_status[0] == PC_EDATA && c.batch_status[1] == 0 && c.nvals == 1 &&
                isfinite(c.vals[0]);
        pc_msg_close(&c);
      }
      printf("batch: NaN push %s alone, pull %s\n", batch ? "rejected" : "NOT rejected",
             batch ? "answered" : "NOT answered");
      rc = nan_rejected && pulled && batch ? 0 : 1;
      pc_msg_close(&b);
    }
    pc_msg_close(&a);
  }
  if (rc != 0)
    printf("server did not answer as expected\n");
  zmq_close(s);
  zmq_ctx_term(ctx);
  return rc;
}
