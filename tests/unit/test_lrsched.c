/* Learning-rate schedules against values worked out by hand, every kind
 * with and without warm-up, and the global step over workers' clocks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ps_lrsched.h"

#define TOL 1e-12

static ps_sched_t sched(pc_sched_type_t type, uint64_t warmup) {
  ps_sched_t s = {.type = type, .lr = 0.5, .warmup = warmup, .factor = 0.5};
  return s;
}

/* In double: cmocka's assert_float_equal compares floats. A macro so a
 * failure names the line of the case. */
#define expect_lr(s, step, want)                                                                   \
  do {                                                                                             \
    double got_ = ps_sched_lr((s), (step)), want_ = (want);                                       \
    if (fabs(got_ - want_) > TOL)                                                                  \
      fail_msg("step %llu: lr %.17g, expected %.17g", (unsigned long long)(step), got_, want_);    \
  } while (0)

static void test_constant(void **state) {
  (void)state;
  ps_sched_t s = sched(PC_SCHED_CONSTANT, 0);
  expect_lr(&s, 0, 0.5);
  expect_lr(&s, 1000000000, 0.5);
  assert_true(ps_sched_is_constant(&s));
  s.floor = 0.5; /* a floor does not touch a rate that never decays */
  expect_lr(&s, 7, 0.5);
}

/* Warm-up: lr * (step + 1) / W for step < W, then the schedule. */
static void test_constant_warmup(void **state) {
  (void)state;
  ps_sched_t s = sched(PC_SCHED_CONSTANT, 4);
  assert_false(ps_sched_is_constant(&s));
  expect_lr(&s, 0, 0.125);
  expect_lr(&s, 1, 0.25);
  expect_lr(&s, 2, 0.375);
  expect_lr(&s, 3, 0.5);
  expect_lr(&s, 4, 0.5);
  expect_lr(&s, 100, 0.5);
}

/* step: lr * factor^floor(t / every), t = step - W. */
static void test_step(void **state) {
  (void)state;
  ps_sched_t s = sched(PC_SCHED_STEP, 0);
  s.every = 10;
  assert_false(ps_sched_is_constant(&s));
  expect_lr(&s, 0, 0.5);
  expect_lr(&s, 9, 0.5);
  expect_lr(&s, 10, 0.25);
  expect_lr(&s, 19, 0.25);
  expect_lr(&s, 25, 0.125);
  expect_lr(&s, 30, 0.0625);
  s.floor = 0.2; /* factor^3 = 0.125 < 0.2: held at 0.5 * 0.2 */
  expect_lr(&s, 29, 0.125);
  expect_lr(&s, 30, 0.1);
  expect_lr(&s, UINT64_C(1) << 40, 0.1);
}

static void test_step_warmup(void **state) {
  (void)state;
  ps_sched_t s = sched(PC_SCHED_STEP, 4);
  s.every = 10;
  expect_lr(&s, 0, 0.125);
  expect_lr(&s, 3, 0.5);
  expect_lr(&s, 4, 0.5);   /* t = 0 */
  expect_lr(&s, 13, 0.5);  /* t = 9 */
  expect_lr(&s, 14, 0.25); /* t = 10 */
  expect_lr(&s, 24, 0.125);
}

/* invsqrt: lr / sqrt(1 + t / max(W, 1)). */
static void test_invsqrt(void **state) {
  (void)state;
  ps_sched_t s = sched(PC_SCHED_INVSQRT, 0);
  expect_lr(&s, 0, 0.5);
  expect_lr(&s, 3, 0.25);
  expect_lr(&s, 8, 0.5 / 3);
  expect_lr(&s, 1, 0.5 / sqrt(2.0));
  s.floor = 0.25;
  expect_lr(&s, 15, 0.125);  /* 1/sqrt(16) = 0.25: at the floor */
  expect_lr(&s, 99, 0.125);  /* 1/10, held at 0.25 */
}

