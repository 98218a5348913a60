/* Model files: explicit little-endian encoding, FNV-1a 64 trailer, atomic
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

#include "pc_hash.h"

#define PW_MODEL_MAGIC "PSLMODEL"
#define PW_MODEL_VERSION 1u
#define PW_MODEL_HEADER 40u  /* magic 8, version 4, type 4, features 8, bias 4, reserved 4, nweights 8 */
#define PW_MODEL_TRAILER 8u  /* checksum */
#define PW_MODEL_MAX_FEATURES ((uint64_t)1 << 40)
#define PW_MODEL_IO_FLOATS 4096 /* weights encoded/decoded per write/read (16 KiB of stack) */

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

/* ---- save ---- */

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int check_model(const pw_model_t *m, const char *path, pc_err_t *err) {
  if (m == NULL || path == NULL || m->w == NULL)
    return pc_err_set(err, PC_EINVAL, "model save: NULL model, weights or path");
  if (m->type != PC_MODEL_LOGISTIC)
    return pc_err_set(err, PC_EINVAL, "%s: unknown model type %d", path, (int)m->type);
  if (m->features == 0 || m->features > PW_MODEL_MAX_FEATURES || (m->bias != 0 && m->bias != 1))
    return pc_err_set(err, PC_EINVAL, "%s: bad features %llu or bias %d", path,
                      (unsigned long long)m->features, m->bias);
  if (m->nweights != m->features + (uint64_t)m->bias)
    return pc_err_set(err, PC_EINVAL, "%s: nweights %llu != features + bias", path,
                      (unsigned long long)m->nweights);
  for (uint64_t i = 0; i < m->nweights; i++)
    if (!isfinite(m->w[i]))
      return pc_err_set(err, PC_EINVAL, "%s: weight %llu is not finite", path,
                        (unsigned long long)i);
  return 0;
}

static void encode_header(const pw_model_t *m, unsigned char *h) {
  memcpy(h, PW_MODEL_MAGIC, 8);
  put_u32(h + 8, PW_MODEL_VERSION);
  put_u32(h + 12, (uint32_t)m->type);
  put_u64(h + 16, m->features);
  put_u32(h + 24, (uint32_t)m->bias);
  put_u32(h + 28, 0);
  put_u64(h + 32, m->nweights);
}

/* Everything but the fsync: header, weights in blocks, checksum. */
static int write_body(int fd, const pw_model_t *m) {
  unsigned char h[PW_MODEL_HEADER];
  unsigned char blk[PW_MODEL_IO_FLOATS * 4];
  encode_header(m, h);
  uint64_t sum = pc_hash_fnv1a(h, sizeof h, PC_HASH_FNV_SEED);
  if (write_all(fd, h, sizeof h) < 0)
    return -1;
  for (uint64_t i = 0; i < m->nweights;) {
    size_t k = 0;
    for (; k < PW_MODEL_IO_FLOATS && i < m->nweights; k++, i++)
      put_u32(blk + 4 * k, float_bits(m->w[i]));
    sum = pc_hash_fnv1a(blk, 4 * k, sum);
    if (write_all(fd, blk, 4 * k) < 0)
      return -1;
  }
  put_u64(h, sum);
  return write_all(fd, h, PW_MODEL_TRAILER);
}

static int write_tmp(const pw_model_t *m, const char *tmp, pc_err_t *err) {
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return pc_err_set(err, PC_EIO, "%s: cannot create: %s", tmp, strerror(errno));
  int bad = write_body(fd, m) < 0 || fsync(fd) < 0;
  int saved = errno;
  if (close(fd) < 0 && !bad) {
    bad = 1;
    saved = errno;
  }
  if (bad)
    return pc_err_set(err, PC_EIO, "%s: write: %s", tmp, strerror(saved));
  return 0;
}

