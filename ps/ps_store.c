#include "ps_store.h"

#include "pc_hash.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Arrays at least this big come from mmap, 2 MiB aligned, with
 * MADV_HUGEPAGE: filling a fresh table is otherwise dominated by 4 KiB
 * first-touch page faults on these machines (see NOTES.md). */
#define STORE_HUGE ((size_t)2 << 20)

/* A small first table: servers that own few sparse keys stay small, and
 * doubling amortises the rest. */
#define STORE_TABLE_MIN 1024

/* Mixed into the key before hashing. The shard map places keys by
 * pc_hash_u64(key) too; salting keeps the table's slot bits unrelated to
 * that placement, whatever scheme it uses (with e.g. hash % S, an unsalted
 * table would reach only 1/S of its home slots on each server). */
#define STORE_HASH_SALT 0x2545f4914f6cdd1dULL

/* Once the table outgrows the caches every key costs a memory miss; asking
 * for the slot of the key this many places ahead overlaps those misses
 * (measured ~1.6x on AdaGrad updates at 10M keys). Smaller tables stay in
 * cache and skip it, as do servers that hold only dense keys. */
#define STORE_PREFETCH_AHEAD 16
#define STORE_PREFETCH_MIN_CAP ((size_t)1 << 16)

/* One allocation with one owner: heap for small sizes, a private anonymous
 * mapping for large ones. */
typedef struct store_buf {
  void *p;
  size_t len; /* bytes held (mapping length when mapped) */
  bool mapped;
} store_buf_t;

typedef struct store_range {
  uint64_t begin, end; /* [begin, end) */
  size_t off;          /* index of begin in the dense arrays */
} store_range_t;

/* Open addressing, linear probing, structure of arrays so a probe walks
 * only the 8-byte keys. PS_KEY_INVALID marks an empty slot; keys are never
 * deleted, so no tombstones. Empty slots keep w = 0 and state = 0. */
typedef struct store_table {
  uint64_t *keys;
  float *w;
  float *s; /* NULL for SGD */
  size_t cap; /* power of two */
  size_t count;
  store_buf_t buf;
} store_table_t;

struct ps_store {
  ps_optim_t optim;
  int slots;         /* state floats per key (0 or 1) */
  size_t slot_bytes; /* table bytes per slot: key + weight + state */
  store_range_t *ranges; /* sorted by begin, disjoint */
  size_t nranges;
  float *dw, *ds; /* dense weights and state (ds NULL for SGD) */
  size_t ndense;
  store_buf_t dense_buf;
  store_table_t tab;
  uint64_t pushes_rejected;
};

/* ---- memory ---------------------------------------------------------- */

static int buf_map(store_buf_t *b, size_t bytes) {
  if (bytes > SIZE_MAX - 2 * STORE_HUGE)
    return PC_ENOMEM;
  size_t len = (bytes + STORE_HUGE - 1) & ~(STORE_HUGE - 1);
  /* Map one huge page extra, then cut the ends so the array starts on a
   * 2 MiB boundary: only aligned 2 MiB blocks can become huge pages. */
  size_t span = len + STORE_HUGE;
  char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    return PC_ENOMEM;
  uintptr_t a = ((uintptr_t)raw + STORE_HUGE - 1) & ~(uintptr_t)(STORE_HUGE - 1);
  char *p = (char *)a;
  size_t head = (size_t)(p - raw);
  size_t tail = span - head - len;
  if (head > 0)
    munmap(raw, head);
  if (tail > 0)
    munmap(p + len, tail);
#ifdef MADV_HUGEPAGE
  /* Only a hint: without THP the store works the same, just faults slower. */
  (void)madvise(p, len, MADV_HUGEPAGE);
#endif
  b->p = p;
  b->len = len;
  b->mapped = true;
  return PC_OK;
}

