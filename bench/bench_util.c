#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_row(const char *name, double value, const char *unit) {
  printf("ROW %s %.6g %s\n", name, value, unit);
  fflush(stdout);
}

const char *bench_size_name(size_t bytes, char *buf, size_t len) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
    snprintf(buf, len, "%zuMiB", bytes >> 20);
  else if (bytes >= 1024 && bytes % 1024 == 0)
    snprintf(buf, len, "%zuKiB", bytes >> 10);
  else
    snprintf(buf, len, "%zuB", bytes);
  return buf;
}

void bench_prefault(void *p, size_t len) {
  long page = sysconf(_SC_PAGESIZE);
  volatile char *c = p;
  for (size_t i = 0; i < len; i += (size_t)page)
    c[i] = 0;
}

int bench_reps(void) {
  const char *s = getenv("BENCH_REPS");
  int n = s ? atoi(s) : 0;
  return n > 0 ? n : (bench_quick() ? 3 : 5);
}

int bench_quick(void) {
  const char *s = getenv("BENCH_QUICK");
  return s != NULL && strcmp(s, "1") == 0;
}
