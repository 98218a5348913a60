/* pb_store: the server store's own speed on one thread, with no network,
 * for the key sets of the sparse and bulk rows of pb_kv. A server is one
 * thread, so these are the ceilings of those rows on this machine.
 *
 * Rows, once per repetition (AdaGrad, keys random in a 100M-key space,
 * one sparse table of width 1 with zeros init: the logistic model's):
 *   store_sparse_mkeys_s   100-key pushes and pulls in turn over 409,600
 *                          keys (pb_kv's sparse set): keys per second
 *   store_bulk_mkeys_s     1M keys pushed then pulled, in calls of 512K
 *                          keys (one pb_kv bulk message): push + pull keys
 *                          per second, counted as pb_kv counts them
 *   store_mf_ratings_s     matrix factorization's traffic (examples/movielens-mf.yaml:
 *                          SGD, rank 50): per minibatch of 256 ratings of
 *                          943 users x 1682 items, pull then push the
 *                          batch's distinct user and item rows of "emb"
 *                          (width 50) and "bias" (width 1) and the "mean"
 *                          row: ratings per second, the ceiling of
 *                          bench/run's mf_ratings_s@1x1
 * The keys are stored before timing starts, as they are after pb_kv's
 * first repetition. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "ps_store.h"

#define SPACE 100000000u
#define SPARSE_K 100
#define SPARSE_REQS 4096
#define BULK_KEYS (1u << 20)
#define BULK_MSG (1u << 19)

static void die(const char *what, const pc_err_t *err) {
  fprintf(stderr, "pb_store: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
  exit(1);
}

static uint64_t *random_keys(size_t n, uint64_t seed) {
  uint64_t *k = malloc(n * sizeof *k), s = seed | 1;
  if (k == NULL)
    die("out of memory", NULL);
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    k[i] = s % SPACE;
  }
  return k;
}

static ps_store_t *adagrad_store(void) {
  ps_optim_t o = {.type = PC_OPTIM_ADAGRAD, .lr = 0.1f, .eps = 1e-8f, .init_accum = 0.1f};
  const pc_table_t w = {.name = "w", .id = 0, .kind = PC_TABLE_SPARSE, .size = SPACE,
                        .width = 1, .init = PC_INIT_ZEROS, .optimize = 1};
  ps_store_t *s = NULL;
  pc_err_t err;
  if (ps_store_new(&s, &o, 1, &w, 1, NULL, 0, &err) != PC_OK)
    die("ps_store_new", &err);
  return s;
}

static float *filled(size_t n, float v) {
  float *p = malloc(n * sizeof *p);
  if (p == NULL)
    die("out of memory", NULL);
  for (size_t i = 0; i < n; i++)
    p[i] = v;
  return p;
}

static double min_seconds(void) { return bench_quick() ? 0.15 : 0.3; }

static void push(ps_store_t *s, const uint64_t *k, const float *g, size_t n) {
  pc_err_t err;
  if (ps_store_push(s, k, g, n, &err) != PC_OK)
    die("push", &err);
}

static void sparse_rows(void) {
  size_t n = (size_t)SPARSE_REQS * SPARSE_K;
  uint64_t *keys = random_keys(n, 77);
  float *g = filled(SPARSE_K, 0.01f), *out = filled(SPARSE_K, 0);
  ps_store_t *s = adagrad_store();
  for (size_t i = 0; i < n; i += SPARSE_K)
    push(s, keys + i, g, SPARSE_K);
  for (int rep = 0; rep < bench_reps(); rep++) {
    double t0 = bench_now(), el = 0;
    long i = 0;
    for (; el < min_seconds() || i < 1000; i++) {
      const uint64_t *k = keys + (size_t)(i % SPARSE_REQS) * SPARSE_K;
      if (i & 1)
        ps_store_pull(s, k, SPARSE_K, out);
      else
        push(s, k, g, SPARSE_K);
      if ((i & 255) == 0)
        el = bench_now() - t0;
    }
    el = bench_now() - t0;
    bench_row("store_sparse_mkeys_s", (double)i * SPARSE_K / el / 1e6, "Mkeys/s");
  }
  ps_store_destroy(&s);
  free(keys);
  free(g);
  free(out);
}

static void bulk_rows(void) {
  uint64_t *keys = random_keys(BULK_KEYS, 99);
  float *g = filled(BULK_KEYS, 0.01f), *w = filled(BULK_KEYS, 0);
  ps_store_t *s = adagrad_store();
  push(s, keys, g, BULK_KEYS);
  for (int rep = 0; rep < bench_reps(); rep++) {
    double t0 = bench_now(), el = 0;
    long it = 0;
    while (it < 2 || el < min_seconds()) {
      for (size_t c = 0; c < BULK_KEYS; c += BULK_MSG)
        push(s, keys + c, g + c, BULK_MSG);
      for (size_t c = 0; c < BULK_KEYS; c += BULK_MSG)
        ps_store_pull(s, keys + c, BULK_MSG, w + c);
      it++;
      el = bench_now() - t0;
    }
    bench_row("store_bulk_mkeys_s", 2.0 * BULK_KEYS * (double)it / el / 1e6, "Mkeys/s");
  }
  ps_store_destroy(&s);
  free(keys);
  free(g);
  free(w);
}

#define MF_USERS 943
#define MF_ITEMS 1682
#define MF_RANK 50
#define MF_BATCH 256

static ps_store_t *mf_store(void) {
  ps_optim_t o = {.type = PC_OPTIM_SGD, .lr = 2.4f, .l2 = 0.0005f};
  const pc_table_t t[3] = {
      {.name = "emb", .id = 0, .kind = PC_TABLE_SPARSE, .size = 4000, .width = MF_RANK,
       .init = PC_INIT_NORMAL, .scale = 0.05f, .optimize = 1},
      {.name = "bias", .id = 1, .kind = PC_TABLE_SPARSE, .size = 4000, .width = 1,
       .init = PC_INIT_ZEROS, .optimize = 1},
      {.name = "mean", .id = 2, .kind = PC_TABLE_DENSE, .size = 1, .width = 2,
       .init = PC_INIT_ZEROS, .optimize = 0}};
  const ps_store_range_t r = {pc_table_key(2, 0), pc_table_key(2, 1)};
  ps_store_t *s = NULL;
  pc_err_t err;
  if (ps_store_new(&s, &o, 1, t, 3, &r, 1, &err) != PC_OK)
    die("ps_store_new", &err);
  return s;
}

/* The distinct user (2u) and item (2i + 1) keys of one batch of random
 * ratings, as the mf model asks for them. */
