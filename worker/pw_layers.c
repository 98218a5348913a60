#include "pw_layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void pw_densify(const pw_dataset_t *ds, const size_t *rows, size_t n, size_t f, float *x) {
  memset(x, 0, n * f * sizeof *x);
  for (size_t r = 0; r < n; r++) {
    size_t i = rows ? rows[r] : r;
    float *xr = x + r * f;
    for (size_t j = ds->row[i]; j < ds->row[i + 1]; j++)
      if (ds->idx[j] < f)
        xr[ds->idx[j]] = ds->val[j];
  }
}

/* y's rows start as the bias so that one sgemm with beta = 1 adds x.w. */
static void bias_rows(float *y, size_t n, const float *b, size_t out) {
  for (size_t r = 0; r < n; r++)
    memcpy(y + r * out, b, out * sizeof *y);
}

/* db = column sums of dy, 8 columns at a time (vectorized at -O2). */
static void col_sums(const float *restrict dy, size_t n, size_t out, float *restrict db) {
  memset(db, 0, out * sizeof *db);
  for (size_t r = 0; r < n; r++) {
    const float *d = dy + r * out;
    size_t j = 0;
    for (; j + 8 <= out; j += 8)
      for (size_t q = 0; q < 8; q++)
        db[j + q] += d[j + q];
    for (; j < out; j++)
      db[j] += d[j];
  }
}

void pw_dense_forward(const float *x, size_t n, size_t in, const float *w, size_t out, float *y) {
  bias_rows(y, n, w + in * out, out);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)out, (int)in, 1.0f, x,
              (int)in, w, (int)out, 1.0f, y, (int)out);
}

void pw_dense_backward(const float *x, const float *dy, size_t n, size_t in, const float *w,
                       size_t out, float *dw, float *dx) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)in, (int)out, (int)n, 1.0f, x,
              (int)in, dy, (int)out, 0.0f, dw, (int)out);
  col_sums(dy, n, out, dw + in * out);
  if (dx != NULL)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)in, (int)out, 1.0f, dy,
                (int)out, w, (int)out, 0.0f, dx, (int)in);
}

/* The elementwise loops run in blocks of 8 so that GCC vectorizes them at
 * -O2 (its cheap cost model wants a trip count the vector width divides):
 * a branch per value would mispredict on half of them. */
void pw_relu(float *y, size_t len) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8)
    for (size_t j = i; j < i + 8; j++)
      y[j] = y[j] > 0.0f ? y[j] : 0.0f;
  for (; i < len; i++)
    y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

void pw_relu_backward(const float *restrict y, float *restrict dy, size_t len) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8)
    for (size_t j = i; j < i + 8; j++)
      dy[j] = y[j] > 0.0f ? dy[j] : 0.0f;
  for (; i < len; i++)
    dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* One row: probabilities in place; returns log of the normalizer (with
 * the max added back) so that the loss is it minus z[label]. */
static double softmax_row(float *z, size_t k) {
  float mx = z[0];
  for (size_t j = 1; j < k; j++)
    mx = z[j] > mx ? z[j] : mx;
  double sum = 0;
  for (size_t j = 0; j < k; j++) {
    float e = expf(z[j] - mx);
    sum += e;
    z[j] = e;
  }
  float inv = (float)(1.0 / sum);
  for (size_t j = 0; j < k; j++)
    z[j] *= inv;
  return log(sum) + mx;
}

double pw_softmax_xent(float *z, size_t n, size_t k, const uint32_t *labels, float scale) {
  double loss = 0;
  for (size_t r = 0; r < n; r++) {
    float *zr = z + r * k;
    float zy = labels ? zr[labels[r]] : 0.0f;
    double lse = softmax_row(zr, k);
    if (labels == NULL)
      continue;
    loss += lse - zy;
    zr[labels[r]] -= 1.0f;
    for (size_t j = 0; j < k; j++)
      zr[j] *= scale;
  }
  return loss;
}

void pw_im2col(const float *img, size_t n, size_t h, size_t w, size_t c, size_t k, float *col) {
  size_t oh = h - k + 1, ow = w - k + 1, kc = k * c, kkc = k * kc;
  for (size_t i = 0; i < n; i++) {
    const float *im = img + i * h * w * c;
    for (size_t y = 0; y < oh; y++)
      for (size_t x = 0; x < ow; x++, col += kkc)
        for (size_t ky = 0; ky < k; ky++) {
          const float *src = im + ((y + ky) * w + x) * c;
          float *dst = col + ky * kc;
          for (size_t j = 0; j < kc; j++)
            dst[j] = src[j];
        }
  }
}

