/* pb_limits: what this machine can do at best, measured in the same run as
 * Parasol's benchmarks so Parasol's figures can be reported as ratios of
 * these (same load from other processes, same CPU frequency, same kernel).
 *
 * Rows per repetition:
 *   raw_zmq_{tcp,ipc}_gbps@SIZE    one-way ZeroMQ throughput, reused buffers
 *   raw_zmq_tcp_fresh_gbps@SIZE    the same with a fresh buffer per message
 *   raw_zmq_rtt_us@4KiB, raw_zmq_rtt_p99_us@4KiB, raw_zmq_ipc_rtt_us@4KiB
 *   memcpy_gbps, sgemm_gflops      one thread each
 * GB/s means 1e9 bytes per second. */
#include "bench_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zmq.h>

/* CMake passes OpenBLAS's include directory; a bare gcc command line may
 * not, so fall back to declaring the one call used here (enums are ints). */
#if defined(__has_include)
#if __has_include(<cblas.h>)
#include <cblas.h>
#define LIM_HAVE_CBLAS_H 1
#endif
#endif
#ifndef LIM_HAVE_CBLAS_H
enum { CblasRowMajor = 101, CblasNoTrans = 111 };
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc);
#endif
/* Not in every cblas.h; identical redeclarations are harmless. */
void openblas_set_num_threads(int);
char *openblas_get_corename(void);

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define BIG_BYTES (64 * MIB) /* largest message and the memcpy size */
#define ERR_LEN 256
#define MAX_MSGS 200000      /* bounds 4 KiB points on a fast machine */
#define MIN_MSGS 8           /* a 64 MiB point still averages several */
#define QUEUE_BYTES (64 * MIB) /* per-pipe byte budget, see hwm_for() */
#define WAIT_MS 30000        /* no send or receive waits longer than this */
#define RTT_SIZE (4 * KIB)
#define RTT_WARMUP 200
#define RTT_COUNT 2000
#define MEMCPY_CALLS 16
#define SGEMM_CALLS 5

/* Everything one run needs, allocated once and reused by every repetition:
 * big buffers are prefaulted so no point pays first-touch faults except the
 * "fresh" one, whose purpose is to show that cost. */
typedef struct {
  void *ctx_tx;    /* sender side: its own I/O thread, as in another process */
  void *ctx_rx;    /* receiver side */
  char ipc_dir[64];
  int ipc_seq;     /* socket files created so far in ipc_dir */
  char *buf_a;     /* BIG_BYTES, prefaulted: send source, memcpy source */
  char *buf_b;     /* BIG_BYTES, prefaulted: memcpy destination */
  float *ma, *mb, *mc; /* n x n sgemm operands */
  int n;
  double target_s; /* minimum duration of a throughput point */
} lim_t;

/* A throughput point shared by its sender (main thread) and receiver. */
typedef struct {
  void *sock;
  size_t size;
  int rc;
  char err[ERR_LEN];
} lim_rx_t;

/* Fills err with what failed and why; returns -1 for a one-line exit. */
static int lim_fail(char *err, const char *what, int errnum) {
  snprintf(err, ERR_LEN, "%s: %s", what, zmq_strerror(errnum));
  return -1;
}

static void lim_free_noop(void *data, void *hint) {
  (void)data;
  (void)hint;
}

/* Runs on the sender's I/O thread once the kernel has the bytes. */
static void lim_free_heap(void *data, void *hint) {
  (void)hint;
  free(data);
}

/* A byte budget per pipe rather than the default 1000 messages: queued
 * messages on the receiving side are libzmq allocations of `size` bytes, so
 * 1000 x 64 MiB would be 64 GiB. QUEUE_BYTES in flight is still far more
 * than a loopback round trip's worth of data, so the sender is only held
 * back when the receiver really is slower. */
static int hwm_for(size_t size) {
  size_t n = QUEUE_BYTES / size;
  return n < 2 ? 2 : (int)n;
}

static int sock_open(void *ctx, int type, int hwm, void **out, char *err) {
  void *s = zmq_socket(ctx, type);
  if (s == NULL)
    return lim_fail(err, "zmq_socket", zmq_errno());
  int linger = 0, wait = WAIT_MS;
  if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
      zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
      zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
      zmq_setsockopt(s, ZMQ_SNDTIMEO, &wait, sizeof wait) != 0 ||
      zmq_setsockopt(s, ZMQ_RCVTIMEO, &wait, sizeof wait) != 0) {
    int e = zmq_errno();
    zmq_close(s);
    return lim_fail(err, "zmq_setsockopt", e);
  }
  *out = s;
  return 0;
}

