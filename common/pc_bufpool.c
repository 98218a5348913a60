#include "pc_bufpool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NCLASSES 15 /* 64 KiB .. 1 GiB */
#define HDR 64      /* keeps data 64-byte aligned */
#define MAGIC 0x7053504f4f4cULL
#define HUGE_MIN (2u << 20)

typedef struct buf_hdr {
  uint64_t magic;
  pc_bufpool_t *pool;
  size_t cap; /* data bytes */
  int cls;
  struct buf_hdr *next;
} buf_hdr_t;

struct pc_bufpool {
  pthread_mutex_t mu;
  buf_hdr_t *free[NCLASSES];
  size_t idle, idle_bytes, max_cached, allocs;
};

int pc_bufpool_new(pc_bufpool_t **out, size_t max_cached, pc_err_t *err) {
  pc_bufpool_t *p = calloc(1, sizeof *p);
  if (p == NULL)
    return pc_err_set(err, PC_ENOMEM, "buffer pool");
  pthread_mutex_init(&p->mu, NULL);
  p->max_cached = max_cached;
  *out = p;
  return PC_OK;
}

static void raw_free(buf_hdr_t *h) {
  size_t total = h->cap + HDR;
  if (h->cap >= HUGE_MIN)
    munmap(h, total);
  else
    free(h);
}

void pc_bufpool_destroy(pc_bufpool_t **pp) {
  pc_bufpool_t *p = *pp;
  if (p == NULL)
    return;
  for (int c = 0; c < NCLASSES; c++)
    while (p->free[c]) {
      buf_hdr_t *h = p->free[c];
      p->free[c] = h->next;
      raw_free(h);
    }
  pthread_mutex_destroy(&p->mu);
  free(p);
  *pp = NULL;
}

static int class_of(size_t len) {
  int c = 0;
  size_t cap = PC_BUFPOOL_MIN;
  while (cap < len && c < NCLASSES - 1) {
    cap <<= 1;
    c++;
  }
  return cap >= len ? c : -1;
}

static buf_hdr_t *raw_alloc(size_t cap) {
  size_t total = cap + HDR;
  void *m;
  if (cap >= HUGE_MIN) {
    m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
      return NULL;
    madvise(m, total, MADV_HUGEPAGE);
  } else if ((m = aligned_alloc(HDR, total)) == NULL) {
    return NULL;
  }
  return m;
}

void *pc_bufpool_get(pc_bufpool_t *p, size_t len) {
  int c = class_of(len);
  if (c < 0)
    return NULL;
  pthread_mutex_lock(&p->mu);
  buf_hdr_t *h = p->free[c];
  if (h != NULL) {
    p->free[c] = h->next;
    p->idle--;
    p->idle_bytes -= h->cap;
  } else {
    p->allocs++;
  }
  pthread_mutex_unlock(&p->mu);
  if (h == NULL) {
    size_t cap = (size_t)PC_BUFPOOL_MIN << c;
    if ((h = raw_alloc(cap)) == NULL)
      return NULL;
    *h = (buf_hdr_t){MAGIC, p, cap, c, NULL};
  }
  return (char *)h + HDR;
}

void pc_bufpool_put(void *data) {
  if (data == NULL)
    return;
  buf_hdr_t *h = (buf_hdr_t *)((char *)data - HDR);
  pc_bufpool_t *p = h->pool;
  pthread_mutex_lock(&p->mu);
  int keep = p->idle_bytes + h->cap <= p->max_cached;
  if (keep) {
    h->next = p->free[h->cls];
    p->free[h->cls] = h;
    p->idle++;
    p->idle_bytes += h->cap;
  }
  pthread_mutex_unlock(&p->mu);
  if (!keep)
    raw_free(h);
}

void pc_bufpool_zmq_free(void *data, void *hint) {
  (void)hint;
  pc_bufpool_put(data);
}

void pc_bufpool_stats(pc_bufpool_t *p, size_t *idle, size_t *idle_bytes, size_t *allocs) {
  pthread_mutex_lock(&p->mu);
  if (idle)
    *idle = p->idle;
  if (idle_bytes)
    *idle_bytes = p->idle_bytes;
  if (allocs)
    *allocs = p->allocs;
  pthread_mutex_unlock(&p->mu);
}
