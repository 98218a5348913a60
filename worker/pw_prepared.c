/* Prepared shards (pw_prepared.h): writing one, reading a split's header,
 * and the data.format: prepared reader.
 *
 * A shard is read whole into memory: its layout is fixed by the header, so
 * the bytes the rows need are known before anything is sized, and the
 * checksum is checked over the buffer before a single row is decoded. The
 * row counts of every shard come first from their fixed headers (a few
 * bytes each), so a worker knows which rows are its own without reading
 * the other shards' bodies. */
#include "pw_prepared.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pc_afile.h"
#include "pc_binio.h"

#define MAGIC "PSLPREP\0"
#define FIXED 84u   /* magic 8, version 4, shard/nshards/split 12, rows/nnz/total 24,
                     * shape 24, label kind/classes/recipe length 12 */
#define TRAILER PC_BINIO_TRAILER
#define PATH_MAX_ 4096
#define MAX_FEATURES (UINT64_C(1) << 32) /* indices are u32 */
#define MAX_SIDE 1048576u
#define MAX_RECIPE ((uint32_t)64 << 20)

/* The fixed part of a shard's header. */
typedef struct hdr {
  uint32_t version, shard, nshards, split;
  uint64_t rows, nnz, total_rows;
  pw_shape_t shape;
  uint32_t labels, classes, recipe_len;
} hdr_t;

static void shard_path(char *out, size_t cap, const char *dir, uint32_t s) {
  snprintf(out, cap, "%s/part-%05u.psp", dir, s);
}

void pw_prep_info_free(pw_prep_info_t *info) {
  if (info == NULL)
    return;
  free(info->recipe_json);
  pw_transform_free(&info->tf);
  memset(info, 0, sizeof *info);
}

/* ---- what a header may say (shared by write and read) ---- */

static const char *kind_name(uint32_t k) {
  return k == PW_LABEL_BINARY ? "binary" : k == PW_LABEL_CLASS ? "class" : "real";
}

/* NULL when the fields make sense, else why not. */
static const char *bad_head(const hdr_t *h) {
  const pw_shape_t *s = &h->shape;
  int sides = (s->height != 0) + (s->width != 0) + (s->channels != 0);
  if (h->nshards == 0 || h->nshards > PW_PREP_MAX_SHARDS || h->shard >= h->nshards)
    return "shard number out of range (or 0 shards, or more than 4096)";
  if (h->split > PW_SPLIT_TEST)
    return "unknown split (0 train, 1 valid, 2 test)";
  if (s->features == 0 || s->features > MAX_FEATURES)
    return "features must be 1 .. 2^32";
  if ((s->dense != 0 && s->dense != 1) || (s->pairs != 0 && s->pairs != 1) ||
      (s->dense && s->pairs) || (s->pairs && sides != 0) || (sides != 0 && sides != 3) ||
      s->height > MAX_SIDE || s->width > MAX_SIDE || s->channels > MAX_SIDE ||
      (uint64_t)s->height * s->width * s->channels > s->features)
    return "bad image shape or layout (0 sparse, 1 dense, 2 rating pairs)";
  if (h->labels > PW_LABEL_REAL)
    return "unknown label kind";
  if (h->labels == PW_LABEL_BINARY ? h->classes != 0 && h->classes != 2
                                    : h->labels == PW_LABEL_CLASS ? h->classes < 2
                                                                  : h->classes != 0)
    return "classes must be >= 2 for class labels, 0 or 2 for binary, 0 for real labels";
  if (h->rows > h->total_rows)
    return "more rows in the shard than in the split";
  return NULL;
}

/* A label as stored for its kind; NaN only where labels are optional. */
static int label_ok(float y, uint32_t kind, uint32_t classes, int optional) {
  if (isnan(y))
    return optional;
  if (!isfinite(y))
    return 0;
  if (kind == PW_LABEL_BINARY)
    return y == 0.0f || y == 1.0f;
  if (kind == PW_LABEL_CLASS)
    return y >= 0 && y == floorf(y) && (classes == 0 || y < (float)classes);
  return 1;
}

/* ---- write ---- */

static uint32_t word_idx(const void *ctx, size_t i) {
  return (uint32_t)((const uint64_t *)ctx)[i];
}

/* Rows [begin, end) of the dataset being written: counts come from row[]. */
typedef struct span {
  const pw_dataset_t *ds;
  size_t begin;
} span_t;

static uint32_t word_count(const void *ctx, size_t i) {
  const span_t *sp = ctx;
  return (uint32_t)(sp->ds->row[sp->begin + i + 1] - sp->ds->row[sp->begin + i]);
}

