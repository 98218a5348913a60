/* The network building blocks against naive loops written from the
 * definitions: dense layers (sgemm) forward and backward, convolution by
 * im2col + sgemm against a direct convolution, col2im as im2col's adjoint,
 * 2x2 max-pooling both ways, softmax cross-entropy, densifying CSR rows. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pw_layers.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static float urand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

static float *rnd(size_t n) {
  float *v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++)
    v[i] = urand();
  return v;
}

static void assert_close(const float *a, const double *b, size_t n, double tol) {
  for (size_t i = 0; i < n; i++)
    if (fabs(a[i] - b[i]) > tol * (1 + fabs(b[i])))
      fail_msg("value %zu: %g, expected %g", i, (double)a[i], b[i]);
}

static void test_dense_forward(void **s) {
  (void)s;
  size_t n = 5, in = 7, out = 3;
  float *x = rnd(n * in), *w = rnd((in + 1) * out), *y = rnd(n * out);
  double want[15];
  for (size_t r = 0; r < n; r++)
    for (size_t j = 0; j < out; j++) {
      double z = w[in * out + j];
      for (size_t i = 0; i < in; i++)
        z += (double)x[r * in + i] * w[i * out + j];
      want[r * out + j] = z;
    }
  pw_dense_forward(x, n, in, w, out, y);
  assert_close(y, want, n * out, 1e-5);
  free(x), free(w), free(y);
}

static void test_dense_backward(void **s) {
  (void)s;
  size_t n = 4, in = 6, out = 3;
  float *x = rnd(n * in), *w = rnd((in + 1) * out), *dy = rnd(n * out);
  float *dw = rnd((in + 1) * out), *dx = rnd(n * in); /* garbage: must be overwritten */
  double wdw[21], wdx[24];
  for (size_t i = 0; i <= in; i++)
    for (size_t j = 0; j < out; j++) {
      double g = 0;
      for (size_t r = 0; r < n; r++)
        g += (i < in ? x[r * in + i] : 1.0) * dy[r * out + j];
      wdw[i * out + j] = g;
    }
  for (size_t r = 0; r < n; r++)
    for (size_t i = 0; i < in; i++) {
      double g = 0;
      for (size_t j = 0; j < out; j++)
        g += (double)dy[r * out + j] * w[i * out + j];
      wdx[r * in + i] = g;
    }
  pw_dense_backward(x, dy, n, in, w, out, dw, dx);
  assert_close(dw, wdw, (in + 1) * out, 1e-5);
  assert_close(dx, wdx, n * in, 1e-5);
  pw_dense_backward(x, dy, n, in, w, out, dw, NULL); /* first layer: no dx */
  assert_close(dw, wdw, (in + 1) * out, 1e-5);
  free(x), free(w), free(dy), free(dw), free(dx);
}

/* Direct convolution of image i at output (y, x), filter f. */
static double naive_conv(const float *img, const float *wc, size_t i, size_t y, size_t x,
                         size_t f, size_t h, size_t w, size_t c, size_t k, size_t nf) {
  double z = wc[k * k * c * nf + f];
  for (size_t ky = 0; ky < k; ky++)
    for (size_t kx = 0; kx < k; kx++)
      for (size_t ch = 0; ch < c; ch++)
        z += (double)img[((i * h + y + ky) * w + x + kx) * c + ch] *
             wc[((ky * k + kx) * c + ch) * nf + f];
  return z;
}

enum { CN = 2, CH = 6, CW = 5, CC = 2, CK = 3, CF = 4, COH = CH - CK + 1, COW = CW - CK + 1 };

static void test_conv_forward(void **s) {
  (void)s;
  size_t kkc = CK * CK * CC, rows = CN * COH * COW;
  float *img = rnd(CN * CH * CW * CC), *wc = rnd((kkc + 1) * CF);
  float *col = rnd(rows * kkc), *y = rnd(rows * CF);
  double *want = malloc(rows * CF * sizeof *want);
  for (size_t i = 0; i < CN; i++)
    for (size_t oy = 0; oy < COH; oy++)
      for (size_t ox = 0; ox < COW; ox++)
        for (size_t f = 0; f < CF; f++)
          want[((i * COH + oy) * COW + ox) * CF + f] =
              naive_conv(img, wc, i, oy, ox, f, CH, CW, CC, CK, CF);
  pw_conv_forward(img, CN, CH, CW, CC, CK, wc, CF, col, y);
  assert_close(y, want, rows * CF, 1e-5);
  free(img), free(wc), free(col), free(y), free(want);
}

