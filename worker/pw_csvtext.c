/* Raw CSV text: see pw_csvtext.h. */
#include "pw_csvtext.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "pc_mem.h"

static int slurp(pw_csvtext_t *t, const char *path, pc_err_t *err) {
  FILE *f = fopen(path, "rb");
  struct stat st;
  if (f == NULL)
    return pc_err_set(err, PC_EIO, "cannot read %s: %s", path, strerror(errno));
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return pc_err_set(err, PC_EIO, "cannot read %s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > PW_CSV_MAX_BYTES) {
    fclose(f);
    return pc_err_set(err, PC_EDATA, "%s: %lld bytes, above the limit of %llu", path,
                      (long long)st.st_size, (unsigned long long)PW_CSV_MAX_BYTES);
  }
  t->size = (size_t)st.st_size;
  t->buf = malloc(t->size + 1);
  size_t got = t->buf != NULL ? fread(t->buf, 1, t->size, f) : 0;
  int bad = t->buf == NULL || got != t->size || ferror(f);
  fclose(f);
  if (bad)
    return pc_err_set(err, t->buf == NULL ? PC_ENOMEM : PC_EIO, "cannot read %s: %s", path,
                      t->buf == NULL ? "out of memory" : "short read");
  t->buf[t->size] = '\0';
  return 0;
}

static int blank(const char *s) {
  for (; *s != '\0'; s++)
    if (*s != ' ' && *s != '\t')
      return 0;
  return 1;
}

/* Bytes of the UTF-8 sequence at s, or 0 when it is not one (overlong
 * forms and surrogates are not checked: this only tells text from binary). */
static size_t utf8_len(const unsigned char *s) {
  size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
             : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

static int check_header(const pw_csvtext_t *t, const char *path, pc_err_t *err) {
  const unsigned char *s = (const unsigned char *)t->line[0];
  for (size_t i = 0; s[i] != '\0';) {
    size_t n = utf8_len(s + i);
    if (n == 0 || (s[i] < 0x20 && s[i] != '\t'))
      return pc_err_set(err, PC_EDATA,
                        "%s:%llu: byte 0x%02x at column %zu of the header is not text: is this "
                        "a CSV file?", path, (unsigned long long)t->lineno[0], s[i], i + 1);
    i += n;
  }
  return 0;
}

static int add_line(pw_csvtext_t *t, size_t *cap, char *s, uint64_t no) {
  size_t c = *cap;
  if (pc_mem_reserve((void **)&t->line, &c, t->nlines + 1, sizeof *t->line) != 0)
    return PC_ENOMEM;
  c = *cap;
  if (pc_mem_reserve((void **)&t->lineno, &c, t->nlines + 1, sizeof *t->lineno) != 0)
    return PC_ENOMEM;
  *cap = c;
  t->line[t->nlines] = s;
  t->lineno[t->nlines++] = no;
  return 0;
}

static int cut_lines(pw_csvtext_t *t, const char *path, pc_err_t *err) {
  char *s = t->buf, *end = t->buf + t->size;
  size_t cap = 0;
  if (t->size >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
    s += 3;
  for (uint64_t no = 1; s < end; no++) {
    char *e = memchr(s, '\n', (size_t)(end - s));
    if (e == NULL)
      e = end;
    char *nul = memchr(s, '\0', (size_t)(e - s));
    if (nul != NULL)
      return pc_err_set(err, PC_EDATA, "%s:%llu: a NUL byte at column %zu: not a text file",
                        path, (unsigned long long)no, (size_t)(nul - s) + 1);
    *e = '\0';
    if (e > s && e[-1] == '\r')
      e[-1] = '\0';
    if (!blank(s) && add_line(t, &cap, s, no) != 0)
      return pc_err_set(err, PC_ENOMEM, "%s: out of memory at line %llu", path,
                        (unsigned long long)no);
    s = e + 1;
  }
  if (t->nlines == 0)
    return pc_err_set(err, PC_EDATA, "%s: the file is empty (no header line)", path);
  return check_header(t, path, err);
}

int pw_csvtext_read(pw_csvtext_t *t, const char *path, pc_err_t *err) {
  memset(t, 0, sizeof *t);
  int rc = slurp(t, path, err);
  if (rc == 0)
    rc = cut_lines(t, path, err);
  if (rc != 0)
    pw_csvtext_free(t);
  return rc;
}

void pw_csvtext_free(pw_csvtext_t *t) {
  free(t->buf);
  free(t->line);
  free(t->lineno);
  memset(t, 0, sizeof *t);
}

static char *trim(char *a, char *e) {
  while (*a == ' ' || *a == '\t')
    a++;
  while (e > a && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  if (e - a >= 2 && *a == '"' && e[-1] == '"') {
    a++;
    e--;
  }
  *e = '\0';
  return a;
}

size_t pw_csv_cells(char *s, char **cells, size_t cap) {
  size_t n = 0;
  if (cells == NULL) { /* count only, s untouched */
    for (const char *p = s; (p = strchr(p, ',')) != NULL; p++)
      n++;
    return n + 1;
  }
  for (char *a = s;; n++) {
    char *e = strchr(a, ',');
    char *next = e != NULL ? e + 1 : NULL;
    if (e == NULL)
      e = a + strlen(a);
    char *c = trim(a, e);
    if (n < cap)
      cells[n] = c;
    if (next == NULL)
      return n + 1;
    a = next;
  }
}

int pw_csv_missing(const char *c) {
  static const char *const tokens[] = {"", "?", "NA", "N/A", "NaN", "-NaN", "NULL", "<NA>",
                                       "#N/A"};
  for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
    if (strcasecmp(c, tokens[i]) == 0)
      return 1;
  return 0;
}

int pw_csv_number(const char *c, double *v) {
  /* strtod also takes hex floats and "nan(...)": a data file means neither. */
  if (*c == '\0' || strpbrk(c, "xX(") != NULL)
    return -1;
  char *end = NULL;
  errno = 0;
  double x = strtod(c, &end);
  if (end == c || *end != '\0' || x != x || *c == ' ')
    return -1;
  *v = x;
  return 0;
}
