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

/* A small first hash table: servers that own few sparse keys stay small,
 * and geometric growth (x4/3) amortises the rest. At most STORE_TABLE_MIN
 * slots (width-1 tables), fewer for wide entries so that a model with
 * several wide sparse tables does not start with megabytes each; never
 * below 16 slots, so the load factor always leaves a slot empty. */
#define STORE_TABLE_MIN 1024
#define STORE_TABLE_MIN_BYTES ((size_t)16 << 10)
#define STORE_TABLE_FLOOR 16

/* Mixed into the key before hashing. The shard map places keys by
 * pc_hash_u64(key); salting keeps the table's slot bits unrelated to
 * that placement, whatever scheme it uses (with e.g. hash % S, an unsalted
 * table would reach only 1/S of its home slots on each server). */
#define STORE_HASH_SALT 0x2545f4914f6cdd1dULL

/* Once the table outgrows the caches every key costs a memory miss; asking
 * for the slot of the key this many places ahead overlaps those misses
 * (measured ~1.6x on AdaGrad updates at 10M keys). Smaller tables stay in
 * cache and skip it. */
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
  uint64_t begin, end; /* [begin, end), global keys */
  size_t off;          /* key index of begin in the table's dense arrays */
} store_range_t;

/* Open addressing, Robin Hood linear probing, array of structs: a slot is
 * one entry holding the key's hash, its `width` values and (AdaGrad) their
 * `width` states, so a probe step reads one cache line (width 1) and an
 * insert shift is one memmove. Entry layout: h at byte 0, values at 8,
 * states at 8 + 4*width; esz = 8 + 4*width*(1 + slots). Width 1 gives the
 * logistic model's {h, w, s} of 16 bytes (AdaGrad) and {h, w} packed into
 * 12 (SGD, or no optimizer): 18 bytes per key at the lowest load against
 * 24 for a padded 16; x86-64 and arm64 load unaligned 8-byte words at full
 * speed, and at most 2 in 16 entries straddle a cache line. The h field
 * holds store_hash(key), not the key: the hash is a bijection
 * (store_unhash gives the key back), and with it at hand a probe learns any
 * entry's home slot with one multiply, which Robin Hood needs at every
 * step. h == 0 marks an empty slot (only the reserved PS_KEY_INVALID
 * hashes to 0), so fresh zeroed memory is an empty table. Keys are never
 * deleted, so no tombstones. */
typedef struct store_table {
  unsigned char *e; /* cap entries of esz bytes */
  size_t esz;
  size_t cap;       /* any size >= STORE_TABLE_FLOOR */
  size_t count;
  store_buf_t buf;
} store_table_t;

/* The width-1 entry sizes, constants in the fast paths' loops. */
#define STORE_ADA_ENTRY ((size_t)16)
#define STORE_SGD_ENTRY ((size_t)12)

typedef struct store_tab store_tab_t;

/* How one table's keys are pulled and pushed, chosen once per table when
 * the store is made: the logistic model's tables (width 1, zeros) keep
 * loops with the entry size and the optimizer step inlined; any other
 * table takes the general path. push runs after push_check (every key belongs to the
 * table, every gradient is finite). */
typedef struct store_ops {
  int (*pull)(const ps_store_t *s, const store_tab_t *t, const uint64_t *keys, size_t n,
              float *out);
  int (*push)(ps_store_t *s, store_tab_t *t, const uint64_t *keys, const float *grads,
              size_t n, pc_err_t *err);
} store_ops_t;

/* One table of the model as this server holds it. */
struct store_tab {
  pc_table_t def;
  uint64_t base;    /* global key of local key 0 */
  size_t width;
  int slots;        /* state floats per value: 0, or 1 for AdaGrad with optimize */
  const ps_optim_rule_t *rule;
  const store_ops_t *ops;
  /* Dense: the ranges owned, sorted, disjoint; values dw[d*width ..] and
   * states ds[d*width ..] of key index d (ds NULL without state). */
  store_range_t *ranges;
  size_t nranges, ndense;
  float *dw, *ds;
  store_buf_t dense_buf;
  /* Sparse: the hash table. */
  store_table_t h;
};

struct ps_store {
  ps_optim_t optim;
  uint64_t seed;
  store_tab_t *tabs;
  size_t ntabs;
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

/* Entry fields. memcpy keeps the 12-byte entries' unaligned hash loads
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

STORE_INLINE float *ent_s(const store_table_t *t, size_t esz, size_t width, size_t i) {
  return (float *)(void *)(ent(t, esz, i) + 8 + width * sizeof(float));
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
  size_t next = i + (esz < 64 ? 64 / esz : 1);
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

/* Put the new stored hash h at slot i (from table_seek); the caller fills
 * in the values. */
STORE_INLINE void table_place(store_table_t *t, size_t esz, size_t i, uint64_t h) {
  assert(t->count < table_max_keys(t->cap));
  if (ent_h(t, esz, i) != 0)
    table_open(t, esz, i);
  memcpy(ent(t, esz, i), &h, sizeof h);
  t->count++;
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
    table_place(nt, esz, j, h);
    memcpy(ent(nt, esz, j), ent(ot, esz, i), esz);
    p = j;
    hp = home;
  }
}

static int table_rehash(store_table_t *t, size_t new_cap, pc_err_t *err) {
  store_table_t nt;
  int rc = table_init(&nt, new_cap, t->esz, err);
  if (rc != PC_OK)
    return rc;
  if (t->esz == STORE_ADA_ENTRY)
    table_copy(&nt, t, STORE_ADA_ENTRY);
  else if (t->esz == STORE_SGD_ENTRY)
    table_copy(&nt, t, STORE_SGD_ENTRY);
  else
    table_copy(&nt, t, t->esz);
  buf_free(&t->buf);
  *t = nt;
  return PC_OK;
}