/* Zero-filled memory of at least `bytes` (none for 0). */
static int buf_alloc(store_buf_t *b, size_t bytes) {
  memset(b, 0, sizeof *b);
  if (bytes == 0)
    return PC_OK;
  if (bytes >= STORE_HUGE)
    return buf_map(b, bytes);
  b->p = calloc(1, bytes);
  if (b->p == NULL)
    return PC_ENOMEM;
  b->len = bytes;
  return PC_OK;
}

static void buf_free(store_buf_t *b) {
  if (b->p != NULL) {
    if (b->mapped)
      munmap(b->p, b->len);
    else
      free(b->p);
  }
  memset(b, 0, sizeof *b);
}

/* ---- hash table -------------------------------------------------------- */

static size_t table_max_keys(size_t cap) {
  return cap - cap / 4; /* load factor 0.75 */
}

static int table_init(store_table_t *t, size_t cap, size_t slot_bytes, int slots,
                      pc_err_t *err) {
  if (cap > SIZE_MAX / slot_bytes)
    return pc_err_set(err, PC_ENOMEM, "hash table of %zu slots is too large", cap);
  store_buf_t buf;
  if (buf_alloc(&buf, cap * slot_bytes) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "hash table of %zu slots (%zu bytes): out of memory",
                      cap, cap * slot_bytes);
  char *p = buf.p;
  memset(t, 0, sizeof *t);
  t->keys = (uint64_t *)p;
  t->w = (float *)(p + cap * sizeof(uint64_t));
  t->s = slots > 0 ? t->w + cap : NULL;
  t->cap = cap;
  t->buf = buf;
  memset(t->keys, 0xff, cap * sizeof(uint64_t)); /* all PS_KEY_INVALID */
  return PC_OK;
}

/* pc_hash_u64 is an out-of-line call; at 10M keys it measured no slower
 * than an inlined copy, since each key's cost is a cache miss. */
static inline size_t store_home(const store_table_t *t, uint64_t key) {
  return (size_t)pc_hash_u64(key ^ STORE_HASH_SALT) & (t->cap - 1);
}

/* Start loading the home slot of key (a hint; never faults). Forced inline:
 * GCC otherwise keeps it out of line, judges a function of prefetches alone
 * free of side effects, and deletes every call to it. */
static inline __attribute__((always_inline)) void table_prefetch(const store_table_t *t,
                                                                   uint64_t key) {
  size_t i = store_home(t, key);
  __builtin_prefetch(&t->keys[i], 1);
  __builtin_prefetch(&t->w[i], 1);
  if (t->s != NULL)
    __builtin_prefetch(&t->s[i], 1);
}

/* Keys below the returned index get a prefetch STORE_PREFETCH_AHEAD ahead. */
static inline size_t prefetch_end(const store_table_t *t, size_t n) {
  if (t->cap < STORE_PREFETCH_MIN_CAP || n <= STORE_PREFETCH_AHEAD)
    return 0;
  return n - STORE_PREFETCH_AHEAD;
}

static size_t table_find(const store_table_t *t, uint64_t key) {
  size_t mask = t->cap - 1;
  size_t i = store_home(t, key);
  /* Terminates: the load factor keeps at least one slot empty. */
  while (t->keys[i] != key && t->keys[i] != PS_KEY_INVALID)
    i = (i + 1) & mask;
  return i;
}

/* Slot of key, inserted with w = 0 and state = init when new. The caller
 * has reserved room, so this never grows the table. */
static inline size_t table_upsert(store_table_t *t, uint64_t key, float init) {
  size_t i = table_find(t, key);
  if (t->keys[i] == PS_KEY_INVALID) {
    assert(t->count < table_max_keys(t->cap));
    t->keys[i] = key;
    if (t->s != NULL)
      t->s[i] = init;
    t->count++;
  }
  return i;
}

/* Move every entry into a fresh table of new_cap slots. Keys are distinct,
 * so each goes to the first empty slot from its home. */
