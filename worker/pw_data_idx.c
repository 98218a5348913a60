/* MNIST idx files: images (magic 0x00000803: n, rows, cols, then n*rows*
 * cols unsigned bytes) and labels (0x00000801: n, then n bytes), all
 * integers big-endian, gzip-compressed or plain (zlib reads both). Pixels
 * are stored as floats in [0, 1] (byte / 255), every one (dense). The
 * header is checked before anything is allocated, and the data must be
 * exactly as long as the header says: memory grows only with bytes that
 * really arrive, so a lying header cannot make us allocate. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "pw_data_util.h"

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
#define IDX_N_MAX ((uint64_t)1 << 27)
#define IDX_SIDE_MAX 4096u
#define IDX_CHUNK 65536

typedef struct idx_file {
  gzFile g;
  char name[PW_NAME_MAX]; /* escaped path */
} idx_file_t;

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int idx_open(idx_file_t *f, const char *path, pc_err_t *err) {
  struct stat st;
  pw_data_show(f->name, sizeof f->name, path, strlen(path), 1);
  f->g = NULL;
  if (stat(path, &st) < 0)
    return pc_err_set(err, errno == ENOENT ? PC_ENOTFOUND : PC_EIO, "%s: cannot open: %s",
                      f->name, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return pc_err_set(err, PC_EIO, "%s: not a regular file", f->name);
  if ((f->g = gzopen(path, "rb")) == NULL)
    return pc_err_set(err, PC_EIO, "%s: cannot open: %s", f->name,
                      errno ? strerror(errno) : "out of memory");
  return 0;
}

static void idx_close(idx_file_t *f) {
  if (f->g != NULL)
    gzclose(f->g);
  f->g = NULL;
}

/* Up to want bytes; *got of them arrived. A gzip stream that breaks off
 * or is corrupt is an error that says so, with the offset reached. */
static int idx_read(idx_file_t *f, void *buf, size_t want, uint64_t at, size_t *got,
                    pc_err_t *err) {
  int n = gzread(f->g, buf, (unsigned)want);
  int zerr = Z_OK;
  const char *msg = gzerror(f->g, &zerr);
  if (n < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
    return pc_err_set(err, PC_EDATA, "%s: after %llu bytes (uncompressed): %s", f->name,
                      (unsigned long long)at,
                      zerr == Z_ERRNO ? strerror(errno) : msg ? msg : "read error");
  *got = (size_t)n;
  return 0;
}

/* Magic and dims[0..ndims) of a header, checked: unsigned bytes, the
 * expected kind, dims within bounds. */
static int idx_header(idx_file_t *f, uint32_t magic, uint32_t *dims, int ndims,
                      pc_err_t *err) {
  unsigned char h[16];
  size_t want = 4 + 4 * (size_t)ndims, got = 0;
  int rc = idx_read(f, h, want, 0, &got, err);
  if (rc < 0)
    return rc;
  if (got < want)
    return pc_err_set(err, PC_EDATA, "%s: %zu bytes, too short for an idx header (%zu)",
                      f->name, got, want);
  uint32_t m = be32(h);
  if (m != magic)
    return pc_err_set(err, PC_EDATA, "%s: magic 0x%08X, expected 0x%08X (idx %s of unsigned bytes)",
                      f->name, m, magic, magic == IDX_IMAGES ? "images" : "labels");
  for (int i = 0; i < ndims; i++)
    dims[i] = be32(h + 4 + 4 * i);
  if (dims[0] == 0 || dims[0] > IDX_N_MAX)
    return pc_err_set(err, PC_EDATA, "%s: header says %u items (must be 1..%llu)", f->name,
                      dims[0], (unsigned long long)IDX_N_MAX);
  for (int i = 1; i < ndims; i++)
    if (dims[i] == 0 || dims[i] > IDX_SIDE_MAX)
      return pc_err_set(err, PC_EDATA, "%s: header says images of %ux%u (each side 1..%u)",
                        f->name, dims[1], dims[2], IDX_SIDE_MAX);
  return 0;
}

/* Bytes left after the expected data: counted so the message can say what
 * the file holds. */
static int idx_count_rest(idx_file_t *f, uint64_t at, uint64_t *rest, pc_err_t *err) {
  unsigned char buf[IDX_CHUNK];
  size_t got = 0;
  *rest = 0;
  do {
    int rc = idx_read(f, buf, sizeof buf, at + *rest, &got, err);
    if (rc < 0)
      return rc;
    *rest += got;
  } while (got > 0);
  return 0;
}

/* The pixels, as floats, into ds->val; grows with the data read. */
static int idx_pixels(idx_file_t *f, pw_build_t *b, uint64_t total, const char *what,
                      pc_err_t *err) {
  unsigned char buf[IDX_CHUNK];
  pw_dataset_t *ds = b->ds;
  uint64_t done = 0, rest = 0;
  size_t got = 1;
  while (done < total && got > 0) {
    size_t want = total - done < IDX_CHUNK ? (size_t)(total - done) : IDX_CHUNK;
    int rc = idx_read(f, buf, want, 16 + done, &got, err);
    if (rc < 0)
      return rc;
    if (pw_build_reserve_nnz(b, got) < 0)
      return pc_err_set(err, PC_ENOMEM, "%s: out of memory after %llu pixels", f->name,
                        (unsigned long long)done);
    for (size_t i = 0; i < got; i++)
      ds->val[ds->nnz + i] = (float)buf[i] / 255.0f;
    ds->nnz += got;
    done += got;
  }
  int rc = idx_count_rest(f, 16 + done, &rest, err);
  if (rc < 0)
    return rc;
  if (done + rest != total)
    return pc_err_set(err, PC_EDATA, "%s: header says %s (%llu bytes), file holds %llu", f->name,
                      what, (unsigned long long)total, (unsigned long long)(done + rest));
  return 0;
}

/* Rows of features 0..nf-1 over the pixels read; labels NaN for now. */
static int idx_rows(pw_build_t *b, uint64_t n, uint64_t nf) {
  pw_dataset_t *ds = b->ds;
  size_t nnz = ds->nnz;
  ds->nnz = 0;
  for (uint64_t i = 0; i < n; i++) {
    for (uint64_t j = 0; j < nf; j++)
      ds->idx[i * nf + j] = j;
    if (pw_build_commit(b, NAN, (size_t)nf) < 0)
      return PC_ENOMEM;
  }
  return ds->nnz == nnz ? 0 : PC_EINVAL;
}

static int idx_images(pw_dataset_t *ds, const char *path, pc_err_t *err) {
  idx_file_t f;
  uint32_t d[3];
  pw_build_t b;
  int rc = idx_open(&f, path, err);
  if (rc == 0)
    rc = idx_header(&f, IDX_IMAGES, d, 3, err);
  /* At most 2^27 * 2^24 bytes: no overflow, and nothing is allocated for
   * it but what the file really holds. */
  uint64_t nf = rc == 0 ? (uint64_t)d[1] * d[2] : 0, total = rc == 0 ? d[0] * nf : 0;
  if (rc == 0 && pw_build_init(&b, ds) < 0)
    rc = pc_err_set(err, PC_ENOMEM, "%s: out of memory", f.name);
  char what[96];
  if (rc == 0) {
    snprintf(what, sizeof what, "%u images of %ux%u", d[0], d[1], d[2]);
    rc = idx_pixels(&f, &b, total, what, err);
  }
  if (rc == 0 && idx_rows(&b, d[0], nf) < 0)
    rc = pc_err_set(err, PC_ENOMEM, "%s: out of memory for %u rows", f.name, d[0]);
  if (rc == 0)
    ds->shape = (pw_shape_t){.features = nf, .height = d[1], .width = d[2], .channels = 1,
                             .dense = 1};
  idx_close(&f);
  return rc;
}

static int idx_label_bytes(idx_file_t *f, unsigned char *lab, uint64_t n, pc_err_t *err) {
  uint64_t done = 0, rest = 0;
  size_t got = 1;
  while (done < n && got > 0) {
    size_t want = n - done < IDX_CHUNK ? (size_t)(n - done) : IDX_CHUNK;
    int rc = idx_read(f, lab + done, want, 8 + done, &got, err);
    if (rc < 0)
      return rc;
    done += got;
  }
  int rc = idx_count_rest(f, 8 + done, &rest, err);
  if (rc == 0 && done + rest != n)
    rc = pc_err_set(err, PC_EDATA, "%s: header says %llu labels (%llu bytes), file holds %llu",
                    f->name, (unsigned long long)n, (unsigned long long)n,
                    (unsigned long long)(done + rest));
  return rc;
}

/* Each label byte by the rules of opts->labels; a 0 anywhere in the file
 * means a label == classes is not a sign of 1-based labels. */
static int idx_apply_labels(pw_dataset_t *ds, const unsigned char *lab, const char *name,
                            const pw_data_opts_t *o, pc_err_t *err) {
  pw_labeler_t lb;
  char reason[PW_REASON_MAX];
  pw_labeler_init(&lb, o);
  for (size_t i = 0; i < ds->n; i++)
    lb.seen_zero |= (int)lab[i] - lb.offset == 0;
  for (size_t i = 0; i < ds->n; i++)
    if (pw_label_value(&lb, lab[i], &ds->label[i], reason) != PW_LINE_OK)
      return pc_err_set(err, PC_EDATA, "%s: record %zu (byte %zu): %s", name, i, 8 + i, reason);
  return 0;
}

static int idx_labels(pw_dataset_t *ds, const char *path, const pw_data_opts_t *o,
                      pc_err_t *err) {
  idx_file_t f;
  uint32_t n = 0;
  unsigned char *lab = NULL;
  int rc = idx_open(&f, path, err);
  if (rc == 0)
    rc = idx_header(&f, IDX_LABELS, &n, 1, err);
  if (rc == 0 && n != ds->n)
    rc = pc_err_set(err, PC_EDATA, "%s: %u labels for %zu images", f.name, n, ds->n);
  if (rc == 0 && (lab = malloc(n)) == NULL) /* n == ds->n: images that really arrived */
    rc = pc_err_set(err, PC_ENOMEM, "%s: out of memory for %u labels", f.name, n);
  if (rc == 0)
    rc = idx_label_bytes(&f, lab, n, err);
  if (rc == 0)
    rc = idx_apply_labels(ds, lab, f.name, o, err);
  free(lab);
  idx_close(&f);
  return rc;
}

int pw_data_load_idx(pw_dataset_t *ds, const char *path, const pw_data_opts_t *opts,
                     pc_err_t *err) {
  int has_labels = opts->labels_path != NULL && opts->labels_path[0] != '\0';
  memset(ds, 0, sizeof *ds); /* freeable whatever fails */
  if (!has_labels && !opts->labels_optional) {
    char name[PW_NAME_MAX];
    pw_data_show(name, sizeof name, path, strlen(path), 1);
    return pc_err_set(err, PC_EINVAL, "%s: idx images need their labels file (data.labels)",
                      name);
  }
  int rc = idx_images(ds, path, err);
  if (rc == 0 && has_labels)
    rc = idx_labels(ds, opts->labels_path, opts, err);
  if (rc < 0)
    pw_data_free(ds);
  return rc;
}
