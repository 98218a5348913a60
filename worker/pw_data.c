/* The readers' ops table and pw_data_load; the LIBSVM reader; subsets,
 * hold-out and standardization. CSV, idx and ratings readers are in
 * pw_data_csv.c, pw_data_idx.c, pw_data_ratings.c; what they share in
 * pw_data_util.c.
 *
 * LIBSVM reads one byte-range partition of a file.
 *
 * The file is split into nparts near-equal byte ranges; a partition owns
 * every line whose first byte lies in its range. Only that range (plus the
 * tail of its last line) is read, with pread, so W workers together parse
 * the file once. Line numbers for messages are computed only on error.
 * A stream cannot be pread, so it is read whole into the same buffer and
 * the reader runs over it with nothing more to fetch. */
#include "pw_data.h"
#include "pw_data_util.h"

#include "pc_hash.h"
#include "pw_prepared.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PW_BUF_MAX (PW_LINE_MAX + 2)         /* a full line, its '\n', a NUL */
#define PW_CHUNK ((size_t)1 << 20)           /* pread size inside the range */
#define PW_TAIL_MIN ((size_t)4 << 10)        /* first pread past the range end */
#define PW_TOK_SHOW 40                       /* token bytes quoted in messages */
#define PW_SHOW_MAX (PW_TOK_SHOW * 4 + 1)    /* each may become \xHH */
#define PW_BOM "\xEF\xBB\xBF"                /* UTF-8 byte-order mark */

enum { RD_EOF = 0, RD_LINE = 1, RD_TOOLONG = 2 };
enum { LINE_OK = PW_LINE_OK, LINE_IGNORE = PW_LINE_IGNORE, LINE_BAD = PW_LINE_BAD };

/* Buffered pread reader. buf[off, len) is unconsumed; buf[0] is at file
 * offset base; scan is where the search for '\n' resumes. One byte of cap
 * is always kept free so a final unterminated line can get its NUL. With
 * fd -1 buf holds the whole input (a stream) and base stays 0. */
typedef struct rd {
  int fd;
  uint64_t limit; /* end of our range: past it we only fetch a line's tail */
  uint64_t base;
  char *buf;
  size_t cap, len, off, scan;
} rd_t;

typedef struct load {
  const char *path; /* as shown in messages: escaped */
  pw_data_opts_t opts;
  pw_dataset_t *ds;
  pw_labeler_t lb; /* labels other than binary */
  rd_t rd;
  size_t rowcap, nzcap; /* label/row and idx/val capacities */
  uint64_t first_bad_at;
  char first_reason[PW_REASON_MAX];
  char reason[PW_REASON_MAX];
} load_t;

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

static int rd_io_error(const char *path, pc_err_t *err) {
  return pc_err_set(err, PC_EIO, "%s: read: %s", path, strerror(errno));
}

/* How much to pread at file offset at, given room bytes of buffer. */
static size_t rd_want(const rd_t *r, uint64_t at, size_t room) {
  if (at < r->limit)
    return r->limit - at < (uint64_t)room ? (size_t)(r->limit - at) : room;
  /* Past our range we only want the last line's tail: start small and
   * double, so we over-read at most about as much as the tail itself. */
  uint64_t past = at - r->limit;
  size_t want = PW_TAIL_MIN;
  if (past > want)
    want = past < PW_CHUNK ? (size_t)past : PW_CHUNK;
  return min_size(room, want);
}

/* Read more bytes after buf[len]. Returns 1 if some arrived, 0 at EOF. */
static int rd_fill(rd_t *r, const char *path, pc_err_t *err) {
  uint64_t at = r->base + r->len;
  size_t want = rd_want(r, at, r->cap - 1 - r->len);
  ssize_t got;
  do
    got = pread(r->fd, r->buf + r->len, want, (off_t)at);
  while (got < 0 && errno == EINTR);
  if (got < 0)
    return rd_io_error(path, err);
  r->len += (size_t)got;
  return got > 0;
}

/* Make room for more input: drop consumed bytes, grow if still full. */
static int rd_make_room(rd_t *r) {
  if (r->off > 0) {
    memmove(r->buf, r->buf + r->off, r->len - r->off);
    r->base += r->off;
    r->len -= r->off;
    r->scan -= r->off;
    r->off = 0;
  }
  if (r->len + 1 < r->cap)
    return 0;
  /* Cannot exceed PW_BUF_MAX: rd_line reports RD_TOOLONG first. */
  size_t ncap = min_size(r->cap * 2, PW_BUF_MAX);
  char *nb = realloc(r->buf, ncap);
  if (nb == NULL)
    return PC_ENOMEM;
  r->buf = nb;
  r->cap = ncap;
  return 0;
}

static int rd_more(rd_t *r, const char *path, pc_err_t *err) {
  if (r->fd < 0)
    return 0; /* a stream is in buf whole: nothing more to come */
  if (rd_make_room(r) < 0)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory for a line buffer", path);
  return rd_fill(r, path, err);
}

static void rd_take(rd_t *r, char **line, size_t *len, size_t end, size_t next) {
  *line = r->buf + r->off;
  *len = end - r->off;
  r->buf[end] = '\0';
  r->off = r->scan = next;
}

