/* Reusable large buffers. On this machine the first touch of a fresh page
 * costs ~12-15 us (0.3 GB/s), so a message path that gets a new buffer from
 * the allocator per large message is page-fault bound. A pool hands back
 * buffers already touched; big ones are mapped with MADV_HUGEPAGE. Buffers
 * can be given to ZeroMQ without a copy (zmq_msg_init_data with
 * pc_bufpool_zmq_free), and come back to the pool from ZeroMQ's I/O thread:
 * the pool is thread-safe. Destroy a pool only after the ZeroMQ contexts
 * that may still hold its buffers are terminated. */
#ifndef PC_BUFPOOL_H
#define PC_BUFPOOL_H

#include <stddef.h>

#include "pc_error.h"

#define PC_BUFPOOL_MIN (64u << 10) /* smallest class: 64 KiB */

typedef struct pc_bufpool pc_bufpool_t;

/* max_cached: bytes of idle buffers kept for reuse (more are freed). */
int pc_bufpool_new(pc_bufpool_t **out, size_t max_cached, pc_err_t *err);
void pc_bufpool_destroy(pc_bufpool_t **p);

/* A buffer of at least len bytes (NULL when out of memory). */
void *pc_bufpool_get(pc_bufpool_t *p, size_t len);
/* Give a buffer back (any thread). */
void pc_bufpool_put(void *data);
/* zmq_free_fn: returns the buffer to its pool. */
void pc_bufpool_zmq_free(void *data, void *hint);

/* Idle buffers and bytes held, fresh allocations made (for tests/benches). */
void pc_bufpool_stats(pc_bufpool_t *p, size_t *idle, size_t *idle_bytes, size_t *allocs);

#endif
