/* training.eval_steps' arithmetic (worker/pw_evalsteps.c): every worker
 * must find the same steps from the same figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pw_evalsteps.h"

/* The smallest contiguous block's batches, found the long way. */
static uint64_t least_batches(uint64_t k, uint64_t w, uint64_t batch) {
  uint64_t least = UINT64_MAX;
  for (uint64_t p = 0; p < w; p++) {
    uint64_t rows = k * (p + 1) / w - k * p / w;
    uint64_t nb = (rows + batch - 1) / batch;
    least = nb < least ? nb : least;
  }
  return least;
}

static void test_per_epoch_is_the_smallest_partition(void **state) {
  (void)state;
  assert_int_equal(pw_evalsteps_per_epoch(32561, 2, 256), 64); /* a9a, 2 workers */
  assert_int_equal(pw_evalsteps_per_epoch(32561, 1, 256), 128);
  assert_int_equal(pw_evalsteps_per_epoch(10, 3, 4), 1);
  assert_int_equal(pw_evalsteps_per_epoch(2, 3, 4), 0); /* a worker without rows */
  assert_int_equal(pw_evalsteps_per_epoch(10, 0, 4), 0);
  assert_int_equal(pw_evalsteps_per_epoch(10, 2, 0), 0);
  for (uint64_t k = 1; k < 200; k += 7)
    for (uint64_t w = 1; w <= 5; w++)
      for (uint64_t b = 1; b <= 40; b += 3)
        assert_int_equal(pw_evalsteps_per_epoch(k, w, b), least_batches(k, w, b));
}

static void test_global_step(void **state) {
  (void)state;
  assert_int_equal(pw_evalsteps_global(64, 1, 1), 1);
  assert_int_equal(pw_evalsteps_global(64, 1, 64), 64);
  assert_int_equal(pw_evalsteps_global(64, 1, 65), 64); /* a bigger partition's extra batch */
  assert_int_equal(pw_evalsteps_global(64, 2, 20), 84);
}

/* a9a with 2 workers, batch 256, every 20: steps 20, 40, 60 in epoch 1;
 * 80, 100, 120 (batches 16, 36, 56) in epoch 2; never at the epoch's end. */
static void test_due(void **state) {
  (void)state;
  uint64_t want[2][3] = {{20, 40, 60}, {16, 36, 56}};
  for (uint64_t e = 1; e <= 2; e++) {
    int n = 0;
    for (uint64_t b = 1; b <= 65; b++)
      if (pw_evalsteps_due(20, 64, e, b)) {
        assert_true(n < 3);
        assert_int_equal(b, want[e - 1][n++]);
      }
    assert_int_equal(n, 3);
  }
  assert_false(pw_evalsteps_due(32, 64, 1, 64)); /* the end: eval_every's */
  assert_false(pw_evalsteps_due(32, 64, 2, 64));
  assert_true(pw_evalsteps_due(32, 64, 1, 32));
  assert_false(pw_evalsteps_due(0, 64, 1, 32)); /* off */
  assert_false(pw_evalsteps_due(1, 0, 1, 1));   /* no steps */
  assert_false(pw_evalsteps_due(1, 64, 1, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_per_epoch_is_the_smallest_partition),
      cmocka_unit_test(test_global_step),
      cmocka_unit_test(test_due),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