/* Next line, NUL-terminated in place (the '\n' is overwritten). */
static int rd_line(rd_t *r, char **line, size_t *len, const char *path, pc_err_t *err) {
  for (;;) {
    char *nl = memchr(r->buf + r->scan, '\n', r->len - r->scan);
    if (nl != NULL) {
      size_t end = (size_t)(nl - r->buf);
      /* Only a stream's buffer can hold a longer line: same limit as files. */
      if (end - r->off > PW_LINE_MAX)
        return RD_TOOLONG;
      rd_take(r, line, len, end, end + 1);
      return RD_LINE;
    }
    r->scan = r->len;
    if (r->len - r->off > PW_LINE_MAX)
      return RD_TOOLONG;
    int rc = rd_more(r, path, err);
    if (rc < 0)
      return rc;
    if (rc == 0 && r->off == r->len)
      return RD_EOF;
    if (rc == 0) {
      rd_take(r, line, len, r->len, r->len);
      return RD_LINE;
    }
  }
}

/* Consume through the next '\n' without keeping the bytes. */
static int rd_skip_line(rd_t *r, const char *path, pc_err_t *err) {
  for (;;) {
    char *nl = memchr(r->buf + r->scan, '\n', r->len - r->scan);
    if (nl != NULL) {
      r->off = r->scan = (size_t)(nl - r->buf) + 1;
      return RD_LINE;
    }
    r->off = r->scan = r->len;
    int rc = rd_more(r, path, err);
    if (rc <= 0)
      return rc;
  }
}

static uint64_t count_newlines(const char *p, const char *e) {
  uint64_t n = 0;
  for (; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
    n++;
  return n;
}

/* 1-based line number of the line starting at byte at: 1 + newlines before
 * it. Only called on error, so the fast path never counts. */
static int line_number(const rd_t *r, uint64_t at, uint64_t *line, const char *path,
                       pc_err_t *err) {
  char buf[16 * 1024];
  uint64_t pos = 0, count = 1;
  int fd = r->fd;
  if (fd < 0) {
    *line = 1 + count_newlines(r->buf, r->buf + at);
    return 0;
  }
  while (pos < at) {
    size_t want = at - pos < sizeof buf ? (size_t)(at - pos) : sizeof buf;
    ssize_t got = pread(fd, buf, want, (off_t)pos);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return got < 0 ? rd_io_error(path, err) : pc_err_set(err, PC_EIO, "%s: shrank", path);
    count += count_newlines(buf, buf + got);
    pos += (uint64_t)got;
  }
  *line = count;
  return 0;
}

/* New capacity >= need by doubling; PC_ENOMEM if bytes would overflow. */
static int next_cap(size_t cap, size_t need, size_t elem, size_t *out) {
  size_t nc = cap > 0 ? cap : 256;
  while (nc < need) {
    if (nc > SIZE_MAX / 2)
      return PC_ENOMEM;
    nc *= 2;
  }
  if (nc > SIZE_MAX / elem - 1)
    return PC_ENOMEM;
  *out = nc;
  return 0;
}

/* Room for need examples (label[need], row[need + 1]). */
static int reserve_rows(load_t *ld, size_t need) {
  size_t nc;
  if (need <= ld->rowcap && ld->ds->row != NULL)
    return 0;
  if (next_cap(ld->rowcap, need, sizeof(size_t), &nc) < 0)
    return PC_ENOMEM;
  float *lab = realloc(ld->ds->label, nc * sizeof *lab);
  if (lab == NULL)
    return PC_ENOMEM;
  ld->ds->label = lab;
  size_t *row = realloc(ld->ds->row, (nc + 1) * sizeof *row);
  if (row == NULL)
    return PC_ENOMEM;
  ld->ds->row = row;
  ld->rowcap = nc;
  return 0;
}

static int reserve_nnz(load_t *ld, size_t need) {
  size_t nc;
  if (next_cap(ld->nzcap, need, sizeof(uint64_t), &nc) < 0)
    return PC_ENOMEM;
  uint64_t *idx = realloc(ld->ds->idx, nc * sizeof *idx);
  if (idx == NULL)
    return PC_ENOMEM;
  ld->ds->idx = idx;
  float *val = realloc(ld->ds->val, nc * sizeof *val);
  if (val == NULL)
    return PC_ENOMEM;
  ld->ds->val = val;
  ld->nzcap = nc;
  return 0;
}

static int is_sep(char c) { return c == ' ' || c == '\t'; }

static char *tok_end(char *p) {
  while (*p != '\0' && !is_sep(*p))
    p++;
  return p;
}

/* s[0, n) for a message, NUL-terminated in out[cap]: printable ASCII as
 * is, any other byte as \xHH (an invisible BOM, a stray \r or a control
 * byte must show), and '\\' doubled so an escape cannot be faked. A path
 * (is_path) keeps its UTF-8 bytes and backslashes; only control bytes are
 * escaped. Stops, with whole escapes only, when out is full. */
void pw_data_show(char *out, size_t cap, const char *s, size_t n, int is_path) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char e[5] = {(char)c, '\0'};
    if (c == '\\' && !is_path)
      memcpy(e, "\\\\", 3);
    else if (c < 0x20 || c == 0x7f || (c > 0x7f && !is_path))
      snprintf(e, sizeof e, "\\x%02X", c);
    size_t k = strlen(e);
    if (o + k >= cap)
      break;
    memcpy(out + o, e, k);
    o += k;
  }
  out[o] = '\0';
}