/* Make room for `extra` more keys, growing by 4/3 as often as needed: each
 * step lands the load at >= 0.675 (see table_max_keys). */
static int table_reserve(store_table_t *t, size_t extra, pc_err_t *err) {
  size_t count = t->count;
  if (extra <= table_max_keys(t->cap) - count)
    return PC_OK;
  if (extra > SIZE_MAX / 2 - count)
    return pc_err_set(err, PC_ENOMEM, "cannot hold %zu more keys", extra);
  size_t need = count + extra;
  size_t cap = t->cap;
  while (table_max_keys(cap) < need) {
    if (cap > SIZE_MAX / 2 / t->esz)
      return pc_err_set(err, PC_ENOMEM, "hash table for %zu keys is too large", need);
    cap = table_next_cap(cap);
  }
  return table_rehash(t, cap, err);
}

/* First capacity of a table with entries of esz bytes. */
static size_t table_first_cap(size_t esz) {
  size_t cap = STORE_TABLE_MIN_BYTES / esz;
  if (cap > STORE_TABLE_MIN)
    return STORE_TABLE_MIN;
  return cap < STORE_TABLE_FLOOR ? STORE_TABLE_FLOOR : cap;
}

/* ---- dense ranges ------------------------------------------------------ */

/* Key index of key in t's dense arrays, or SIZE_MAX when no range holds it
 * (SIZE_MAX is never an index: the arrays would not fit in memory). */
