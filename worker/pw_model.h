/* Trained model files: what `parasol predict` loads.
 *
 * Layout (little-endian): magic "PSLMODEL", u32 version (1), u32 model type
 * (pc_model_type_t), u64 features, u32 bias (0/1), u32 reserved (0),
 * u64 nweights (= features + bias), nweights x f32, u64 FNV-1a 64 of all
 * preceding bytes. Loading checks every field, the size and the checksum. */
#ifndef PW_MODEL_H
#define PW_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pw_data.h"

typedef struct pw_model {
  pc_model_type_t type;
  uint64_t features;
  int bias;        /* weight[features] is the bias when set */
  uint64_t nweights;
  float *w;        /* owned */
} pw_model_t;

/* Write atomically (temp file + rename). */
int pw_model_save(const pw_model_t *m, const char *path, pc_err_t *err);
int pw_model_load(pw_model_t *m, const char *path, pc_err_t *err);
void pw_model_free(pw_model_t *m);

/* Probability of class 1 for example i of ds; indices >= features are ignored. */
float pw_model_predict_row(const pw_model_t *m, const pw_dataset_t *ds, size_t i);

#endif