/* fmt has one %s: the token tok..end, shortened and escaped. Cold: kept
 * out of the parse loops so their code stays as tight as without it. */
__attribute__((cold, noinline)) static int bad(char *reason, const char *fmt,
                                               const char *tok, const char *end) {
  size_t n = (size_t)(end - tok);
  char shown[PW_SHOW_MAX];
  pw_data_show(shown, sizeof shown, tok, n > PW_TOK_SHOW ? PW_TOK_SHOW : n, 0);
  snprintf(reason, PW_REASON_MAX, fmt, shown);
  return LINE_BAD;
}

/* Label token: exactly -1, +1, 1 or 0, mapped to 0/1. */
static int parse_label(char *tok, char *end, float *label, char *reason) {
  size_t n = (size_t)(end - tok);
  if ((n == 2 && memcmp(tok, "-1", 2) == 0) || (n == 1 && tok[0] == '0')) {
    *label = 0.0f;
    return LINE_OK;
  }
  if ((n == 2 && memcmp(tok, "+1", 2) == 0) || (n == 1 && tok[0] == '1')) {
    *label = 1.0f;
    return LINE_OK;
  }
  if (memchr(tok, ':', n) != NULL)
    return bad(reason, "missing label (line starts with '%s')", tok, end);
  return bad(reason, "bad label '%s' (expected -1, +1, 1 or 0)", tok, end);
}

/* A class or real label (opts.labels): any number, checked by the rules
 * of its kind. Per line, not per value: the pair loop is untouched. */
static int parse_label_kind(load_t *ld, char *tok, char *end, float *label) {
  double v;
  if (pw_parse_number(tok, (size_t)(end - tok), &v) < 0) {
    if (memchr(tok, ':', (size_t)(end - tok)) != NULL)
      return bad(ld->reason, "missing label (line starts with '%s')", tok, end);
    return bad(ld->reason, "bad label '%s' (not a number)", tok, end);
  }
  return pw_label_value(&ld->lb, v, label, ld->reason);
}

/* Decimal digits only, so signs, spaces and hex are refused up front. */
static int parse_index(char *tok, char *colon, uint64_t *out, char *reason) {
  if (tok == colon)
    return bad(reason, "missing index in '%s'", tok, tok_end(tok));
  if (*tok == '-')
    return bad(reason, "negative index in '%s'", tok, tok_end(tok));
  uint64_t v = 0;
  for (char *p = tok; p < colon; p++) {
    unsigned d = (unsigned)(*p - '0');
    if (d > 9)
      return bad(reason, "index is not a number in '%s'", tok, tok_end(tok));
    if (v > (UINT64_MAX - d) / 10)
      return bad(reason, "index out of range in '%s'", tok, tok_end(tok));
    v = v * 10 + d;
  }
  *out = v;
  return LINE_OK;
}

/* Short plain integers (LIBSVM's usual "1") skip strtof: up to 7 digits is
 * exact in a float, and strtof dominates the load time otherwise. */
static int parse_value(char *s, char *end, float *out, char *reason) {
  if (s == end)
    return bad(reason, "missing value in '%s'", s, end);
  if (end - s <= 7) {
    unsigned v = 0;
    char *p = s;
    while (p < end && (unsigned)(*p - '0') <= 9)
      v = v * 10 + (unsigned)(*p++ - '0');
    if (p == end) {
      *out = (float)v;
      return LINE_OK;
    }
  }
  char *e;
  float v = strtof(s, &e);
  if (e == s)
    return bad(reason, "value is not a number in '%s'", s, end);
  if (e != end)
    return bad(reason, "trailing junk after value in '%s'", s, end);
  if (!isfinite(v))
    return bad(reason, "value is not a finite float in '%s'", s, end);
  *out = v;
  return LINE_OK;
}

__attribute__((cold, noinline)) static int bad_index(char *reason, uint64_t features,
                                                     char *tok) {
  char fmt[64];
  snprintf(fmt, sizeof fmt, "index >= features (%llu) in '%%s'", (unsigned long long)features);
  return bad(reason, fmt, tok, tok_end(tok));
}

static int check_index(const load_t *ld, uint64_t idx, size_t k, char *tok, char *reason) {
  const pw_dataset_t *ds = ld->ds;
  if (k > 0 && idx <= ds->idx[ds->nnz + k - 1])
    return bad(reason, "index not strictly increasing at '%s'", tok, tok_end(tok));
  if (ld->opts.features > 0 && idx >= ld->opts.features)
    return bad_index(reason, ld->opts.features, tok);
  return LINE_OK;
}