static inline size_t dense_index(const store_tab_t *t, uint64_t key) {
  const store_range_t *r = t->ranges;
  size_t n = t->nranges;
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

/* The table that global key k belongs to, or NULL. */
static inline store_tab_t *tab_of(const ps_store_t *s, uint64_t k) {
  uint32_t id = pc_table_of(k);
  return id < s->ntabs ? &s->tabs[id] : NULL;
}

/* 1 when k is a key of table t (right table, below its size). */
static inline int tab_has(const store_tab_t *t, uint64_t k) {
  return k - t->base < t->def.size;
}

/* Check one given range against the tables: non-empty, inside one dense
 * table. Returns its table. */
static int range_table(const ps_store_t *s, const ps_store_range_t *r, size_t i,
                       store_tab_t **out, pc_err_t *err) {
  if (r->begin >= r->end)
    return pc_err_set(err, PC_EINVAL, "dense range %zu [%" PRIu64 ", %" PRIu64 ") is empty", i,
                      r->begin, r->end);
  store_tab_t *t = tab_of(s, r->begin);
  if (t == NULL || t->def.kind != PC_TABLE_DENSE || !tab_has(t, r->end - 1))
    return pc_err_set(err, PC_EINVAL,
                      "dense range %zu [%" PRIu64 ", %" PRIu64 ") is not inside one dense table",
                      i, r->begin, r->end);
  *out = t;
  return PC_OK;
}

/* Sort t's ranges, check they do not overlap and set their offsets. */
static int tab_order_ranges(store_tab_t *t, pc_err_t *err) {
  qsort(t->ranges, t->nranges, sizeof(store_range_t), range_cmp);
  /* Bound the total so ndense * width * (bytes per value) cannot overflow. */
  const uint64_t max_keys = SIZE_MAX / 16 / t->width;
  uint64_t total = 0;
  for (size_t i = 0; i < t->nranges; i++) {
    store_range_t *r = &t->ranges[i];
    if (i > 0 && r->begin < t->ranges[i - 1].end)
      return pc_err_set(err, PC_EINVAL,
                        "table '%s': dense ranges [%" PRIu64 ", %" PRIu64 ") and [%" PRIu64
                        ", %" PRIu64 ") overlap",
                        t->def.name, t->ranges[i - 1].begin, t->ranges[i - 1].end, r->begin,
                        r->end);
    if (r->end - r->begin > max_keys - total)
      return pc_err_set(err, PC_ENOMEM, "table '%s': dense ranges hold more than %" PRIu64
                        " keys", t->def.name, max_keys);
    r->off = (size_t)total;
    total += r->end - r->begin;
  }
  t->ndense = (size_t)total;
  return PC_OK;
}

/* Hand each given range to its table. */
static int store_set_ranges(ps_store_t *s, const ps_store_range_t *in, size_t n, pc_err_t *err) {
  if (n == 0)
    return PC_OK;
  if (in == NULL)
    return pc_err_set(err, PC_EINVAL, "%zu dense ranges given without an array", n);
  for (size_t i = 0; i < n; i++) {
    store_tab_t *t = NULL;
    int rc = range_table(s, &in[i], i, &t, err);
    if (rc != PC_OK)
      return rc;
    t->nranges++;
  }
  for (size_t k = 0; k < s->ntabs; k++) {
    store_tab_t *t = &s->tabs[k];
    if (t->nranges == 0)
      continue;
    t->ranges = calloc(t->nranges, sizeof(store_range_t));
    if (t->ranges == NULL)
      return pc_err_set(err, PC_ENOMEM, "copying %zu dense ranges: out of memory", t->nranges);
    t->nranges = 0;
  }
  for (size_t i = 0; i < n; i++) {
    store_tab_t *t = tab_of(s, in[i].begin);
    t->ranges[t->nranges++] = (store_range_t){in[i].begin, in[i].end, 0};
  }
  for (size_t k = 0; k < s->ntabs; k++) {
    int rc = s->tabs[k].nranges > 0 ? tab_order_ranges(&s->tabs[k], err) : PC_OK;
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}

/* Bytes per dense key of table t: values and their states. */
static uint64_t dense_key_bytes(const store_tab_t *t) {
  return (uint64_t)sizeof(float) * t->width * (uint64_t)(1 + t->slots);
}

uint64_t ps_store_dense_bytes(const ps_optim_t *o, const pc_table_t *t, uint64_t nkeys) {
  uint64_t per_key = (uint64_t)sizeof(float) * t->width *
                     (uint64_t)(1 + ps_optim_rule(o, t->optimize)->slots);
  return per_key == 0 || nkeys > UINT64_MAX / per_key ? UINT64_MAX : nkeys * per_key;
}

/* The initial values of a dense table's keys. Fresh memory is already 0:
 * zeros tables (and a zero init_accum) touch no page up front. */
static void dense_init(const ps_store_t *s, store_tab_t *t) {
  if (t->def.init != PC_INIT_ZEROS)
    for (size_t r = 0; r < t->nranges; r++) {
      const store_range_t *g = &t->ranges[r];
      for (uint64_t k = g->begin; k < g->end; k++)
        pc_table_init_row(&t->def, s->seed, k - t->base,
                          t->dw + (g->off + (size_t)(k - g->begin)) * t->width);
    }
  if (t->ds != NULL && s->optim.init_accum != 0.0f)
    for (size_t i = 0; i < t->ndense * t->width; i++)
      t->ds[i] = s->optim.init_accum;
}

static int tab_alloc_dense(const ps_store_t *s, store_tab_t *t, pc_err_t *err) {
  size_t bytes = t->ndense * (size_t)dense_key_bytes(t);
  if (buf_alloc(&t->dense_buf, bytes) != PC_OK)
    return pc_err_set(err, PC_ENOMEM,
                      "table '%s': dense arrays for %zu keys (%zu bytes): out of memory",
                      t->def.name, t->ndense, bytes);
  t->dw = t->dense_buf.p;
  if (t->slots > 0 && t->ndense > 0)
    t->ds = t->dw + t->ndense * t->width;
  dense_init(s, t);
  return PC_OK;
}

/* ---- sparse keys ------------------------------------------------------- */

/* Write the initial values (and states) of the new entry of key at slot j.
 * Zeros tables (zeros: 1, a constant in the width-1 fast paths, which only
 * zeros tables take) write zeros, as any new entry must (the slot may hold
 * an entry that was moved on): no init call per key. */
STORE_INLINE void entry_init(const ps_store_t *s, store_tab_t *t, size_t esz, size_t width,
                             int slots, int zeros, size_t j, uint64_t key) {
  float *w = ent_w(&t->h, esz, j);
  if (zeros)
    memset(w, 0, width * sizeof *w);
  else
    pc_table_init_row(&t->def, s->seed, key - t->base, w);
  if (slots > 0) {
    float *st = ent_s(&t->h, esz, width, j);
    for (size_t k = 0; k < width; k++)
      st[k] = s->optim.init_accum;
  }
}

/* Slot of key, inserted with its initial values when new. The caller has
 * reserved room, so this never grows the table. */
STORE_INLINE size_t table_upsert(const ps_store_t *s, store_tab_t *t, size_t esz, size_t width,
                                 int slots, int zeros, uint64_t key) {
  uint64_t h = store_hash(key);
  size_t i;
  if (!table_seek(&t->h, esz, h, &i)) {
    table_place(&t->h, esz, i, h);
    entry_init(s, t, esz, width, slots, zeros, i, key);
  }
  return i;
}

/* Pull from a sparse table. A key never pushed reads its initial values
 * and is not stored. */
STORE_INLINE int pull_sparse(const ps_store_t *s, const store_tab_t *t, size_t esz,
                             size_t width, int zeros, const uint64_t *keys, size_t n,
                             float *out) {
  const store_table_t *h = &t->h;
  size_t pf = prefetch_start(h, esz, keys, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(h, esz, keys[i + STORE_PREFETCH_AHEAD]);
    uint64_t k = keys[i];
    if (!tab_has(t, k))
      return PC_EINVAL;
    size_t j = table_find(h, esz, k);
    float *o = out + i * width;
    if (j != SIZE_MAX)
      memcpy(o, ent_w(h, esz, j), width * sizeof *o);
    else if (zeros)
      memset(o, 0, width * sizeof *o);
    else
      pc_table_init_row(&t->def, s->seed, k - t->base, o);
  }
  return PC_OK;
}

static int pull_sparse_ada1(const ps_store_t *s, const store_tab_t *t, const uint64_t *keys,
                            size_t n, float *out) {
  return pull_sparse(s, t, STORE_ADA_ENTRY, 1, 1, keys, n, out);
}

static int pull_sparse_sgd1(const ps_store_t *s, const store_tab_t *t, const uint64_t *keys,
                            size_t n, float *out) {
  return pull_sparse(s, t, STORE_SGD_ENTRY, 1, 1, keys, n, out);
}

static int pull_sparse_any(const ps_store_t *s, const store_tab_t *t, const uint64_t *keys,
                           size_t n, float *out) {
  return pull_sparse(s, t, t->h.esz, t->width, t->def.init == PC_INIT_ZEROS, keys, n, out);
}

/* Without scratch memory (see push_undoable), a push that could overflow
 * the table counts its new keys first and grows the table before applying
 * anything (duplicates among them over-count, which only grows early). */
STORE_INLINE size_t count_fresh(const store_table_t *h, size_t esz, const uint64_t *keys,
                                size_t n) {
  size_t fresh = 0;
  size_t pf = prefetch_start(h, esz, keys, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(h, esz, keys[i + STORE_PREFETCH_AHEAD]);
    if (table_find(h, esz, keys[i]) == SIZE_MAX)
      fresh++;
  }
  return fresh;
}

/* Room for every key as a new one, or the table grown for the new ones. */
STORE_INLINE int push_reserve(store_tab_t *t, size_t esz, const uint64_t *keys, size_t n,
                              pc_err_t *err) {
  if (n <= table_max_keys(t->h.cap) - t->h.count)
    return PC_OK;
  return table_reserve(&t->h, count_fresh(&t->h, esz, keys, n), err);
}

/* One optimizer step on a width-1 value w (and state st in AdaGrad
 * entries): the fast paths' only entry sizes. */
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
    size_t at;  /* table slot */
    float w, s; /* values before the update */
  } undo;
  size_t idx;
} store_scratch_t;

