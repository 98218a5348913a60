/* The wire codec. One message = up to four ZeroMQ frames after any
 * ROUTER identity frame (frames after the last non-empty one are omitted
 * and read as empty):
 *   [header: packed parasol.Header] [keys: u64 LE x key_count]
 *   [values: f32 LE x key_count x vals_per_key] [body: packed control msg]
 * Bulk keys and values never pass through protobuf. Every received message
 * is checked (frame count, header size and version, op, frame sizes against
 * the header, limits) before anything in it is used; a bad one is dropped
 * with a reason the caller counts and logs once. docs/protocol.md. */
#ifndef PC_WIRE_H
#define PC_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "pc_bufpool.h"
#include "pc_error.h"
#include "pc_partition.h"
#include "pc_table.h"

#define PC_WIRE_VERSION 1
#define PC_WIRE_MAX_HEADER 128          /* bytes of a packed Header */
#define PC_WIRE_MAX_KEYS (1ULL << 27)   /* keys per message */
#define PC_WIRE_MAX_VALUES (1ULL << 28) /* floats per message (1 GiB) */
#define PC_WIRE_MAX_BODY (16u << 20)    /* bytes of a control body */
#define PC_WIRE_MAX_VALS_PER_KEY 65536 /* = PC_TABLE_MAX_WIDTH */
#define PC_WIRE_MAX_BATCH 4096          /* requests in one BATCH message */
#define PC_WIRE_MAX_DUMP_KEYS (1u << 16) /* keys in one DUMP_REPLY page */

/* Header flags. RANGE: the keys frame holds two keys, [begin, end), and
 * key_count == end - begin: a dense block without a key per value.
 * ASSIGN (PUSH only): the values replace the keys' values and their
 * optimizer state starts afresh, instead of being a gradient (fine-tuning
 * loads a trained model this way, training.init); any other op carrying it
 * is dropped. */
#define PC_WIRE_FLAG_RANGE 1u
#define PC_WIRE_FLAG_ASSIGN 2u
#define PC_WIRE_FLAGS_KNOWN (PC_WIRE_FLAG_RANGE | PC_WIRE_FLAG_ASSIGN)

/* Frames of at least this many bytes go out zero-copy from a buffer pool. */
#define PC_WIRE_ZC_MIN (64u << 10)

typedef enum pc_op {
  PC_OP_REGISTER = 1,     /* node -> scheduler, body Register */
  PC_OP_WELCOME = 2,      /* scheduler -> node, body Welcome */
  PC_OP_PULL = 3,         /* worker -> server, keys */
  PC_OP_PULL_REPLY = 4,   /* server -> worker, values in request key order */
  PC_OP_PUSH = 5,         /* worker -> server, keys + gradients */
  PC_OP_PUSH_REPLY = 6,   /* server -> worker, status */
  PC_OP_BARRIER = 7,      /* node -> scheduler, request_id = barrier id */
  PC_OP_BARRIER_DONE = 8, /* scheduler -> node */
  PC_OP_HEARTBEAT = 9,    /* node <-> scheduler */
  PC_OP_PROGRESS = 10,    /* worker -> scheduler, body Progress */
  PC_OP_STATS = 11,       /* scheduler -> server */
  PC_OP_STATS_REPLY = 12, /* server -> scheduler, body ServerStats */
  PC_OP_EVALUATE = 13,    /* scheduler -> worker 0: save model, evaluate */
  PC_OP_EVAL_RESULT = 14, /* worker 0 -> scheduler, body EvalResult */
  PC_OP_SHUTDOWN = 15,    /* scheduler -> node, body Shutdown */
  PC_OP_BATCH = 16,       /* worker -> server: small pulls and pushes, body Batch */
  PC_OP_BATCH_REPLY = 17, /* server -> worker: pulled values, body BatchReply */
  PC_OP_DUMP = 18,        /* worker -> server: next page of stored keys, body Dump */
  PC_OP_DUMP_REPLY = 19,  /* server -> worker: keys + weights, body DumpReply */
  PC_OP_MAX_ = 19
} pc_op_t;