/* Binds rx on an ephemeral tcp port or a fresh ipc file and connects tx. */
static int pair_open(lim_t *lim, int ipc, int tx_type, int rx_type, int hwm,
                     void **tx, void **rx, char *err) {
  char ep[128];
  size_t len = sizeof ep;
  if (ipc)
    snprintf(ep, sizeof ep, "ipc://%s/s%d", lim->ipc_dir, lim->ipc_seq++);
  else
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:*");
  if (sock_open(lim->ctx_rx, rx_type, hwm, rx, err) != 0)
    return -1;
  if (zmq_bind(*rx, ep) != 0 ||
      zmq_getsockopt(*rx, ZMQ_LAST_ENDPOINT, ep, &len) != 0) {
    int e = zmq_errno();
    zmq_close(*rx);
    return lim_fail(err, ep, e);
  }
  if (sock_open(lim->ctx_tx, tx_type, hwm, tx, err) != 0) {
    zmq_close(*rx);
    return -1;
  }
  if (zmq_connect(*tx, ep) != 0) {
    int e = zmq_errno();
    zmq_close(*tx);
    zmq_close(*rx);
    return lim_fail(err, ep, e);
  }
  return 0;
}

static int send_bytes(void *s, const void *p, size_t n, char *err) {
  if (zmq_send(s, p, n, 0) != (int)n)
    return lim_fail(err, "zmq_send", zmq_errno());
  return 0;
}

/* Receives one message of exactly n bytes into p. */
static int recv_bytes(void *s, void *p, size_t n, char *err) {
  int got = zmq_recv(s, p, n, 0);
  if (got < 0)
    return lim_fail(err, "zmq_recv", zmq_errno());
  if ((size_t)got != n) {
    snprintf(err, ERR_LEN, "zmq_recv: %d bytes, expected %zu", got, n);
    return -1;
  }
  return 0;
}

/* Receiver protocol: a 1-byte sync (echoed, so the sender starts its clock
 * with the connection up), messages of `size` bytes until an empty one, then
 * an ack carrying the count so the sender's clock covers delivery.
 * Messages land in zmq_msg_t and are closed. zmq_recv into one preallocated
 * buffer was measured too: equal at 4 KiB, 10-25% slower from 64 KiB up,
 * because libzmq's decoder allocates a buffer per message either way and
 * zmq_recv adds a memcpy out of it. That per-message allocation is also why
 * 64 MiB is slower than 4 MiB even with a reused send buffer: glibc serves
 * blocks over 32 MiB with a fresh mmap, so every 64 MiB message is faulted
 * in on the receiving side. */
static int rx_loop(lim_rx_t *r) {
  char sync;
  uint64_t count = 0;
  zmq_msg_t m;
  if (recv_bytes(r->sock, &sync, 1, r->err) != 0 ||
      send_bytes(r->sock, &sync, 1, r->err) != 0)
    return -1;
  if (zmq_msg_init(&m) != 0)
    return lim_fail(r->err, "zmq_msg_init", zmq_errno());
  for (;;) {
    /* Each receive releases the previous message's buffer. */
    if (zmq_msg_recv(&m, r->sock, 0) < 0) {
      zmq_msg_close(&m);
      return lim_fail(r->err, "zmq_msg_recv", zmq_errno());
    }
    size_t n = zmq_msg_size(&m);
    if (n == 0)
      break;
    if (n != r->size) {
      zmq_msg_close(&m);
      snprintf(r->err, ERR_LEN, "receiver: %zu bytes, expected %zu", n,
               r->size);
      return -1;
    }
    count++;
  }
  zmq_msg_close(&m);
  return send_bytes(r->sock, &count, sizeof count, r->err);
}

static void *rx_main(void *arg) {
  lim_rx_t *r = arg;
  r->rc = rx_loop(r);
  return NULL;
}

/* One message: the reused prefaulted buffer, or (fresh) a new malloc'd and
 * filled one that libzmq frees after sending, as a naive program would. */