/* col2im is im2col's adjoint: <im2col(x), d> == <x, col2im(d)>, and the
 * conv's input gradient is the naive sum over the windows covering a pixel. */
static void test_conv_backward(void **s) {
  (void)s;
  size_t kkc = CK * CK * CC, rows = CN * COH * COW, npx = CN * CH * CW * CC;
  float *img = rnd(npx), *wc = rnd((kkc + 1) * CF), *dy = rnd(rows * CF);
  float *col = malloc(rows * kkc * sizeof *col), *y = malloc(rows * CF * sizeof *y);
  float *dcol = malloc(rows * kkc * sizeof *dcol), *dimg = rnd(npx);
  float *dwc = rnd((kkc + 1) * CF);
  pw_conv_forward(img, CN, CH, CW, CC, CK, wc, CF, col, y);
  pw_conv_backward(col, dy, CN, CH, CW, CC, CK, wc, CF, dwc, dcol, dimg);
  double *wimg = calloc(npx, sizeof *wimg), *wdw = calloc((kkc + 1) * CF, sizeof *wdw);
  for (size_t i = 0; i < CN; i++)
    for (size_t oy = 0; oy < COH; oy++)
      for (size_t ox = 0; ox < COW; ox++)
        for (size_t f = 0; f < CF; f++) {
          double g = dy[((i * COH + oy) * COW + ox) * CF + f];
          wdw[kkc * CF + f] += g;
          for (size_t ky = 0; ky < CK; ky++)
            for (size_t kx = 0; kx < CK; kx++)
              for (size_t ch = 0; ch < CC; ch++) {
                size_t px = ((i * CH + oy + ky) * CW + ox + kx) * CC + ch;
                size_t wi = ((ky * CK + kx) * CC + ch) * CF + f;
                wimg[px] += g * wc[wi];
                wdw[wi] += g * img[px];
              }
        }
  assert_close(dimg, wimg, npx, 1e-5);
  assert_close(dwc, wdw, (kkc + 1) * CF, 1e-5);
  free(img), free(wc), free(dy), free(col), free(y), free(dcol), free(dimg), free(dwc);
  free(wimg), free(wdw);
}

static void test_im2col_adjoint(void **s) {
  (void)s;
  size_t kkc = CK * CK * CC, rows = CN * COH * COW, npx = CN * CH * CW * CC;
  float *x = rnd(npx), *d = rnd(rows * kkc), *col = malloc(rows * kkc * sizeof *col);
  float *dx = malloc(npx * sizeof *dx);
  pw_im2col(x, CN, CH, CW, CC, CK, col);
  pw_col2im(d, CN, CH, CW, CC, CK, dx);
  double a = 0, b = 0;
  for (size_t i = 0; i < rows * kkc; i++)
    a += (double)col[i] * d[i];
  for (size_t i = 0; i < npx; i++)
    b += (double)x[i] * dx[i];
  assert_true(fabs(a - b) < 1e-4 * (1 + fabs(a)));
  free(x), free(d), free(col), free(dx);
}

/* 5x4 maps of c channels pool to 2x2 (the last row dropped); ties go to
 * the first value of the window in reading order. */
