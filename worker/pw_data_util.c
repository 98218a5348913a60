/* What the data readers share: label rules, a growing dataset, numbered
 * text lines and skip-mode accounting (pw_data_util.h). */
#include "pw_data_util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PW_TEXT_CHUNK ((size_t)1 << 20)
#define PW_CLASS_MAX 16777216.0 /* largest class a float holds exactly */

void pw_labeler_init(pw_labeler_t *lb, const pw_data_opts_t *o) {
  *lb = (pw_labeler_t){.kind = o->labels, .classes = o->classes, .offset = o->label_offset};
}

__attribute__((cold)) static int class_out_of_range(const pw_labeler_t *lb, double v, double c,
                                                   char *reason) {
  char range[96] = "0..16777216 (no model.classes)";
  if (lb->classes > 0)
    snprintf(range, sizeof range, "0..%d (model.classes: %d)", lb->classes - 1, lb->classes);
  int n;
  if (lb->offset != 0)
    n = snprintf(reason, PW_REASON_MAX, "label %.9g - data.label_offset %d = %.9g, outside %s",
                 v, lb->offset, c, range);
  else
    n = snprintf(reason, PW_REASON_MAX, "label %.9g outside %s", v, range);
  /* A file of labels 1..K hits K before (or without) any 0. */
  if (lb->offset == 0 && lb->classes > 0 && c == lb->classes && !lb->seen_zero && n > 0 &&
      n < PW_REASON_MAX)
    snprintf(reason + n, (size_t)(PW_REASON_MAX - n),
             "; no label 0 before it: the labels look 1-based, set data.label_offset: 1");
  return PW_LINE_BAD;
}

static int class_label(pw_labeler_t *lb, double v, float *out, char *reason) {
  if (v != floor(v)) {
    snprintf(reason, PW_REASON_MAX, "label %.9g is not a whole number (class labels are 0..K-1)",
             v);
    return PW_LINE_BAD;
  }
  double c = v - lb->offset;
  if (c < 0 || (lb->classes > 0 && c >= lb->classes) || c > PW_CLASS_MAX)
    return class_out_of_range(lb, v, c, reason);
  lb->seen_zero |= c == 0;
  *out = (float)c;
  return PW_LINE_OK;
}