static int tx_one(void *s, char *reuse, size_t size, int fresh, char *err) {
  zmq_msg_t m;
  char *p = reuse;
  if (fresh) {
    p = malloc(size);
    if (p == NULL)
      return lim_fail(err, "malloc", ENOMEM);
    memset(p, 0x5a, size);
  }
  if (zmq_msg_init_data(&m, p, size, fresh ? lim_free_heap : lim_free_noop,
                        NULL) != 0) {
    if (fresh)
      free(p);
    return lim_fail(err, "zmq_msg_init_data", zmq_errno());
  }
  if (zmq_msg_send(&m, s, 0) < 0) {
    int e = zmq_errno();
    zmq_msg_close(&m); /* runs the free callback */
    return lim_fail(err, "zmq_msg_send", e);
  }
  return 0;
}

/* Sends until both MIN_MSGS and target_s are reached (or MAX_MSGS), ends
 * with an empty message and waits for the receiver's count. Returns GB/s. */
static int tx_run(lim_t *lim, void *s, size_t size, int fresh, double *gbps,
                  char *err) {
  char sync = 1;
  uint64_t sent = 0, acked = 0;
  if (send_bytes(s, &sync, 1, err) != 0 || recv_bytes(s, &sync, 1, err) != 0)
    return -1;
  double t0 = bench_now(), t = t0;
  while (sent < MAX_MSGS && (sent < MIN_MSGS || t - t0 < lim->target_s)) {
    if (tx_one(s, lim->buf_a, size, fresh, err) != 0)
      return -1;
    sent++;
    t = bench_now();
  }
  if (send_bytes(s, "", 0, err) != 0 ||
      recv_bytes(s, &acked, sizeof acked, err) != 0)
    return -1;
  t = bench_now();
  if (acked != sent) {
    snprintf(err, ERR_LEN, "receiver got %llu of %llu messages",
             (unsigned long long)acked, (unsigned long long)sent);
    return -1;
  }
  *gbps = (double)sent * (double)size / (t - t0) / 1e9;
  return 0;
}

/* One throughput point: DEALER/DEALER so the ack travels back on the pair. */
static int tput_point(lim_t *lim, int ipc, size_t size, int fresh,
                      double *gbps, char *err) {
  void *tx, *rx;
  pthread_t th;
  lim_rx_t r = {.size = size};
  if (pair_open(lim, ipc, ZMQ_DEALER, ZMQ_DEALER, hwm_for(size), &tx, &rx,
                err) != 0)
    return -1;
  r.sock = rx;
  int rc = pthread_create(&th, NULL, rx_main, &r);
  if (rc != 0) {
    zmq_close(tx);
    zmq_close(rx);
    return lim_fail(err, "pthread_create", rc);
  }
  rc = tx_run(lim, tx, size, fresh, gbps, err);
  pthread_join(th, NULL); /* a failed sender leaves rx to its WAIT_MS */
  if (r.rc != 0) { /* the receiver's reason explains the sender's timeout */
    memcpy(err, r.err, ERR_LEN);
    rc = -1;
  }
  zmq_close(tx);
  zmq_close(rx); /* owned by main again: pthread_join is a full barrier */
  return rc;
}

typedef struct {
  void *sock;
  int rc;
  char err[ERR_LEN];
} lim_echo_t;

/* REP side of the round trip: echoes until an empty message. */
static int echo_loop(lim_echo_t *e) {
  char buf[RTT_SIZE];
  for (;;) {
    int n = zmq_recv(e->sock, buf, sizeof buf, 0);
    if (n < 0)
      return lim_fail(e->err, "echo zmq_recv", zmq_errno());
    if ((size_t)n > sizeof buf) {
      snprintf(e->err, ERR_LEN, "echo: %d bytes, expected <= %zu", n,
               sizeof buf);
      return -1;
    }
    if (send_bytes(e->sock, buf, (size_t)n, e->err) != 0)
      return -1;
    if (n == 0)
      return 0;
  }
}