/* One "index:value" token, stored uncommitted at ds->idx[nnz + k]. */
static int parse_pair(load_t *ld, char *tok, char *end, size_t k, char *reason) {
  char *colon = memchr(tok, ':', (size_t)(end - tok));
  if (colon == NULL)
    return bad(reason, "expected index:value, got '%s'", tok, end);
  uint64_t idx = 0;
  float val = 0.0f;
  int rc = parse_index(tok, colon, &idx, reason);
  if (rc == LINE_OK)
    rc = parse_value(colon + 1, end, &val, reason);
  if (rc == LINE_OK)
    rc = check_index(ld, idx, k, tok, reason);
  if (rc != LINE_OK)
    return rc;
  size_t at = ld->ds->nnz + k;
  if (at >= ld->nzcap && reserve_nnz(ld, at + 1) < 0)
    return PC_ENOMEM;
  ld->ds->idx[at] = idx;
  ld->ds->val[at] = val;
  return LINE_OK;
}

static int commit_row(load_t *ld, float label, size_t k) {
  pw_dataset_t *ds = ld->ds;
  if (reserve_rows(ld, ds->n + 1) < 0)
    return PC_ENOMEM;
  if (k > 0 && ds->idx[ds->nnz + k - 1] > ds->max_index)
    ds->max_index = ds->idx[ds->nnz + k - 1];
  ds->label[ds->n++] = label;
  ds->nnz += k;
  ds->row[ds->n] = ds->nnz;
  return LINE_OK;
}

/* The first token p..*e as a label; with labels_optional a first token
 * that is a pair means no label (NaN), and *e moves back to p so the pair
 * is read as a feature. */
static int line_label(load_t *ld, char *p, char **e, float *label) {
  if (ld->opts.labels_optional && memchr(p, ':', (size_t)(*e - p)) != NULL) {
    *label = NAN;
    *e = p;
    return LINE_OK;
  }
  if (ld->opts.labels != PW_LABEL_BINARY)
    return parse_label_kind(ld, p, *e, label);
  return parse_label(p, *e, label, ld->reason);
}

/* The index:value pairs from p to end, stored uncommitted; *k of them. */
static int parse_pairs(load_t *ld, char *p, char *end, size_t *k) {
  size_t n = 0;
  for (char *e;; p = e, n++) {
    while (is_sep(*p))
      p++;
    if (*p == '\0')
      break;
    e = tok_end(p);
    int rc = parse_pair(ld, p, e, n, ld->reason);
    if (rc != LINE_OK)
      return rc;
  }
  if (p != end) {
    snprintf(ld->reason, sizeof ld->reason, "NUL byte in line");
    return LINE_BAD;
  }
  *k = n;
  return LINE_OK;
}

/* Parse one NUL-terminated line of len bytes; on LINE_OK the example is
 * appended, on LINE_BAD ld->reason says why and nothing is kept. */
static int parse_line(load_t *ld, char *s, size_t len) {
  char *end = s + len;
  if (len > 0 && end[-1] == '\r')
    *--end = '\0';
  char *p = s;
  while (is_sep(*p))
    p++;
  /* Where labels are optional a blank line is an example too (no label,
   * no features), so each non-comment line has its own prediction. */
  if (p == end ? !ld->opts.labels_optional : *p == '#')
    return LINE_IGNORE;
  float label = NAN;
  size_t k = 0;
  if (p != end) {
    char *e = tok_end(p);
    int rc = line_label(ld, p, &e, &label);
    if (rc == LINE_OK)
      rc = parse_pairs(ld, e, end, &k);
    if (rc != LINE_OK)
      return rc;
  }
  return commit_row(ld, label, k);
}

/* A rejected line: an error now, or (skip mode) counted, and an error only
 * once more than max_bad_lines have been skipped. */
static int on_bad_line(load_t *ld, uint64_t at, pc_err_t *err) {
  uint64_t line;
  pw_dataset_t *ds = ld->ds;
  if (!ld->opts.skip_bad) {
    if (line_number(&ld->rd, at, &line, ld->path, err) < 0)
      return PC_EIO;
    return pc_err_set(err, PC_EDATA, "%s:%llu: %s", ld->path, (unsigned long long)line,
                      ld->reason);
  }
  if (ds->bad_lines++ == 0) {
    ld->first_bad_at = at;
    memcpy(ld->first_reason, ld->reason, sizeof ld->reason);
  }
  if (ds->bad_lines <= ld->opts.max_bad_lines)
    return 0;
  if (line_number(&ld->rd, ld->first_bad_at, &line, ld->path, err) < 0)
    return PC_EIO;
  return pc_err_set(err, PC_EDATA,
                    "%s: %llu bad lines skipped, more than max_bad_lines (%llu); first: %s:%llu: %s",
                    ld->path, (unsigned long long)ds->bad_lines,
                    (unsigned long long)ld->opts.max_bad_lines, ld->path,
                    (unsigned long long)line, ld->first_reason);
}

static int handle_too_long(load_t *ld, uint64_t at, pc_err_t *err) {
  snprintf(ld->reason, sizeof ld->reason, "line too long (more than %zu bytes)", PW_LINE_MAX);
  int rc = on_bad_line(ld, at, err);
  return rc < 0 ? rc : rd_skip_line(&ld->rd, ld->path, err);
}