static void check_maxpool(size_t C) {
  enum { N = 2, H = 5, W = 4 };
  size_t P = N * (H / 2) * (W / 2) * C, X = N * H * W * C;
  float *x = rnd(X), *y = malloc(P * sizeof *y), *dy = rnd(P), *dx = malloc(X * sizeof *dx);
  uint32_t *arg = malloc(P * sizeof *arg);
  double *want = malloc(P * sizeof *want), *wdx = calloc(X, sizeof *wdx);
  x[(0 * W + 1) * C + 1] = 5, x[(1 * W + 0) * C + 1] = 5; /* image 0, window 0, channel 1 */
  x[(1 * W + 0) * C + 0] = 4, x[(1 * W + 1) * C + 0] = 4; /* channel 0: bottom pair tie */
  pw_maxpool_forward(x, N, H, W, C, y, arg);
  for (size_t i = 0, j = 0; i < N; i++)
    for (size_t py = 0; py < H / 2; py++)
      for (size_t px = 0; px < W / 2; px++)
        for (size_t c = 0; c < C; c++, j++) {
          size_t best = 0;
          double m = -INFINITY;
          for (size_t q = 0; q < 4; q++) {
            size_t at = ((i * H + 2 * py + q / 2) * W + 2 * px + q % 2) * C + c;
            if (x[at] > m)
              m = x[at], best = at;
          }
          want[j] = m;
          wdx[best] += dy[j];
          assert_int_equal(arg[j] + i * H * W * C, best);
        }
  assert_close(y, want, P, 0);
  assert_int_equal(arg[1], (0 * W + 1) * C + 1);
  assert_int_equal(arg[0], (1 * W + 0) * C + 0);
  pw_maxpool_backward(dy, arg, N, H, W, C, dx);
  assert_close(dx, wdx, X, 0);
  free(x), free(y), free(dy), free(dx), free(arg), free(want), free(wdx);
}

/* 2 channels: the scalar tail alone; 11: a block of 8 and a tail. */
static void test_maxpool(void **s) {
  (void)s;
  check_maxpool(2);
  check_maxpool(11);
  check_maxpool(16);
}

static void test_relu(void **s) {
  (void)s;
  float y[4] = {-1, 0, 2, -0.5f}, dy[4] = {1, 1, 1, 1};
  pw_relu(y, 4);
  double wy[4] = {0, 0, 2, 0}, wdy[4] = {0, 0, 1, 0};
  assert_close(y, wy, 4, 0);
  pw_relu_backward(y, dy, 4);
  assert_close(dy, wdy, 4, 0);
}

static void test_softmax_xent(void **s) {
  (void)s;
  float z[6] = {1, 2, 3, 1000, 1000, -1000}; /* large logits must not overflow */
  uint32_t lab[2] = {2, 0};
  double p0[3], tot = 0;
  for (int j = 0; j < 3; j++)
    tot += exp(z[j]);
  for (int j = 0; j < 3; j++)
    p0[j] = exp(z[j]) / tot;
  double loss = pw_softmax_xent(z, 2, 3, lab, 0.5f);
  assert_true(fabs(loss - (-log(p0[2]) + log(2.0))) < 1e-5);
  double want[6] = {0.5 * p0[0], 0.5 * p0[1], 0.5 * (p0[2] - 1), 0.5 * (0.5 - 1), 0.25, 0};
  assert_close(z, want, 6, 1e-6);
  float q[3] = {0, 0, 0};
  assert_true(pw_softmax_xent(q, 1, 3, NULL, 1) == 0);
  double third[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
  assert_close(q, third, 3, 1e-6);
}

static void test_densify(void **s) {
  (void)s;
  size_t row[3] = {0, 2, 4};
  uint64_t idx[4] = {0, 3, 1, 9}; /* 9 >= f: ignored */
  float val[4] = {1, 2, 3, 4}, x[8];
  pw_dataset_t ds = {.n = 2, .nnz = 4, .row = row, .idx = idx, .val = val};
  size_t rows[2] = {1, 0};
  memset(x, 0x7f, sizeof x);
  pw_densify(&ds, rows, 2, 4, x);
  double want[8] = {0, 3, 0, 0, 1, 0, 0, 2};
  assert_close(x, want, 8, 0);
  pw_densify(&ds, NULL, 2, 4, x);
  double want2[8] = {1, 0, 0, 2, 0, 3, 0, 0};
  assert_close(x, want2, 8, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dense_forward), cmocka_unit_test(test_dense_backward),
      cmocka_unit_test(test_conv_forward),  cmocka_unit_test(test_conv_backward),
      cmocka_unit_test(test_im2col_adjoint), cmocka_unit_test(test_maxpool),
      cmocka_unit_test(test_relu),          cmocka_unit_test(test_softmax_xent),
      cmocka_unit_test(test_densify),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