/* A width-1 push larger than the table's free room, with one lookup per
 * key. The first pass updates every key already present where it is,
 * logging its old values, and sets the new keys aside, in order. Only then
 * is it known how many keys are new (duplicates among them over-count,
 * which only grows early): the table grows if needed, and if that
 * allocation fails the log is undone in reverse, so the store is left
 * exactly as it was. Then the new keys are inserted and updated in push
 * order. Updates of different keys commute, and all occurrences of one key
 * are either all present or all new, so each key still sees its gradients
 * in push order. x holds n items: the log grows up from x[0], the new
 * keys' indices down from x[n - 1] (together they are i items after i
 * keys, so they never meet). */
STORE_INLINE int push_undoable(ps_store_t *s, store_tab_t *t, size_t esz, const uint64_t *keys,
                               const float *grads, size_t n, store_scratch_t *x,
                               pc_err_t *err) {
  store_table_t *h = &t->h;
  const int ada = esz == STORE_ADA_ENTRY;
  const ps_optim_t o = s->optim; /* a local copy: value stores cannot alias it */
  size_t nu = 0, nf = n;
  size_t pf = prefetch_start(h, esz, keys, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(h, esz, keys[i + STORE_PREFETCH_AHEAD]);
    size_t j = table_find(h, esz, keys[i]);
    if (j == SIZE_MAX) {
      x[--nf].idx = i;
      continue;
    }
    float *w = ent_w(h, esz, j), *st = ada ? ent_s(h, esz, 1, j) : NULL;
    x[nu].undo.at = j;
    x[nu].undo.w = *w;
    x[nu].undo.s = ada ? *st : 0.0f;
    nu++;
    push_step(&o, esz, w, st, grads[i]);
  }
  int rc = table_reserve(h, n - nf, err);
  if (rc != PC_OK) {
    while (nu-- > 0) {
      size_t at = x[nu].undo.at;
      *ent_w(h, esz, at) = x[nu].undo.w;
      if (ada)
        *ent_s(h, esz, 1, at) = x[nu].undo.s;
    }
    return rc;
  }
  /* New keys, first one at x[n - 1]. A growth may have moved every entry:
   * nothing logged is used from here on. */
  size_t m = n - nf;
  pf = prefetch_end(h, m);
  for (size_t j = 0; j < m; j++) {
    if (j < pf)
      table_prefetch(h, esz, keys[x[n - 1 - (j + STORE_PREFETCH_AHEAD)].idx]);
    size_t i = x[n - 1 - j].idx;
    size_t k = table_upsert(s, t, esz, 1, ada, 1, keys[i]);
    push_step(&o, esz, ent_w(h, esz, k), ada ? ent_s(h, esz, 1, k) : NULL, grads[i]);
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

/* Width-1 SGD or AdaGrad push: straight in when the table has room for
 * every key as a new one, else through push_undoable (or, without scratch
 * memory, a counting pass first). */
STORE_INLINE int push_sparse1(ps_store_t *s, store_tab_t *t, size_t esz, const uint64_t *keys,
                              const float *grads, size_t n, pc_err_t *err) {
  store_table_t *h = &t->h;
  if (n > table_max_keys(h->cap) - h->count) {
    store_scratch_t *x = push_scratch(s, n);
    if (x != NULL)
      return push_undoable(s, t, esz, keys, grads, n, x, err);
    int rc = push_reserve(t, esz, keys, n, err);
    if (rc != PC_OK)
      return rc;
  }
  const float lr = s->optim.lr, l2 = s->optim.l2, eps = s->optim.eps;
  const int ada = esz == STORE_ADA_ENTRY;
  size_t pf = prefetch_start(h, esz, keys, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(h, esz, keys[i + STORE_PREFETCH_AHEAD]);
    size_t j = table_upsert(s, t, esz, 1, ada, 1, keys[i]);
    if (ada)
      ps_optim_adagrad_step(ent_w(h, esz, j), ent_s(h, esz, 1, j), grads[i], lr, l2, eps);
    else
      ps_optim_sgd_step(ent_w(h, esz, j), grads[i], lr, l2);
  }
  return PC_OK;
}

static int push_sparse_ada1(ps_store_t *s, store_tab_t *t, const uint64_t *keys,
                            const float *grads, size_t n, pc_err_t *err) {
  return push_sparse1(s, t, STORE_ADA_ENTRY, keys, grads, n, err);
}

static int push_sparse_sgd1(ps_store_t *s, store_tab_t *t, const uint64_t *keys,
                            const float *grads, size_t n, pc_err_t *err) {
  return push_sparse1(s, t, STORE_SGD_ENTRY, keys, grads, n, err);
}

/* Any sparse table: a counting pass first when the table may overflow (a
 * wide row's update costs more than the second lookup), then each key's
 * row updated by the table's rule. */
static int push_sparse_any(ps_store_t *s, store_tab_t *t, const uint64_t *keys,
                           const float *grads, size_t n, pc_err_t *err) {
  const size_t esz = t->h.esz, width = t->width;
  int rc = push_reserve(t, esz, keys, n, err);
  if (rc != PC_OK)
    return rc;
  const ps_optim_t o = s->optim;
  store_table_t *h = &t->h;
  size_t pf = prefetch_start(h, esz, keys, n);
  for (size_t i = 0; i < n; i++) {
    if (i < pf)
      table_prefetch(h, esz, keys[i + STORE_PREFETCH_AHEAD]);
    size_t j = table_upsert(s, t, esz, width, t->slots, t->def.init == PC_INIT_ZEROS, keys[i]);
    t->rule->apply_n(&o, ent_w(h, esz, j), t->slots ? ent_s(h, esz, width, j) : NULL,
                     grads + i * width, width);
  }
  return PC_OK;
}

/* ---- dense keys -------------------------------------------------------- */

STORE_INLINE int pull_dense(const store_tab_t *t, size_t width, const uint64_t *keys, size_t n,
                            float *out) {
  for (size_t i = 0; i < n; i++) {
    size_t d = dense_index(t, keys[i]);
    if (d == SIZE_MAX)
      return PC_EINVAL;
    memcpy(out + i * width, t->dw + d * width, width * sizeof *out);
  }
  return PC_OK;
}

static int pull_dense1(const ps_store_t *s, const store_tab_t *t, const uint64_t *keys, size_t n,
                       float *out) {
  (void)s;
  return pull_dense(t, 1, keys, n, out);
}

static int pull_dense_any(const ps_store_t *s, const store_tab_t *t, const uint64_t *keys,
                          size_t n, float *out) {
  (void)s;
  return pull_dense(t, t->width, keys, n, out);
}

/* Width 1: the step inlined per key, one switch outside the loop. */
static int push_dense1(ps_store_t *s, store_tab_t *t, const uint64_t *keys, const float *grads,
                       size_t n, pc_err_t *err) {
  (void)err;
  const float lr = s->optim.lr, l2 = s->optim.l2, eps = s->optim.eps;
  float *w = t->dw, *st = t->ds;
  if (t->slots > 0) {
    for (size_t i = 0; i < n; i++) {
      size_t d = dense_index(t, keys[i]);
      ps_optim_adagrad_step(&w[d], &st[d], grads[i], lr, l2, eps);
    }
  } else if (t->def.optimize) {
    for (size_t i = 0; i < n; i++)
      ps_optim_sgd_step(&w[dense_index(t, keys[i])], grads[i], lr, l2);
  } else {
    for (size_t i = 0; i < n; i++)
      w[dense_index(t, keys[i])] += grads[i];
  }
  return PC_OK;
}

static int push_dense_any(ps_store_t *s, store_tab_t *t, const uint64_t *keys,
                          const float *grads, size_t n, pc_err_t *err) {
  (void)err;
  const ps_optim_t o = s->optim;
  const size_t width = t->width;
  for (size_t i = 0; i < n; i++) {
    size_t d = dense_index(t, keys[i]);
    t->rule->apply_n(&o, t->dw + d * width, t->ds ? t->ds + d * width : NULL, grads + i * width,
                     width);
  }
  return PC_OK;
}

static const store_ops_t OPS_SPARSE_ADA1 = {pull_sparse_ada1, push_sparse_ada1};
static const store_ops_t OPS_SPARSE_SGD1 = {pull_sparse_sgd1, push_sparse_sgd1};
static const store_ops_t OPS_SPARSE_ANY = {pull_sparse_any, push_sparse_any};
static const store_ops_t OPS_DENSE1 = {pull_dense1, push_dense1};
static const store_ops_t OPS_DENSE_ANY = {pull_dense_any, push_dense_any};

static const store_ops_t *tab_ops(const store_tab_t *t) {
  if (t->def.kind == PC_TABLE_DENSE)
    return t->width == 1 ? &OPS_DENSE1 : &OPS_DENSE_ANY;
  if (t->width == 1 && t->def.optimize && t->def.init == PC_INIT_ZEROS)
    return t->slots > 0 ? &OPS_SPARSE_ADA1 : &OPS_SPARSE_SGD1;
  return &OPS_SPARSE_ANY;
}

/* ---- public API -------------------------------------------------------- */

static int tab_setup(const ps_store_t *s, store_tab_t *t, const pc_table_t *def, pc_err_t *err) {
  t->def = *def;
  t->base = pc_table_key(def->id, 0);
  t->width = def->width;
  t->rule = ps_optim_rule(&s->optim, def->optimize);
  t->slots = t->rule->slots;
  t->ops = tab_ops(t);
  if (def->kind != PC_TABLE_SPARSE)
    return PC_OK;
  size_t esz = 8 + sizeof(float) * t->width * (size_t)(1 + t->slots);
  return table_init(&t->h, table_first_cap(esz), esz, err);
}

static int store_make_tabs(ps_store_t *s, const pc_table_t *tables, size_t ntables,
                           pc_err_t *err) {
  int rc = pc_table_check(tables, ntables, err);
  if (rc != PC_OK)
    return rc;
  s->tabs = calloc(ntables, sizeof *s->tabs);
  if (s->tabs == NULL)
    return pc_err_set(err, PC_ENOMEM, "allocating %zu tables: out of memory", ntables);
  s->ntabs = ntables;
  for (size_t i = 0; i < ntables && rc == PC_OK; i++)
    rc = tab_setup(s, &s->tabs[i], &tables[i], err);
  return rc;
}

int ps_store_new(ps_store_t **out, const ps_optim_t *optim, uint64_t seed,
                 const pc_table_t *tables, size_t ntables, const ps_store_range_t *ranges,
                 size_t nranges, pc_err_t *err) {
  if (out == NULL || optim == NULL || (ntables > 0 && tables == NULL))
    return pc_err_set(err, PC_EINVAL, "ps_store_new: NULL argument");
  *out = NULL;
  if (optim->type != PC_OPTIM_SGD && optim->type != PC_OPTIM_ADAGRAD)
    return pc_err_set(err, PC_EINVAL, "unknown optimizer type %d", (int)optim->type);
  ps_store_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return pc_err_set(err, PC_ENOMEM, "allocating the store: out of memory");
  s->optim = *optim;
  s->seed = seed;
  int rc = store_make_tabs(s, tables, ntables, err);
  if (rc == PC_OK)
    rc = store_set_ranges(s, ranges, nranges, err);
  for (size_t i = 0; i < s->ntabs && rc == PC_OK; i++)
    if (s->tabs[i].def.kind == PC_TABLE_DENSE)
      rc = tab_alloc_dense(s, &s->tabs[i], err);
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
  for (size_t i = 0; i < s->ntabs; i++) {
    buf_free(&s->tabs[i].h.buf);
    buf_free(&s->tabs[i].dense_buf);
    free(s->tabs[i].ranges);
  }
  free(s->tabs);
  free(s->scratch);
  free(s);
  *sp = NULL;
}

uint32_t ps_store_width(const ps_store_t *s, uint64_t key) {
  const store_tab_t *t = s != NULL ? tab_of(s, key) : NULL;
  return t != NULL && tab_has(t, key) ? (uint32_t)t->width : 0;
}

int ps_store_pull(ps_store_t *s, const uint64_t *keys, size_t n, float *out) {
  if (s == NULL || (n > 0 && (keys == NULL || out == NULL)))
    return PC_EINVAL;
  if (n == 0)
    return PC_OK;
  const store_tab_t *t = tab_of(s, keys[0]);
  return t != NULL ? t->ops->pull(s, t, keys, n, out) : PC_EINVAL;
}

/* A key of a push that t cannot take: named with its item. */
static int key_refused(const store_tab_t *t, const uint64_t *keys, size_t i, size_t n,
                       pc_err_t *err) {
  if (!tab_has(t, keys[i]))
    return pc_err_set(err, PC_EINVAL,
                      "push item %zu of %zu: key %" PRIu64 " (table %u, local key %" PRIu64
                      ") is not a key of table '%s' (id %u, %" PRIu64 " keys)",
                      i, n, keys[i], pc_table_of(keys[i]), pc_table_local(keys[i]), t->def.name,
                      t->def.id, t->def.size);
  return pc_err_set(err, PC_EINVAL,
                    "push item %zu of %zu: key %" PRIu64 " of dense table '%s' is not held "
                    "by this server", i, n, keys[i], t->def.name);
}

/* The first non-finite gradient of grads[0 .. n*width), named with its
 * key: keys[i], or first + i for a range (keys NULL). */
static int grad_refused(ps_store_t *s, const store_tab_t *t, const uint64_t *keys,
                        uint64_t first, const float *grads, size_t n, pc_err_t *err) {
  size_t w = t->width;
  for (size_t v = 0; v < n * w; v++)
    if (!isfinite(grads[v])) {
      s->pushes_rejected++;
      return pc_err_set(err, PC_EDATA,
                        "push rejected: gradient for key %" PRIu64 " is %g (table '%s', "
                        "value %zu of %zu; item %zu of %zu)",
                        keys != NULL ? keys[v / w] : first + v / w, (double)grads[v], t->def.name,
                        v % w, w, v / w, n);
    }
  return PC_OK;
}

/* 1 when every key is one of t's. Branch-free, so it vectorizes: it runs
 * over every pushed key. */
static int all_in_table(const store_tab_t *t, const uint64_t *keys, size_t n) {
  const uint64_t base = t->base, size = t->def.size;
  unsigned bad = 0;
  for (size_t i = 0; i < n; i++)
    bad |= keys[i] - base >= size;
  return !bad;
}

/* Everything that can refuse a push, checked before anything changes:
 * every key of t (and, dense, held here), every gradient finite. */
static int push_check(ps_store_t *s, const store_tab_t *t, const uint64_t *keys,
                      const float *grads, size_t n, pc_err_t *err) {
  if (t->def.kind == PC_TABLE_DENSE) {
    for (size_t i = 0; i < n; i++)
      if (dense_index(t, keys[i]) == SIZE_MAX)
        return key_refused(t, keys, i, n, err);
  } else if (!all_in_table(t, keys, n)) {
    for (size_t i = 0; i < n; i++)
      if (!tab_has(t, keys[i]))
        return key_refused(t, keys, i, n, err);
  }
  if (!ps_optim_all_finite(grads, n * t->width))
    return grad_refused(s, t, keys, 0, grads, n, err);
  return PC_OK;
}

int ps_store_push(ps_store_t *s, const uint64_t *keys, const float *grads, size_t n,
                  pc_err_t *err) {
  if (s == NULL || (n > 0 && (keys == NULL || grads == NULL)))
    return pc_err_set(err, PC_EINVAL, "ps_store_push: NULL argument");
  if (n == 0)
    return PC_OK;
  store_tab_t *t = tab_of(s, keys[0]);
  if (t == NULL)
    return pc_err_set(err, PC_EINVAL, "push: key %" PRIu64 " belongs to no table (table %u of %zu)",
                      keys[0], pc_table_of(keys[0]), s->ntabs);
  int rc = push_check(s, t, keys, grads, n, err);
  return rc == PC_OK ? t->ops->push(s, t, keys, grads, n, err) : rc;
}

/* ---- assignment (fine-tuning's load, training.init) ------------------- */

/* The start of a key's optimizer state: what a fresh store holds. */
static void state_reset(const ps_store_t *s, float *st, size_t nvals) {
  for (size_t i = 0; st != NULL && i < nvals; i++)
    st[i] = s->optim.init_accum;
}

/* Checked keys (push_check): dense ones by index, sparse ones inserted
 * when new; each row set to vals and its state reset. */
static int assign_keys(ps_store_t *s, store_tab_t *t, const uint64_t *keys, const float *vals,
                       size_t n, pc_err_t *err) {
  const size_t w = t->width;
  if (t->def.kind == PC_TABLE_DENSE) {
    for (size_t i = 0; i < n; i++) {
      size_t d = dense_index(t, keys[i]);
      memcpy(t->dw + d * w, vals + i * w, w * sizeof *vals);
      state_reset(s, t->ds ? t->ds + d * w : NULL, w);
    }
    return PC_OK;
  }
  const size_t esz = t->h.esz;
  int rc = push_reserve(t, esz, keys, n, err);
  for (size_t i = 0; i < n && rc == PC_OK; i++) {
    size_t j = table_upsert(s, t, esz, w, t->slots, t->def.init == PC_INIT_ZEROS, keys[i]);
    memcpy(ent_w(&t->h, esz, j), vals + i * w, w * sizeof *vals);
    state_reset(s, t->slots ? ent_s(&t->h, esz, w, j) : NULL, w);
  }
  return rc;
}

int ps_store_assign(ps_store_t *s, const uint64_t *keys, const float *vals, size_t n,
                    pc_err_t *err) {
  if (s == NULL || (n > 0 && (keys == NULL || vals == NULL)))
    return pc_err_set(err, PC_EINVAL, "ps_store_assign: NULL argument");
  if (n == 0)
    return PC_OK;
  store_tab_t *t = tab_of(s, keys[0]);
  if (t == NULL)
    return pc_err_set(err, PC_EINVAL, "assign: key %" PRIu64 " belongs to no table (table %u "
                      "of %zu)", keys[0], pc_table_of(keys[0]), s->ntabs);
  int rc = push_check(s, t, keys, vals, n, err);
  return rc == PC_OK ? assign_keys(s, t, keys, vals, n, err) : rc;
}

void ps_store_set_lr(ps_store_t *s, float lr) { s->optim.lr = lr; }

void ps_store_stats(const ps_store_t *s, ps_store_stats_t *out) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < s->ntabs; i++) {
    const store_tab_t *t = &s->tabs[i];
    out->sparse_keys += t->h.count;
    out->sparse_capacity += t->h.cap;
    out->dense_keys += t->ndense;
    out->bytes += (uint64_t)t->h.cap * t->h.esz + (uint64_t)t->ndense * dense_key_bytes(t);
  }
  out->pushes_rejected = s->pushes_rejected;
}