static int load_one(load_t *ld, pc_err_t *err) {
  uint64_t at = ld->rd.base + ld->rd.off;
  char *line = NULL;
  size_t len = 0;
  int rc = rd_line(&ld->rd, &line, &len, ld->path, err);
  if (rc == RD_TOOLONG) {
    rc = handle_too_long(ld, at, err);
    return rc < 0 ? rc : RD_LINE;
  }
  if (rc != RD_LINE)
    return rc;
  char *nul = line + len; /* was the '\n' */
  int bom = len >= 3 && memcmp(line, PW_BOM, 3) == 0;
  if (bom && at == 0) { /* editors write one; it is not part of the data */
    line += 3;
    len -= 3;
  }
  rc = parse_line(ld, line, len);
  if (ld->rd.fd < 0) /* a stream's line numbers are counted in buf: keep its '\n's */
    *nul = '\n';
  if (rc == LINE_BAD && bom && at > 0) /* else it shows as \xEF\xBB\xBF in a token */
    snprintf(ld->reason, sizeof ld->reason,
             "a UTF-8 byte-order mark (EF BB BF) in the middle of the file");
  if (rc == PC_ENOMEM)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory after %zu examples", ld->path,
                      ld->ds->n);
  if (rc == LINE_BAD && (rc = on_bad_line(ld, at, err)) < 0)
    return rc;
  return RD_LINE;
}

/* Byte range [*start, *end) of partition part: sizes differ by at most 1. */
static void part_range(uint64_t size, int part, int nparts, uint64_t *start, uint64_t *end) {
  uint64_t base = size / (uint64_t)nparts, rem = size % (uint64_t)nparts;
  uint64_t p = (uint64_t)part;
  *start = p * base + (p < rem ? p : rem);
  *end = *start + base + (p < rem ? 1 : 0);
}

static int load_range(load_t *ld, uint64_t start, uint64_t end, pc_err_t *err) {
  rd_t *r = &ld->rd;
  if (start == end)
    return 0;
  r->limit = end;
  if (r->fd >= 0) {
    r->cap = PW_CHUNK + 1;
    if ((r->buf = malloc(r->cap)) == NULL)
      return pc_err_set(err, PC_ENOMEM, "%s: out of memory for a read buffer", ld->path);
  }
  /* A partition starting mid-line leaves that line to the previous one;
   * starting one byte early makes "exactly at a line start" the same case. */
  if (start > 0) {
    if (r->fd >= 0)
      r->base = start - 1;
    else
      r->off = r->scan = (size_t)(start - 1);
    int rc = rd_skip_line(r, ld->path, err);
    if (rc < 0)
      return rc;
  }
  while (r->base + r->off < end) {
    int rc = load_one(ld, err);
    if (rc < 0)
      return rc;
    if (rc == RD_EOF)
      break;
  }
  return 0;
}

/* Our partition of an input of size bytes into ld->ds; freed on error. */
static int load_all(load_t *ld, uint64_t size, pc_err_t *err) {
  uint64_t start, end;
  part_range(size, ld->opts.part, ld->opts.nparts, &start, &end);
  int rc = reserve_rows(ld, 1);
  if (rc < 0)
    rc = pc_err_set(err, PC_ENOMEM, "%s: out of memory", ld->path);
  else
    ld->ds->row[0] = 0;
  if (rc == 0)
    rc = load_range(ld, start, end, err);
  if (rc < 0)
    pw_data_free(ld->ds);
  else /* of this partition only: a sparse model takes model.features */
    ld->ds->shape.features =
        ld->ds->nnz == 0 ? 0 : ld->ds->max_index + (ld->ds->max_index < UINT64_MAX);
  return rc;
}

static int check_args(pw_dataset_t *ds, const void *src, const char *name,
                      const pw_data_opts_t *opts, pc_err_t *err) {
  if (ds == NULL || src == NULL || name == NULL)
    return pc_err_set(err, PC_EINVAL, "pw_data_load_libsvm: NULL dataset, input or name");
  if (opts != NULL && (opts->nparts < 1 || opts->part < 0 || opts->part >= opts->nparts))
    return pc_err_set(err, PC_EINVAL, "%s: bad partition %d of %d", name, opts->part,
                      opts->nparts);
  return 0;
}

/* name: where the escaped input name lives as long as ld. */
static void load_init(load_t *ld, pw_dataset_t *ds, const char *name,
                      const pw_data_opts_t *opts) {
  memset(ds, 0, sizeof *ds);
  *ld = (load_t){.path = name, .ds = ds, .opts = {.part = 0, .nparts = 1}};
  if (opts != NULL)
    ld->opts = *opts;
  pw_labeler_init(&ld->lb, &ld->opts);
}

static int open_sized(const char *path, const char *name, uint64_t *size, pc_err_t *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return pc_err_set(err, errno == ENOENT ? PC_ENOTFOUND : PC_EIO, "%s: cannot open: %s",
                      name, strerror(errno));
  struct stat st;
  int bad_stat = fstat(fd, &st) < 0;
  if (bad_stat || !S_ISREG(st.st_mode)) {
    int rc = pc_err_set(err, PC_EIO, "%s: %s", name,
                        bad_stat ? strerror(errno) : "not a regular file");
    close(fd);
    return rc;
  }
  *size = (uint64_t)st.st_size;
  return fd;
}

