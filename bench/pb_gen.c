/* pb_gen: a synthetic click-through-like data set in LIBSVM format, the
 * input of the throughput and scaling benchmarks. Deterministic from the
 * seed: the same arguments always write the same bytes.
 *
 *   pb_gen OUT_PATH [--examples N] [--features F] [--nnz K] [--seed S]
 *
 * Every example holds exactly K distinct binary features ("id:1") with ids
 * in [1, F), in increasing order. Feature frequencies follow a Zipf law
 * (exponent 1.1) over ranks; a seeded permutation maps ranks to ids so the
 * frequent ids are scattered over [1, F) like hashed real features, not
 * clustered at the small numbers. Labels come from a hidden logistic model
 * (one weight per id, drawn from a hash of the id), so the data is
 * learnable: the frequent ids carry most of the signal, the rare ones act
 * as noise, as in real click logs. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"

#define GEN_ZIPF_EXPONENT 1.1
#define GEN_WEIGHT_SD 0.5
#define GEN_POSITIVE_RATE 0.27 /* target share of +1 labels */
#define GEN_CALIB_EXAMPLES 20000
#define GEN_NNZ_MAX 100000u   /* keeps a line (~10 B per feature) far below the reader's 16 MiB */
#define GEN_FEATURES_MAX (UINT64_C(1) << 48) /* ranks stay exact in a double */
#define GEN_STDIO_BUF ((size_t)8 << 20)
#define GEN_HEAD_RANKS 65536u /* alias-table ranks: ~85% of draws at F = 10M; 1.5 MiB with ids */

/* Seeds of the independent streams derived from the user's seed. */
#define SALT_SAMPLE 0x5eed0001ULL
#define SALT_CALIB 0x5eed0002ULL
#define SALT_WEIGHT 0x5eed0003ULL
#define SALT_PERM 0x5eed0004ULL

typedef struct gen_opts {
  const char *path;
  uint64_t examples, features, nnz, seed;
} gen_opts_t;

/* ---- hashing and random numbers --------------------------------------- */

/* splitmix64's output mix (the same function as pc_hash_u64), kept inline
 * here: the permutation calls it several times per sampled feature, and
 * an out-of-line call there would be a visible share of the run time. */
static inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

typedef struct rng {
  uint64_t s;
} rng_t;

/* splitmix64: the state steps by the golden-ratio constant (which mix64
 * adds itself) and each output is the mix of the old state. */
