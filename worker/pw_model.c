/* Model files: explicit little-endian encoding, XXH3-64 trailer, atomic
 * save. Every field read from a file is checked before it sizes anything. */
#include "pw_model.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "pc_afile.h"

#define PW_MODEL_MAGIC "PSLMODEL"
#define PW_MODEL_HEADER 40u  /* magic 8, version 4, type 4, features 8, bias 4, flags 4, count 8 */
#define PW_MODEL_TRAILER 8u  /* checksum */
#define PW_MODEL_MAX_FEATURES ((uint64_t)1 << 40)
#define PW_MODEL_DENSE_ITEM 4u   /* f32 */
#define PW_MODEL_SPARSE_ITEM 12u /* u64 key + f32 */
/* Bytes encoded/decoded per write/read: a multiple of both item sizes,
 * 24 KiB of stack. */
#define PW_MODEL_IO_BYTES (2048u * PW_MODEL_SPARSE_ITEM)

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Items of the payload: weights (dense) or entries (sparse). */
static uint64_t item_count(const pw_model_t *m) { return m->sparse ? m->nentries : m->nweights; }
static size_t item_size(const pw_model_t *m) {
  return m->sparse ? PW_MODEL_SPARSE_ITEM : PW_MODEL_DENSE_ITEM;
}

/* ---- checks shared by save and load ---- */

/* The first key that breaks the sparse rules, with why; 0 if none. */
static int check_entries(const pw_model_t *m, const char *path, int code, pc_err_t *err) {
  uint64_t nkeys = m->features + (uint64_t)m->bias;
  for (uint64_t i = 0; i < m->nentries; i++) {
    const pw_model_entry_t *e = &m->e[i];
    if (e->key >= nkeys)
      return pc_err_set(err, code, "%s: entry %llu: key %llu out of range (features %llu + "
                        "bias %d)", path, (unsigned long long)i, (unsigned long long)e->key,
                        (unsigned long long)m->features, m->bias);
    if (i > 0 && e->key <= m->e[i - 1].key)
      return pc_err_set(err, code, "%s: entry %llu: key %llu %s key %llu before it (keys must "
                        "be strictly ascending)", path, (unsigned long long)i,
                        (unsigned long long)e->key, e->key == m->e[i - 1].key ? "repeats the"
                        : "is below the", (unsigned long long)m->e[i - 1].key);
    if (!isfinite(e->w))
      return pc_err_set(err, code, "%s: weight of key %llu is not finite", path,
                        (unsigned long long)e->key);
  }
  return 0;
}

static int check_weights(const pw_model_t *m, const char *path, int code, pc_err_t *err) {
  for (uint64_t i = 0; i < m->nweights; i++)
    if (!isfinite(m->w[i]))
      return pc_err_set(err, code, "%s: weight %llu is not finite", path,
                        (unsigned long long)i);
  return 0;
}

/* ---- save ---- */

static int check_model(const pw_model_t *m, const char *path, pc_err_t *err) {
  if (m == NULL || path == NULL || (m->sparse ? m->e == NULL && m->nentries : m->w == NULL))
    return pc_err_set(err, PC_EINVAL, "model save: NULL model, weights or path");
  if (m->type != PC_MODEL_LOGISTIC)
    return pc_err_set(err, PC_EINVAL, "%s: unknown model type %d", path, (int)m->type);
  if (m->features == 0 || m->features > PW_MODEL_MAX_FEATURES || (m->bias != 0 && m->bias != 1))
    return pc_err_set(err, PC_EINVAL, "%s: bad features %llu or bias %d", path,
                      (unsigned long long)m->features, m->bias);
  uint64_t nkeys = m->features + (uint64_t)m->bias;
  if (m->sparse && (m->nweights != 0 || m->nentries > nkeys))
    return pc_err_set(err, PC_EINVAL, "%s: sparse model with %llu entries for %llu keys", path,
                      (unsigned long long)m->nentries, (unsigned long long)nkeys);
  if (!m->sparse && (m->nweights != nkeys || m->nentries != 0))
    return pc_err_set(err, PC_EINVAL, "%s: nweights %llu != features + bias", path,
                      (unsigned long long)m->nweights);
  return m->sparse ? check_entries(m, path, PC_EINVAL, err)
                   : check_weights(m, path, PC_EINVAL, err);
}