int pw_data_load_libsvm(pw_dataset_t *ds, const char *path, const pw_data_opts_t *opts,
                        pc_err_t *err) {
  char name[PW_NAME_MAX];
  pw_data_show(name, sizeof name, path ? path : "", path ? strlen(path) : 0, 1);
  int rc = check_args(ds, path, name, opts, err);
  if (rc < 0)
    return rc;
  load_t ld;
  load_init(&ld, ds, name, opts);
  uint64_t size = 0;
  if ((ld.rd.fd = open_sized(path, name, &size, err)) < 0)
    return ld.rd.fd;
  rc = load_all(&ld, size, err);
  free(ld.rd.buf);
  close(ld.rd.fd);
  return rc;
}

/* f to its end into r->buf (r->len bytes), one byte of cap kept free as
 * rd_t requires; the reader then never needs to fetch or grow. */
static int rd_slurp(rd_t *r, FILE *f, const char *name, pc_err_t *err) {
  for (;;) {
    if (r->cap - r->len <= 1) {
      size_t nc = r->cap ? r->cap * 2 : PW_CHUNK;
      char *nb = nc > r->cap ? realloc(r->buf, nc) : NULL;
      if (nb == NULL)
        return pc_err_set(err, PC_ENOMEM, "%s: out of memory after %zu bytes", name, r->len);
      r->buf = nb;
      r->cap = nc;
    }
    size_t want = r->cap - r->len - 1;
    size_t got = fread(r->buf + r->len, 1, want, f);
    r->len += got;
    if (got < want) /* end of input, or an error */
      break;
  }
  if (ferror(f))
    return pc_err_set(err, PC_EIO, "%s: read: %s", name, strerror(errno));
  return 0;
}

int pw_data_load_libsvm_stream(pw_dataset_t *ds, FILE *f, const char *name_in,
                               const pw_data_opts_t *opts, pc_err_t *err) {
  char name[PW_NAME_MAX];
  pw_data_show(name, sizeof name, name_in ? name_in : "", name_in ? strlen(name_in) : 0, 1);
  int rc = check_args(ds, f, name_in ? name : NULL, opts, err);
  if (rc < 0)
    return rc;
  load_t ld;
  load_init(&ld, ds, name, opts);
  ld.rd.fd = -1;
  rc = rd_slurp(&ld.rd, f, name, err);
  if (rc == 0)
    rc = load_all(&ld, ld.rd.len, err);
  else
    pw_data_free(ds);
  free(ld.rd.buf);
  return rc;
}

void pw_data_free(pw_dataset_t *ds) {
  if (ds == NULL)
    return;
  free(ds->label);
  free(ds->row);
  free(ds->idx);
  free(ds->val);
  memset(ds, 0, sizeof *ds);
}

/* ---- Formats: one reader each (pw_data_util.h has the others). ---- */

static const pw_reader_t readers[] = {
    {.name = "libsvm", .format = PC_FORMAT_LIBSVM, .partial = 1, .load = pw_data_load_libsvm},
    {.name = "csv", .format = PC_FORMAT_CSV, .partial = 0, .load = pw_data_load_csv},
    {.name = "idx", .format = PC_FORMAT_IDX, .partial = 0, .load = pw_data_load_idx},
    {.name = "ratings", .format = PC_FORMAT_RATINGS, .partial = 0, .load = pw_data_load_ratings},
    {.name = "prepared", .format = PC_FORMAT_PREPARED, .partial = 1, .load = pw_data_load_prepared},
};

const pw_reader_t *pw_reader_find(pc_format_t format) {
  for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++)
    if (readers[i].format == format)
      return &readers[i];
  return NULL;
}

/* Keep rows [lo, hi) of ds in place (a contiguous block: the rows of one
 * partition). Shape and max_index stay the whole file's, so every worker
 * declares the same model. */
static void keep_rows(pw_dataset_t *ds, size_t lo, size_t hi) {
  size_t a = ds->row[lo], b = ds->row[hi];
  memmove(ds->label, ds->label + lo, (hi - lo) * sizeof *ds->label);
  if (b > a) {
    memmove(ds->idx, ds->idx + a, (b - a) * sizeof *ds->idx);
    memmove(ds->val, ds->val + a, (b - a) * sizeof *ds->val);
  }
  for (size_t i = lo; i <= hi; i++)
    ds->row[i - lo] = ds->row[i] - a;
  ds->n = hi - lo;
  ds->nnz = b - a;
}

