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

int main(void) {
  sparse_rows();
  bulk_rows();
  return 0;
}
