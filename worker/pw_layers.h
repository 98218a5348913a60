/* Neural-network building blocks over a whole minibatch, for the mlp and
 * cnn models (pw_net.h puts them together). Every matrix is row-major
 * float; a minibatch of n examples is n consecutive rows.
 *
 * A dense layer of `in` inputs and `out` units is one (in+1) x out matrix
 * w: rows 0..in-1 are the weights (w[i*out + j] joins input i to unit j),
 * row `in` is the bias -- exactly a dense parameter table of size in+1 and
 * width out pulled as one range.
 *
 * Images and feature maps are stored channels-last (HWC): value (y, x, c)
 * of an h x w x c map at (y*w + x)*c + c. A convolution of f filters of
 * k x k (stride 1, no padding) is one (k*k*c + 1) x f matrix: row
 * (ky*k + kx)*c + ci holds the weights of input channel ci at offset
 * (ky, kx), the last row the biases. Its output is (h-k+1) x (w-k+1) x f.
 *
 * Dimensions are passed as size_t but go to cblas_sgemm as int: callers
 * keep every product of two dimensions below INT_MAX (pw_net checks). */
#ifndef PW_LAYERS_H
#define PW_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "pw_data.h"

/* x[r*f .. r*f+f) = rows[r] of ds (rows NULL: row r) as a dense vector:
 * stored values at their index, zeros elsewhere, indices >= f ignored. */
void pw_densify(const pw_dataset_t *ds, const size_t *rows, size_t n, size_t f, float *x);

/* y (n x out) = x (n x in) . w[0..in) + w[in] (the bias row). */
void pw_dense_forward(const float *x, size_t n, size_t in, const float *w, size_t out, float *y);

/* From dy (n x out), the gradient of the layer's output: dw ((in+1) x out)
 * = x^T dy with the column sums of dy in the bias row (overwritten, not
 * added); dx (n x in) = dy . w^T unless dx is NULL (the first layer). */
void pw_dense_backward(const float *x, const float *dy, size_t n, size_t in, const float *w,
                       size_t out, float *dw, float *dx);

/* y = max(y, 0) in place. */
void pw_relu(float *y, size_t len);
/* dy *= (y > 0), y being the ReLU's output. */
void pw_relu_backward(const float *y, float *dy, size_t len);

/* Softmax cross-entropy over z (n x k): z becomes the probabilities. With
 * labels (each 0..k-1) returns the SUM of -log p[label] and turns z into
 * scale * (p - onehot(label)), the gradient of scale * that sum; with
 * labels NULL returns 0 and leaves the probabilities. */
double pw_softmax_xent(float *z, size_t n, size_t k, const uint32_t *labels, float scale);

/* im2col of n images h x w x c (HWC) for a k x k window: col is
 * (n*oh*ow) x (k*k*c), oh = h-k+1, ow = w-k+1; row (i*oh + y)*ow + x holds
 * the window at (y, x) of image i in the conv matrix's row order. */
void pw_im2col(const float *img, size_t n, size_t h, size_t w, size_t c, size_t k, float *col);
/* The adjoint: dimg (n x h x w x c) = the sum of every window's entries
 * of dcol at their pixel (dimg overwritten). */
void pw_col2im(const float *dcol, size_t n, size_t h, size_t w, size_t c, size_t k, float *dimg);

/* Convolution of n images h x w x c by wc ((k*k*c+1) x f, see above):
 * col receives the im2col matrix (kept for the backward pass), y the
 * (n*oh*ow) x f output. */
void pw_conv_forward(const float *img, size_t n, size_t h, size_t w, size_t c, size_t k,
                     const float *wc, size_t f, float *col, float *y);
/* From dy ((n*oh*ow) x f) and the forward's col: dwc = col^T dy with the
 * column sums of dy in the bias row (overwritten); unless dimg is NULL,
 * dimg (n x h x w x c) = col2im(dy . wc^T), using dcol
 * ((n*oh*ow) x (k*k*c)) as scratch. */
void pw_conv_backward(const float *col, const float *dy, size_t n, size_t h, size_t w, size_t c,
                      size_t k, const float *wc, size_t f, float *dwc, float *dcol, float *dimg);

/* 2x2 max-pooling, stride 2, of n maps h x w x c: y is (h/2) x (w/2) x c
 * per map (a last odd row or column dropped); arg[j] is the offset within
 * its input map of the value y[j] came from (the first of equal ones). */
void pw_maxpool_forward(const float *x, size_t n, size_t h, size_t w, size_t c, float *y,
                        uint32_t *arg);
/* dx (n x h x w x c, overwritten) = dy routed back to where each max came
 * from, zeros elsewhere. */
void pw_maxpool_backward(const float *dy, const uint32_t *arg, size_t n, size_t h, size_t w,
                         size_t c, float *dx);

#endif