static void encode_header(const pw_model_t *m, unsigned char *h) {
  memcpy(h, PW_MODEL_MAGIC, 8);
  put_u32(h + 8, PW_MODEL_VERSION);
  put_u32(h + 12, (uint32_t)m->type);
  put_u64(h + 16, m->features);
  put_u32(h + 24, (uint32_t)m->bias);
  put_u32(h + 28, m->sparse ? PW_MODEL_FLAG_SPARSE : 0);
  put_u64(h + 32, item_count(m));
}

/* Items [i, i + n) into blk. */
static void encode_items(const pw_model_t *m, uint64_t i, size_t n, unsigned char *blk) {
  for (size_t k = 0; k < n; k++) {
    if (m->sparse) {
      put_u64(blk + PW_MODEL_SPARSE_ITEM * k, m->e[i + k].key);
      put_u32(blk + PW_MODEL_SPARSE_ITEM * k + 8, float_bits(m->e[i + k].w));
    } else {
      put_u32(blk + PW_MODEL_DENSE_ITEM * k, float_bits(m->w[i + k]));
    }
  }
}

/* Header, items in blocks, checksum; write errors show in ferror(f). */
static void write_body(FILE *f, const pw_model_t *m, XXH3_state_t *st) {
  unsigned char h[PW_MODEL_HEADER], blk[PW_MODEL_IO_BYTES];
  size_t isz = item_size(m), per = PW_MODEL_IO_BYTES / isz;
  uint64_t count = item_count(m);
  encode_header(m, h);
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, h, sizeof h);
  fwrite(h, 1, sizeof h, f);
  for (uint64_t i = 0; i < count && !ferror(f);) {
    size_t k = count - i < per ? (size_t)(count - i) : per;
    encode_items(m, i, k, blk);
    XXH3_64bits_update(st, blk, k * isz);
    fwrite(blk, 1, k * isz, f);
    i += k;
  }
  put_u64(h, XXH3_64bits_digest(st));
  fwrite(h, 1, PW_MODEL_TRAILER, f);
}