/* The next owned key of dense table t. */
static int iter_dense(const store_tab_t *t, ps_store_iter_t *it, uint64_t *key, const float **w,
                      const float **state) {
  while (it->range < t->nranges) {
    const store_range_t *r = &t->ranges[it->range];
    if (it->pos < r->end - r->begin) {
      *key = r->begin + it->pos;
      size_t d = (r->off + (size_t)it->pos) * t->width;
      *w = t->dw + d;
      if (state != NULL)
        *state = t->ds != NULL ? t->ds + d : NULL;
      it->pos++;
      return 1;
    }
    it->range++;
    it->pos = 0;
  }
  return 0;
}

int ps_store_iter_next(const ps_store_t *s, ps_store_iter_t *it, uint64_t *key, const float **w,
                       const float **state) {
  if (it->table >= s->ntabs)
    return 0;
  const store_tab_t *t = &s->tabs[it->table];
  if (t->def.kind == PC_TABLE_DENSE)
    return iter_dense(t, it, key, w, state);
  const store_table_t *h = &t->h;
  for (; it->pos < h->cap; it->pos++) {
    size_t i = (size_t)it->pos;
    uint64_t e = ent_h(h, h->esz, i);
    if (e != 0) {
      *key = store_unhash(e);
      *w = ent_w(h, h->esz, i);
      if (state != NULL)
        *state = t->slots > 0 ? ent_s(h, h->esz, t->width, i) : NULL;
      it->pos++;
      return 1;
    }
  }
  return 0;
}