typedef enum pc_role {
  PC_ROLE_SCHEDULER = 1,
  PC_ROLE_SERVER = 2,
  PC_ROLE_WORKER = 3,
  PC_ROLE_CLIENT = 4
} pc_role_t;

/* Why a received message was dropped. */
typedef enum pc_drop {
  PC_DROP_FRAMES = 0, /* more than 4 frames (+ identity) */
  PC_DROP_HEADER,     /* header too large or not a Header */
  PC_DROP_VERSION,    /* another protocol version */
  PC_DROP_OP,         /* unknown op, or not one this node accepts */
  PC_DROP_SIZES,      /* frame sizes disagree with the header */
  PC_DROP_LIMIT,      /* counts above the PC_WIRE_MAX_* limits */
  PC_DROP_BODY,       /* body missing or not the expected message */
  PC_DROP_NREASONS
} pc_drop_t;

typedef struct pc_wire_hdr {
  uint32_t version;
  uint32_t op;
  uint64_t request_id;
  uint32_t sender;
  uint64_t key_count;
  uint64_t clock;
  int32_t status;
  uint32_t vals_per_key;
  uint32_t flags;
} pc_wire_hdr_t;

/* A received message. keys/vals/body point into the frames (or into an
 * aligned copy) and stay valid until pc_msg_close. */
typedef struct pc_msg {
  pc_wire_hdr_t hdr;
  const uint64_t *keys; /* NULL when the keys frame is empty */
  size_t nkeys;         /* keys in the frame (2 for a RANGE message) */
  uint64_t range_begin, range_end; /* RANGE messages only */
  const float *vals; /* NULL when the values frame is empty */
  size_t nvals;
  const uint8_t *body;
  size_t body_len;
  /* BATCH: the entries (key_count << 1 | push), checked against the
   * frames: they cover the keys frame exactly, the pushes the values. */
  const uint64_t *batch;
  size_t nbatch;
  /* BATCH_REPLY: one status per entry of the request. */
  const int32_t *batch_status;
  size_t nbatch_status;
  void *pb; /* the unpacked body that owns batch / batch_status */
  /* DUMP: where the page starts (0 = first) and its size (1 to
   * PC_WIRE_MAX_DUMP_KEYS). DUMP_REPLY: where the next page starts, and
   * whether this page is the last; its keys and values are the frames. */
  uint64_t dump_cursor;
  uint32_t dump_max_keys;
  uint32_t dump_table; /* DUMP: the table to list (< PC_TABLE_MAX) */
  int dump_done;
  int has_identity;
  zmq_msg_t identity;
  zmq_msg_t frames[4];
  int nframes;
  void *copy; /* aligned copy of keys+vals when frames were misaligned */
} pc_msg_t;

/* Counters of dropped messages, with "log once per reason". */
typedef struct pc_wire_drops {
  uint64_t count[PC_DROP_NREASONS];
  uint64_t total;
} pc_wire_drops_t;

static inline uint32_t pc_wire_sender(pc_role_t role, int rank) {
  return ((uint32_t)role << 24) | ((uint32_t)rank & 0xffffffu);
}
static inline pc_role_t pc_wire_sender_role(uint32_t s) { return (pc_role_t)(s >> 24); }
static inline int pc_wire_sender_rank(uint32_t s) { return (int)(s & 0xffffffu); }

const char *pc_wire_op_name(uint32_t op);
const char *pc_wire_role_name(pc_role_t role);
const char *pc_wire_drop_name(pc_drop_t reason);

/* Fill a header with version, op, request id, sender; zero the rest. */
void pc_wire_hdr_init(pc_wire_hdr_t *h, pc_op_t op, uint64_t request_id, uint32_t sender);

/* Send one message. identity: the peer's ROUTER identity frame (copied;
 * NULL on DEALER sockets). keys: h->key_count keys or NULL; vals:
 * nvals floats or NULL; body: blen bytes or NULL. flags: 0 or ZMQ_DONTWAIT. */
int pc_wire_send(void *sock, zmq_msg_t *identity, const pc_wire_hdr_t *h, const uint64_t *keys,
                 const float *vals, size_t nvals, const void *body, size_t blen, int flags,
                 pc_err_t *err);