int pw_data_load(pw_dataset_t *ds, pc_format_t format, const char *path,
                 const pw_data_opts_t *opts, pc_err_t *err) {
  const pw_reader_t *r = pw_reader_find(format);
  pw_data_opts_t o = {.part = 0, .nparts = 1};
  if (opts != NULL)
    o = *opts;
  if (ds == NULL || path == NULL || r == NULL)
    return pc_err_set(err, PC_EINVAL, "pw_data_load: %s", r == NULL ? "unknown data.format"
                                                                     : "NULL dataset or path");
  if (o.nparts < 1 || o.part < 0 || o.part >= o.nparts)
    return pc_err_set(err, PC_EINVAL, "%s: bad partition %d of %d", path, o.part, o.nparts);
  if (r->partial)
    return r->load(ds, path, &o, err);
  int part = o.part, nparts = o.nparts;
  o.part = 0;
  o.nparts = 1;
  int rc = r->load(ds, path, &o, err);
  if (rc < 0 || nparts == 1)
    return rc;
  uint64_t n = ds->n; /* n < 2^40 and nparts <= 2^31: no overflow */
  keep_rows(ds, (size_t)(n * (uint64_t)part / (uint64_t)nparts),
            (size_t)(n * (uint64_t)(part + 1) / (uint64_t)nparts));
  return 0;
}

void pw_data_opts_from_config(pw_data_opts_t *o, const pc_config_t *cfg, pw_label_kind_t kind,
                              const char *path_labels, int part, int nparts) {
  *o = (pw_data_opts_t){
      .part = part,
      .nparts = nparts,
      .skip_bad = cfg->data.on_error == PC_ON_ERROR_SKIP,
      .max_bad_lines = cfg->data.max_bad_lines,
      .labels = kind,
      .classes = kind == PW_LABEL_CLASS ? cfg->model.classes : 0,
      .label_offset = kind == PW_LABEL_CLASS ? cfg->data.label_offset : 0,
      .label = cfg->data.label[0] != '\0' ? cfg->data.label : NULL,
      .labels_path = path_labels != NULL && path_labels[0] != '\0' ? path_labels : NULL,
  };
}

/* ---- Subsets, hold-out, standardization. ---- */

static int subset_alloc(pw_dataset_t *out, size_t n, size_t nnz) {
  out->label = malloc((n > 0 ? n : 1) * sizeof *out->label);
  out->row = malloc((n + 1) * sizeof *out->row);
  out->idx = malloc((nnz > 0 ? nnz : 1) * sizeof *out->idx);
  out->val = malloc((nnz > 0 ? nnz : 1) * sizeof *out->val);
  return out->label && out->row && out->idx && out->val ? 0 : PC_ENOMEM;
}

int pw_data_subset(pw_dataset_t *out, const pw_dataset_t *in, const size_t *rows, size_t n,
                   pc_err_t *err) {
  if (out == NULL || in == NULL || (rows == NULL && n > 0))
    return pc_err_set(err, PC_EINVAL, "pw_data_subset: NULL argument");
  memset(out, 0, sizeof *out);
  size_t nnz = 0;
  for (size_t i = 0; i < n; i++) {
    if (rows[i] >= in->n)
      return pc_err_set(err, PC_EINVAL, "pw_data_subset: row %zu of a dataset of %zu", rows[i],
                        in->n);
    nnz += in->row[rows[i] + 1] - in->row[rows[i]];
  }
  if (n >= SIZE_MAX / sizeof(size_t) || subset_alloc(out, n, nnz) < 0) {
    pw_data_free(out);
    return pc_err_set(err, PC_ENOMEM, "pw_data_subset: %zu rows, %zu values", n, nnz);
  }
  out->row[0] = 0;
  for (size_t i = 0; i < n; i++) {
    size_t a = in->row[rows[i]], k = in->row[rows[i] + 1] - a, at = out->row[i];
    memcpy(out->idx + at, in->idx + a, k * sizeof *in->idx);
    memcpy(out->val + at, in->val + a, k * sizeof *in->val);
    out->label[i] = in->label[rows[i]];
    out->row[i + 1] = at + k;
  }
  out->n = n;
  out->nnz = nnz;
  out->max_index = in->max_index;
  out->shape = in->shape;
  return 0;
}

/* Row i is a test row when a hash of (seed, i), as a number in [0, 1), is
 * below fraction: the same on every host and in every run. */
static int holdout_pick(uint64_t seed, size_t i, double fraction) {
  uint64_t h = pc_hash_u64(pc_hash_u64(seed) ^ (uint64_t)i);
  return (double)(h >> 11) * 0x1.0p-53 < fraction;
}

int pw_data_holdout(size_t n, double fraction, uint64_t test_rows, uint64_t seed,
                    unsigned char *is_test, pc_err_t *err) {
  if (is_test == NULL && n > 0)
    return pc_err_set(err, PC_EINVAL, "pw_data_holdout: NULL is_test");
  if (test_rows > 0) {
    if (test_rows >= n)
      return pc_err_set(err, PC_EINVAL,
                        "data.test_rows: %llu leaves no training row (the data has %zu rows)",
                        (unsigned long long)test_rows, n);
    for (size_t i = 0; i < n; i++)
      is_test[i] = i >= n - test_rows;
    return 0;
  }
  if (!(fraction > 0 && fraction < 1))
    return pc_err_set(err, PC_EINVAL,
                      "data.test_fraction: %g: a hold-out needs a fraction in (0, 1) or "
                      "data.test_rows",
                      fraction);
  size_t tests = 0;
  for (size_t i = 0; i < n; i++)
    tests += is_test[i] = (unsigned char)holdout_pick(seed, i, fraction);
  if (tests == 0 || tests == n)
    return pc_err_set(err, PC_EINVAL,
                      "data.test_fraction: %g of %zu rows (training.seed %llu) leaves no %s row",
                      fraction, n, (unsigned long long)seed, tests == 0 ? "test" : "training");
  return 0;
}