static void *echo_main(void *arg) {
  lim_echo_t *e = arg;
  e->rc = echo_loop(e);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* RTT_WARMUP untimed round trips (connection, caches, allocator), then
 * RTT_COUNT timed ones into us[]; an empty message stops the echo. */
static int rtt_run(void *s, const char *payload, double *us, char *err) {
  char back[RTT_SIZE];
  for (int i = 0; i < RTT_WARMUP + RTT_COUNT; i++) {
    double t = bench_now();
    if (send_bytes(s, payload, RTT_SIZE, err) != 0 ||
        recv_bytes(s, back, RTT_SIZE, err) != 0)
      return -1;
    if (i >= RTT_WARMUP)
      us[i - RTT_WARMUP] = (bench_now() - t) * 1e6;
  }
  if (send_bytes(s, "", 0, err) != 0 || recv_bytes(s, back, 0, err) != 0)
    return -1;
  return 0;
}

/* Median and p99 round trip of RTT_SIZE bytes, REQ/REP between threads. */
static int rtt_point(lim_t *lim, int ipc, double *med, double *p99, char *err) {
  static double us[RTT_COUNT];
  void *tx, *rx;
  pthread_t th;
  lim_echo_t e = {0};
  /* Lockstep: one message in flight, so the default 1000 never binds. */
  if (pair_open(lim, ipc, ZMQ_REQ, ZMQ_REP, 1000, &tx, &rx, err) != 0)
    return -1;
  e.sock = rx;
  int rc = pthread_create(&th, NULL, echo_main, &e);
  if (rc != 0) {
    zmq_close(tx);
    zmq_close(rx);
    return lim_fail(err, "pthread_create", rc);
  }
  rc = rtt_run(tx, lim->buf_a, us, err);
  pthread_join(th, NULL);
  if (e.rc != 0) {
    memcpy(err, e.err, ERR_LEN);
    rc = -1;
  }
  zmq_close(tx);
  zmq_close(rx);
  if (rc != 0)
    return -1;
  qsort(us, RTT_COUNT, sizeof us[0], cmp_double);
  *med = (us[RTT_COUNT / 2 - 1] + us[RTT_COUNT / 2]) / 2; /* RTT_COUNT even */
  *p99 = us[(RTT_COUNT * 99 + 99) / 100 - 1];             /* nearest rank */
  return 0;
}

/* Best of MEMCPY_CALLS copies of BIG_BYTES between prefaulted buffers: the
 * best, because other processes on this machine only ever slow a copy. */
static double memcpy_gbps(lim_t *lim) {
  double best = 0;
  for (int i = 0; i < MEMCPY_CALLS; i++) {
    double t = bench_now();
    memcpy(lim->buf_b, lim->buf_a, BIG_BYTES);
    t = bench_now() - t;
    if (BIG_BYTES / t > best)
      best = BIG_BYTES / t;
  }
  return best / 1e9;
}

/* Best of SGEMM_CALLS n x n products after one warm-up (OpenBLAS sizes its
 * buffers on the first call); 2 n^3 flops each. */
static double sgemm_gflops(lim_t *lim) {
  int n = lim->n;
  double best = 0;
  for (int i = 0; i <= SGEMM_CALLS; i++) {
    double t = bench_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
                lim->ma, n, lim->mb, n, 0.0f, lim->mc, n);
    t = bench_now() - t;
    if (i > 0 && 2.0 * n * n * n / t > best)
      best = 2.0 * n * n * n / t;
  }
  return best / 1e9;
}

/* Rows named <prefix>@<size>, e.g. raw_zmq_tcp_gbps@64KiB. */
static void row_sized(const char *prefix, size_t size, double v,
                      const char *unit) {
  char name[96], sz[16];
  snprintf(name, sizeof name, "%s@%s", prefix,
           bench_size_name(size, sz, sizeof sz));
  bench_row(name, v, unit);
}

static int rep_zmq(lim_t *lim, char *err) {
  static const size_t sizes[] = {4 * KIB, 64 * KIB, 4 * MIB, 64 * MIB};
  double v, p99;
  if (rtt_point(lim, 0, &v, &p99, err) != 0)
    return -1;
  bench_row("raw_zmq_rtt_us@4KiB", v, "us");
  bench_row("raw_zmq_rtt_p99_us@4KiB", p99, "us");
  if (rtt_point(lim, 1, &v, &p99, err) != 0)
    return -1;
  bench_row("raw_zmq_ipc_rtt_us@4KiB", v, "us");
  for (int ipc = 0; ipc <= 1; ipc++)
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      if (tput_point(lim, ipc, sizes[i], 0, &v, err) != 0)
        return -1;
      row_sized(ipc ? "raw_zmq_ipc_gbps" : "raw_zmq_tcp_gbps", sizes[i], v,
                "GB/s");
    }
  for (size_t i = 2; i < sizeof sizes / sizeof sizes[0]; i++) { /* 4, 64 MiB */
    if (tput_point(lim, 0, sizes[i], 1, &v, err) != 0)
      return -1;
    row_sized("raw_zmq_tcp_fresh_gbps", sizes[i], v, "GB/s");
  }
  return 0;
}