static void w_head(pc_bw_t *w, const pw_prep_info_t *info, uint32_t shard, uint64_t rows,
                   uint64_t nnz) {
  const pw_shape_t *s = &info->shape;
  pc_bw_bytes(w, MAGIC, 8);
  pc_bw_u32(w, PW_PREP_VERSION);
  pc_bw_u32(w, shard);
  pc_bw_u32(w, info->nshards);
  pc_bw_u32(w, (uint32_t)info->split);
  pc_bw_u64(w, rows);
  pc_bw_u64(w, nnz);
  pc_bw_u64(w, info->total_rows);
  pc_bw_u64(w, s->features);
  pc_bw_u32(w, s->height);
  pc_bw_u32(w, s->width);
  pc_bw_u32(w, s->channels);
  pc_bw_u32(w, s->dense ? 1u : s->pairs ? 2u : 0u); /* the layout */
  pc_bw_u32(w, (uint32_t)info->labels);
  pc_bw_u32(w, info->classes);
  pc_bw_u32(w, (uint32_t)info->recipe_len);
  pc_bw_bytes(w, info->recipe_json, info->recipe_len);
  pc_bw_u64(w, info->tf.n);
  pc_bw_f32s(w, info->tf.mean, (size_t)info->tf.n);
  pc_bw_f32s(w, info->tf.inv_std, (size_t)info->tf.n);
}

static void w_body(pc_bw_t *w, const pw_prep_info_t *info, const pw_dataset_t *ds,
                   size_t begin, size_t end) {
  span_t sp = {ds, begin};
  size_t a = ds->row[begin], nnz = ds->row[end] - a;
  pc_bw_f32s(w, ds->label + begin, end - begin);
  pc_bw_words(w, end - begin, word_count, &sp);
  if (!info->shape.dense)
    pc_bw_words(w, nnz, word_idx, ds->idx + a);
  pc_bw_f32s(w, ds->val + a, nnz);
}

/* What pw_prep_write_shard writes, for pc_bw_save. */
typedef struct shard_out {
  const pw_prep_info_t *info;
  const pw_dataset_t *ds;
  size_t begin, end;
  uint32_t shard;
} shard_out_t;

static void w_shard(pc_bw_t *w, const void *ctx) {
  const shard_out_t *o = ctx;
  uint64_t nnz = o->end > o->begin ? o->ds->row[o->end] - o->ds->row[o->begin] : 0;
  w_head(w, o->info, o->shard, o->end - o->begin, nnz);
  if (o->end > o->begin)
    w_body(w, o->info, o->ds, o->begin, o->end);
}

static hdr_t info_head(const pw_prep_info_t *info, uint32_t shard, uint64_t rows) {
  return (hdr_t){.version = PW_PREP_VERSION, .shard = shard, .nshards = info->nshards,
                 .split = (uint32_t)info->split, .rows = rows, .total_rows = info->total_rows,
                 .shape = info->shape, .labels = (uint32_t)info->labels,
                 .classes = info->classes, .recipe_len = (uint32_t)info->recipe_len};
}

/* One row to be written: labels valid, indices below features and
 * strictly ascending (dense: exactly 0..features-1; pairs: two, user then
 * item, in any order of value), values finite. */
static int check_row(const pw_prep_info_t *info, const pw_dataset_t *ds, size_t r,
                     const char *path, pc_err_t *err) {
  const pw_shape_t *s = &info->shape;
  size_t a = ds->row[r], b = ds->row[r + 1];
  if (!label_ok(ds->label[r], (uint32_t)info->labels, info->classes, 0))
    return pc_err_set(err, PC_EINVAL, "%s: row %zu: label %g is not a valid %s label", path, r,
                      (double)ds->label[r], kind_name((uint32_t)info->labels));
  if ((s->dense && b - a != s->features) || (s->pairs && b - a != 2))
    return pc_err_set(err, PC_EINVAL, "%s: row %zu: %zu values, %s data has %llu", path, r,
                      b - a, s->dense ? "dense" : "rating-pair",
                      (unsigned long long)(s->dense ? s->features : 2));
  for (size_t k = a; k < b; k++) {
    uint64_t i = ds->idx[k];
    if (i >= s->features || (k > a && i <= ds->idx[k - 1] && !s->pairs) ||
        (s->dense && i != k - a))
      return pc_err_set(err, PC_EINVAL, "%s: row %zu: index %llu out of order or >= features "
                        "(%llu)", path, r, (unsigned long long)i,
                        (unsigned long long)s->features);
    if (!isfinite(ds->val[k]))
      return pc_err_set(err, PC_EINVAL, "%s: row %zu: value of feature %llu is not finite",
                        path, r, (unsigned long long)i);
  }
  return 0;
}

static int check_write(const char *path, const pw_prep_info_t *info, uint32_t shard,
                       const pw_dataset_t *ds, size_t begin, size_t end, pc_err_t *err) {
  hdr_t h = info_head(info, shard, end - begin);
  const char *why = bad_head(&h);
  if (why != NULL)
    return pc_err_set(err, PC_EINVAL, "%s: %s", path, why);
  if ((info->recipe_len > 0) != (info->recipe_json != NULL) || info->recipe_len > MAX_RECIPE)
    return pc_err_set(err, PC_EINVAL, "%s: recipe of %zu bytes without text, or over %u", path,
                      info->recipe_len, MAX_RECIPE);
  int rc = pw_transform_check(&info->tf, info->shape.features, path, PC_EINVAL, err);
  for (size_t r = begin; rc == 0 && r < end; r++)
    rc = check_row(info, ds, r, path, err);
  return rc;
}