static inline uint64_t rng_next(rng_t *r) {
  uint64_t x = r->s;
  r->s += 0x9e3779b97f4a7c15ULL;
  return mix64(x);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double rng_unit(rng_t *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

/* ---- Zipf sampler ------------------------------------------------------ */

/* P(rank k) ~ k^-q over ranks 1..n, drawn as a mixture: the GEN_HEAD_RANKS
 * first ranks (85% of all draws at q = 1.1 and F = 10M) from a Walker
 * alias table small enough to stay in cache, the rest by rejection-
 * inversion. Inversion alone costs a log1p and an exp per draw; the table
 * alone would be n entries (hundreds of MiB) with a cache miss per draw. */

/* Hörmann & Derflinger's rejection-inversion (as in Apache Commons RNG),
 * here over ranks lo..n: O(1) per draw, no table, and it accepts almost
 * every proposal. H is an integral of h(x) = x^-q. */
typedef struct zipf_tail {
  double lo, n, q;
  double hlo, hhi; /* H(lo + 0.5) - h(lo) and H(n + 0.5): the range of u */
  double s;        /* squeeze: k - x <= s accepts without evaluating H */
} zipf_tail_t;

/* log1p(x)/x and expm1(x)/x, with their limits near 0. */
static double helper1(double x) {
  return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

static double helper2(double x) {
  return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

/* H(x) = integral of t^-q from 1 to x, and its inverse. */
static double zipf_H(double q, double x) {
  double lx = log(x);
  return helper2((1 - q) * lx) * lx;
}

static double zipf_h(double q, double x) { return exp(-q * log(x)); }

static double zipf_H_inv(double q, double x) {
  double t = x * (1 - q);
  if (t < -1)
    t = -1;
  return exp(helper1(t) * x);
}

static void tail_init(zipf_tail_t *z, uint64_t lo, uint64_t n, double q) {
  z->lo = (double)lo;
  z->n = (double)n;
  z->q = q;
  z->hlo = zipf_H(q, z->lo + 0.5) - zipf_h(q, z->lo);
  z->hhi = zipf_H(q, z->n + 0.5);
  /* Derived at k = 2, the tightest case; it holds for every k >= 2. */
  z->s = 2 - zipf_H_inv(q, zipf_H(q, 2.5) - zipf_h(q, 2));
}

static uint64_t tail_sample(const zipf_tail_t *z, rng_t *r) {
  for (;;) {
    double u = z->hhi + rng_unit(r) * (z->hlo - z->hhi);
    double x = zipf_H_inv(z->q, u);
    double k = floor(x + 0.5);
    if (k < z->lo)
      k = z->lo;
    else if (k > z->n)
      k = z->n;
    if (k - x <= z->s || u >= zipf_H(z->q, k + 0.5) - zipf_h(z->q, k))
      return (uint64_t)k;
  }
}

/* Sum of k^-q over lo..n without n terms: the midpoint rule plus its
 * first correction (error far below 1e-9 relative for lo in the
 * thousands), enough to weigh the tail against the head. */
static double tail_mass(const zipf_tail_t *z) {
  double a = z->lo - 0.5, b = z->n + 0.5, q = z->q;
  return zipf_H(q, b) - zipf_H(q, a) - q / 24 * (pow(a, -q - 1) - pow(b, -q - 1));
}

typedef struct alias_slot {
  float prob;     /* keep this slot's own rank when u < prob */
  uint32_t alias; /* otherwise this rank index */
} alias_slot_t;

typedef struct zipf {
  alias_slot_t *head; /* [m]: ranks 1..m */
  uint32_t m;
  double p_head;      /* probability that a draw is a head rank */
  zipf_tail_t tail;   /* ranks m+1..n (unused when m == n) */
} zipf_t;

/* Vose's construction: split slots into under- and over-full, then let
 * each under-full slot borrow its remainder from an over-full one. */
static void alias_build(alias_slot_t *t, double *p, uint32_t *work, uint32_t m) {
  uint32_t nsmall = 0, nlarge = m; /* small grow up from 0, large down from m */
  for (uint32_t i = 0; i < m; i++) {
    if (p[i] < 1)
      work[nsmall++] = i;
    else
      work[--nlarge] = i;
  }
  while (nsmall > 0 && nlarge < m) {
    uint32_t s = work[--nsmall], l = work[nlarge];
    t[s].prob = (float)p[s];
    t[s].alias = l;
    p[l] -= 1 - p[s];
    if (p[l] < 1) { /* l is now under-full: move it to the small stack */
      nlarge++;
      work[nsmall++] = l;
    }
  }
  /* Leftovers are full up to rounding error. */
  while (nsmall > 0)
    t[work[--nsmall]] = (alias_slot_t){1.0f, 0};
  for (; nlarge < m; nlarge++)
    t[work[nlarge]] = (alias_slot_t){1.0f, 0};
}

static int zipf_init(zipf_t *z, uint64_t n, double q) {
  z->m = (uint32_t)(n < GEN_HEAD_RANKS ? n : GEN_HEAD_RANKS);
  z->head = malloc(z->m * sizeof *z->head);
  double *p = malloc(z->m * sizeof *p);
  uint32_t *work = malloc(z->m * sizeof *work);
  int rc = -1;
  if (z->head != NULL && p != NULL && work != NULL) {
    double head_mass = 0;
    for (uint32_t k = z->m; k >= 1; k--) /* small terms first: less rounding */
      head_mass += p[k - 1] = zipf_h(q, k);
    for (uint32_t i = 0; i < z->m; i++)
      p[i] *= z->m / head_mass; /* mean 1 per slot */
    alias_build(z->head, p, work, z->m);
    tail_init(&z->tail, (uint64_t)z->m + 1, n, q);
    z->p_head = n > z->m ? head_mass / (head_mass + tail_mass(&z->tail)) : 1.0;
    rc = 0;
  }
  free(p);
  free(work);
  return rc;
}

/* A rank in 1..n. */
static inline uint64_t zipf_sample(const zipf_t *z, rng_t *r) {
  if (rng_unit(r) >= z->p_head)
    return tail_sample(&z->tail, r);
  uint64_t x = rng_next(r);
  uint32_t i = (uint32_t)(((x >> 32) * z->m) >> 32); /* uniform slot, no division */
  float u = (float)(x & 0xffffff) * 0x1p-24f;
  return (u < z->head[i].prob ? i : z->head[i].alias) + 1;
}

/* ---- rank -> id permutation -------------------------------------------- */

/* A 4-round balanced Feistel network over [0, 2^bits) with cycle walking
 * restricted to [0, n): a true permutation, so distinct ranks give
 * distinct ids, yet the frequent ranks land at scattered ids. */
typedef struct perm {
  uint64_t n;
  unsigned half;
  uint64_t mask;
  uint64_t key[4];
} perm_t;

static void perm_init(perm_t *p, uint64_t n, uint64_t seed) {
  unsigned bits = 2;
  while (bits < 64 && (UINT64_C(1) << bits) < n)
    bits++;
  bits += bits & 1; /* even, so both halves have the same width */
  p->n = n;
  p->half = bits / 2;
  p->mask = (UINT64_C(1) << p->half) - 1;
  for (int i = 0; i < 4; i++)
    p->key[i] = mix64(seed ^ SALT_PERM ^ (uint64_t)i * 0x632be59bd9b4e019ULL);
}

static inline uint64_t perm_round(const perm_t *p, uint64_t x) {
  uint64_t l = x >> p->half, r = x & p->mask;
  for (int i = 0; i < 4; i++) {
    uint64_t t = l ^ (mix64(r ^ p->key[i]) & p->mask);
    l = r;
    r = t;
  }
  return (l << p->half) | r;
}

/* x in [0, n) -> [0, n). The domain is at most 4n, so few walks. */
static uint64_t perm_apply(const perm_t *p, uint64_t x) {
  do
    x = perm_round(p, x);
  while (x >= p->n);
  return x;
}

/* ---- examples ------------------------------------------------------------ */

/* Hidden weight of an id: sum of four uniforms, a cheap bell shape with
 * mean 0 and standard deviation GEN_WEIGHT_SD. */
static double hidden_weight(uint64_t wseed, uint64_t id) {
  uint64_t h = mix64(id ^ wseed);
  double sum = 0;
  for (int i = 0; i < 4; i++, h >>= 16)
    sum += (double)(h & 0xffff) * (1.0 / 65536);
  return (sum - 2) * 1.7320508075688772 * GEN_WEIGHT_SD; /* sqrt(3): var of 4 U = 1/3 */
}

typedef struct feature {
  uint64_t id;
  double w; /* hidden weight */
} feature_t;

/* Everything needed to draw one example's feature ids. */
typedef struct gen {
  zipf_t zipf;
  perm_t perm;
  uint64_t nnz;
  uint64_t wseed;
  unsigned id_shift; /* id >> id_shift < 64: the bucket for sorting */
  feature_t *head;   /* [zipf.m]: id and weight of the frequent ranks */
  uint64_t *set;     /* open-addressing set of this example's ranks */
  uint32_t *stamp;   /* set[i] is live iff stamp[i] == gen */
  uint32_t gen;
  uint64_t set_mask;
  uint64_t *ids;     /* [nnz], the current example */
  uint64_t *tmp;     /* [nnz], scratch for sorting */
} gen_t;

static feature_t rank_feature(const gen_t *g, uint64_t rank) {
  if (rank <= g->zipf.m)
    return g->head[rank - 1];
  uint64_t id = perm_apply(&g->perm, rank - 1) + 1;
  return (feature_t){id, hidden_weight(g->wseed, id)};
}

static int gen_alloc(gen_t *g, uint64_t set_cap) {
  g->set = malloc(set_cap * sizeof *g->set);
  g->stamp = calloc(set_cap, sizeof *g->stamp);
  g->ids = malloc(g->nnz * sizeof *g->ids);
  g->tmp = malloc(g->nnz * sizeof *g->tmp);
  g->head = malloc(g->zipf.m * sizeof *g->head);
  return g->set && g->stamp && g->ids && g->tmp && g->head ? 0 : -1;
}

static int gen_init(gen_t *g, const gen_opts_t *o) {
  memset(g, 0, sizeof *g);
  uint64_t n = o->features - 1; /* ranks 1..n map to ids 1..F-1 */
  if (zipf_init(&g->zipf, n, GEN_ZIPF_EXPONENT) != 0)
    return -1;
  perm_init(&g->perm, n, o->seed);
  g->nnz = o->nnz;
  g->wseed = mix64(o->seed ^ SALT_WEIGHT);
  unsigned bits = 1;
  while (bits < 64 && (UINT64_C(1) << bits) < o->features)
    bits++;
  g->id_shift = bits > 6 ? bits - 6 : 0;
  uint64_t cap = 4;
  while (cap < 4 * o->nnz) /* load factor <= 1/4: short probes */
    cap *= 2;
  g->set_mask = cap - 1;
  if (gen_alloc(g, cap) != 0)
    return -1;
  for (uint32_t r = 0; r < g->zipf.m; r++) {
    uint64_t id = perm_apply(&g->perm, r) + 1;
    g->head[r] = (feature_t){id, hidden_weight(g->wseed, id)};
  }
  return 0;
}

static void gen_free(gen_t *g) {
  free(g->zipf.head);
  free(g->head);
  free(g->set);
  free(g->stamp);
  free(g->ids);
  free(g->tmp);
  memset(g, 0, sizeof *g);
}

/* Start a new, empty set: bumping the stamp empties it in O(1). */
static void set_clear(gen_t *g) {
  if (++g->gen == 0) { /* wrapped: old stamps could look live again */
    memset(g->stamp, 0, (g->set_mask + 1) * sizeof *g->stamp);
    g->gen = 1;
  }
}

/* Adds rank; returns 1 if it was new, 0 if already present. */
static int set_add(gen_t *g, uint64_t rank) {
  uint64_t i = (rank * 0x9e3779b97f4a7c15ULL) >> 20 & g->set_mask;
  while (g->stamp[i] == g->gen) {
    if (g->set[i] == rank)
      return 0;
    i = (i + 1) & g->set_mask;
  }
  g->stamp[i] = g->gen;
  g->set[i] = rank;
  return 1;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void insertion_sort(uint64_t *a, uint64_t n) {
  for (uint64_t i = 1; i < n; i++) {
    uint64_t v = a[i], j = i;
    for (; j > 0 && a[j - 1] > v; j--)
      a[j] = a[j - 1];
    a[j] = v;
  }
}

/* Sort n ids from in into out. For the usual few dozen: one counting pass
 * on the top 6 bits, then insertion sort of the nearly sorted result --
 * half the time of insertion sort alone, whose mispredicted branches on
 * random input were a fifth of the run time. qsort beyond 64. */
static void sort_ids(const uint64_t *in, uint64_t *out, uint64_t n, unsigned shift) {
  if (n > 64) {
    memcpy(out, in, n * sizeof *out);
    qsort(out, n, sizeof *out, cmp_u64);
    return;
  }
  uint32_t start[65] = {0};
  for (uint64_t i = 0; i < n; i++)
    start[(in[i] >> shift) + 1]++;
  for (int b = 1; b <= 64; b++)
    start[b] += start[b - 1];
  for (uint64_t i = 0; i < n; i++)
    out[start[in[i] >> shift]++] = in[i];
  insertion_sort(out, n);
}

/* Fill g->ids with nnz distinct ids in increasing order: Zipf draws
 * without replacement (a repeated rank is drawn again). Returns the sum
 * of their hidden weights. */
static double gen_example(gen_t *g, rng_t *r) {
  set_clear(g);
  double sum = 0;
  for (uint64_t k = 0; k < g->nnz;) {
    uint64_t rank = zipf_sample(&g->zipf, r);
    if (!set_add(g, rank))
      continue;
    feature_t f = rank_feature(g, rank);
    g->tmp[k++] = f.id;
    sum += f.w;
  }
  sort_ids(g->tmp, g->ids, g->nnz, g->id_shift);
  return sum;
}

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* The bias that makes GEN_POSITIVE_RATE of the labels +1. The shared
 * weights of the most frequent ids shift every example's score, so the
 * bias is solved on a sample (its own random stream, so the data set
 * does not depend on it) by bisection rather than fixed in advance. */
static double calibrate_bias(gen_t *g, uint64_t seed, uint64_t examples) {
  uint64_t m = examples < GEN_CALIB_EXAMPLES ? examples : GEN_CALIB_EXAMPLES;
  double *score = malloc(m * sizeof *score);
  if (score == NULL)
    return NAN;
  rng_t r = {mix64(seed ^ SALT_CALIB)};
  for (uint64_t i = 0; i < m; i++)
    score[i] = gen_example(g, &r);
  double lo = -50, hi = 50;
  for (int it = 0; it < 60; it++) {
    double b = (lo + hi) / 2, p = 0;
    for (uint64_t i = 0; i < m; i++)
      p += sigmoid(b + score[i]);
    if (p / (double)m < GEN_POSITIVE_RATE)
      lo = b;
    else
      hi = b;
  }
  free(score);
  return (lo + hi) / 2;
}

/* ---- output ------------------------------------------------------------ */

/* Decimal digits of v at p; returns the end. Two digits per step from a
 * table: formatting is about a fifth of the run time. */
static char *put_u64(char *p, uint64_t v) {
  static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                              "25262728293031323334353637383940414243444546474849"
                              "50515253545556575859606162636465666768697071727374"
                              "75767778798081828384858687888990919293949596979899";
  char tmp[20];
  int n = 20;
  while (v >= 100) {
    unsigned d = (unsigned)(v % 100) * 2;
    v /= 100;
    tmp[--n] = pairs[d + 1];
    tmp[--n] = pairs[d];
  }
  if (v >= 10) {
    tmp[--n] = pairs[v * 2 + 1];
    tmp[--n] = pairs[v * 2];
  } else {
    tmp[--n] = (char)('0' + v);
  }
  memcpy(p, tmp + n, (size_t)(20 - n));
  return p + (20 - n);
}

/* One line: "+1 3:1 17:1 ...\n"; returns its length. */
static size_t format_line(char *line, int positive, const uint64_t *ids, uint64_t n) {
  char *p = line;
  memcpy(p, positive ? "+1" : "-1", 2);
  p += 2;
  for (uint64_t i = 0; i < n; i++) {
    *p++ = ' ';
    p = put_u64(p, ids[i]);
    *p++ = ':';
    *p++ = '1';
  }
  *p++ = '\n';
  return (size_t)(p - line);
}

/* Longest line: label, then per id a space, 20 digits, ":1"; newline. */
static size_t line_max(uint64_t nnz) { return 2 + (size_t)nnz * 23 + 1; }

typedef struct gen_result {
  uint64_t positives;
  double bias;
} gen_result_t;

/* Write every example to f; returns 0 or -1 (errno set) on a write error. */
static int write_examples(gen_t *g, const gen_opts_t *o, double bias, FILE *f,
                          char *line, gen_result_t *res) {
  rng_t r = {mix64(o->seed ^ SALT_SAMPLE)};
  res->positives = 0;
  res->bias = bias;
  for (uint64_t i = 0; i < o->examples; i++) {
    double score = gen_example(g, &r) + bias;
    int positive = rng_unit(&r) < sigmoid(score);
    res->positives += (uint64_t)positive;
    size_t len = format_line(line, positive, g->ids, g->nnz);
    if (fwrite(line, 1, len, f) != len)
      return -1;
  }
  return 0;
}

/* ---- arguments ----------------------------------------------------------- */

static void usage(FILE *to) {
  fprintf(to, "usage: pb_gen OUT_PATH [--examples N (default 1000000)] "
              "[--features F (default 10000000)] [--nnz K (default 40)] "
              "[--seed S (default 1)]\n");
}

/* Whole-string unsigned decimal; no sign, no trailing characters. */
static int parse_u64(const char *s, uint64_t *out) {
  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return -1;
  *out = (uint64_t)v;
  return 0;
}

static int parse_option(gen_opts_t *o, const char *name, const char *value) {
  uint64_t *dst = strcmp(name, "--examples") == 0   ? &o->examples
                  : strcmp(name, "--features") == 0 ? &o->features
                  : strcmp(name, "--nnz") == 0      ? &o->nnz
                  : strcmp(name, "--seed") == 0     ? &o->seed
                                                    : NULL;
  if (dst == NULL) {
    fprintf(stderr, "pb_gen: unknown option '%s'\n", name);
    return -1;
  }
  if (value == NULL || parse_u64(value, dst) != 0) {
    fprintf(stderr, "pb_gen: %s needs a non-negative integer, got '%s'\n", name,
            value ? value : "(nothing)");
    return -1;
  }
  return 0;
}

static int check_opts(const gen_opts_t *o) {
  if (o->examples == 0) {
    fprintf(stderr, "pb_gen: --examples must be at least 1\n");
    return -1;
  }
  if (o->features < 3 || o->features > GEN_FEATURES_MAX) {
    fprintf(stderr, "pb_gen: --features must be in [3, %" PRIu64 "], got %" PRIu64 "\n",
            GEN_FEATURES_MAX, o->features);
    return -1;
  }
  /* Drawing K distinct ids without replacement from a Zipf law slows down
   * sharply as K nears the number of ids; half of them is the limit. */
  uint64_t max_nnz = (o->features - 1) / 2;
  if (max_nnz > GEN_NNZ_MAX)
    max_nnz = GEN_NNZ_MAX;
  if (o->nnz == 0 || o->nnz > max_nnz) {
    fprintf(stderr, "pb_gen: --nnz must be in [1, %" PRIu64 "] for --features %" PRIu64
            ", got %" PRIu64 "\n", max_nnz, o->features, o->nnz);
    return -1;
  }
  return 0;
}

static int parse_args(int argc, char **argv, gen_opts_t *o) {
  *o = (gen_opts_t){NULL, 1000000, 10000000, 40, 1};
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) != 0) {
      if (o->path != NULL) {
        fprintf(stderr, "pb_gen: more than one output path ('%s', '%s')\n", o->path, argv[i]);
        return -1;
      }
      o->path = argv[i];
      continue;
    }
    if (parse_option(o, argv[i], i + 1 < argc ? argv[i + 1] : NULL) != 0)
      return -1;
    i++;
  }
  if (o->path == NULL) {
    fprintf(stderr, "pb_gen: missing OUT_PATH\n");
    return -1;
  }
  return check_opts(o);
}

/* ---- main ------------------------------------------------------------------ */

/* Open, write, close; on any failure a partial regular file is removed so
 * no truncated data set is left behind to be mistaken for a good one. */
static int generate(gen_t *g, const gen_opts_t *o, gen_result_t *res) {
  double bias = calibrate_bias(g, o->seed, o->examples);
  char *line = malloc(line_max(o->nnz));
  char *iobuf = malloc(GEN_STDIO_BUF);
  FILE *f = NULL;
  int rc = -1;
  if (isnan(bias) || line == NULL || iobuf == NULL) {
    fprintf(stderr, "pb_gen: out of memory\n");
    goto out;
  }
  f = fopen(o->path, "w");
  if (f == NULL) {
    fprintf(stderr, "pb_gen: %s: cannot open for writing: %s\n", o->path, strerror(errno));
    goto out;
  }
  struct stat st;
  int regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
  if (setvbuf(f, iobuf, _IOFBF, GEN_STDIO_BUF) != 0) /* fewer, larger write calls */
    fprintf(stderr, "pb_gen: setvbuf failed; writing with the default buffer\n");
  rc = write_examples(g, o, bias, f, line, res);
  int saved = errno; /* the first failure's reason, before fclose can change it */
  int close_rc = fclose(f); /* flushes the last buffer: its error counts too */
  if (rc != 0 || close_rc != 0) {
    fprintf(stderr, "pb_gen: %s: write failed: %s\n", o->path, strerror(rc != 0 ? saved : errno));
    if (regular) /* never unlink a device or pipe given as the output */
      unlink(o->path);
    rc = -1;
  }
out:
  free(iobuf);
  free(line);
  return rc;
}

int main(int argc, char **argv) {
  gen_opts_t o;
  if (parse_args(argc, argv, &o) != 0) {
    usage(stderr);
    return 2;
  }
  double t0 = bench_now();
  gen_t g;
  if (gen_init(&g, &o) != 0) {
    fprintf(stderr, "pb_gen: out of memory\n");
    gen_free(&g);
    return 1;
  }
  gen_result_t res;
  int rc = generate(&g, &o, &res);
  gen_free(&g);
  if (rc != 0)
    return 1;
  fprintf(stderr,
          "pb_gen: %s: %" PRIu64 " examples, %" PRIu64 " features, %" PRIu64
          " nnz each, %.2f%% positive (bias %.3f), %.2f s\n",
          o.path, o.examples, o.features, o.nnz,
          100.0 * (double)res.positives / (double)o.examples, res.bias, bench_now() - t0);
  return 0;
}
