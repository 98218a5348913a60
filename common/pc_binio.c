#include "pc_binio.h"

#include <errno.h>
#include <string.h>

#include "pc_afile.h"

#define IO_WORDS 4096u /* u32 words encoded per block */

/* ---- bytes ---- */

void pc_put_u16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}

void pc_put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

void pc_put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

uint16_t pc_get_u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

uint32_t pc_get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t pc_get_u64(const unsigned char *p) {
  return (uint64_t)pc_get_u32(p) | (uint64_t)pc_get_u32(p + 4) << 32;
}

uint32_t pc_f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

float pc_get_f32(const unsigned char *p) {
  uint32_t u = pc_get_u32(p);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ---- writing ---- */

int pc_bw_open(pc_bw_t *w, FILE *f, const char *path, pc_err_t *err) {
  *w = (pc_bw_t){.f = f, .st = XXH3_createState()};
  if (w->st == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: checksum state", path);
  XXH3_64bits_reset(w->st);
  return PC_OK;
}

/* Written but not checksummed: the trailer. */
static void put_raw(pc_bw_t *w, const void *p, size_t n) {
  if (w->error != 0)
    return;
  errno = 0;
  if (fwrite(p, 1, n, w->f) != n)
    w->error = errno != 0 ? errno : EIO;
}

void pc_bw_bytes(pc_bw_t *w, const void *p, size_t n) {
  if (n == 0 || w->error != 0)
    return;
  XXH3_64bits_update(w->st, p, n);
  put_raw(w, p, n);
}

void pc_bw_u16(pc_bw_t *w, uint16_t v) {
  unsigned char b[2];
  pc_put_u16(b, v);
  pc_bw_bytes(w, b, sizeof b);
}

void pc_bw_u32(pc_bw_t *w, uint32_t v) {
  unsigned char b[4];
  pc_put_u32(b, v);
  pc_bw_bytes(w, b, sizeof b);
}

void pc_bw_u64(pc_bw_t *w, uint64_t v) {
  unsigned char b[8];
  pc_put_u64(b, v);
  pc_bw_bytes(w, b, sizeof b);
}

void pc_bw_words(pc_bw_t *w, size_t n, uint32_t (*get)(const void *ctx, size_t i),
                 const void *ctx) {
  unsigned char b[4 * IO_WORDS];
  for (size_t i = 0; i < n && w->error == 0;) {
    size_t k = 0;
    for (; k < IO_WORDS && i < n; k++, i++)
      pc_put_u32(b + 4 * k, get(ctx, i));
    pc_bw_bytes(w, b, 4 * k);
  }
}

static uint32_t word_f32(const void *ctx, size_t i) { return pc_f32_bits(((const float *)ctx)[i]); }

void pc_bw_f32s(pc_bw_t *w, const float *v, size_t n) { pc_bw_words(w, n, word_f32, v); }

int pc_bw_finish(pc_bw_t *w, const char *path, pc_err_t *err) {
  unsigned char sum[PC_BINIO_TRAILER];
  pc_put_u64(sum, XXH3_64bits_digest(w->st));
  put_raw(w, sum, sizeof sum);
  XXH3_freeState(w->st);
  w->st = NULL;
  if (w->error != 0)
    return pc_err_set(err, PC_EIO, "cannot write %s: %s", path, strerror(w->error));
  return PC_OK;
}

int pc_bw_save(const char *path, void (*body)(pc_bw_t *w, const void *ctx), const void *ctx,
               pc_err_t *err) {
  pc_afile_t a;
  int rc = pc_afile_open(&a, path, err);
  if (rc < 0)
    return rc;
  pc_bw_t w;
  rc = pc_bw_open(&w, a.f, path, err);
  if (rc == 0) {
    body(&w, ctx);
    rc = pc_bw_finish(&w, path, err);
  }
  if (rc == 0)
    return pc_afile_commit(&a, err);
  pc_afile_abort(&a);
  return rc;
}

/* ---- reading ---- */

int pc_br_file(pc_br_t *r, FILE *f, uint64_t size, const char *path, int code, pc_err_t *err) {
  *r = (pc_br_t){.f = f, .path = path, .code = code,
                 .body = size > PC_BINIO_TRAILER ? size - PC_BINIO_TRAILER : 0};
  if ((r->st = XXH3_createState()) == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: checksum state", path);
  XXH3_64bits_reset(r->st);
  return PC_OK;
}

void pc_br_mem(pc_br_t *r, const unsigned char *p, uint64_t body, const char *path, int code) {
  *r = (pc_br_t){.p = p, .path = path, .code = code, .body = body};
}

void pc_br_close(pc_br_t *r) {
  XXH3_freeState(r->st);
  r->st = NULL;
}

uint64_t pc_br_left(const pc_br_t *r) { return r->body > r->off ? r->body - r->off : 0; }

int pc_br_need(const pc_br_t *r, uint64_t n, const char *what, pc_err_t *err) {
  if (n <= pc_br_left(r))
    return 0;
  return pc_err_set(err, r->code, "%s: truncated: %s needs %llu bytes at offset %llu, %llu "
                    "left", r->path, what, (unsigned long long)n, (unsigned long long)r->off,
                    (unsigned long long)pc_br_left(r));
}

/* n bytes (already checked against the bytes left, or the head) into p. */
static int take(pc_br_t *r, void *p, size_t n, pc_err_t *err) {
  if (r->f == NULL) {
    memcpy(p, r->p + r->off, n);
  } else {
    if (fread(p, 1, n, r->f) != n)
      return pc_err_set(err, r->code, "%s: read failed or the file shrank while loading",
                        r->path);
    XXH3_64bits_update(r->st, p, n);
  }
  r->off += n;
  return 0;
}

size_t pc_br_head(pc_br_t *r, void *p, size_t n) {
  size_t got;
  if (r->f == NULL) {
    got = n < pc_br_left(r) ? n : (size_t)pc_br_left(r);
    if (got > 0)
      memcpy(p, r->p + r->off, got);
  } else {
    got = fread(p, 1, n, r->f);
    XXH3_64bits_update(r->st, p, got);
  }
  r->off += got;
  return got;
}

int pc_br_bytes(pc_br_t *r, void *p, uint64_t n, const char *what, pc_err_t *err) {
  int rc = pc_br_need(r, n, what, err);
  return rc < 0 || n == 0 ? rc : take(r, p, (size_t)n, err);
}

int pc_br_u16(pc_br_t *r, uint16_t *v, const char *what, pc_err_t *err) {
  unsigned char b[2] = {0};
  int rc = pc_br_bytes(r, b, sizeof b, what, err);
  *v = pc_get_u16(b);
  return rc;
}

int pc_br_u32(pc_br_t *r, uint32_t *v, const char *what, pc_err_t *err) {
  unsigned char b[4] = {0};
  int rc = pc_br_bytes(r, b, sizeof b, what, err);
  *v = pc_get_u32(b);
  return rc;
}

int pc_br_u64(pc_br_t *r, uint64_t *v, const char *what, pc_err_t *err) {
  unsigned char b[8] = {0};
  int rc = pc_br_bytes(r, b, sizeof b, what, err);
  *v = pc_get_u64(b);
  return rc;
}

/* A stream's floats are read straight into v and decoded in place (each
 * word is read before it is written); memory is decoded from where it is. */
int pc_br_f32s(pc_br_t *r, float *v, uint64_t n, const char *what, pc_err_t *err) {
  int rc = pc_br_need(r, n > UINT64_MAX / 4 ? UINT64_MAX : 4 * n, what, err);
  if (rc < 0 || n == 0)
    return rc;
  const unsigned char *src = r->f != NULL ? (const unsigned char *)v : r->p + r->off;
  if (r->f != NULL)
    rc = take(r, v, (size_t)(4 * n), err);
  else
    r->off += 4 * n;
  for (uint64_t i = 0; rc == 0 && i < n; i++)
    v[i] = pc_get_f32(src + 4 * i);
  return rc;
}

int pc_br_sum(pc_br_t *r, pc_err_t *err) {
  unsigned char b[PC_BINIO_TRAILER];
  uint64_t want;
  if (r->f == NULL) {
    want = XXH3_64bits(r->p, (size_t)r->body);
    memcpy(b, r->p + r->body, sizeof b);
  } else {
    if (r->off != r->body)
      return pc_err_set(err, r->code, "%s: %llu bytes left before the checksum", r->path,
                        (unsigned long long)pc_br_left(r));
    if (fread(b, 1, sizeof b, r->f) != sizeof b)
      return pc_err_set(err, r->code, "%s: read failed or the file shrank while loading",
                        r->path);
    want = XXH3_64bits_digest(r->st);
  }
  if (pc_get_u64(b) != want)
    return pc_err_set(err, r->code, "%s: checksum mismatch: the file is corrupt", r->path);
  return 0;
}
