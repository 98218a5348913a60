#include "ps_store.h"

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
 * geometric growth (x4/3) amortises the rest. */
#define STORE_TABLE_MIN 1024

/* Mixed into the key before hashing. The shard map places keys by
 * pc_hash_u64(key); salting keeps the table's slot bits unrelated to
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

/* Open addressing, Robin Hood linear probing, array of structs: a slot is
 * one entry holding the key's hash, its weight and (AdaGrad) its state, so
 * a probe step reads one cache line and an insert shift is one memmove.
 * AdaGrad entries are {uint64_t h; float w; float s;}, 16 bytes; SGD
 * entries are {uint64_t h; float w;} packed into 12 bytes (see
 * STORE_SGD_ENTRY). The h field holds store_hash(key), not the key: the
 * hash is a bijection (store_unhash gives the key back), and with it at
 * hand a probe learns any entry's home slot with one multiply, which Robin
 * Hood needs at every step. h == 0 marks an empty slot (only the reserved
 * PS_KEY_INVALID hashes to 0), so fresh zeroed memory is an empty table.
 * Keys are never deleted, so no tombstones. */
typedef struct store_table {
  unsigned char *e; /* cap entries of esz bytes */
  size_t esz;       /* STORE_ADA_ENTRY or STORE_SGD_ENTRY */
  size_t cap;       /* any size >= STORE_TABLE_MIN */
  size_t count;
  store_buf_t buf;
} store_table_t;

/* Entry sizes. Entry fields: h at byte 0, w at 8, s at 12 (AdaGrad only).
 * SGD packs to 12 bytes (18 bytes per key at the lowest load, against 24
 * for a padded 16): x86-64 and arm64 load unaligned 8-byte words at full
 * speed, and at most 2 in 16 entries straddle a cache line. The speed of
 * 12 against 16 has not been benchmarked (no SGD sparse benchmark yet). */
#define STORE_ADA_ENTRY ((size_t)16)
#define STORE_SGD_ENTRY ((size_t)12)