int pw_prep_write_shard(const char *path, const pw_prep_info_t *info, uint32_t shard,
                        const pw_dataset_t *ds, size_t begin, size_t end, pc_err_t *err) {
  if (path == NULL || info == NULL || ds == NULL || begin > end || end > ds->n ||
      (ds->n > 0 && ds->row == NULL))
    return pc_err_set(err, PC_EINVAL, "pw_prep_write_shard: NULL argument or bad row range");
  int rc = check_write(path, info, shard, ds, begin, end, err);
  if (rc < 0)
    return rc;
  shard_out_t o = {info, ds, begin, end, shard};
  return pc_bw_save(path, w_shard, &o, err);
}

/* ---- read: header ---- */

static void decode_fixed(const unsigned char *b, hdr_t *h) {
  h->version = pc_get_u32(b + 8);
  h->shard = pc_get_u32(b + 12);
  h->nshards = pc_get_u32(b + 16);
  h->split = pc_get_u32(b + 20);
  h->rows = pc_get_u64(b + 24);
  h->nnz = pc_get_u64(b + 32);
  h->total_rows = pc_get_u64(b + 40);
  h->shape.features = pc_get_u64(b + 48);
  h->shape.height = pc_get_u32(b + 56);
  h->shape.width = pc_get_u32(b + 60);
  h->shape.channels = pc_get_u32(b + 64);
  uint32_t layout = pc_get_u32(b + 68);
  h->shape.dense = layout == 1 || layout > 2; /* > 2: both set, refused by bad_head */
  h->shape.pairs = layout >= 2;
  h->labels = pc_get_u32(b + 72);
  h->classes = pc_get_u32(b + 76);
  h->recipe_len = pc_get_u32(b + 80);
}

/* Bytes the rows take after the header: labels and counts, indices
 * (sparse), values. UINT64_MAX when that overflows (a lying header). */
static uint64_t body_bytes(const hdr_t *h) {
  uint64_t per_nz = h->shape.dense ? 4 : 8;
  if (h->rows > UINT64_MAX / 16 || h->nnz > UINT64_MAX / 16)
    return UINT64_MAX;
  return h->rows * 8 + h->nnz * per_nz;
}

/* Magic, version and the fixed fields of b[0, got), a file of size bytes. */
static int check_fixed(const unsigned char *b, size_t got, uint64_t size, hdr_t *h,
                       const char *path, pc_err_t *err) {
  if (memcmp(b, MAGIC, got < 8 ? got : 8) != 0 || size == 0)
    return pc_err_set(err, PC_EDATA, "%s: not a prepared shard (bad magic)", path);
  if (got < 12)
    return pc_err_set(err, PC_EDATA, "%s: truncated: %llu bytes, shorter than the header", path,
                      (unsigned long long)size);
  decode_fixed(b, h);
  if (h->version != PW_PREP_VERSION)
    return pc_err_set(err, PC_EDATA, "%s: version %u (written by %s Parasol): this Parasol "
                      "reads version %u; run parasol prep again", path, h->version,
                      h->version < PW_PREP_VERSION ? "an older" : "a newer", PW_PREP_VERSION);
  if (got < FIXED || size < FIXED + TRAILER)
    return pc_err_set(err, PC_EDATA, "%s: truncated: %llu bytes, shorter than the header", path,
                      (unsigned long long)size);
  const char *why = bad_head(h);
  if (why != NULL)
    return pc_err_set(err, PC_EDATA, "%s: bad header: %s", path, why);
  if (h->shape.dense &&
      (h->nnz % h->shape.features != 0 || h->nnz / h->shape.features != h->rows))
    return pc_err_set(err, PC_EDATA, "%s: bad header: dense shard of %llu rows x %llu features "
                      "holds %llu values", path, (unsigned long long)h->rows,
                      (unsigned long long)h->shape.features, (unsigned long long)h->nnz);
  if (body_bytes(h) > size)
    return pc_err_set(err, PC_EDATA, "%s: truncated: %llu rows and %llu values need more than "
                      "the file's %llu bytes", path, (unsigned long long)h->rows,
                      (unsigned long long)h->nnz, (unsigned long long)size);
  return 0;
}