void pw_col2im(const float *dcol, size_t n, size_t h, size_t w, size_t c, size_t k, float *dimg) {
  size_t oh = h - k + 1, ow = w - k + 1, kc = k * c, kkc = k * kc;
  memset(dimg, 0, n * h * w * c * sizeof *dimg);
  for (size_t i = 0; i < n; i++) {
    float *im = dimg + i * h * w * c;
    for (size_t y = 0; y < oh; y++)
      for (size_t x = 0; x < ow; x++, dcol += kkc)
        for (size_t ky = 0; ky < k; ky++) {
          float *dst = im + ((y + ky) * w + x) * c;
          const float *src = dcol + ky * kc;
          for (size_t j = 0; j < kc; j++)
            dst[j] += src[j];
        }
  }
}

void pw_conv_forward(const float *img, size_t n, size_t h, size_t w, size_t c, size_t k,
                     const float *wc, size_t f, float *col, float *y) {
  pw_im2col(img, n, h, w, c, k, col);
  pw_dense_forward(col, n * (h - k + 1) * (w - k + 1), k * k * c, wc, f, y);
}

void pw_conv_backward(const float *col, const float *dy, size_t n, size_t h, size_t w, size_t c,
                      size_t k, const float *wc, size_t f, float *dwc, float *dcol, float *dimg) {
  size_t rows = n * (h - k + 1) * (w - k + 1);
  pw_dense_backward(col, dy, rows, k * k * c, wc, f, dwc, dimg ? dcol : NULL);
  if (dimg != NULL)
    pw_col2im(dcol, n, h, w, c, k, dimg);
}

/* One window position over channels [0, len) of its four rows r0 (top
 * left, at offset `at` of the map), r1 (top right, +c), r2 (bottom left,
 * +wc), r3: a tournament of selects, not branches (which value wins is a
 * coin toss), in blocks of 8 channels that GCC vectorizes at -O2. Ties go
 * to the first in reading order, as the pairs are compared strictly. */
static inline void pool_run(const float *restrict r0, const float *restrict r1,
                            const float *restrict r2, const float *restrict r3, float *restrict y,
                            uint32_t *restrict arg, uint32_t at, uint32_t c, uint32_t wc,
                            size_t len) {
  for (size_t j = 0; j < len; j++) {
    float a = r0[j], b = r1[j], e = r2[j], d = r3[j];
    int g01 = b > a, g23 = d > e;
    float m01 = g01 ? b : a, m23 = g23 ? d : e;
    uint32_t o01 = g01 ? c : 0, o23 = g23 ? wc + c : wc;
    int g = m23 > m01;
    y[j] = g ? m23 : m01;
    arg[j] = at + (uint32_t)j + (g ? o23 : o01);
  }
}

static void pool_window(const float *m, size_t at, size_t c, size_t wc, float *y, uint32_t *arg) {
  const float *r0 = m + at;
  size_t j = 0;
  for (; j + 8 <= c; j += 8)
    pool_run(r0 + j, r0 + c + j, r0 + wc + j, r0 + wc + c + j, y + j, arg + j,
             (uint32_t)(at + j), (uint32_t)c, (uint32_t)wc, 8);
  pool_run(r0 + j, r0 + c + j, r0 + wc + j, r0 + wc + c + j, y + j, arg + j, (uint32_t)(at + j),
           (uint32_t)c, (uint32_t)wc, c - j);
}

void pw_maxpool_forward(const float *x, size_t n, size_t h, size_t w, size_t c, float *y,
                        uint32_t *arg) {
  size_t ph = h / 2, pw = w / 2;
  for (size_t i = 0; i < n; i++) {
    const float *m = x + i * h * w * c;
    for (size_t py = 0; py < ph; py++)
      for (size_t px = 0; px < pw; px++, y += c, arg += c)
        pool_window(m, ((2 * py) * w + 2 * px) * c, c, w * c, y, arg);
  }
}

void pw_maxpool_backward(const float *dy, const uint32_t *arg, size_t n, size_t h, size_t w,
                         size_t c, float *dx) {
  size_t per = (h / 2) * (w / 2) * c;
  memset(dx, 0, n * h * w * c * sizeof *dx);
  for (size_t i = 0; i < n; i++) {
    float *d = dx + i * h * w * c;
    for (size_t j = 0; j < per; j++)
      d[arg[i * per + j]] += dy[i * per + j];
  }
}
