#include "pw_logreg.h"

#include <math.h>
#include <string.h>

double pw_logreg_sigmoid(double z) {
  if (z >= 0)
    return 1.0 / (1.0 + exp(-z));
  double e = exp(z);
  return e / (1.0 + e);
}

double pw_logreg_loss(double z, float y) {
  double m = y > 0.5f ? z : -z;
  return m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m));
}

double pw_logreg_grad(const pw_dataset_t *ds, const pw_batch_t *b, const float *w, float *grad) {
  memset(grad, 0, b->nkeys * sizeof *grad);
  double loss = 0;
  size_t s = 0;
  for (size_t r = 0; r < b->nrows; r++) {
    if (r + 4 < b->nrows) { /* shuffled rows: fetch the next ones early */
      __builtin_prefetch(&ds->val[ds->row[b->rows[r + 4]]]);
      __builtin_prefetch(&ds->label[b->rows[r + 4]]);
    }
    size_t row = b->rows[r], beg = ds->row[row], end = ds->row[row + 1];
    double z = b->bias_slot != UINT32_MAX ? w[b->bias_slot] : 0.0;
    for (size_t j = beg; j < end; j++)
      z += (double)w[b->slot[s + (j - beg)]] * ds->val[j];
    float y = ds->label[row];
    loss += pw_logreg_loss(z, y);
    float dz = (float)(pw_logreg_sigmoid(z) - y);
    for (size_t j = beg; j < end; j++)
      grad[b->slot[s + (j - beg)]] += dz * ds->val[j];
    if (b->bias_slot != UINT32_MAX)
      grad[b->bias_slot] += dz;
    s += end - beg;
  }
  float scale = b->nrows ? 1.0f / (float)b->nrows : 0.0f;
  for (size_t i = 0; i < b->nkeys; i++)
    grad[i] *= scale;
  return loss;
}