/* A 2 MiB-aligned, prefaulted buffer with huge pages advised, as Parasol's
 * own large arrays are (pc_bufpool, ps_store), so limits and Parasol see the
 * same memory. Only advice: THP is in madvise mode here and may say no. */
static void *big_alloc(size_t len, char *err) {
  void *p = NULL;
  int rc = posix_memalign(&p, 2 * MIB, len);
  if (rc != 0) {
    lim_fail(err, "posix_memalign", rc);
    return NULL;
  }
  (void)madvise(p, len, MADV_HUGEPAGE);
  bench_prefault(p, len);
  return p;
}

static int lim_setup(lim_t *lim, char *err) {
  memset(lim, 0, sizeof *lim);
  lim->target_s = bench_quick() ? 0.15 : 0.3;
  lim->n = bench_quick() ? 512 : 1024;
  snprintf(lim->ipc_dir, sizeof lim->ipc_dir, "/tmp/pb_limits.XXXXXX");
  if (mkdtemp(lim->ipc_dir) == NULL) {
    lim->ipc_dir[0] = '\0';
    return lim_fail(err, "mkdtemp", errno);
  }
  lim->ctx_tx = zmq_ctx_new();
  lim->ctx_rx = zmq_ctx_new();
  if (lim->ctx_tx == NULL || lim->ctx_rx == NULL)
    return lim_fail(err, "zmq_ctx_new", zmq_errno());
  size_t mat = (size_t)lim->n * (size_t)lim->n * sizeof(float);
  if ((lim->buf_a = big_alloc(BIG_BYTES, err)) == NULL ||
      (lim->buf_b = big_alloc(BIG_BYTES, err)) == NULL ||
      (lim->ma = big_alloc(mat, err)) == NULL ||
      (lim->mb = big_alloc(mat, err)) == NULL ||
      (lim->mc = big_alloc(mat, err)) == NULL)
    return -1;
  memset(lim->buf_a, 0x5a, BIG_BYTES);
  for (size_t i = 0; i < mat / sizeof(float); i++) {
    lim->ma[i] = (float)(i % 7) * 0.25f;
    lim->mb[i] = (float)(i % 5) * 0.5f;
  }
  return 0;
}

/* Safe on a partly set-up lim: every field starts zeroed. */
static void lim_teardown(lim_t *lim) {
  if (lim->ctx_tx != NULL)
    zmq_ctx_term(lim->ctx_tx);
  if (lim->ctx_rx != NULL)
    zmq_ctx_term(lim->ctx_rx);
  for (int i = 0; i < lim->ipc_seq; i++) {
    char path[96];
    snprintf(path, sizeof path, "%s/s%d", lim->ipc_dir, i);
    (void)unlink(path); /* libzmq usually removed it when the socket closed */
  }
  if (lim->ipc_dir[0] != '\0' && rmdir(lim->ipc_dir) != 0)
    fprintf(stderr, "pb_limits: rmdir %s: %s\n", lim->ipc_dir, strerror(errno));
  free(lim->buf_a);
  free(lim->buf_b);
  free(lim->ma);
  free(lim->mb);
  free(lim->mc);
}

int main(void) {
  lim_t lim;
  char err[ERR_LEN];
  openblas_set_num_threads(1); /* one core, as each Parasol process uses */
  /* sgemm_gflops depends on the kernel OpenBLAS picked for this CPU. */
  fprintf(stderr, "pb_limits: OpenBLAS core %s\n", openblas_get_corename());
  int rc = lim_setup(&lim, err);
  for (int rep = 0; rc == 0 && rep < bench_reps(); rep++) {
    bench_row("memcpy_gbps", memcpy_gbps(&lim), "GB/s");
    bench_row("sgemm_gflops", sgemm_gflops(&lim), "GFLOP/s");
    rc = rep_zmq(&lim, err);
  }
  if (rc != 0)
    fprintf(stderr, "pb_limits: %s\n", err);
  lim_teardown(&lim);
  return rc == 0 ? 0 : 1;
}