static size_t mf_batch_keys(uint64_t *state, uint64_t *emb, uint64_t *bias) {
  static unsigned char seen[2 * MF_ITEMS + 2];
  size_t n = 0;
  memset(seen, 0, sizeof seen);
  for (int r = 0; r < MF_BATCH; r++) {
    *state ^= *state << 13, *state ^= *state >> 7, *state ^= *state << 17;
    uint64_t k[2] = {2 * (*state % MF_USERS), 2 * ((*state >> 20) % MF_ITEMS) + 1};
    for (int j = 0; j < 2; j++)
      if (!seen[k[j]]) {
        seen[k[j]] = 1;
        emb[n] = pc_table_key(0, k[j]);
        bias[n++] = pc_table_key(1, k[j]);
      }
  }
  return n;
}

static void mf_rows(void) {
  ps_store_t *s = mf_store();
  uint64_t emb[2 * MF_BATCH], bias[2 * MF_BATCH], st = 12345;
  float *e = filled(2 * MF_BATCH * MF_RANK, 0), *b = filled(2 * MF_BATCH, 0);
  float *ge = filled(2 * MF_BATCH * MF_RANK, 0.001f), *gb = filled(2 * MF_BATCH, 0.001f);
  float mean[2], gm[2] = {3.5f * MF_BATCH, MF_BATCH};
  pc_err_t err;
  for (int rep = 0; rep < bench_reps(); rep++) {
    double t0 = bench_now(), el = 0;
    long it = 0;
    for (; el < min_seconds() || it < 100; it++) {
      size_t n = mf_batch_keys(&st, emb, bias);
      if (ps_store_pull(s, emb, n, e) != PC_OK || ps_store_pull(s, bias, n, b) != PC_OK ||
          ps_store_pull_range(s, pc_table_key(2, 0), pc_table_key(2, 1), mean) != PC_OK)
        die("pull", NULL);
      push(s, emb, ge, n);
      push(s, bias, gb, n);
      if (ps_store_push_range(s, pc_table_key(2, 0), pc_table_key(2, 1), gm, &err) != PC_OK)
        die("push mean", &err);
      if ((it & 63) == 0)
        el = bench_now() - t0;
    }
    el = bench_now() - t0;
    bench_row("store_mf_ratings_s", (double)it * MF_BATCH / el, "ratings/s");
  }
  ps_store_destroy(&s);
  free(e);
  free(b);
  free(ge);
  free(gb);
}

int main(void) {
  sparse_rows();
  bulk_rows();
  mf_rows();
  return 0;
}