int pw_data_holdout_valid(size_t n, double fraction, uint64_t seed, unsigned char *split,
                          pc_err_t *err) {
  if (!(fraction > 0 && fraction < 1) || (split == NULL && n > 0))
    return pc_err_set(err, PC_EINVAL, "data.valid_fraction: %g: needs a fraction in (0, 1)",
                      fraction);
  /* another stream of the same hash than the test hold-out's, so the two
   * draws are independent */
  uint64_t vseed = pc_hash_u64(seed ^ 0x76616c6964ull);
  size_t valid = 0, train = 0;
  for (size_t i = 0; i < n; i++) {
    if (split[i] != PW_ROW_TRAIN)
      continue;
    if (holdout_pick(vseed, i, fraction))
      split[i] = PW_ROW_VALID, valid++;
    else
      train++;
  }
  if (valid == 0 || train == 0)
    return pc_err_set(err, PC_EINVAL,
                      "data.valid_fraction: %g of %zu rows (training.seed %llu) leaves no %s row",
                      fraction, n, (unsigned long long)seed, valid == 0 ? "validation" : "training");
  return 0;
}

int pw_transform_equal(const pw_transform_t *a, const pw_transform_t *b) {
  return a->n == b->n && (a->n == 0 || /* no arrays then, maybe NULL */
                          (memcmp(a->mean, b->mean, a->n * sizeof *a->mean) == 0 &&
                           memcmp(a->inv_std, b->inv_std, a->n * sizeof *a->inv_std) == 0));
}

int pw_transform_check(const pw_transform_t *t, uint64_t features, const char *path, int code,
                       pc_err_t *err) {
  if (features > 0 && t->n > features)
    return pc_err_set(err, code, "%s: transform of %llu features, the data has %llu", path,
                      (unsigned long long)t->n, (unsigned long long)features);
  if (t->n > 0 && (t->mean == NULL || t->inv_std == NULL))
    return pc_err_set(err, code, "%s: transform of %llu features without values", path,
                      (unsigned long long)t->n);
  for (uint64_t f = 0; f < t->n; f++)
    if (!isfinite(t->mean[f]) || !isfinite(t->inv_std[f]) || !(t->inv_std[f] > 0))
      return pc_err_set(err, code, "%s: transform of feature %llu: mean %g, 1/std %g (must be "
                        "finite, 1/std > 0)", path, (unsigned long long)f,
                        (double)t->mean[f], (double)t->inv_std[f]);
  return 0;
}

void pw_data_moments(const pw_dataset_t *ds, uint64_t nf, double *sum, double *sumsq,
                     double *count) {
  for (size_t k = 0; k < ds->nnz; k++) {
    uint64_t f = ds->idx[k];
    if (f < nf) {
      double x = ds->val[k];
      sum[f] += x;
      sumsq[f] += x * x;
    }
  }
  *count += (double)ds->n;
}

int pw_transform_from_moments(pw_transform_t *t, uint64_t nf, const double *sum,
                              const double *sumsq, double count, pc_err_t *err) {
  memset(t, 0, sizeof *t);
  if (nf == 0)
    return 0;
  if (!(count > 0))
    return pc_err_set(err, PC_EINVAL, "standardization: no training rows to take moments of");
  if (nf > SIZE_MAX / sizeof(float) || (t->mean = malloc(nf * sizeof(float))) == NULL ||
      (t->inv_std = malloc(nf * sizeof(float))) == NULL) {
    pw_transform_free(t);
    return pc_err_set(err, PC_ENOMEM, "standardization: %llu features",
                      (unsigned long long)nf);
  }
  for (uint64_t f = 0; f < nf; f++) {
    double mean = sum[f] / count, var = sumsq[f] / count - mean * mean;
    /* Rounding leaves a constant feature a tiny variance: not worth
     * scaling by 1e8, so anything below 1e-12 relative counts as 0. */
    int constant = !(var > 1e-12 * (1.0 + mean * mean));
    t->mean[f] = (float)mean;
    t->inv_std[f] = constant ? 1.0f : (float)(1.0 / sqrt(var));
  }
  t->n = nf;
  return 0;
}

void pw_data_apply_transform(pw_dataset_t *ds, const pw_transform_t *t) {
  if (t == NULL || t->n == 0)
    return;
  for (size_t k = 0; k < ds->nnz; k++) {
    uint64_t f = ds->idx[k];
    if (f < t->n)
      ds->val[k] = (ds->val[k] - t->mean[f]) * t->inv_std[f];
  }
}

void pw_transform_free(pw_transform_t *t) {
  if (t == NULL)
    return;
  free(t->mean);
  free(t->inv_std);
  memset(t, 0, sizeof *t);
}
