/* Sparse binary logistic regression: p = sigmoid(w.x + b). */
#ifndef PW_LOGREG_H
#define PW_LOGREG_H

#include <stddef.h>

#include "pw_batch.h"
#include "pw_data.h"

/* w[i] is the weight of b->keys[i]. Writes grad[0..nkeys) = gradient of
 * the mean log-loss over the batch (L2 is the server's business) and
 * returns the summed log-loss of the batch. */
double pw_logreg_grad(const pw_dataset_t *ds, const pw_batch_t *b, const float *w, float *grad);

/* Numerically stable log(1 + exp(-m)) for margin m = (2y-1) z. */
double pw_logreg_loss(double z, float y);

double pw_logreg_sigmoid(double z);

#endif