/* The recipe and transform after the fixed part; into info (owned). */
static int parse_var(pc_br_t *c, const hdr_t *h, pw_prep_info_t *info, pc_err_t *err) {
  int rc = pc_br_need(c, h->recipe_len, "the recipe", err);
  if (rc == 0 && h->recipe_len > 0) {
    if ((info->recipe_json = malloc((size_t)h->recipe_len + 1)) == NULL)
      return pc_err_set(err, PC_ENOMEM, "%s: out of memory for the recipe", c->path);
    info->recipe_json[h->recipe_len] = '\0';
    info->recipe_len = h->recipe_len;
    rc = pc_br_bytes(c, info->recipe_json, h->recipe_len, "the recipe", err);
  }
  uint64_t n = 0;
  if (rc == 0)
    rc = pc_br_u64(c, &n, "the transform size", err);
  if (rc < 0)
    return rc;
  if (n > h->shape.features || (rc = pc_br_need(c, 8 * n, "the transform", err)) < 0)
    return rc < 0 ? rc : pc_err_set(err, PC_EDATA, "%s: transform of %llu features, the data "
                                    "has %llu", c->path, (unsigned long long)n,
                                    (unsigned long long)h->shape.features);
  if (n == 0)
    return 0;
  info->tf.mean = malloc((size_t)n * sizeof(float));
  info->tf.inv_std = malloc((size_t)n * sizeof(float));
  if (info->tf.mean == NULL || info->tf.inv_std == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory for the transform", c->path);
  info->tf.n = n;
  rc = pc_br_f32s(c, info->tf.mean, n, "the transform", err);
  if (rc == 0)
    rc = pc_br_f32s(c, info->tf.inv_std, n, "the transform", err);
  return rc == 0 ? pw_transform_check(&info->tf, h->shape.features, c->path, PC_EDATA, err) : rc;
}

static void info_from_head(pw_prep_info_t *info, const hdr_t *h) {
  info->nshards = h->nshards;
  info->total_rows = h->total_rows;
  info->split = (pw_split_t)h->split;
  info->shape = h->shape;
  info->labels = (pw_label_kind_t)h->labels;
  info->classes = h->classes;
}

/* The whole header of b[0, size): fixed part, recipe, transform. */
static int parse_head(pc_br_t *c, uint64_t size, hdr_t *h, pw_prep_info_t *info, pc_err_t *err) {
  memset(info, 0, sizeof *info);
  c->off = FIXED;
  int rc = check_fixed(c->p, FIXED, size, h, c->path, err);
  if (rc == 0)
    rc = parse_var(c, h, info, err);
  if (rc < 0)
    pw_prep_info_free(info);
  else
    info_from_head(info, h);
  return rc;
}

/* ---- read: files ---- */

static int open_shard(const char *path, int *fd, uint64_t *size, pc_err_t *err) {
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return pc_err_set(err, errno == ENOENT ? PC_ENOTFOUND : PC_EIO, "%s: cannot open: %s", path,
                      strerror(errno));
  struct stat st;
  if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(*fd);
    return pc_err_set(err, PC_EIO, "%s: not a regular file", path);
  }
  *size = (uint64_t)st.st_size;
  return 0;
}

/* n bytes at off, all of them (a short read is the file shrinking). */
static int read_at(int fd, void *p, size_t n, uint64_t off, const char *path, pc_err_t *err) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(fd, (char *)p + got, n - got, (off_t)(off + got));
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return pc_err_set(err, PC_EIO, "%s: read: %s", path,
                        k < 0 ? strerror(errno) : "the file shrank while reading");
    got += (size_t)k;
  }
  return 0;
}

/* The fixed header of a shard file (its first FIXED bytes), checked. */
static int read_fixed(const char *path, hdr_t *h, pc_err_t *err) {
  int fd;
  uint64_t size = 0;
  int rc = open_shard(path, &fd, &size, err);
  if (rc < 0)
    return rc;
  unsigned char b[FIXED] = {0};
  size_t want = size < FIXED ? (size_t)size : FIXED;
  rc = read_at(fd, b, want, 0, path, err);
  close(fd);
  return rc < 0 ? rc : check_fixed(b, want, size, h, path, err);
}

/* The whole file into *buf (owned by the caller). */
static int slurp(const char *path, unsigned char **buf, uint64_t *size, pc_err_t *err) {
  int fd;
  *buf = NULL;
  int rc = open_shard(path, &fd, size, err);
  if (rc < 0)
    return rc;
  if (*size > SIZE_MAX - 1 || (*buf = malloc(*size ? (size_t)*size : 1)) == NULL)
    rc = pc_err_set(err, PC_ENOMEM, "%s: out of memory for %llu bytes", path,
                    (unsigned long long)*size);
  else
    rc = read_at(fd, *buf, (size_t)*size, 0, path, err);
  close(fd);
  return rc;
}

/* The header bytes of a shard (fixed part, recipe, transform), read with
 * three small reads instead of the whole file: *got of the file's *size. */
static int read_head_bytes(const char *path, unsigned char **buf, uint64_t *size,
                           uint64_t *got, pc_err_t *err) {
  hdr_t h;
  int rc = read_fixed(path, &h, err), fd = -1;
  if (rc == 0)
    rc = open_shard(path, &fd, size, err);
  if (rc < 0)
    return rc;
  uint64_t body = *size - TRAILER, at = FIXED + (uint64_t)h.recipe_len, len = at + 8;
  unsigned char nb[8] = {0};
  if (len <= body && (rc = read_at(fd, nb, 8, at, path, err)) == 0) {
    uint64_t n = pc_get_u64(nb);
    len += n <= body / 8 ? 8 * n : body; /* too long: parse_head says "truncated" */
  }
  if (rc == 0 && len > body)
    len = body;
  if (rc == 0 && (*buf = malloc((size_t)len)) == NULL)
    rc = pc_err_set(err, PC_ENOMEM, "%s: out of memory for the header", path);
  if (rc == 0)
    rc = read_at(fd, *buf, (size_t)len, 0, path, err);
  close(fd);
  *got = len;
  return rc;
}