int pw_model_save(const pw_model_t *m, const char *path, pc_err_t *err) {
  int rc = check_model(m, path, err);
  if (rc < 0)
    return rc;
  XXH3_state_t *st = XXH3_createState();
  if (st == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: checksum state", path);
  pc_afile_t a;
  rc = pc_afile_open(&a, path, err);
  if (rc == PC_OK) {
    write_body(a.f, m, st);
    rc = pc_afile_commit(&a, err);
  }
  XXH3_freeState(st);
  return rc;
}

/* ---- load ---- */

static int read_all(int fd, unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int bad_model(pc_err_t *err, const char *path, const char *why) {
  return pc_err_set(err, PC_EMODEL, "%s: %s", path, why);
}

/* Only this Parasol's format is read: an old file would need its own
 * decoder kept forever, and retraining writes a current one. */
static int check_version(uint32_t version, const char *path, pc_err_t *err) {
  if (version == PW_MODEL_VERSION)
    return 0;
  return pc_err_set(err, PC_EMODEL, "%s: model file format version %u, but this Parasol reads "
                    "only version %u: the file was written by %s Parasol; retrain the model "
                    "with this version to save it again", path, version, PW_MODEL_VERSION,
                    version < PW_MODEL_VERSION ? "an older" : "a newer");
}

/* Header fields after the version (read_header checked magic and version),
 * in file order; fills m (without weights). */
static int decode_header(const unsigned char *h, pw_model_t *m, const char *path,
                         pc_err_t *err) {
  uint32_t type = get_u32(h + 12), bias = get_u32(h + 24), flags = get_u32(h + 28);
  if (type != PC_MODEL_LOGISTIC)
    return pc_err_set(err, PC_EMODEL, "%s: unknown model type %u", path, type);
  m->type = (pc_model_type_t)type;
  m->features = get_u64(h + 16);
  if (m->features == 0 || m->features > PW_MODEL_MAX_FEATURES)
    return pc_err_set(err, PC_EMODEL, "%s: features %llu out of range [1, 2^40]", path,
                      (unsigned long long)m->features);
  if (bias > 1)
    return pc_err_set(err, PC_EMODEL, "%s: bias flag %u (must be 0 or 1)", path, bias);
  if (flags & ~PW_MODEL_FLAG_SPARSE)
    return pc_err_set(err, PC_EMODEL, "%s: unknown flags 0x%x", path, flags);
  m->bias = (int)bias;
  m->sparse = (flags & PW_MODEL_FLAG_SPARSE) != 0;
  uint64_t count = get_u64(h + 32), nkeys = m->features + bias;
  if (m->sparse && count > nkeys)
    return pc_err_set(err, PC_EMODEL, "%s: %llu entries for features %llu + bias %u", path,
                      (unsigned long long)count, (unsigned long long)m->features, bias);
  if (!m->sparse && count != nkeys)
    return pc_err_set(err, PC_EMODEL, "%s: nweights %llu != features %llu + bias %u", path,
                      (unsigned long long)count, (unsigned long long)m->features, bias);
  *(m->sparse ? &m->nentries : &m->nweights) = count;
  return 0;
}

/* count is at most 2^40 + 1 here, so the expected size cannot overflow. */
static int check_size(const pw_model_t *m, uint64_t size, const char *path, pc_err_t *err) {
  uint64_t want = PW_MODEL_HEADER + item_size(m) * item_count(m) + PW_MODEL_TRAILER;
  if (size == want)
    return 0;
  return pc_err_set(err, PC_EMODEL, "%s: %s: %llu bytes, expected %llu for %llu %s", path,
                    size < want ? "truncated" : "trailing bytes", (unsigned long long)size,
                    (unsigned long long)want, (unsigned long long)item_count(m),
                    m->sparse ? "sparse entries" : "weights");
}

static void decode_items(pw_model_t *m, uint64_t i, size_t n, const unsigned char *blk) {
  for (size_t k = 0; k < n; k++) {
    if (m->sparse) {
      m->e[i + k].key = get_u64(blk + PW_MODEL_SPARSE_ITEM * k);
      m->e[i + k].w = bits_float(get_u32(blk + PW_MODEL_SPARSE_ITEM * k + 8));
    } else {
      m->w[i + k] = bits_float(get_u32(blk + PW_MODEL_DENSE_ITEM * k));
    }
  }
}

/* Read the items in blocks, hashing the raw bytes, then the trailer; the
 * content is checked only once the checksum says it is what was written. */
static int read_items(int fd, pw_model_t *m, XXH3_state_t *st, const char *path,
                      pc_err_t *err) {
  unsigned char blk[PW_MODEL_IO_BYTES];
  size_t isz = item_size(m), per = PW_MODEL_IO_BYTES / isz;
  uint64_t count = item_count(m);
  for (uint64_t i = 0; i < count;) {
    size_t k = count - i < per ? (size_t)(count - i) : per;
    if (read_all(fd, blk, k * isz) < 0)
      return bad_model(err, path, "read failed or file shrank while loading");
    XXH3_64bits_update(st, blk, k * isz);
    decode_items(m, i, k, blk);
    i += k;
  }
  if (read_all(fd, blk, PW_MODEL_TRAILER) < 0)
    return bad_model(err, path, "read failed or file shrank while loading");
  if (get_u64(blk) != XXH3_64bits_digest(st))
    return bad_model(err, path, "checksum mismatch (file corrupt)");
  return m->sparse ? check_entries(m, path, PC_EMODEL, err)
                   : check_weights(m, path, PC_EMODEL, err);
}

/* Magic first, so a wrong file is called that rather than "truncated". */
static int read_header(int fd, uint64_t size, unsigned char *h, const char *path,
                       pc_err_t *err) {
  size_t want = size < PW_MODEL_HEADER ? (size_t)size : PW_MODEL_HEADER;
  if (read_all(fd, h, want) < 0)
    return bad_model(err, path, "cannot read the header");
  if (want < 8 || memcmp(h, PW_MODEL_MAGIC, 8) != 0)
    return bad_model(err, path, "not a Parasol model file (bad magic)");
  /* Before the size: an old file is named as such, whatever its length. */
  if (want < 12)
    return pc_err_set(err, PC_EMODEL, "%s: truncated: %llu bytes is shorter than the header",
                      path, (unsigned long long)size);
  int rc = check_version(get_u32(h + 8), path, err);
  if (rc < 0)
    return rc;
  if (size < PW_MODEL_HEADER + PW_MODEL_TRAILER)
    return pc_err_set(err, PC_EMODEL, "%s: truncated: %llu bytes is shorter than the header",
                      path, (unsigned long long)size);
  return 0;
}

/* Room for the items; the size check has bounded count by the file size. */
static int alloc_items(pw_model_t *m, const char *path, pc_err_t *err) {
  uint64_t n = item_count(m);
  size_t esz = m->sparse ? sizeof *m->e : sizeof *m->w;
  void *p = NULL;
  if (n <= SIZE_MAX / esz)
    p = malloc(n ? (size_t)n * esz : 1);
  if (p == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory for %llu %s", path,
                      (unsigned long long)n, m->sparse ? "entries" : "weights");
  if (m->sparse)
    m->e = p;
  else
    m->w = p;
  return 0;
}

static int load_fd(int fd, pw_model_t *m, const char *path, pc_err_t *err) {
  struct stat st;
  unsigned char h[PW_MODEL_HEADER];
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return bad_model(err, path, "not a regular file");
  int rc = read_header(fd, (uint64_t)st.st_size, h, path, err);
  if (rc == 0)
    rc = decode_header(h, m, path, err);
  if (rc == 0)
    rc = check_size(m, (uint64_t)st.st_size, path, err);
  if (rc == 0)
    rc = alloc_items(m, path, err);
  if (rc < 0)
    return rc;
  XXH3_state_t *xs = XXH3_createState();
  if (xs == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: checksum state", path);
  XXH3_64bits_reset(xs);
  XXH3_64bits_update(xs, h, sizeof h);
  rc = read_items(fd, m, xs, path, err);
  XXH3_freeState(xs);
  return rc;
}

int pw_model_load(pw_model_t *m, const char *path, pc_err_t *err) {
  if (m == NULL || path == NULL)
    return pc_err_set(err, PC_EINVAL, "model load: NULL model or path");
  memset(m, 0, sizeof *m);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return pc_err_set(err, PC_EMODEL, "%s: cannot open model file: %s", path, strerror(errno));
  int rc = load_fd(fd, m, path, err);
  close(fd);
  if (rc < 0)
    pw_model_free(m);
  return rc;
}

void pw_model_free(pw_model_t *m) {
  if (m == NULL)
    return;
  free(m->w);
  free(m->e);
  memset(m, 0, sizeof *m);
}

/* ---- sparse entries ---- */

static int entry_cmp(const void *a, const void *b) {
  uint64_t x = ((const pw_model_entry_t *)a)->key, y = ((const pw_model_entry_t *)b)->key;
  return (x > y) - (x < y);
}

int pw_model_sort(pw_model_t *m, pc_err_t *err) {
  if (m == NULL || !m->sparse || (m->e == NULL && m->nentries))
    return pc_err_set(err, PC_EINVAL, "pw_model_sort: not a sparse model");
  if (m->nentries > 1)
    qsort(m->e, (size_t)m->nentries, sizeof *m->e, entry_cmp);
  for (uint64_t i = 1; i < m->nentries; i++)
    if (m->e[i].key == m->e[i - 1].key)
      return pc_err_set(err, PC_EINVAL, "model key %llu was collected twice",
                        (unsigned long long)m->e[i].key);
  return PC_OK;
}

float pw_model_weight(const pw_model_t *m, uint64_t key) {
  if (!m->sparse)
    return key < m->nweights ? m->w[key] : 0.0f;
  size_t lo = 0, hi = (size_t)m->nentries;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->e[mid].key < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < m->nentries && m->e[lo].key == key ? m->e[lo].w : 0.0f;
}

/* ---- predict ---- */

/* Never evaluates exp of a large positive number, so no overflow. */
static double sigmoid(double z) {
  if (z >= 0.0)
    return 1.0 / (1.0 + exp(-z));
  double e = exp(z);
  return e / (1.0 + e);
}

float pw_model_predict_row(const pw_model_t *m, const pw_dataset_t *ds, size_t i) {
  double z = m->bias ? (double)pw_model_weight(m, m->features) : 0.0;
  for (size_t k = ds->row[i]; k < ds->row[i + 1]; k++)
    if (ds->idx[k] < m->features)
      z += (double)pw_model_weight(m, ds->idx[k]) * (double)ds->val[k];
  return (float)sigmoid(z);
}