static int table_rehash(ps_store_t *s, size_t new_cap, pc_err_t *err) {
  store_table_t nt;
  int rc = table_init(&nt, new_cap, s->slot_bytes, s->slots, err);
  if (rc != PC_OK)
    return rc;
  const store_table_t *ot = &s->tab;
  size_t mask = new_cap - 1;
  for (size_t i = 0; i < ot->cap; i++) {
    uint64_t k = ot->keys[i];
    if (k == PS_KEY_INVALID)
      continue;
    size_t j = store_home(&nt, k);
    while (nt.keys[j] != PS_KEY_INVALID)
      j = (j + 1) & mask;
    nt.keys[j] = k;
    nt.w[j] = ot->w[i];
    if (nt.s != NULL)
      nt.s[j] = ot->s[i];
  }
  nt.count = ot->count;
  buf_free(&s->tab.buf);
  s->tab = nt;
  return PC_OK;
}

/* Make room for `extra` more keys, doubling as often as needed. */
static int table_reserve(ps_store_t *s, size_t extra, pc_err_t *err) {
  size_t count = s->tab.count;
  if (extra <= table_max_keys(s->tab.cap) - count)
    return PC_OK;
  if (extra > SIZE_MAX / 2 - count)
    return pc_err_set(err, PC_ENOMEM, "cannot hold %zu more keys", extra);
  size_t need = count + extra;
  size_t cap = s->tab.cap;
  while (table_max_keys(cap) < need) {
    if (cap > SIZE_MAX / 2 / s->slot_bytes)
      return pc_err_set(err, PC_ENOMEM, "hash table for %zu keys is too large", need);
    cap *= 2;
  }
  return table_rehash(s, cap, err);
}

/* ---- dense ranges ------------------------------------------------------ */

/* Index of key in the dense arrays, or SIZE_MAX when no range holds it
 * (SIZE_MAX is never an index: the float array would not fit in memory). */
static inline size_t dense_index(const ps_store_t *s, uint64_t key) {
  const store_range_t *r = s->ranges;
  size_t n = s->nranges;
  if (n == 1) /* the common layout: one contiguous range per server */
    return key - r[0].begin < r[0].end - r[0].begin ? (size_t)(key - r[0].begin) : SIZE_MAX;
  /* Last range with begin <= key. */
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r[mid].begin <= key)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0 || key >= r[lo - 1].end)
    return SIZE_MAX;
  return r[lo - 1].off + (size_t)(key - r[lo - 1].begin);
}

static int range_cmp(const void *a, const void *b) {
  uint64_t x = ((const store_range_t *)a)->begin, y = ((const store_range_t *)b)->begin;
  return x < y ? -1 : x > y;
}

/* Copy, sort and check the ranges; sets s->ranges, nranges and ndense. */
static int store_set_ranges(ps_store_t *s, const ps_store_range_t *in, size_t n, pc_err_t *err) {
  if (n == 0)
    return PC_OK;
  if (in == NULL)
    return pc_err_set(err, PC_EINVAL, "%zu dense ranges given without an array", n);
  if (n > SIZE_MAX / sizeof(store_range_t))
    return pc_err_set(err, PC_ENOMEM, "%zu dense ranges are too many", n);
  s->ranges = calloc(n, sizeof(store_range_t));
  if (s->ranges == NULL)
    return pc_err_set(err, PC_ENOMEM, "copying %zu dense ranges: out of memory", n);
  s->nranges = n;
  for (size_t i = 0; i < n; i++) {
    if (in[i].begin >= in[i].end)
      return pc_err_set(err, PC_EINVAL, "dense range %zu [%" PRIu64 ", %" PRIu64 ") is empty",
                        i, in[i].begin, in[i].end);
    s->ranges[i].begin = in[i].begin;
    s->ranges[i].end = in[i].end;
  }
  qsort(s->ranges, n, sizeof(store_range_t), range_cmp);
  /* Bound the total so ndense * (bytes per dense key) cannot overflow. */
  const uint64_t max_keys = SIZE_MAX / 16;
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    const store_range_t *r = &s->ranges[i];
    if (i > 0 && r->begin < s->ranges[i - 1].end)
      return pc_err_set(err, PC_EINVAL,
                        "dense ranges [%" PRIu64 ", %" PRIu64 ") and [%" PRIu64 ", %" PRIu64
                        ") overlap",
                        s->ranges[i - 1].begin, s->ranges[i - 1].end, r->begin, r->end);
    if (r->end - r->begin > max_keys - total)
      return pc_err_set(err, PC_ENOMEM, "dense ranges hold more than %" PRIu64 " keys",
                        max_keys);
    s->ranges[i].off = (size_t)total;
    total += r->end - r->begin;
  }
  s->ndense = (size_t)total;
  return PC_OK;
}

