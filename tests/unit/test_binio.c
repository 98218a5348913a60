/* pc_binio: the byte order pinned, a written file read back through both
 * readers (a stream and memory), and what the readers refuse: a count
 * past the bytes left (before anything is sized by it), a short file, a
 * changed byte. A failed write is reported once, by the finish. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pc_binio.h"

#define NF 5000u /* more floats than one encoding block */

typedef struct fixture {
  char path[64];
  unsigned char *bytes; /* the file as written */
  size_t size;
} fixture_t;

static const float odd[] = {-0.0f, 1.5f, -3.25e-38f, INFINITY};

static uint32_t word_twice(const void *ctx, size_t i) {
  (void)ctx;
  return (uint32_t)(2 * i);
}

/* The sample file: every kind of field, in a known order. */
static void sample_body(pc_bw_t *w, const void *ctx) {
  const float *f = ctx;
  pc_bw_bytes(w, "MAGIC123", 8);
  pc_bw_u16(w, 0xbeef);
  pc_bw_u32(w, 0xdeadbeefu);
  pc_bw_u64(w, UINT64_C(0x0102030405060708));
  pc_bw_bytes(w, NULL, 0);
  pc_bw_u64(w, NF);
  pc_bw_f32s(w, f, NF);
  pc_bw_f32s(w, odd, 4);
  pc_bw_words(w, 3, word_twice, NULL);
}

/* The sample into memory through the same writer (and so the same bytes,
 * which round_trip_stream_and_memory checks against the saved file). */
static unsigned char *sample_bytes(const float *f, size_t *n) {
  char *b = NULL;
  FILE *m = open_memstream(&b, n);
  assert_non_null(m);
  pc_bw_t w;
  pc_err_t err = {0};
  assert_int_equal(pc_bw_open(&w, m, "memory", &err), 0);
  sample_body(&w, f);
  assert_int_equal(pc_bw_finish(&w, "memory", &err), 0);
  assert_int_equal(fclose(m), 0);
  return (unsigned char *)b;
}

static int setup(void **state) {
  float *f = malloc(NF * sizeof *f);
  fixture_t *fx = calloc(1, sizeof *fx);
  assert_true(f != NULL && fx != NULL);
  for (size_t i = 0; i < NF; i++)
    f[i] = (float)i * 0.25f - 7.0f;
  fx->bytes = sample_bytes(f, &fx->size);
  strcpy(fx->path, "/tmp/parasol_test_binio_XXXXXX");
  int fd = mkstemp(fx->path);
  assert_true(fd >= 0 && close(fd) == 0);
  pc_err_t err = {0};
  assert_int_equal(pc_bw_save(fx->path, sample_body, f, &err), 0);
  free(f);
  *state = fx;
  return 0;
}

/* A stream over b[0, n), as a file of n bytes would be read. */
static FILE *stream_of(unsigned char *b, size_t n) {
  FILE *f = fmemopen(b, n, "rb");
  assert_non_null(f);
  return f;
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  unlink(fx->path);
  free(fx->bytes);
  free(fx);
  return 0;
}

static void bytes_are_little_endian(void **state) {
  (void)state;
  unsigned char b[8];
  pc_put_u16(b, 0x0102);
  assert_memory_equal(b, "\x02\x01", 2);
  pc_put_u32(b, 0x01020304u);
  assert_memory_equal(b, "\x04\x03\x02\x01", 4);
  pc_put_u64(b, UINT64_C(0x0102030405060708));
  assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
  assert_int_equal(pc_get_u64(b), UINT64_C(0x0102030405060708));
  pc_put_u64(b, UINT64_MAX);
  assert_true(pc_get_u64(b) == UINT64_MAX && pc_get_u32(b) == UINT32_MAX &&
              pc_get_u16(b) == UINT16_MAX);
  pc_put_u32(b, pc_f32_bits(-2.0f));
  assert_memory_equal(b, "\x00\x00\x00\xc0", 4);
  assert_true(pc_get_f32(b) == -2.0f);
}

static void file_is_laid_out_with_its_checksum(void **state) {
  fixture_t *fx = *state;
  size_t body = 8 + 2 + 4 + 8 + 8 + 4 * NF + 4 * 4 + 4 * 3;
  assert_int_equal(fx->size, body + PC_BINIO_TRAILER);
  assert_memory_equal(fx->bytes + 8, "\xef\xbe\xef\xbe\xad\xde", 6);
  assert_true(pc_get_u64(fx->bytes + body) == XXH3_64bits(fx->bytes, body));
  assert_int_equal(pc_get_u32(fx->bytes + body - 4), 4); /* the last word: 2 * 2 */
}