/* part-00000 .. part-(N-1) are there, and no part-N after them. */
static int check_files(const char *dir, uint32_t n, pc_err_t *err) {
  char p[PATH_MAX_];
  struct stat st;
  for (uint32_t s = 1; s <= n; s++) {
    shard_path(p, sizeof p, dir, s);
    int there = stat(p, &st) == 0;
    if (s < n && !there)
      return pc_err_set(err, PC_ENOTFOUND, "%s: missing: the split has %u shards (its "
                        "part-00000.psp says so)", p, n);
    if (s == n && there)
      return pc_err_set(err, PC_EDATA, "%s: a shard past the %u the split's part-00000.psp "
                        "names (left from another prep?)", p, n);
  }
  return 0;
}

int pw_prep_read_info(const char *dir, pw_prep_info_t *info, pc_err_t *err) {
  if (dir == NULL || info == NULL)
    return pc_err_set(err, PC_EINVAL, "pw_prep_read_info: NULL argument");
  memset(info, 0, sizeof *info);
  char p[PATH_MAX_];
  struct stat st;
  if (stat(dir, &st) != 0)
    return pc_err_set(err, PC_ENOTFOUND, "%s is not a prepared split (%s)", dir,
                      strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return pc_err_set(err, PC_ENOTFOUND, "%s is not a prepared split (a file, not a directory)",
                      dir);
  shard_path(p, sizeof p, dir, 0);
  if (stat(p, &st) != 0)
    return pc_err_set(err, PC_ENOTFOUND, "%s is not a prepared split (no part-00000.psp)", dir);
  unsigned char *buf = NULL;
  uint64_t size = 0, got = 0;
  hdr_t h;
  int rc = read_head_bytes(p, &buf, &size, &got, err);
  if (rc == 0) {
    pc_br_t c; /* bounded by the bytes read: the header is all parse_head reads */
    pc_br_mem(&c, buf, got, p, PC_EDATA);
    rc = parse_head(&c, size, &h, info, err);
  }
  free(buf);
  if (rc == 0 && h.shard != 0)
    rc = pc_err_set(err, PC_EDATA, "%s: says it is shard %u", p, h.shard);
  if (rc == 0)
    rc = check_files(dir, h.nshards, err);
  if (rc < 0)
    pw_prep_info_free(info);
  return rc;
}

/* ---- read: rows ---- */

/* Where one shard's rows go: rows [lo, hi) of it, appended to ds, whose
 * arrays were sized for every row and value this load can keep. */
typedef struct sink {
  pw_dataset_t *ds;
  const pw_prep_info_t *info; /* part-00000's: every shard must agree */
  const char *first;          /* part-00000's path, for messages */
  const pw_data_opts_t *opts;
} sink_t;

static int same_bytes(const void *a, const void *b, size_t n) {
  return n == 0 || memcmp(a, b, n) == 0;
}

/* NULL when shard b's header says what part-00000 (a) says. */
static const char *disagree(const pw_prep_info_t *a, const pw_prep_info_t *b) {
  if (a->nshards != b->nshards || a->total_rows != b->total_rows || a->split != b->split)
    return "shard count, total rows or split";
  const pw_shape_t *x = &a->shape, *y = &b->shape; /* field by field: padding */
  if (x->features != y->features || x->height != y->height || x->width != y->width ||
      x->channels != y->channels || x->dense != y->dense || x->pairs != y->pairs)
    return "shape (features, image, layout)";
  if (a->labels != b->labels || a->classes != b->classes)
    return "label kind or classes";
  if (a->recipe_len != b->recipe_len || !same_bytes(a->recipe_json, b->recipe_json, a->recipe_len))
    return "recipe";
  if (!pw_transform_equal(&a->tf, &b->tf))
    return "transform";
  return NULL;
}

/* Header of a whole shard in memory, with exactly the bytes its rows need
 * and a good checksum (so a corrupt file is called corrupt), agreeing
 * with part-00000. */
static int shard_head(pc_br_t *c, uint64_t size, uint32_t s, const sink_t *k, hdr_t *h,
                      pc_err_t *err) {
  pw_prep_info_t mine;
  int rc = parse_head(c, size, h, &mine, err);
  if (rc < 0)
    return rc;
  if (body_bytes(h) != pc_br_left(c))
    rc = pc_err_set(err, PC_EDATA, "%s: %s: %llu rows and %llu values need %llu bytes after "
                    "the header, the file has %llu", c->path,
                    body_bytes(h) > pc_br_left(c) ? "truncated" : "trailing bytes",
                    (unsigned long long)h->rows, (unsigned long long)h->nnz,
                    (unsigned long long)body_bytes(h), (unsigned long long)pc_br_left(c));
  if (rc == 0)
    rc = pc_br_sum(c, err);
  const char *why = rc == 0 ? disagree(k->info, &mine) : NULL;
  pw_prep_info_free(&mine);
  if (why != NULL)
    return pc_err_set(err, PC_EDATA, "%s and %s disagree on the %s: shards of different "
                      "preps mixed?", c->path, k->first, why);
  if (rc == 0 && h->shard != s)
    rc = pc_err_set(err, PC_EDATA, "%s: says it is shard %u", c->path, h->shard);
  return rc;
}

/* Counts add up to nnz (dense: each is features); first value of row lo. */
static int row_start(const pc_br_t *c, const hdr_t *h, uint64_t lo, uint64_t *first,
                     pc_err_t *err) {
  const unsigned char *cnt = c->p + c->off + 4 * h->rows;
  uint64_t sum = 0;
  for (uint64_t r = 0; r < h->rows; r++) {
    uint32_t n = pc_get_u32(cnt + 4 * r);
    uint64_t want = h->shape.dense ? h->shape.features : h->shape.pairs ? 2 : n;
    if (n != want)
      return pc_err_set(err, PC_EDATA, "%s: row %llu: %u values, %s data has %llu", c->path,
                        (unsigned long long)r, n, h->shape.dense ? "dense" : "rating-pair",
                        (unsigned long long)want);
    if (r == lo)
      *first = sum;
    sum += n;
  }
  if (lo == h->rows)
    *first = sum;
  if (sum != h->nnz)
    return pc_err_set(err, PC_EDATA, "%s: row counts add up to %llu values, the header says "
                      "%llu", c->path, (unsigned long long)sum, (unsigned long long)h->nnz);
  return 0;
}

static int bad_label(const pc_br_t *c, uint64_t r, float y, uint32_t kind, uint32_t classes,
                     pc_err_t *err) {
  char range[64] = "";
  if (kind == PW_LABEL_CLASS)
    snprintf(range, sizeof range, " 0..%u", classes - 1);
  return pc_err_set(err, PC_EDATA, "%s: row %llu: label %g is not a valid %s label%s", c->path,
                    (unsigned long long)r, (double)y, kind_name(kind), range);
}

/* Row r's values, at value offset v of the shard, appended to ds. */
static int copy_row(const pc_br_t *c, const hdr_t *h, uint64_t r, uint64_t v, uint32_t n,
                    pw_dataset_t *ds, pc_err_t *err) {
  const unsigned char *idx = c->p + c->off + 8 * h->rows;
  const unsigned char *val = idx + (h->shape.dense ? 0 : 4 * h->nnz);
  for (uint32_t j = 0; j < n; j++) {
    uint64_t i = h->shape.dense ? j : pc_get_u32(idx + 4 * (v + j));
    float x = pc_get_f32(val + 4 * (v + j));
    if (i >= h->shape.features || (j > 0 && i <= ds->idx[ds->nnz - 1] && !h->shape.pairs))
      return pc_err_set(err, PC_EDATA, "%s: row %llu: index %llu %s", c->path,
                        (unsigned long long)r, (unsigned long long)i,
                        i >= h->shape.features ? "is >= features" : "is not above the one before");
    if (!isfinite(x))
      return pc_err_set(err, PC_EDATA, "%s: row %llu: value of feature %llu is not finite",
                        c->path, (unsigned long long)r, (unsigned long long)i);
    ds->idx[ds->nnz] = i;
    ds->val[ds->nnz++] = x;
  }
  return 0;
}

static int copy_rows(const pc_br_t *c, const hdr_t *h, uint64_t lo, uint64_t hi, const sink_t *k,
                     pc_err_t *err) {
  uint64_t v = 0;
  int rc = row_start(c, h, lo, &v, err);
  uint32_t classes = k->opts->classes > 0 ? (uint32_t)k->opts->classes : h->classes;
  pw_dataset_t *ds = k->ds;
  for (uint64_t r = lo; rc == 0 && r < hi; r++) {
    float y = pc_get_f32(c->p + c->off + 4 * r);
    uint32_t n = pc_get_u32(c->p + c->off + 4 * h->rows + 4 * r);
    if (!label_ok(y, h->labels, classes, k->opts->labels_optional))
      return bad_label(c, r, y, h->labels, classes, err);
    rc = copy_row(c, h, r, v, n, ds, err);
    v += n;
    ds->label[ds->n++] = y;
    ds->row[ds->n] = ds->nnz;
  }
  return rc;
}

static int load_shard(const char *dir, uint32_t s, uint64_t lo, uint64_t hi, const sink_t *k,
                      pc_err_t *err) {
  char p[PATH_MAX_];
  shard_path(p, sizeof p, dir, s);
  unsigned char *buf = NULL;
  uint64_t size = 0;
  hdr_t h;
  int rc = slurp(p, &buf, &size, err);
  if (rc == 0 && size < FIXED + TRAILER)
    rc = check_fixed(buf, (size_t)size, size, &h, p, err);
  pc_br_t c;
  pc_br_mem(&c, buf, rc == 0 ? size - TRAILER : 0, p, PC_EDATA);
  if (rc == 0)
    rc = shard_head(&c, size, s, k, &h, err);
  if (rc == 0)
    rc = copy_rows(&c, &h, lo, hi < h.rows ? hi : h.rows, k, err);
  free(buf);
  return rc;
}

/* ---- read: the split, one worker's part ---- */

/* Which rows of which shards are part `part` of nparts: whole shards
 * s mod nparts == part when there are at least nparts shards, else the
 * contiguous block [part*T/nparts, (part+1)*T/nparts) of all T rows. */
typedef struct plan {
  uint32_t n;
  uint64_t *rows;     /* [n] per shard, from the fixed headers */
  uint64_t *nnz;      /* [n] */
  uint64_t lo, hi;    /* the block (N < W) */
} plan_t;

static int shard_rows(uint32_t s, const plan_t *pl, int part, int nparts, uint64_t *lo,
                      uint64_t *hi) {
  if (pl->n >= (uint32_t)nparts) {
    *lo = 0;
    *hi = pl->rows[s];
    return s % (uint32_t)nparts == (uint32_t)part;
  }
  uint64_t at = 0;
  for (uint32_t i = 0; i < s; i++)
    at += pl->rows[i];
  *lo = pl->lo > at ? pl->lo - at : 0;
  *hi = pl->hi > at ? pl->hi - at : 0;
  if (*hi > pl->rows[s])
    *hi = pl->rows[s];
  return *lo < *hi;
}

/* Every shard's fixed header: row and value counts, adding up. */
static int read_plan(const char *dir, const pw_prep_info_t *info, plan_t *pl, pc_err_t *err) {
  pl->n = info->nshards;
  pl->rows = calloc(pl->n, sizeof *pl->rows);
  pl->nnz = calloc(pl->n, sizeof *pl->nnz);
  if (pl->rows == NULL || pl->nnz == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory", dir);
  uint64_t total = 0;
  char p[PATH_MAX_];
  for (uint32_t s = 0; s < pl->n; s++) {
    hdr_t h;
    shard_path(p, sizeof p, dir, s);
    int rc = read_fixed(p, &h, err);
    if (rc < 0)
      return rc;
    if (h.nshards != pl->n || h.total_rows != info->total_rows || h.shard != s)
      return pc_err_set(err, PC_EDATA, "%s: shard %u of %u with %llu rows in all; "
                        "part-00000.psp says %u shards and %llu rows: shards of different "
                        "preps mixed?", p, h.shard, h.nshards,
                        (unsigned long long)h.total_rows, pl->n,
                        (unsigned long long)info->total_rows);
    pl->rows[s] = h.rows;
    pl->nnz[s] = h.nnz;
    total += h.rows;
  }
  if (total != info->total_rows)
    return pc_err_set(err, PC_EDATA, "%s: the shards hold %llu rows, their headers say %llu",
                      dir, (unsigned long long)total, (unsigned long long)info->total_rows);
  return 0;
}

/* Arrays for every row and value the chosen shards can give. */
static int alloc_rows(pw_dataset_t *ds, const plan_t *pl, int part, int nparts, const char *dir,
                      pc_err_t *err) {
  uint64_t rows = 0, nnz = 0, lo, hi;
  for (uint32_t s = 0; s < pl->n; s++)
    if (shard_rows(s, pl, part, nparts, &lo, &hi)) {
      rows += hi - lo;
      nnz += pl->nnz[s]; /* bounded by the file sizes (check_fixed) */
    }
  if (rows >= SIZE_MAX / sizeof(size_t) || nnz >= SIZE_MAX / sizeof(uint64_t))
    return pc_err_set(err, PC_ENOMEM, "%s: too large", dir);
  ds->label = malloc((size_t)(rows ? rows : 1) * sizeof *ds->label);
  ds->row = malloc((size_t)(rows + 1) * sizeof *ds->row);
  ds->idx = malloc((size_t)(nnz ? nnz : 1) * sizeof *ds->idx);
  ds->val = malloc((size_t)(nnz ? nnz : 1) * sizeof *ds->val);
  if (!ds->label || !ds->row || !ds->idx || !ds->val)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory for %llu rows", dir,
                      (unsigned long long)rows);
  ds->row[0] = 0;
  return 0;
}

/* What the caller asks of the data against what the shards hold. */
static int check_wanted(const pw_prep_info_t *info, const pw_data_opts_t *o, const char *dir,
                        pc_err_t *err) {
  int ok_kind = (uint32_t)o->labels == (uint32_t)info->labels ||
                (o->labels == PW_LABEL_CLASS && info->labels == PW_LABEL_BINARY);
  if (!ok_kind)
    return pc_err_set(err, PC_EDATA, "%s: the shards hold %s labels, the model reads %s labels",
                      dir, kind_name(info->labels), kind_name(o->labels));
  if (o->features > 0 && info->shape.features > o->features)
    return pc_err_set(err, PC_EDATA, "%s: the shards hold %llu features, more than "
                      "model.features (%llu)", dir, (unsigned long long)info->shape.features,
                      (unsigned long long)o->features);
  return 0;
}

static int load_split(pw_dataset_t *ds, const char *dir, const pw_data_opts_t *o,
                      const pw_prep_info_t *info, plan_t *pl, pc_err_t *err) {
  char first[PATH_MAX_];
  shard_path(first, sizeof first, dir, 0);
  int rc = check_wanted(info, o, dir, err);
  if (rc == 0)
    rc = read_plan(dir, info, pl, err);
  if (rc < 0)
    return rc;
  pl->lo = info->total_rows * (uint64_t)o->part / (uint64_t)o->nparts;
  pl->hi = info->total_rows * (uint64_t)(o->part + 1) / (uint64_t)o->nparts;
  rc = alloc_rows(ds, pl, o->part, o->nparts, dir, err);
  sink_t k = {.ds = ds, .info = info, .first = first, .opts = o};
  uint64_t lo, hi;
  for (uint32_t s = 0; rc == 0 && s < pl->n; s++)
    if (shard_rows(s, pl, o->part, o->nparts, &lo, &hi))
      rc = load_shard(dir, s, lo, hi, &k, err);
  return rc;
}

int pw_data_load_prepared(pw_dataset_t *ds, const char *dir, const pw_data_opts_t *opts,
                          pc_err_t *err) {
  pw_data_opts_t o = {.part = 0, .nparts = 1, .labels = PW_LABEL_BINARY};
  if (opts != NULL)
    o = *opts;
  if (ds == NULL || dir == NULL || o.nparts < 1 || o.part < 0 || o.part >= o.nparts)
    return pc_err_set(err, PC_EINVAL, "pw_data_load_prepared: NULL argument or bad partition");
  memset(ds, 0, sizeof *ds);
  pw_prep_info_t info;
  plan_t pl = {0};
  int rc = pw_prep_read_info(dir, &info, err);
  if (rc < 0)
    return rc;
  if (opts == NULL)
    o.labels = info.labels;
  rc = load_split(ds, dir, &o, &info, &pl, err);
  if (rc == 0) {
    ds->shape = info.shape;
    ds->max_index = info.shape.features - 1; /* the same on every worker */
  }
  free(pl.rows);
  free(pl.nnz);
  pw_prep_info_free(&info);
  if (rc < 0)
    pw_data_free(ds);
  return rc;
}

/* ---- the config of a run on prepared data ---- */

static int model_has_classes(pc_model_type_t t) {
  return t == PC_MODEL_SOFTMAX || t == PC_MODEL_MLP || t == PC_MODEL_CNN;
}

/* The classes a model of classes takes from the header. */
static int header_classes(const pw_prep_info_t *in, const char *dir, uint32_t *k,
                          pc_err_t *err) {
  if (in->labels == PW_LABEL_REAL)
    return pc_err_set(err, PC_ECONFIG, "data.train: %s holds real labels; a model of classes "
                      "needs class or binary labels (parasol prep --labels)", dir);
  *k = in->classes >= 2 ? in->classes : 2;
  return 0;
}

static int fill_from(pc_config_t *cfg, const pw_prep_info_t *in, const char *dir,
                     pc_err_t *err) {
  uint64_t f = in->shape.features;
  /* rating pairs: ids below model.features, which may leave room for more */
  if (in->shape.pairs && pc_config_is_set(cfg, "model.features") && cfg->model.features >= f)
    f = cfg->model.features;
  if (pc_config_is_set(cfg, "model.features") && cfg->model.features != f)
    return pc_err_set(err, PC_ECONFIG, "model.features is %llu, but the shards of %s "
                      "(data.train) hold %llu features; remove model.features or prepare the "
                      "data again", (unsigned long long)cfg->model.features, dir,
                      (unsigned long long)f);
  cfg->model.features = f;
  if (!model_has_classes(cfg->model.type))
    return 0;
  uint32_t k = 0;
  int rc = header_classes(in, dir, &k, err);
  if (rc == 0 && cfg->model.classes != 0 && (uint32_t)cfg->model.classes != k)
    rc = pc_err_set(err, PC_ECONFIG, "model.classes is %d, but the shards of %s (data.train) "
                    "hold %u classes; remove model.classes or prepare the data again",
                    cfg->model.classes, dir, k);
  if (rc == 0)
    cfg->model.classes = (int)k;
  return rc;
}

int pw_prep_config_fill(pc_config_t *cfg, pc_err_t *err) {
  if (cfg == NULL || cfg->data.format != PC_FORMAT_PREPARED)
    return 0;
  int need = !pc_config_is_set(cfg, "model.features") ||
             (model_has_classes(cfg->model.type) && cfg->model.classes == 0);
  pw_prep_info_t in;
  pc_err_t why = {0};
  int rc = pw_prep_read_info(cfg->data.train, &in, &why);
  if (rc < 0 && !need)
    return 0; /* all given: a node without the data (a server) goes on */
  if (rc < 0)
    return pc_err_set(err, PC_ECONFIG, "data.train: %s; model.features%s come from the shards "
                      "unless the config sets them", why.msg,
                      model_has_classes(cfg->model.type) ? " and model.classes" : "");
  rc = fill_from(cfg, &in, cfg->data.train, err);
  pw_prep_info_free(&in);
  return rc;
}
