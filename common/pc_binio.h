/* Little-endian binary files with an XXH3-64 trailer: the byte-order
 * helpers, a checksummed writer over a FILE, and a bounded reader.
 *
 * The model file and the prepared shard share this layout: fields in
 * little-endian order, floats as the bits of a u32, and 8 bytes at the end
 * holding the XXH3-64 (seed 0) of every byte before them. The reader is
 * bounded by "body", the bytes before that trailer: every read, and every
 * size taken from the file, is checked against the bytes left before it is
 * used, so a lying count is called truncated before anything is allocated.
 * A reader streams a FILE (checksummed as it goes) or walks bytes already
 * in memory (checksummed whole, on demand). */
#ifndef PC_BINIO_H
#define PC_BINIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <xxhash.h>

#include "pc_error.h"

#define PC_BINIO_TRAILER 8u /* the checksum after the body */

/* ---- bytes ---- */

void pc_put_u16(unsigned char *p, uint16_t v);
void pc_put_u32(unsigned char *p, uint32_t v);
void pc_put_u64(unsigned char *p, uint64_t v);
uint16_t pc_get_u16(const unsigned char *p);
uint32_t pc_get_u32(const unsigned char *p);
uint64_t pc_get_u64(const unsigned char *p);
uint32_t pc_f32_bits(float f); /* the IEEE 754 bits, NaN payloads kept */
float pc_get_f32(const unsigned char *p);

/* ---- writing ---- */

typedef struct pc_bw {
  FILE *f;          /* the caller's; never closed here */
  XXH3_state_t *st; /* the checksum of everything written */
  int error;        /* errno of the first failed write; 0 while all went well */
} pc_bw_t;

/* Start writing to f (positioned at the file's start). PC_ENOMEM, naming
 * path, when the checksum state cannot be had; then w owns nothing. */
int pc_bw_open(pc_bw_t *w, FILE *f, const char *path, pc_err_t *err);

/* Append and checksum. The first failed write is latched in w->error and
 * every later call does nothing; pc_bw_finish reports it. */
void pc_bw_bytes(pc_bw_t *w, const void *p, size_t n); /* p may be NULL if n == 0 */
void pc_bw_u16(pc_bw_t *w, uint16_t v);
void pc_bw_u32(pc_bw_t *w, uint32_t v);
void pc_bw_u64(pc_bw_t *w, uint64_t v);
void pc_bw_f32s(pc_bw_t *w, const float *v, size_t n);

/* n u32 words, word i being get(ctx, i): for arrays stored narrower than
 * they are held (row counts, indices), encoded in blocks. */
void pc_bw_words(pc_bw_t *w, size_t n, uint32_t (*get)(const void *ctx, size_t i),
                 const void *ctx);

/* Append the checksum (not itself checksummed) and free the state; w owns
 * nothing after, whatever the result. PC_EIO "cannot write PATH: <why>"
 * when a write failed. Flushing and syncing are the caller's (pc_afile). */
int pc_bw_finish(pc_bw_t *w, const char *path, pc_err_t *err);

/* The whole file at path, written whole or not at all (pc_afile): body(w,
 * ctx) writes the content, then the checksum follows. Errors read "cannot
 * write PATH: <why>"; on any, path is as it was. */
int pc_bw_save(const char *path, void (*body)(pc_bw_t *w, const void *ctx), const void *ctx,
               pc_err_t *err);

/* ---- reading ---- */

typedef struct pc_br {
  FILE *f;                /* a streamed file (pc_br_file), else NULL */
  XXH3_state_t *st;       /* its running checksum */
  const unsigned char *p; /* bytes in memory (pc_br_mem), else NULL */
  const char *path;       /* for messages */
  int code;               /* what bad content returns (PC_EMODEL, PC_EDATA) */
  uint64_t off;           /* bytes consumed */
  uint64_t body;          /* bytes before the checksum */
} pc_br_t;

/* Stream f, a file of size bytes, from its start. PC_ENOMEM when the
 * checksum state cannot be had (then r owns nothing); release with
 * pc_br_close. Content errors return code, with path in the message. */
int pc_br_file(pc_br_t *r, FILE *f, uint64_t size, const char *path, int code, pc_err_t *err);

/* Walk p, which holds body bytes (and the checksum after them, where
 * pc_br_sum is to check it). Owns nothing; pc_br_close is a no-op. */
void pc_br_mem(pc_br_t *r, const unsigned char *p, uint64_t body, const char *path, int code);

void pc_br_close(pc_br_t *r);

uint64_t pc_br_left(const pc_br_t *r);

/* 0 when n bytes are left, else "PATH: truncated: WHAT needs N bytes at
 * offset O, L left". Call it before sizing anything by a count. */
int pc_br_need(const pc_br_t *r, uint64_t n, const char *what, pc_err_t *err);

/* Up to n bytes from the start, whatever body says, so a file shorter than
 * its header is still named by its magic; returns how many were read
 * (memory: at most body). Consumed and checksummed like any read. */
size_t pc_br_head(pc_br_t *r, void *p, size_t n);

/* Checked reads (pc_br_need first); on error *v is 0, p and v[] undefined. */
int pc_br_bytes(pc_br_t *r, void *p, uint64_t n, const char *what, pc_err_t *err);
int pc_br_u16(pc_br_t *r, uint16_t *v, const char *what, pc_err_t *err);
int pc_br_u32(pc_br_t *r, uint32_t *v, const char *what, pc_err_t *err);
int pc_br_u64(pc_br_t *r, uint64_t *v, const char *what, pc_err_t *err);
int pc_br_f32s(pc_br_t *r, float *v, uint64_t n, const char *what, pc_err_t *err);

/* The trailer against the checksum of the body: "PATH: checksum mismatch:
 * the file is corrupt". A stream must have consumed exactly the body. */
int pc_br_sum(pc_br_t *r, pc_err_t *err);

#endif