/* Reads the sample back through r, checksum included. */
static void read_sample(pc_br_t *r) {
  pc_err_t err = {0};
  unsigned char magic[8];
  uint16_t a;
  uint32_t b;
  uint64_t c, n;
  assert_int_equal(pc_br_bytes(r, magic, 8, "the magic", &err), 0);
  assert_memory_equal(magic, "MAGIC123", 8);
  assert_int_equal(pc_br_u16(r, &a, "a", &err), 0);
  assert_int_equal(pc_br_u32(r, &b, "b", &err), 0);
  assert_int_equal(pc_br_u64(r, &c, "c", &err), 0);
  assert_true(a == 0xbeef && b == 0xdeadbeefu && c == UINT64_C(0x0102030405060708));
  assert_int_equal(pc_br_u64(r, &n, "the count", &err), 0);
  assert_int_equal(n, NF);
  assert_int_equal(pc_br_need(r, 4 * n, "the floats", &err), 0);
  float *f = malloc(n * sizeof *f), o[4];
  assert_non_null(f);
  assert_int_equal(pc_br_f32s(r, f, n, "the floats", &err), 0);
  for (size_t i = 0; i < NF; i++)
    assert_true(f[i] == (float)i * 0.25f - 7.0f);
  free(f);
  assert_int_equal(pc_br_f32s(r, o, 4, "odd floats", &err), 0);
  assert_memory_equal(o, odd, sizeof odd); /* the bits, -0 included */
  uint32_t w[3];
  for (int i = 0; i < 3; i++)
    assert_int_equal(pc_br_u32(r, &w[i], "a word", &err), 0);
  assert_true(w[0] == 0 && w[1] == 2 && w[2] == 4);
  assert_int_equal(pc_br_left(r), 0);
  assert_int_equal(pc_br_sum(r, &err), 0);
}

static void round_trip_stream_and_memory(void **state) {
  fixture_t *fx = *state;
  pc_err_t err = {0};
  struct stat st;
  assert_int_equal(stat(fx->path, &st), 0);
  assert_int_equal(st.st_size, fx->size);
  FILE *f = fopen(fx->path, "rb");
  assert_non_null(f);
  pc_br_t r;
  assert_int_equal(pc_br_file(&r, f, fx->size, fx->path, PC_EDATA, &err), 0);
  read_sample(&r);
  pc_br_close(&r);
  fclose(f);
  pc_br_mem(&r, fx->bytes, fx->size - PC_BINIO_TRAILER, fx->path, PC_EDATA);
  read_sample(&r);
  pc_br_close(&r);
}

/* A count past the end is refused by need, naming what, where and how
 * much is left, before the caller sizes anything by it. */
static void lying_count_refused_before_use(void **state) {
  fixture_t *fx = *state;
  pc_err_t err = {0};
  pc_put_u64(fx->bytes + 22, UINT64_C(1) << 40);
  pc_br_t r;
  pc_br_mem(&r, fx->bytes, fx->size - PC_BINIO_TRAILER, "f.bin", PC_EMODEL);
  uint64_t n;
  unsigned char skip[22];
  assert_int_equal(pc_br_bytes(&r, skip, sizeof skip, "the start", &err), 0);
  assert_int_equal(pc_br_u64(&r, &n, "the count", &err), 0);
  assert_int_equal(pc_br_need(&r, 4 * n, "the floats", &err), PC_EMODEL);
  char want[128];
  snprintf(want, sizeof want, "f.bin: truncated: the floats needs %llu bytes at offset 30, %zu "
           "left", (unsigned long long)(4 * n), fx->size - PC_BINIO_TRAILER - 30);
  assert_string_equal(err.msg, want);
  float f;
  uint64_t wraps = UINT64_C(1) << 62; /* 4 * wraps is 0 in 64 bits */
  assert_int_equal(pc_br_f32s(&r, &f, wraps, "too many floats", &err), PC_EMODEL);
  assert_int_equal(r.off, 30); /* refusals consume nothing */
}