/* Make the rename itself durable; failure here only loses crash safety. */
static void sync_parent_dir(const char *path) {
  char dir[PC_PATH_MAX] = ".";
  const char *slash = strrchr(path, '/');
  if (slash == path) {
    strcpy(dir, "/");
  } else if (slash != NULL) {
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir)
      return;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

int pw_model_save(const pw_model_t *m, const char *path, pc_err_t *err) {
  int rc = check_model(m, path, err);
  if (rc < 0)
    return rc;
  char tmp[PC_PATH_MAX + 8];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
    return pc_err_set(err, PC_EINVAL, "%s: path too long", path);
  rc = write_tmp(m, tmp, err);
  if (rc == 0 && rename(tmp, path) < 0)
    rc = pc_err_set(err, PC_EIO, "%s: rename from %s: %s", path, tmp, strerror(errno));
  if (rc < 0) {
    unlink(tmp);
    return rc;
  }
  sync_parent_dir(path);
  return 0;
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

/* Header fields after the magic, in file order; fills m (without weights). */
static int decode_header(const unsigned char *h, pw_model_t *m, const char *path,
                         pc_err_t *err) {
  uint32_t version = get_u32(h + 8), type = get_u32(h + 12);
  uint32_t bias = get_u32(h + 24), reserved = get_u32(h + 28);
  if (version != PW_MODEL_VERSION)
    return pc_err_set(err, PC_EMODEL, "%s: unsupported model file version %u (expected %u)",
                      path, version, PW_MODEL_VERSION);
  if (type != PC_MODEL_LOGISTIC)
    return pc_err_set(err, PC_EMODEL, "%s: unknown model type %u", path, type);
  m->type = (pc_model_type_t)type;
  m->features = get_u64(h + 16);
  m->nweights = get_u64(h + 32);
  if (m->features == 0 || m->features > PW_MODEL_MAX_FEATURES)
    return pc_err_set(err, PC_EMODEL, "%s: features %llu out of range [1, 2^40]", path,
                      (unsigned long long)m->features);
  if (bias > 1 || reserved != 0)
    return bad_model(err, path, "bad bias flag or non-zero reserved field");
  m->bias = (int)bias;
  if (m->nweights != m->features + bias)
    return pc_err_set(err, PC_EMODEL, "%s: nweights %llu != features %llu + bias %u", path,
                      (unsigned long long)m->nweights, (unsigned long long)m->features, bias);
  return 0;
}

/* nweights is at most 2^40 + 1 here, so the expected size cannot overflow. */
static int check_size(const pw_model_t *m, uint64_t size, const char *path, pc_err_t *err) {
  uint64_t want = PW_MODEL_HEADER + 4 * m->nweights + PW_MODEL_TRAILER;
  if (size == want)
    return 0;
  return pc_err_set(err, PC_EMODEL, "%s: %s: %llu bytes, expected %llu for %llu weights", path,
                    size < want ? "truncated" : "trailing bytes", (unsigned long long)size,
                    (unsigned long long)want, (unsigned long long)m->nweights);
}

/* Read the weights in blocks, hashing the raw bytes, then the trailer. */
static int read_weights(int fd, pw_model_t *m, uint64_t sum, const char *path, pc_err_t *err) {
  unsigned char blk[PW_MODEL_IO_FLOATS * 4];
  for (uint64_t i = 0; i < m->nweights;) {
    size_t k = m->nweights - i < PW_MODEL_IO_FLOATS ? (size_t)(m->nweights - i)
                                                     : PW_MODEL_IO_FLOATS;
    if (read_all(fd, blk, 4 * k) < 0)
      return bad_model(err, path, "read failed or file shrank while loading");
    sum = pc_hash_fnv1a(blk, 4 * k, sum);
    for (size_t j = 0; j < k; j++)
      m->w[i + j] = bits_float(get_u32(blk + 4 * j));
    i += k;
  }
  if (read_all(fd, blk, PW_MODEL_TRAILER) < 0)
    return bad_model(err, path, "read failed or file shrank while loading");
  if (get_u64(blk) != sum)
    return bad_model(err, path, "checksum mismatch (file corrupt)");
  for (uint64_t i = 0; i < m->nweights; i++)
    if (!isfinite(m->w[i]))
      return pc_err_set(err, PC_EMODEL, "%s: weight %llu is not finite", path,
                        (unsigned long long)i);
  return 0;
}

/* Magic first, so a wrong file is called that rather than "truncated". */
static int read_header(int fd, uint64_t size, unsigned char *h, const char *path,
                       pc_err_t *err) {
  size_t want = size < PW_MODEL_HEADER ? (size_t)size : PW_MODEL_HEADER;
  if (read_all(fd, h, want) < 0)
    return bad_model(err, path, "cannot read the header");
  if (want < 8 || memcmp(h, PW_MODEL_MAGIC, 8) != 0)
    return bad_model(err, path, "not a Parasol model file (bad magic)");
  if (size < PW_MODEL_HEADER + PW_MODEL_TRAILER)
    return pc_err_set(err, PC_EMODEL, "%s: truncated: %llu bytes is shorter than the header",
                      path, (unsigned long long)size);
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
  if (rc < 0)
    return rc;
  if (m->nweights > SIZE_MAX / sizeof(float) ||
      (m->w = malloc((size_t)m->nweights * sizeof(float))) == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory for %llu weights", path,
                      (unsigned long long)m->nweights);
  return read_weights(fd, m, pc_hash_fnv1a(h, sizeof h, PC_HASH_FNV_SEED), path, err);
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
  memset(m, 0, sizeof *m);
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
  double z = m->bias ? (double)m->w[m->features] : 0.0;
  for (size_t k = ds->row[i]; k < ds->row[i + 1]; k++)
    if (ds->idx[k] < m->features)
      z += (double)m->w[ds->idx[k]] * (double)ds->val[k];
  return (float)sigmoid(z);
}
