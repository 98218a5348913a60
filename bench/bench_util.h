/* Shared by the benchmark programs: timing, repeated measurement, and the
 * one output format bench/run reads: a line per measurement,
 *   ROW <name> <value> <unit>
 * printed once per repetition; bench/run takes median, min and max. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>

double bench_now(void); /* monotonic seconds */
void bench_row(const char *name, double value, const char *unit);
/* "4KiB", "64KiB", "4MiB", "64MiB" for byte sizes. */
const char *bench_size_name(size_t bytes, char *buf, size_t len);
/* Touch every page of a buffer once so first-touch faults are not timed. */
void bench_prefault(void *p, size_t len);
/* Repetitions from the environment (BENCH_REPS, default 5; --quick sets 3). */
int bench_reps(void);
/* 1 when BENCH_QUICK=1 (bench/run --quick): smaller problem sizes. */
int bench_quick(void);

#endif
