/* Splitting rows into train, valid and test (pw_prep_int.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pc_hash.h"
#include "pw_prep_int.h"

int pw_prep_check_split(const double split[3], pc_err_t *err) {
  double sum = split[0] + split[1] + split[2];
  for (int i = 0; i < 3; i++)
    if (!(split[i] >= 0.0 && split[i] <= 1.0))
      return pc_err_set(err, PC_EINVAL, "--split: %g is not a fraction in [0, 1]", split[i]);
  if (!(split[0] > 0.0))
    return pc_err_set(err, PC_EINVAL, "--split: the training fraction must be above 0");
  if (!(fabs(sum - 1.0) <= 1e-9))
    return pc_err_set(err, PC_EINVAL,
                      "--split %g,%g,%g: the fractions sum to %.10g, not 1", split[0], split[1],
                      split[2], sum);
  return 0;
}

void pw_prep_shuffle(size_t *a, size_t n, uint64_t *s) {
  for (size_t i = n; i > 1; i--) {
    *s += 0x9e3779b97f4a7c15ULL;
    size_t j = (size_t)(pc_hash_u64(*s) % i);
    size_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

/* Rows of one group (already shuffled): the first valid ones to valid, the
 * next test ones to test, the rest to train, so rounding favours train. */
static void cut(const size_t *g, size_t n, const double split[3], unsigned char *part) {
  size_t nv = (size_t)floor(split[1] * (double)n + 0.5);
  size_t nt = (size_t)floor(split[2] * (double)n + 0.5);
  if (nv > n)
    nv = n;
  if (nt > n - nv)
    nt = n - nv;
  for (size_t i = 0; i < n; i++)
    part[g[i]] = i < nv ? 1 : i < nv + nt ? 2 : 0;
}

static int by_label(const void *a, const void *b, void *lab) {
  const float *l = lab;
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return l[x] < l[y] ? -1 : l[x] > l[y] ? 1 : x < y ? -1 : x > y;
}

int pw_prep_split(const float *label, size_t n, int stratify, const double split[3],
                  uint64_t seed, unsigned char *part, pc_err_t *err) {
  int rc = pw_prep_check_split(split, err);
  if (rc != 0)
    return rc;
  size_t *ord = malloc((n + 1) * sizeof *ord);
  if (ord == NULL)
    return pc_err_set(err, PC_ENOMEM, "split: out of memory for %zu rows", n);
  for (size_t i = 0; i < n; i++)
    ord[i] = i;
  if (stratify)
    qsort_r(ord, n, sizeof *ord, by_label, (void *)label);
  uint64_t s = seed;
  for (size_t a = 0, b; a < n; a = b) {
    for (b = a + 1; stratify && b < n && label[ord[b]] == label[ord[a]]; b++)
      ;
    if (!stratify)
      b = n;
    pw_prep_shuffle(ord + a, b - a, &s);
    cut(ord + a, b - a, split, part);
  }
  free(ord);
  return 0;
}