/* ---- key ranges -------------------------------------------------------- */

/* The table holding every key of [begin, end), or NULL. */
static store_tab_t *range_tab(const ps_store_t *s, uint64_t begin, uint64_t end) {
  store_tab_t *t = tab_of(s, begin);
  return t != NULL && tab_has(t, end - 1) ? t : NULL;
}

/* Key index of begin in t's dense arrays when one dense range holds all of
 * [begin, end), else SIZE_MAX. */
static size_t dense_block(const store_tab_t *t, uint64_t begin, uint64_t end) {
  if (t->def.kind != PC_TABLE_DENSE)
    return SIZE_MAX;
  size_t d = dense_index(t, begin);
  if (d == SIZE_MAX || dense_index(t, end - 1) != d + (size_t)(end - 1 - begin))
    return SIZE_MAX;
  return d;
}

#define RANGE_CHUNK 4096

int ps_store_pull_range(ps_store_t *s, uint64_t begin, uint64_t end, float *out) {
  if (s == NULL || begin >= end || end == PS_KEY_INVALID || out == NULL)
    return PC_EINVAL;
  const store_tab_t *t = range_tab(s, begin, end);
  if (t == NULL)
    return PC_EINVAL;
  size_t d = dense_block(t, begin, end), w = t->width;
  if (d != SIZE_MAX) {
    memcpy(out, t->dw + d * w, (size_t)(end - begin) * w * sizeof *out);
    return PC_OK;
  }
  uint64_t keys[RANGE_CHUNK];
  for (uint64_t k = begin; k < end; k += RANGE_CHUNK) {
    size_t n = end - k < RANGE_CHUNK ? (size_t)(end - k) : RANGE_CHUNK;
    for (size_t i = 0; i < n; i++)
      keys[i] = k + i;
    int rc = t->ops->pull(s, t, keys, n, out + (size_t)(k - begin) * w);
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}

/* Every key of [begin, end) (all in t) held here: a dense table may hold
 * the block in several ranges, or not all of it. */
static int range_held(const store_tab_t *t, uint64_t begin, uint64_t end, pc_err_t *err) {
  if (t->def.kind != PC_TABLE_DENSE)
    return PC_OK;
  for (uint64_t k = begin; k < end; k++)
    if (dense_index(t, k) == SIZE_MAX)
      return pc_err_set(err, PC_EINVAL,
                        "push of [%" PRIu64 ", %" PRIu64 "): key %" PRIu64
                        " of dense table '%s' is not held by this server",
                        begin, end, k, t->def.name);
  return PC_OK;
}

/* What a write of a key range does: to one dense block at once, or to
 * chunks of keys. Push and assign differ only in these. */
typedef struct range_op {
  const char *name; /* for messages */
  void (*block)(ps_store_t *s, store_tab_t *t, size_t d, const float *v, size_t nvals);
  int (*keys)(ps_store_t *s, store_tab_t *t, const uint64_t *keys, const float *v, size_t n,
              pc_err_t *err);
} range_op_t;

static void push_block(ps_store_t *s, store_tab_t *t, size_t d, const float *v, size_t nvals) {
  size_t w = t->width;
  t->rule->apply_n(&s->optim, t->dw + d * w, t->ds ? t->ds + d * w : NULL, v, nvals);
}

static int push_keys(ps_store_t *s, store_tab_t *t, const uint64_t *keys, const float *v,
                     size_t n, pc_err_t *err) {
  return t->ops->push(s, t, keys, v, n, err);
}

static void assign_block(ps_store_t *s, store_tab_t *t, size_t d, const float *v, size_t nvals) {
  size_t w = t->width;
  memcpy(t->dw + d * w, v, nvals * sizeof *v);
  state_reset(s, t->ds ? t->ds + d * w : NULL, nvals);
}

static const range_op_t push_op = {"push", push_block, push_keys};
static const range_op_t assign_op = {"assign", assign_block, assign_keys};

static int write_range(ps_store_t *s, uint64_t begin, uint64_t end, const float *v,
                       const range_op_t *op, pc_err_t *err) {
  if (s == NULL || begin >= end || end == PS_KEY_INVALID || v == NULL)
    return pc_err_set(err, PC_EINVAL, "ps_store_%s_range: bad arguments", op->name);
  store_tab_t *t = range_tab(s, begin, end);
  if (t == NULL)
    return pc_err_set(err, PC_EINVAL,
                      "%s of [%" PRIu64 ", %" PRIu64 "): not all keys of one table", op->name,
                      begin, end);
  size_t n = (size_t)(end - begin), w = t->width;
  if (!ps_optim_all_finite(v, n * w))
    return grad_refused(s, t, NULL, begin, v, n, err);
  size_t d = dense_block(t, begin, end);
  if (d != SIZE_MAX) {
    op->block(s, t, d, v, n * w);
    return PC_OK;
  }
  int rc = range_held(t, begin, end, err);
  uint64_t keys[RANGE_CHUNK];
  for (size_t off = 0; off < n && rc == PC_OK; off += RANGE_CHUNK) {
    size_t c = n - off < RANGE_CHUNK ? n - off : RANGE_CHUNK;
    for (size_t i = 0; i < c; i++)
      keys[i] = begin + off + i;
    rc = op->keys(s, t, keys, v + off * w, c, err);
  }
  return rc;
}

int ps_store_push_range(ps_store_t *s, uint64_t begin, uint64_t end, const float *grads,
                        pc_err_t *err) {
  return write_range(s, begin, end, grads, &push_op, err);
}

int ps_store_assign_range(ps_store_t *s, uint64_t begin, uint64_t end, const float *vals,
                          pc_err_t *err) {
  return write_range(s, begin, end, vals, &assign_op, err);
}