static int store_alloc_dense(ps_store_t *s, pc_err_t *err) {
  size_t per_key = sizeof(float) * (size_t)(1 + s->slots);
  if (buf_alloc(&s->dense_buf, s->ndense * per_key) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "dense arrays for %zu keys (%zu bytes): out of memory",
                      s->ndense, s->ndense * per_key);
  s->dw = s->dense_buf.p;
  if (s->slots > 0 && s->ndense > 0) {
    s->ds = s->dw + s->ndense;
    /* Fresh memory is already 0; fill only when it must differ, to avoid
     * touching every page up front for nothing. */
    if (s->optim.init_accum != 0.0f)
      for (size_t i = 0; i < s->ndense; i++)
        s->ds[i] = s->optim.init_accum;
  }
  return PC_OK;
}

/* ---- public API -------------------------------------------------------- */

int ps_store_new(ps_store_t **out, const ps_optim_t *optim, const ps_store_range_t *ranges,
                 size_t nranges, pc_err_t *err) {
  if (out == NULL || optim == NULL)
    return pc_err_set(err, PC_EINVAL, "ps_store_new: NULL argument");
  *out = NULL;
  if (optim->type != PC_OPTIM_SGD && optim->type != PC_OPTIM_ADAGRAD)
    return pc_err_set(err, PC_EINVAL, "unknown optimizer type %d", (int)optim->type);
  ps_store_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return pc_err_set(err, PC_ENOMEM, "allocating the store: out of memory");
  s->optim = *optim;
  s->slots = ps_optim_state_slots(optim);
  s->slot_bytes = sizeof(uint64_t) + sizeof(float) * (size_t)(1 + s->slots);
  int rc = store_set_ranges(s, ranges, nranges, err);
  if (rc == PC_OK)
    rc = store_alloc_dense(s, err);
  if (rc == PC_OK)
    rc = table_init(&s->tab, STORE_TABLE_MIN, s->slot_bytes, s->slots, err);
  if (rc != PC_OK) {
    ps_store_destroy(&s);
    return rc;
  }
  *out = s;
  return PC_OK;
}

void ps_store_destroy(ps_store_t **sp) {
  if (sp == NULL || *sp == NULL)
    return;
  ps_store_t *s = *sp;
  buf_free(&s->tab.buf);
  buf_free(&s->dense_buf);
  free(s->ranges);
  free(s);
  *sp = NULL;
}

int ps_store_pull(ps_store_t *s, const uint64_t *keys, size_t n, float *out) {
  if (s == NULL || (n > 0 && (keys == NULL || out == NULL)))
    return PC_EINVAL;
  const store_table_t *t = &s->tab;
  size_t pf = prefetch_end(t, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(t, keys[i + STORE_PREFETCH_AHEAD]);
    uint64_t k = keys[i];
    if (k == PS_KEY_INVALID)
      return PC_EINVAL;
    size_t d = dense_index(s, k);
    if (d != SIZE_MAX) {
      out[i] = s->dw[d];
      continue;
    }
    size_t j = table_find(t, k);
    out[i] = t->keys[j] == k ? t->w[j] : 0.0f;
  }
  return PC_OK;
}