int pw_label_value(pw_labeler_t *lb, double v, float *out, char *reason) {
  if (!isfinite(v)) {
    snprintf(reason, PW_REASON_MAX, "label %g is not a finite number", v);
    return PW_LINE_BAD;
  }
  switch (lb->kind) {
  case PW_LABEL_CLASS:
    return class_label(lb, v, out, reason);
  case PW_LABEL_REAL:
    *out = (float)v;
    return PW_LINE_OK;
  default:
    if (v == -1 || v == 0 || v == 1) {
      *out = v > 0 ? 1.0f : 0.0f;
      return PW_LINE_OK;
    }
    snprintf(reason, PW_REASON_MAX, "label %.9g is not binary (expected -1, +1, 1 or 0)", v);
    return PW_LINE_BAD;
  }
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

int pw_parse_number(const char *s, size_t n, double *out) {
  const char *e = s + n;
  while (s < e && is_blank(*s))
    s++;
  while (e > s && is_blank(e[-1]))
    e--;
  if (s == e || e - s > 64)
    return -1;
  /* Short plain integers (pixels, counts) skip strtod: it dominates. */
  if (e - s <= 9) {
    unsigned v = 0;
    const char *p = s;
    while (p < e && (unsigned)(*p - '0') <= 9)
      v = v * 10 + (unsigned)(*p++ - '0');
    if (p == e) {
      *out = v;
      return 0;
    }
  }
  char tmp[65], *end;
  memcpy(tmp, s, (size_t)(e - s)); /* strtod needs a terminator of its own */
  tmp[e - s] = '\0';
  *out = strtod(tmp, &end);
  return end == tmp + (e - s) ? 0 : -1;
}

/* New capacity >= need by doubling; -1 if elem-sized bytes would overflow. */
static int grow_cap(size_t cap, size_t need, size_t elem, size_t *out) {
  size_t nc = cap > 0 ? cap : 256;
  while (nc < need) {
    if (nc > SIZE_MAX / 2)
      return -1;
    nc *= 2;
  }
  if (nc > SIZE_MAX / elem - 1)
    return -1;
  *out = nc;
  return 0;
}

static int reserve_rows(pw_build_t *b, size_t need) {
  size_t nc;
  if (need <= b->rowcap)
    return 0;
  if (grow_cap(b->rowcap, need, sizeof(size_t), &nc) < 0)
    return PC_ENOMEM;
  float *lab = realloc(b->ds->label, nc * sizeof *lab);
  if (lab == NULL)
    return PC_ENOMEM;
  b->ds->label = lab;
  size_t *row = realloc(b->ds->row, (nc + 1) * sizeof *row);
  if (row == NULL)
    return PC_ENOMEM;
  b->ds->row = row;
  b->rowcap = nc;
  return 0;
}

int pw_build_init(pw_build_t *b, pw_dataset_t *ds) {
  memset(ds, 0, sizeof *ds);
  *b = (pw_build_t){.ds = ds};
  if (reserve_rows(b, 1) < 0)
    return PC_ENOMEM;
  ds->row[0] = 0;
  return 0;
}

int pw_build_reserve_nnz(pw_build_t *b, size_t more) {
  size_t nc, need = b->ds->nnz + more;
  if (need < more)
    return PC_ENOMEM;
  if (need <= b->nzcap)
    return 0;
  if (grow_cap(b->nzcap, need, sizeof(uint64_t), &nc) < 0)
    return PC_ENOMEM;
  uint64_t *idx = realloc(b->ds->idx, nc * sizeof *idx);
  if (idx == NULL)
    return PC_ENOMEM;
  b->ds->idx = idx;
  float *val = realloc(b->ds->val, nc * sizeof *val);
  if (val == NULL)
    return PC_ENOMEM;
  b->ds->val = val;
  b->nzcap = nc;
  return 0;
}

int pw_build_commit(pw_build_t *b, float label, size_t k) {
  pw_dataset_t *ds = b->ds;
  if (reserve_rows(b, ds->n + 1) < 0)
    return PC_ENOMEM;
  for (size_t j = 0; j < k; j++)
    if (ds->idx[ds->nnz + j] > ds->max_index)
      ds->max_index = ds->idx[ds->nnz + j];
  ds->label[ds->n++] = label;
  ds->nnz += k;
  ds->row[ds->n] = ds->nnz;
  return 0;
}

int pw_lines_open(pw_lines_t *l, const char *path, const char *name, pc_err_t *err) {
  *l = (pw_lines_t){.fd = -1};
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return pc_err_set(err, errno == ENOENT ? PC_ENOTFOUND : PC_EIO, "%s: cannot open: %s", name,
                      strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return pc_err_set(err, PC_EIO, "%s: not a regular file", name);
  }
  l->fd = fd;
  l->cap = PW_TEXT_CHUNK + 1;
  if ((l->buf = malloc(l->cap)) == NULL) {
    pw_lines_close(l);
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory for a read buffer", name);
  }
  return 0;
}

/* More bytes after buf[len], dropping consumed ones and growing (up to a
 * longest line) if full. 1: some arrived; 0: end of file. */
static int lines_fill(pw_lines_t *l, const char *name, pc_err_t *err) {
  if (l->off > 0) {
    memmove(l->buf, l->buf + l->off, l->len - l->off);
    l->len -= l->off;
    l->off = 0;
  }
  if (l->len + 1 >= l->cap) {
    size_t nc = l->cap * 2 > PW_LINE_MAX + 2 ? PW_LINE_MAX + 2 : l->cap * 2;
    char *nb = realloc(l->buf, nc);
    if (nb == NULL)
      return pc_err_set(err, PC_ENOMEM, "%s: out of memory for a line buffer", name);
    l->buf = nb;
    l->cap = nc;
  }
  ssize_t got;
  do
    got = read(l->fd, l->buf + l->len, l->cap - 1 - l->len);
  while (got < 0 && errno == EINTR);
  if (got < 0)
    return pc_err_set(err, PC_EIO, "%s: read: %s", name, strerror(errno));
  l->len += (size_t)got;
  return got > 0;
}

static void lines_take(pw_lines_t *l, char **s, size_t *n, size_t end, size_t next) {
  *s = l->buf + l->off;
  *n = end - l->off;
  l->buf[end] = '\0';
  l->off = next;
  l->line++;
  if (*n > 0 && (*s)[*n - 1] == '\r')
    (*s)[--*n] = '\0';
  if (l->line == 1 && *n >= 3 && memcmp(*s, "\xEF\xBB\xBF", 3) == 0) {
    *s += 3;
    *n -= 3;
  }
}

int pw_lines_next(pw_lines_t *l, char **s, size_t *n, const char *name, pc_err_t *err) {
  size_t scan = l->off;
  for (;;) {
    char *nl = memchr(l->buf + scan, '\n', l->len - scan);
    if (nl != NULL && (size_t)(nl - l->buf) - l->off <= PW_LINE_MAX) {
      lines_take(l, s, n, (size_t)(nl - l->buf), (size_t)(nl - l->buf) + 1);
      return 1;
    }
    if (l->len - l->off > PW_LINE_MAX)
      return pc_err_set(err, PC_EDATA, "%s:%llu: line too long (more than %zu bytes)", name,
                        (unsigned long long)l->line + 1, PW_LINE_MAX);
    scan = l->len - l->off; /* offsets move with the fill */
    int rc = l->eof ? 0 : lines_fill(l, name, err);
    if (rc < 0)
      return rc;
    l->eof = rc == 0;
    if (rc == 0 && l->off == l->len)
      return 0;
    if (rc == 0) {
      lines_take(l, s, n, l->len, l->len);
      return 1;
    }
  }
}

void pw_lines_close(pw_lines_t *l) {
  if (l->fd >= 0)
    close(l->fd);
  free(l->buf);
  *l = (pw_lines_t){.fd = -1};
}

int pw_bad_line(pw_badlines_t *b, pw_dataset_t *ds, const pw_data_opts_t *o, const char *name,
                uint64_t line, const char *reason, pc_err_t *err) {
  if (!o->skip_bad)
    return pc_err_set(err, PC_EDATA, "%s:%llu: %s", name, (unsigned long long)line, reason);
  if (ds->bad_lines++ == 0) {
    b->first_line = line;
    snprintf(b->first_reason, sizeof b->first_reason, "%s", reason);
  }
  if (ds->bad_lines <= o->max_bad_lines)
    return 0;
  return pc_err_set(err, PC_EDATA,
                    "%s: %llu bad lines skipped, more than max_bad_lines (%llu); first: %s:%llu: %s",
                    name, (unsigned long long)ds->bad_lines,
                    (unsigned long long)o->max_bad_lines, name,
                    (unsigned long long)b->first_line, b->first_reason);
}