struct ps_store {
  ps_optim_t optim;
  int slots;         /* state floats per key (0 or 1) */
  store_range_t *ranges; /* sorted by begin, disjoint */
  size_t nranges;
  float *dw, *ds; /* dense weights and state (ds NULL for SGD) */
  size_t ndense;
  store_buf_t dense_buf;
  store_table_t tab;
  uint64_t pushes_rejected;
  /* Scratch for pushes larger than the table's free room (see
   * push_undoable): grown as needed, reused across pushes. */
  union store_scratch *scratch;
  size_t scratch_cap;
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

/* Forced inline where the entry size must be a constant in the hot loops:
 * each loop is written once over `esz` and instantiated per optimizer. */
#define STORE_INLINE static inline __attribute__((always_inline))

/* Load factor at most 0.9, and growth by 4/3: right after a growth step the
 * load is 0.9 * 3/4 = 0.675, so it stays within [0.675, 0.9] and AdaGrad's
 * 16-byte slots cost at most 16 / 0.675 = 23.7 bytes per key. (Doubling at
 * 0.75 cycled 0.375..0.75, i.e. 21-43 bytes per key.) */
static size_t table_max_keys(size_t cap) {
  return cap - cap / 10;
}

static size_t table_next_cap(size_t cap) {
  return cap + (cap + 2) / 3;
}

/* The table hash, a bijection on 64 bits: the splitmix64 step applied to
 * the salted key, exactly pc_hash_u64(key ^ STORE_HASH_SALT). Inlined here
 * with its inverse because the table stores the hash in place of the key
 * (see store_table_t). */
static inline uint64_t store_mix(uint64_t key) {
  uint64_t z = (key ^ STORE_HASH_SALT) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Inverse of store_mix: undo each step in reverse (the multipliers'
 * inverses mod 2^64; x ^= x >> k is undone by x ^= x >> k ^ x >> 2k ...). */
static inline uint64_t store_unmix(uint64_t z) {
  z ^= (z >> 31) ^ (z >> 62);
  z *= 0x319642b2d24d8ec3ULL;
  z ^= (z >> 27) ^ (z >> 54);
  z *= 0x96de1b173f119089ULL;
  z ^= (z >> 30) ^ (z >> 60);
  return (z - 0x9e3779b97f4a7c15ULL) ^ STORE_HASH_SALT;
}

/* store_mix(PS_KEY_INVALID): the stored form is the mix xor this, so that
 * the never-stored key reads as 0 and zeroed memory is all empty slots. */
#define STORE_MIX_INVALID 0xef06a7495024a0fdULL

static inline uint64_t store_hash(uint64_t key) {
  return store_mix(key) ^ STORE_MIX_INVALID;
}

static inline uint64_t store_unhash(uint64_t h) {
  return store_unmix(h ^ STORE_MIX_INVALID);
}

/* Home slot of stored hash h: mix * cap / 2^64 ("fastrange"), so cap need
 * not be a power of two. Uses the mix's high bits, as well mixed as its
 * low. */
static inline size_t store_slot(uint64_t h, size_t cap) {
  return (size_t)(((unsigned __int128)(h ^ STORE_MIX_INVALID) * cap) >> 64);
}

/* How far the entry with stored hash h sits past its home when at slot i. */
static inline size_t store_disp(uint64_t h, size_t i, size_t cap) {
  size_t home = store_slot(h, cap);
  return i >= home ? i - home : i + cap - home;
}

/* Entry fields. memcpy keeps the 12-byte SGD entries' unaligned hash loads
 * defined; it compiles to one load or store. */
STORE_INLINE unsigned char *ent(const store_table_t *t, size_t esz, size_t i) {
  return t->e + i * esz;
}

STORE_INLINE uint64_t ent_h(const store_table_t *t, size_t esz, size_t i) {
  uint64_t h;
  memcpy(&h, ent(t, esz, i), sizeof h);
  return h;
}

STORE_INLINE float *ent_w(const store_table_t *t, size_t esz, size_t i) {
  return (float *)(void *)(ent(t, esz, i) + 8);
}

STORE_INLINE float *ent_s(const store_table_t *t, size_t esz, size_t i) {
  return (float *)(void *)(ent(t, esz, i) + 12);
}

static int table_init(store_table_t *t, size_t cap, size_t esz, pc_err_t *err) {
  if (cap > SIZE_MAX / esz)
    return pc_err_set(err, PC_ENOMEM, "hash table of %zu slots is too large", cap);
  store_buf_t buf;
  if (buf_alloc(&buf, cap * esz) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "hash table of %zu slots (%zu bytes): out of memory",
                      cap, cap * esz);
  memset(t, 0, sizeof *t);
  t->e = buf.p; /* zeroed: every slot empty */
  t->esz = esz;
  t->cap = cap;
  t->buf = buf;
  return PC_OK;
}

/* Start loading the home slot of key (a hint; never faults). Forced inline:
 * GCC otherwise keeps it out of line, judges a function of prefetches alone
 * free of side effects, and deletes every call to it. At load 0.9 a key sits
 * on average 1-5 slots past its home, so the cache line after the home
 * one is asked for too (home line only measured slower end to end; a
 * third line made no measurable difference). */
STORE_INLINE void table_prefetch(const store_table_t *t, size_t esz, uint64_t key) {
  size_t i = store_slot(store_hash(key), t->cap);
  size_t next = i + 64 / esz;
  __builtin_prefetch(ent(t, esz, i), 1);
  __builtin_prefetch(ent(t, esz, next < t->cap ? next : i), 1);
}

/* Keys below the returned index get a prefetch STORE_PREFETCH_AHEAD ahead. */
static inline size_t prefetch_end(const store_table_t *t, size_t n) {
  if (t->cap < STORE_PREFETCH_MIN_CAP || n <= STORE_PREFETCH_AHEAD)
    return 0;
  return n - STORE_PREFETCH_AHEAD;
}

/* Start a call's prefetching: ask for its first STORE_PREFETCH_AHEAD keys
 * now (without this, a 100-key request met 16 cache misses one after
 * another), and return the index below which the loop asks for the key
 * STORE_PREFETCH_AHEAD ahead. */
STORE_INLINE size_t prefetch_start(const store_table_t *t, size_t esz, const uint64_t *keys,
                                   size_t n) {
  if (t->cap < STORE_PREFETCH_MIN_CAP)
    return 0;
  for (size_t i = 0; i < n && i < STORE_PREFETCH_AHEAD; i++)
    table_prefetch(t, esz, keys[i]);
  return prefetch_end(t, n);
}

/* Robin Hood invariant: along the probe sequence, entries sit in order of
 * home slot, so a key at distance d from its home is never past an entry
 * that is closer than d to its own home (that entry would have been moved
 * on for it). Returns 1 and the slot of h when present; else 0 and the slot
 * where h belongs. Terminates: the load factor keeps slots empty. */
STORE_INLINE int table_seek(const store_table_t *t, size_t esz, uint64_t h, size_t *slot) {
  size_t cap = t->cap;
  size_t i = store_slot(h, cap);
  for (size_t d = 0;; d++) {
    uint64_t e = ent_h(t, esz, i);
    if (e == h) {
      *slot = i;
      return 1;
    }
    if (e == 0 || store_disp(e, i, cap) < d) {
      *slot = i;
      return 0;
    }
    i = i + 1 == cap ? 0 : i + 1;
  }
}

/* Slot of key, or SIZE_MAX when absent. */
STORE_INLINE size_t table_find(const store_table_t *t, size_t esz, uint64_t key) {
  size_t i;
  return table_seek(t, esz, store_hash(key), &i) ? i : SIZE_MAX;
}

/* Move n entries [from, from + n) one place up (no wrap inside the block). */
STORE_INLINE void table_move(store_table_t *t, size_t esz, size_t from, size_t n) {
  memmove(ent(t, esz, from + 1), ent(t, esz, from), n * esz);
}

/* Free slot i: shift the run from i up to the next empty slot one place on.
 * Every moved entry gets one further from its home, which keeps them in
 * home order (the Robin Hood swap chain, done as one block move). */
STORE_INLINE void table_open(store_table_t *t, size_t esz, size_t i) {
  size_t j = i;
  while (ent_h(t, esz, j) != 0)
    j = j + 1 == t->cap ? 0 : j + 1;
  if (j >= i) {
    table_move(t, esz, i, j - i);
    return;
  }
  /* The run wraps past the end: move its head, carry the last slot over
   * to slot 0, then move the tail. */
  size_t last = t->cap - 1;
  table_move(t, esz, 0, j);
  memcpy(ent(t, esz, 0), ent(t, esz, last), esz);
  table_move(t, esz, i, last - i);
}

/* Put the new stored hash h at slot i (from table_seek), with w = 0 and,
 * for AdaGrad entries, state = init. */
STORE_INLINE void table_insert_at(store_table_t *t, size_t esz, size_t i, uint64_t h,
                                  float init) {
  assert(t->count < table_max_keys(t->cap));
  if (ent_h(t, esz, i) != 0)
    table_open(t, esz, i);
  unsigned char *p = ent(t, esz, i);
  memcpy(p, &h, sizeof h);
  *ent_w(t, esz, i) = 0.0f;
  if (esz == STORE_ADA_ENTRY)
    *ent_s(t, esz, i) = init;
  t->count++;
}

/* Slot of key, inserted with w = 0 and state = init when new. The caller
 * has reserved room, so this never grows the table. */
STORE_INLINE size_t table_upsert(store_table_t *t, size_t esz, uint64_t key, float init) {
  uint64_t h = store_hash(key);
  size_t i;
  if (!table_seek(t, esz, h, &i))
    table_insert_at(t, esz, i, h, init);
  return i;
}

/* Move every entry of ot into the empty table nt. Slot order is nearly
 * home order in nt too, so most entries belong right after the entry
 * placed before them: when the last one placed, at slot p with home hp,
 * ends its run (p + 1 empty) and hp <= home <= p, slots hp..p all hold
 * homes <= hp, and table_seek would walk exactly to p + 1. Skipping that
 * walk makes the copy O(1) per entry instead of O(run length). */
STORE_INLINE void table_copy(store_table_t *nt, const store_table_t *ot, size_t esz) {
  size_t p = SIZE_MAX, hp = 0; /* slot and home of the last entry placed */
  for (size_t i = 0; i < ot->cap; i++) {
    uint64_t h = ent_h(ot, esz, i);
    if (h == 0)
      continue;
    size_t home = store_slot(h, nt->cap);
    size_t j;
    if (p != SIZE_MAX && hp <= home && home <= p && p + 1 < nt->cap &&
        ent_h(nt, esz, p + 1) == 0) {
      j = p + 1;
    } else {
      int found = table_seek(nt, esz, h, &j);
      assert(!found); /* keys are distinct */
      (void)found;
    }
    table_insert_at(nt, esz, j, h, 0.0f);
    memcpy(ent(nt, esz, j), ent(ot, esz, i), esz);
    p = j;
    hp = home;
  }
}

static int table_rehash(ps_store_t *s, size_t new_cap, pc_err_t *err) {
  store_table_t nt;
  int rc = table_init(&nt, new_cap, s->tab.esz, err);
  if (rc != PC_OK)
    return rc;
  if (s->tab.esz == STORE_ADA_ENTRY)
    table_copy(&nt, &s->tab, STORE_ADA_ENTRY);
  else
    table_copy(&nt, &s->tab, STORE_SGD_ENTRY);
  buf_free(&s->tab.buf);
  s->tab = nt;
  return PC_OK;
}

/* Make room for `extra` more keys, growing by 4/3 as often as needed: each
 * step lands the load at >= 0.675 (see table_max_keys). */
static int table_reserve(ps_store_t *s, size_t extra, pc_err_t *err) {
  size_t count = s->tab.count;
  if (extra <= table_max_keys(s->tab.cap) - count)
    return PC_OK;
  if (extra > SIZE_MAX / 2 - count)
    return pc_err_set(err, PC_ENOMEM, "cannot hold %zu more keys", extra);
  size_t need = count + extra;
  size_t cap = s->tab.cap;
  while (table_max_keys(cap) < need) {
    if (cap > SIZE_MAX / 2 / s->tab.esz)
      return pc_err_set(err, PC_ENOMEM, "hash table for %zu keys is too large", need);
    cap = table_next_cap(cap);
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

uint64_t ps_store_dense_bytes(const ps_optim_t *o, uint64_t nkeys) {
  uint64_t per_key = sizeof(float) * (uint64_t)(1 + ps_optim_state_slots(o));
  return nkeys > UINT64_MAX / per_key ? UINT64_MAX : nkeys * per_key;
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
  int rc = store_set_ranges(s, ranges, nranges, err);
  if (rc == PC_OK)
    rc = store_alloc_dense(s, err);
  if (rc == PC_OK)
    rc = table_init(&s->tab, STORE_TABLE_MIN, s->slots > 0 ? STORE_ADA_ENTRY : STORE_SGD_ENTRY,
                    err);
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
  free(s->scratch);
  free(s->ranges);
  free(s);
  *sp = NULL;
}

STORE_INLINE int pull_keys(const ps_store_t *s, size_t esz, const uint64_t *keys, size_t n,
                           float *out) {
  const store_table_t *t = &s->tab;
  size_t pf = prefetch_start(t, esz, keys, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(t, esz, keys[i + STORE_PREFETCH_AHEAD]);
    uint64_t k = keys[i];
    if (k == PS_KEY_INVALID)
      return PC_EINVAL;
    size_t d = dense_index(s, k);
    if (d != SIZE_MAX) {
      out[i] = s->dw[d];
      continue;
    }
    size_t j = table_find(t, esz, k);
    out[i] = j != SIZE_MAX ? *ent_w(t, esz, j) : 0.0f;
  }
  return PC_OK;
}

int ps_store_pull(ps_store_t *s, const uint64_t *keys, size_t n, float *out) {
  if (s == NULL || (n > 0 && (keys == NULL || out == NULL)))
    return PC_EINVAL;
  if (s->tab.esz == STORE_ADA_ENTRY)
    return pull_keys(s, STORE_ADA_ENTRY, keys, n, out);
  return pull_keys(s, STORE_SGD_ENTRY, keys, n, out);
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

/* Without scratch memory (see push_undoable), a push that could overflow
 * the table counts its new keys first and grows the table before applying
 * anything (duplicates among them over-count, which only grows early). */
STORE_INLINE size_t count_fresh(const ps_store_t *s, size_t esz, const uint64_t *keys,
                                size_t n) {
  size_t fresh = 0;
  size_t pf = prefetch_start(&s->tab, esz, keys, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(&s->tab, esz, keys[i + STORE_PREFETCH_AHEAD]);
    if (dense_index(s, keys[i]) != SIZE_MAX)
      continue;
    if (table_find(&s->tab, esz, keys[i]) == SIZE_MAX)
      fresh++;
  }
  return fresh;
}

static int push_reserve(ps_store_t *s, const uint64_t *keys, size_t n, pc_err_t *err) {
  size_t fresh = s->tab.esz == STORE_ADA_ENTRY ? count_fresh(s, STORE_ADA_ENTRY, keys, n)
                                               : count_fresh(s, STORE_SGD_ENTRY, keys, n);
  return table_reserve(s, fresh, err);
}

/* One optimizer step on weight w (and state st for AdaGrad entries). */
STORE_INLINE void push_step(const ps_optim_t *o, size_t esz, float *w, float *st, float g) {
  if (esz == STORE_ADA_ENTRY)
    ps_optim_adagrad_step(w, st, g, o->lr, o->l2, o->eps);
  else
    ps_optim_sgd_step(w, g, o->lr, o->l2);
}

/* One scratch item per pushed key: either an undo record for a key that
 * was updated in place, or the push index of a new key. */
typedef union store_scratch {
  struct {
    size_t at; /* table slot, or dense index | STORE_DENSE_BIT */
    float w, s; /* values before the update */
  } undo;
  size_t idx;
} store_scratch_t;

/* Never set in a table slot or dense index (both are far below SIZE_MAX / 2). */
#define STORE_DENSE_BIT (~(SIZE_MAX >> 1))

/* A push larger than the table's free room, with one lookup per key. The
 * first pass updates every key already present (dense or in the table)
 * where it is, logging its old values, and sets the new keys aside, in
 * order. Only then is it known how many keys are new (duplicates among
 * them over-count, which only grows early): the table grows if needed, and
 * if that allocation fails the log is undone in reverse, so the store is
 * left exactly as it was. Then the new keys are inserted and updated in
 * push order. Updates of different keys commute, and all occurrences of
 * one key are either all present or all new, so each key still sees its
 * gradients in push order. x holds n items: the log grows up from x[0],
 * the new keys' indices down from x[n - 1] (together they are i items
 * after i keys, so they never meet). */
STORE_INLINE int push_undoable(ps_store_t *s, size_t esz, const uint64_t *keys,
                               const float *grads, size_t n, store_scratch_t *x,
                               pc_err_t *err) {
  store_table_t *t = &s->tab;
  const ps_optim_t o = s->optim; /* a local copy: weight stores cannot alias it */
  size_t nu = 0, nf = n;
  size_t pf = prefetch_start(t, esz, keys, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(t, esz, keys[i + STORE_PREFETCH_AHEAD]);
    size_t d = dense_index(s, keys[i]);
    float *w, *st = NULL;
    size_t at;
    if (d != SIZE_MAX) {
      w = &s->dw[d];
      if (esz == STORE_ADA_ENTRY)
        st = &s->ds[d];
      at = d | STORE_DENSE_BIT;
    } else {
      size_t j = table_find(t, esz, keys[i]);
      if (j == SIZE_MAX) {
        x[--nf].idx = i;
        continue;
      }
      w = ent_w(t, esz, j);
      if (esz == STORE_ADA_ENTRY)
        st = ent_s(t, esz, j);
      at = j;
    }
    x[nu].undo.at = at;
    x[nu].undo.w = *w;
    x[nu].undo.s = st != NULL ? *st : 0.0f;
    nu++;
    push_step(&o, esz, w, st, grads[i]);
  }
  int rc = table_reserve(s, n - nf, err);
  if (rc != PC_OK) {
    while (nu-- > 0) {
      size_t at = x[nu].undo.at;
      if (at & STORE_DENSE_BIT) {
        at &= ~STORE_DENSE_BIT;
        s->dw[at] = x[nu].undo.w;
        if (esz == STORE_ADA_ENTRY)
          s->ds[at] = x[nu].undo.s;
      } else {
        *ent_w(t, esz, at) = x[nu].undo.w;
        if (esz == STORE_ADA_ENTRY)
          *ent_s(t, esz, at) = x[nu].undo.s;
      }
    }
    return rc;
  }
  /* New keys, first one at x[n - 1]. A growth may have moved every entry:
   * nothing logged is used from here on. */
  size_t m = n - nf;
  pf = prefetch_end(t, m);
  for (size_t j = 0; j < m; j++) {
    if (j < pf)
      table_prefetch(t, esz, keys[x[n - 1 - (j + STORE_PREFETCH_AHEAD)].idx]);
    size_t i = x[n - 1 - j].idx;
    size_t k = table_upsert(t, esz, keys[i], o.init_accum);
    push_step(&o, esz, ent_w(t, esz, k), esz == STORE_ADA_ENTRY ? ent_s(t, esz, k) : NULL,
              grads[i]);
  }
  return PC_OK;
}

/* Scratch for n items, or NULL when it cannot be had. */
static store_scratch_t *push_scratch(ps_store_t *s, size_t n) {
  if (n > s->scratch_cap) {
    if (n > SIZE_MAX / sizeof(store_scratch_t))
      return NULL;
    store_scratch_t *p = realloc(s->scratch, n * sizeof *p);
    if (p == NULL)
      return NULL;
    s->scratch = p;
    s->scratch_cap = n;
  }
  return s->scratch;
}

static void push_sgd(ps_store_t *s, const uint64_t *keys, const float *grads, size_t n) {
  const float lr = s->optim.lr, l2 = s->optim.l2;
  store_table_t *t = &s->tab;
  size_t pf = prefetch_start(t, STORE_SGD_ENTRY, keys, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(t, STORE_SGD_ENTRY, keys[i + STORE_PREFETCH_AHEAD]);
    size_t d = dense_index(s, keys[i]);
    float *w = d != SIZE_MAX ? &s->dw[d]
                             : ent_w(t, STORE_SGD_ENTRY,
                                     table_upsert(t, STORE_SGD_ENTRY, keys[i], 0.0f));
    ps_optim_sgd_step(w, grads[i], lr, l2);
  }
}

static void push_adagrad(ps_store_t *s, const uint64_t *keys, const float *grads, size_t n) {
  const float lr = s->optim.lr, l2 = s->optim.l2, eps = s->optim.eps;
  const float init = s->optim.init_accum;
  store_table_t *t = &s->tab;
  size_t pf = prefetch_start(t, STORE_ADA_ENTRY, keys, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(t, STORE_ADA_ENTRY, keys[i + STORE_PREFETCH_AHEAD]);
    size_t d = dense_index(s, keys[i]);
    float *w, *st;
    if (d != SIZE_MAX) {
      w = &s->dw[d];
      st = &s->ds[d];
    } else {
      size_t j = table_upsert(t, STORE_ADA_ENTRY, keys[i], init);
      w = ent_w(t, STORE_ADA_ENTRY, j);
      st = ent_s(t, STORE_ADA_ENTRY, j);
    }
    ps_optim_adagrad_step(w, st, grads[i], lr, l2, eps);
  }
}

int ps_store_push(ps_store_t *s, const uint64_t *keys, const float *grads, size_t n,
                  pc_err_t *err) {
  if (s == NULL || (n > 0 && (keys == NULL || grads == NULL)))
    return pc_err_set(err, PC_EINVAL, "ps_store_push: NULL argument");
  int rc = push_check(s, keys, grads, n, err);
  if (rc != PC_OK)
    return rc;
  /* Room for every key as a new one: apply straight away. */
  if (n > table_max_keys(s->tab.cap) - s->tab.count) {
    store_scratch_t *x = push_scratch(s, n);
    if (x != NULL)
      return s->tab.esz == STORE_ADA_ENTRY
                 ? push_undoable(s, STORE_ADA_ENTRY, keys, grads, n, x, err)
                 : push_undoable(s, STORE_SGD_ENTRY, keys, grads, n, x, err);
    rc = push_reserve(s, keys, n, err);
    if (rc != PC_OK)
      return rc;
  }
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
  out->bytes = (uint64_t)s->tab.cap * s->tab.esz +
               (uint64_t)s->ndense * sizeof(float) * (uint64_t)(1 + s->slots);
  out->pushes_rejected = s->pushes_rejected;
}


int ps_store_iter_next(const ps_store_t *s, ps_store_iter_t *it, uint64_t *key, float *w,
                       float *state) {
  while (it->range < s->nranges) {
    const store_range_t *r = &s->ranges[it->range];
    if (it->pos < r->end - r->begin) {
      *key = r->begin + it->pos;
      size_t d = r->off + (size_t)it->pos;
      *w = s->dw[d];
      if (state != NULL)
        *state = s->slots > 0 ? s->ds[d] : 0.0f;
      it->pos++;
      return 1;
    }
    it->range++;
    it->pos = 0;
  }
  const store_table_t *t = &s->tab;
  for (; it->pos < t->cap; it->pos++) {
    size_t i = (size_t)it->pos;
    uint64_t h = ent_h(t, t->esz, i);
    if (h != 0) {
      *key = store_unhash(h);
      *w = *ent_w(t, t->esz, i);
      if (state != NULL)
        *state = t->esz == STORE_ADA_ENTRY ? *ent_s(t, t->esz, i) : 0.0f;
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