/* Everything that can refuse a push, checked before anything changes. */
static int push_check(ps_store_t *s, const uint64_t *keys, const float *grads, size_t n,
                      pc_err_t *err) {
  for (size_t i = 0; i < n; i++) {
    if (keys[i] == PS_KEY_INVALID)
      return pc_err_set(err, PC_EINVAL, "push item %zu of %zu: key %" PRIu64
                        " is PS_KEY_INVALID (reserved)", i, n, keys[i]);
    if (!isfinite(grads[i])) {
      s->pushes_rejected++;
      return pc_err_set(err, PC_EDATA,
                        "push rejected: gradient for key %" PRIu64 " is %g (item %zu of %zu)",
                        keys[i], (double)grads[i], i, n);
    }
  }
  return PC_OK;
}

/* Grow the table before applying, so a failed allocation leaves the store
 * unchanged. Only when the push could overflow the current table are the
 * new keys counted (duplicates among them over-count, which only grows
 * early). */
static int push_reserve(ps_store_t *s, const uint64_t *keys, size_t n, pc_err_t *err) {
  if (n <= table_max_keys(s->tab.cap) - s->tab.count)
    return PC_OK;
  size_t fresh = 0;
  size_t pf = prefetch_end(&s->tab, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(&s->tab, keys[i + STORE_PREFETCH_AHEAD]);
    if (dense_index(s, keys[i]) != SIZE_MAX)
      continue;
    if (s->tab.keys[table_find(&s->tab, keys[i])] == PS_KEY_INVALID)
      fresh++;
  }
  return table_reserve(s, fresh, err);
}

static void push_sgd(ps_store_t *s, const uint64_t *keys, const float *grads, size_t n) {
  const float lr = s->optim.lr, l2 = s->optim.l2;
  store_table_t *t = &s->tab;
  size_t pf = prefetch_end(t, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(t, keys[i + STORE_PREFETCH_AHEAD]);
    size_t d = dense_index(s, keys[i]);
    float *w = d != SIZE_MAX ? &s->dw[d] : &t->w[table_upsert(t, keys[i], 0.0f)];
    ps_optim_sgd_step(w, grads[i], lr, l2);
  }
}

static void push_adagrad(ps_store_t *s, const uint64_t *keys, const float *grads, size_t n) {
  const float lr = s->optim.lr, l2 = s->optim.l2, eps = s->optim.eps;
  const float init = s->optim.init_accum;
  store_table_t *t = &s->tab;
  size_t pf = prefetch_end(t, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(t, keys[i + STORE_PREFETCH_AHEAD]);
    size_t d = dense_index(s, keys[i]);
    float *w, *st;
    if (d != SIZE_MAX) {
      w = &s->dw[d];
      st = &s->ds[d];
    } else {
      size_t j = table_upsert(t, keys[i], init);
      w = &t->w[j];
      st = &t->s[j];
    }
    ps_optim_adagrad_step(w, st, grads[i], lr, l2, eps);
  }
}

int ps_store_push(ps_store_t *s, const uint64_t *keys, const float *grads, size_t n,
                  pc_err_t *err) {
  if (s == NULL || (n > 0 && (keys == NULL || grads == NULL)))
    return pc_err_set(err, PC_EINVAL, "ps_store_push: NULL argument");
  int rc = push_check(s, keys, grads, n, err);
  if (rc == PC_OK)
    rc = push_reserve(s, keys, n, err);
  if (rc != PC_OK)
    return rc;
  switch (s->optim.type) {
  case PC_OPTIM_SGD:
    push_sgd(s, keys, grads, n);
    break;
  case PC_OPTIM_ADAGRAD:
    push_adagrad(s, keys, grads, n);
    break;
  }
  return PC_OK;
}

void ps_store_stats(const ps_store_t *s, ps_store_stats_t *out) {
  memset(out, 0, sizeof *out);
  out->sparse_keys = s->tab.count;
  out->dense_keys = s->ndense;
  out->sparse_capacity = s->tab.cap;
  out->bytes = (uint64_t)s->tab.cap * s->slot_bytes +
               (uint64_t)s->ndense * sizeof(float) * (uint64_t)(1 + s->slots);
  out->pushes_rejected = s->pushes_rejected;
}