static void truncated_file_refused(void **state) {
  fixture_t *fx = *state;
  pc_err_t err = {0};
  FILE *f = stream_of(fx->bytes, 40); /* cut inside the floats */
  pc_br_t r;
  assert_int_equal(pc_br_file(&r, f, 40, fx->path, PC_EDATA, &err), 0);
  unsigned char head[12];
  assert_int_equal(pc_br_head(&r, head, sizeof head), 12);
  unsigned char rest[18];
  assert_int_equal(pc_br_bytes(&r, rest, sizeof rest, "the rest", &err), 0);
  float v[4];
  assert_int_equal(pc_br_f32s(&r, v, 4, "the floats", &err), PC_EDATA);
  assert_non_null(strstr(err.msg, "truncated: the floats needs 16 bytes at offset 30, 2 left"));
  pc_br_close(&r);
  fclose(f);
  /* A file shorter than its header: the head still reads what there is. */
  f = stream_of(fx->bytes, 5);
  assert_int_equal(pc_br_file(&r, f, 5, fx->path, PC_EDATA, &err), 0);
  assert_int_equal(pc_br_head(&r, head, sizeof head), 5);
  assert_memory_equal(head, "MAGIC", 5);
  assert_int_equal(pc_br_u16(&r, &(uint16_t){0}, "a", &err), PC_EDATA);
  pc_br_close(&r);
  fclose(f);
}

/* Reads whole through a reader and checks the sum: 0 or the error. */
static int sum_of(unsigned char *b, size_t n, const char *path, int stream, pc_err_t *err) {
  pc_br_t r;
  unsigned char *tmp = malloc(n);
  assert_non_null(tmp);
  FILE *f = NULL;
  if (stream) {
    f = stream_of(b, n);
    assert_int_equal(pc_br_file(&r, f, n, path, PC_EDATA, err), 0);
  } else {
    pc_br_mem(&r, b, n - PC_BINIO_TRAILER, path, PC_EDATA);
  }
  assert_int_equal(pc_br_bytes(&r, tmp, n - PC_BINIO_TRAILER, "all", err), 0);
  int rc = pc_br_sum(&r, err);
  pc_br_close(&r);
  if (f != NULL)
    fclose(f);
  free(tmp);
  return rc;
}

static void checksum_mismatch_refused(void **state) {
  fixture_t *fx = *state;
  for (int stream = 0; stream < 2; stream++) {
    pc_err_t err = {0};
    unsigned char *b = malloc(fx->size);
    assert_non_null(b);
    memcpy(b, fx->bytes, fx->size);
    assert_int_equal(sum_of(b, fx->size, fx->path, stream, &err), 0);
    b[100] ^= 0x10; /* one bit of a float */
    assert_int_equal(sum_of(b, fx->size, fx->path, stream, &err), PC_EDATA);
    assert_string_equal(err.msg + strlen(fx->path), ": checksum mismatch: the file is corrupt");
    b[100] ^= 0x10;
    b[fx->size - 1] ^= 1; /* the trailer itself */
    assert_int_equal(sum_of(b, fx->size, fx->path, stream, &err), PC_EDATA);
    free(b);
  }
}

/* Every write after the first failure does nothing; finish says why. */
static void failed_write_reported_by_finish(void **state) {
  (void)state;
  FILE *f = fopen("/dev/full", "w");
  if (f == NULL)
    skip();
  setvbuf(f, NULL, _IONBF, 0);
  pc_bw_t w;
  pc_err_t err = {0};
  assert_int_equal(pc_bw_open(&w, f, "full.bin", &err), 0);
  pc_bw_u32(&w, 1);
  assert_int_not_equal(w.error, 0);
  pc_bw_f32s(&w, odd, 4);
  assert_int_equal(pc_bw_finish(&w, "full.bin", &err), PC_EIO);
  assert_non_null(strstr(err.msg, "cannot write full.bin: "));
  assert_null(w.st);
  fclose(f);
}

static void failed_save_names_the_path(void **state) {
  (void)state;
  pc_err_t err = {0};
  assert_int_equal(pc_bw_save("/nonexistent-dir/x.bin", sample_body, NULL, &err), PC_EIO);
  assert_non_null(strstr(err.msg, "cannot write /nonexistent-dir/x.bin"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bytes_are_little_endian),
      cmocka_unit_test_setup_teardown(file_is_laid_out_with_its_checksum, setup, teardown),
      cmocka_unit_test_setup_teardown(round_trip_stream_and_memory, setup, teardown),
      cmocka_unit_test_setup_teardown(lying_count_refused_before_use, setup, teardown),
      cmocka_unit_test_setup_teardown(truncated_file_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(checksum_mismatch_refused, setup, teardown),
      cmocka_unit_test(failed_write_reported_by_finish),
      cmocka_unit_test(failed_save_names_the_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