/* What a bulk message carries after its header. nkeys: keys in the keys
 * frame. When vals_pooled is set, vals is itself a buffer from
 * pc_bufpool_get and is taken over (given back to its pool even on
 * failure). body: an already packed body, or NULL. */
typedef struct pc_wire_payload {
  const uint64_t *keys;
  size_t nkeys;
  float *vals;
  size_t nvals;
  int vals_pooled;
  /* Borrowed values (vals_free set): a frame of PC_WIRE_ZC_MIN bytes or
   * more goes out straight from vals, and ZeroMQ calls vals_free(vals,
   * vals_hint) once it no longer reads them; a smaller one is copied. Either
   * way vals_free is called exactly once, even on failure. */
  void (*vals_free)(void *data, void *hint);
  void *vals_hint;
  const void *body;
  size_t blen;
} pc_wire_payload_t;

/* Like pc_wire_send, for bulk traffic: keys and values frames of
 * PC_WIRE_ZC_MIN bytes or more are copied once into pool buffers and
 * handed to ZeroMQ without another copy. */
int pc_wire_send_bulk(void *sock, zmq_msg_t *identity, const pc_wire_hdr_t *h,
                      const pc_wire_payload_t *p, pc_bufpool_t *pool, int flags,
                      pc_err_t *err);

/* Pack a protobuf-c message into the body of a message and send it. */
int pc_wire_send_pb(void *sock, zmq_msg_t *identity, const pc_wire_hdr_t *h,
                    const void *pb_msg /* ProtobufCMessage* */, int flags, pc_err_t *err);

/* Receive one whole message (all its frames, always, so the next receive
 * starts at a message boundary) and check it. router: 1 if sock is a
 * ROUTER (first frame is the identity). Returns PC_OK; PC_ENOTFOUND when
 * flags has ZMQ_DONTWAIT and nothing is queued; PC_EPROTO when the message
 * was dropped (*drop says why, err the details; nothing to close);
 * PC_ESYS on socket errors. */
int pc_wire_recv(void *sock, int router, pc_msg_t *m, int flags, pc_drop_t *drop,
                 pc_err_t *err);
void pc_msg_close(pc_msg_t *m);

/* Count a drop; log it the first time a reason occurs (and every 10^k-th). */
void pc_wire_drop_note(pc_wire_drops_t *d, pc_drop_t reason, const char *who,
                       const pc_err_t *err);

/* Shard map <-> protobuf (parasol.ShardMap). unpack validates through
 * pc_shardmap_build; endpoints are copied into eps[num_servers] (each
 * PC_WIRE_MAX_ENDPOINT bytes). */
#define PC_WIRE_MAX_ENDPOINT 256
#include "parasol.pb-c.h"
int pc_wire_shardmap_to_pb(const pc_shardmap_t *m, char (*eps)[PC_WIRE_MAX_ENDPOINT],
                           Parasol__ShardMap *pb, pc_err_t *err);
void pc_wire_shardmap_pb_free(Parasol__ShardMap *pb);
int pc_wire_shardmap_from_pb(const Parasol__ShardMap *pb, pc_shardmap_t *m,
                             char (**eps)[PC_WIRE_MAX_ENDPOINT], pc_err_t *err);

/* Tables <-> protobuf (parasol.Table). to_pb fills pbs[0..n) and
 * ptrs[0..n) (no allocation: names point into t, which must outlive the
 * message). from_pb copies and checks (pc_table_check) into out[0..n),
 * n <= PC_TABLE_MAX; ids are the positions. */
int pc_wire_tables_to_pb(const pc_table_t *t, size_t n, Parasol__Table *pbs,
                         Parasol__Table **ptrs);
int pc_wire_tables_from_pb(Parasol__Table *const *pb, size_t n, pc_table_t *out,
                           pc_err_t *err);

/* Socket helpers: set linger 0, high-water marks, and (ROUTER) mandatory
 * routing. Returns PC_OK or PC_ESYS with the zmq error in err. */
int pc_wire_socket_setup(void *sock, int router, int hwm, pc_err_t *err);

#endif