static void iter_emit(const ps_store_t *s, float *w, float *state, const float *ws,
                      const float *ss, size_t i) {
  *w = ws[i];
  if (state != NULL)
    *state = s->slots > 0 ? ss[i] : 0.0f;
}

int ps_store_iter_next(const ps_store_t *s, ps_store_iter_t *it, uint64_t *key, float *w,
                       float *state) {
  while (it->range < s->nranges) {
    const store_range_t *r = &s->ranges[it->range];
    if (it->pos < r->end - r->begin) {
      *key = r->begin + it->pos;
      iter_emit(s, w, state, s->dw, s->ds, r->off + (size_t)it->pos);
      it->pos++;
      return 1;
    }
    it->range++;
    it->pos = 0;
  }
  const store_table_t *t = &s->tab;
  for (; it->pos < t->cap; it->pos++) {
    if (t->keys[it->pos] != PS_KEY_INVALID) {
      *key = t->keys[it->pos];
      iter_emit(s, w, state, t->w, t->s, (size_t)it->pos);
      it->pos++;
      return 1;
    }
  }
  return 0;
}

/* ---- key ranges -------------------------------------------------------- */

/* Offset of [begin, end) in the dense arrays when one dense range holds all
 * of it, else SIZE_MAX. */
static size_t dense_block(const ps_store_t *s, uint64_t begin, uint64_t end) {
  size_t d = dense_index(s, begin);
  if (d == SIZE_MAX || dense_index(s, end - 1) != d + (size_t)(end - 1 - begin))
    return SIZE_MAX;
  return d;
}

#define RANGE_CHUNK 4096

int ps_store_pull_range(ps_store_t *s, uint64_t begin, uint64_t end, float *out) {
  if (s == NULL || begin >= end || end == PS_KEY_INVALID || out == NULL)
    return PC_EINVAL;
  size_t d = dense_block(s, begin, end);
  if (d != SIZE_MAX) {
    memcpy(out, s->dw + d, (size_t)(end - begin) * sizeof *out);
    return PC_OK;
  }
  uint64_t keys[RANGE_CHUNK];
  for (uint64_t k = begin; k < end; k += RANGE_CHUNK) {
    size_t n = end - k < RANGE_CHUNK ? (size_t)(end - k) : RANGE_CHUNK;
    for (size_t i = 0; i < n; i++)
      keys[i] = k + i;
    int rc = ps_store_pull(s, keys, n, out + (k - begin));
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}

int ps_store_push_range(ps_store_t *s, uint64_t begin, uint64_t end, const float *grads,
                        pc_err_t *err) {
  if (s == NULL || begin >= end || end == PS_KEY_INVALID || grads == NULL)
    return pc_err_set(err, PC_EINVAL, "ps_store_push_range: bad arguments");
  size_t n = (size_t)(end - begin);
  int finite = ps_optim_all_finite(grads, n);
  for (size_t i = 0; !finite && i < n; i++) /* find the first bad one to name it */
    if (!isfinite(grads[i])) {
      s->pushes_rejected++;
      return pc_err_set(err, PC_EDATA, "push rejected: gradient for key %" PRIu64 " is %g",
                        begin + i, (double)grads[i]);
    }
  size_t d = dense_block(s, begin, end);
  if (d != SIZE_MAX) {
    ps_optim_apply_n(&s->optim, s->dw + d, s->ds ? s->ds + d : NULL, grads, n);
    return PC_OK;
  }
  uint64_t keys[RANGE_CHUNK];
  for (size_t off = 0; off < n; off += RANGE_CHUNK) {
    size_t c = n - off < RANGE_CHUNK ? n - off : RANGE_CHUNK;
    for (size_t i = 0; i < c; i++)
      keys[i] = begin + off + i;
    int rc = ps_store_push(s, keys, grads + off, c, err);
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}