static void test_invsqrt_warmup(void **state) {
  (void)state;
  ps_sched_t s = sched(PC_SCHED_INVSQRT, 4);
  expect_lr(&s, 0, 0.125);
  expect_lr(&s, 3, 0.5);
  expect_lr(&s, 4, 0.5);       /* t = 0 */
  expect_lr(&s, 16, 0.25);     /* t = 12: 1/sqrt(1 + 3) */
  expect_lr(&s, 36, 0.5 / 3);  /* t = 32: 1/sqrt(9) */
}

/* cosine: floor + (1 - floor) * (1 + cos(pi * t / T)) / 2, T = total - W,
 * then the floor. */
static void test_cosine(void **state) {
  (void)state;
  ps_sched_t s = sched(PC_SCHED_COSINE, 0);
  s.total = 10;
  expect_lr(&s, 0, 0.5);
  expect_lr(&s, 2, 0.25 * (1 + cos(M_PI * 0.2))); /* 0.452254249... */
  assert_true(fabs(ps_sched_lr(&s, 2) - 0.4522542486) < 1e-9);
  expect_lr(&s, 5, 0.25);
  expect_lr(&s, 10, 0.0);
  expect_lr(&s, 1000, 0.0);
  s.floor = 0.2;
  expect_lr(&s, 5, 0.5 * (0.2 + 0.8 * 0.5)); /* 0.3 */
  expect_lr(&s, 10, 0.1);
}

static void test_cosine_warmup(void **state) {
  (void)state;
  ps_sched_t s = sched(PC_SCHED_COSINE, 2);
  s.total = 12;
  s.floor = 0.2;
  expect_lr(&s, 0, 0.25);
  expect_lr(&s, 1, 0.5);
  expect_lr(&s, 2, 0.5);  /* t = 0 */
  expect_lr(&s, 7, 0.3);  /* t = 5 of 10: halfway */
  expect_lr(&s, 12, 0.1); /* t = 10: the floor */
  expect_lr(&s, 100, 0.1);
}

static void test_from_config(void **state) {
  (void)state;
  pc_config_t c;
  pc_config_defaults(&c);
  ps_sched_t s;
  ps_sched_from_config(&s, &c);
  assert_int_equal(s.type, PC_SCHED_CONSTANT);
  assert_true(ps_sched_is_constant(&s));
  c.optimizer.schedule = PC_SCHED_COSINE;
  c.optimizer.lr = 2;
  c.optimizer.warmup = 3;
  c.optimizer.cosine_steps = 7;
  c.optimizer.step_every = 9;
  c.optimizer.step_factor = 0.3;
  c.optimizer.min_lr_fraction = 0.05;
  ps_sched_from_config(&s, &c);
  assert_int_equal(s.type, PC_SCHED_COSINE);
  assert_true(s.lr == 2 && s.warmup == 3 && s.total == 7 && s.every == 9 && s.factor == 0.3 &&
              s.floor == 0.05);
}

/* The global step: the sum of each worker's latest clock. */
static void test_steps(void **state) {
  (void)state;
  ps_steps_t st;
  pc_err_t err;
  assert_int_equal(ps_steps_init(&st, 3, &err), PC_OK);
  assert_int_equal(ps_steps_note(&st, 0, 5), 5);
  assert_int_equal(ps_steps_note(&st, 1, 3), 8);
  assert_int_equal(ps_steps_note(&st, 0, 7), 10); /* latest, not added */
  assert_int_equal(ps_steps_note(&st, 3, 100), 10); /* no such worker */
  assert_int_equal(ps_steps_note(&st, UINT32_MAX, 100), 10);
  assert_int_equal(ps_steps_note(&st, 2, UINT64_MAX), 10 + PS_STEPS_MAX_CLOCK);
  assert_int_equal(ps_steps_note(&st, 2, 1), 11);
  ps_steps_free(&st);
  assert_null(st.last);
  ps_steps_free(&st); /* twice is harmless */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_constant),     cmocka_unit_test(test_constant_warmup),
      cmocka_unit_test(test_step),         cmocka_unit_test(test_step_warmup),
      cmocka_unit_test(test_invsqrt),      cmocka_unit_test(test_invsqrt_warmup),
      cmocka_unit_test(test_cosine),       cmocka_unit_test(test_cosine_warmup),
      cmocka_unit_test(test_from_config),  cmocka_unit_test(test_steps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
