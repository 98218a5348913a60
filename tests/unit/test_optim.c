/* Server-side optimizers against values worked out by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ps_optim.h"

#define TOL 1e-6

static ps_optim_t optim(pc_optim_type_t type, float lr, float l2, float init_accum) {
  ps_optim_t o = {.type = type, .lr = lr, .l2 = l2, .eps = 1e-8f, .init_accum = init_accum};
  return o;
}

static void test_sgd_one_step(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 0.1f, 0.01f, 0.0f);
  /* w=0.5, g=0.2, lr=0.1, l2=0.01:
   *   g + l2*w = 0.2 + 0.005 = 0.205;  w = 0.5 - 0.1*0.205 = 0.4795 */
  float w = 0.5f;
  ps_optim_apply(&o, &w, NULL, 0.2f);
  assert_float_equal(w, 0.4795, TOL);
  /* Second step, g=-1: g + l2*w = -1 + 0.004795 = -0.995205;
   *   w = 0.4795 + 0.0995205 = 0.5790205 */
  ps_optim_apply(&o, &w, NULL, -1.0f);
  assert_float_equal(w, 0.5790205, TOL);
}

static void test_sgd_l2_only(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 0.5f, 0.1f, 0.0f);
  /* g=0 still shrinks: w=2 -> 2 - 0.5*(0 + 0.1*2) = 1.9 */
  float w = 2.0f;
  ps_optim_apply(&o, &w, NULL, 0.0f);
  assert_float_equal(w, 1.9, TOL);
}

static void test_adagrad_one_step(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.01f, 0.0f);
  /* w=0.5, s=0, g=0.2: g' = 0.2 + 0.01*0.5 = 0.205;  s = 0.205^2 = 0.042025;
   *   sqrt(s) = 0.205;  w = 0.5 - 0.1*0.205/(0.205 + 1e-8) = 0.4 (to 1e-8) */
  float w = 0.5f, s = 0.0f;
  ps_optim_apply(&o, &w, &s, 0.2f);
  assert_float_equal(s, 0.042025, TOL);
  assert_float_equal(w, 0.4, TOL);
}

static void test_adagrad_accumulates(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, 0.0f);
  float w = 0.0f, s = 0.0f;
  /* g=3:   s = 9,        w = 0 - 0.5*3/3        = -0.5 */
  ps_optim_apply(&o, &w, &s, 3.0f);
  assert_float_equal(s, 9.0, TOL);
  assert_float_equal(w, -0.5, TOL);
  /* g=4:   s = 9+16 = 25, w = -0.5 - 0.5*4/5    = -0.9 */
  ps_optim_apply(&o, &w, &s, 4.0f);
  assert_float_equal(s, 25.0, TOL);
  assert_float_equal(w, -0.9, TOL);
  /* g=0 (l2=0): nothing moves */
  ps_optim_apply(&o, &w, &s, 0.0f);
  assert_float_equal(s, 25.0, TOL);
  assert_float_equal(w, -0.9, TOL);
  /* g=-12: s = 25+144 = 169, w = -0.9 + 0.5*12/13 = -0.9 + 0.4615385 = -0.4384615 */
  ps_optim_apply(&o, &w, &s, -12.0f);
  assert_float_equal(s, 169.0, TOL);
  assert_float_equal(w, -0.4384615, TOL);
}

static void test_adagrad_l2_and_init_accum(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.1f, 0.1f);
  /* init_accum 0.1, w=1, g=0.3: g' = 0.3 + 0.1*1 = 0.4;  s = 0.1 + 0.16 = 0.26;
   *   sqrt(0.26) = 0.5099020;  w = 1 - 0.1*0.4/0.5099020 = 1 - 0.0784465 = 0.9215535 */
  float w = 1.0f, s = o.init_accum;
  ps_optim_apply(&o, &w, &s, 0.3f);
  assert_float_equal(s, 0.26, TOL);
  assert_float_equal(w, 0.9215535, TOL);
}

static void test_init_accum_damps_first_step(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.0f, 16.0f);
  /* s starts at 16, g=3: s = 25, w = 0 - 0.1*3/5 = -0.06
   * (with init_accum 0 the same step would be -0.1*3/3 = -0.1) */
  float w = 0.0f, s = o.init_accum;
  ps_optim_apply(&o, &w, &s, 3.0f);
  assert_float_equal(s, 25.0, TOL);
  assert_float_equal(w, -0.06, TOL);
}

static void test_apply_n_matches_apply(void **state) {
  (void)state;
  const float g[5] = {0.2f, -1.0f, 0.0f, 3.5f, -0.01f};
  const pc_optim_type_t types[2] = {PC_OPTIM_SGD, PC_OPTIM_ADAGRAD};
  for (int t = 0; t < 2; t++) {
    ps_optim_t o = optim(types[t], 0.1f, 0.01f, 0.5f);
    float w1[5] = {0.5f, -0.25f, 1.0f, 0.0f, 2.0f}, s1[5] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    float w2[5], s2[5];
    memcpy(w2, w1, sizeof w1);
    memcpy(s2, s1, sizeof s1);
    float *st = types[t] == PC_OPTIM_ADAGRAD ? s1 : NULL;
    ps_optim_apply_n(&o, w1, st, g, 5);
    for (int i = 0; i < 5; i++)
      ps_optim_apply(&o, &w2[i], st != NULL ? &s2[i] : NULL, g[i]);
    /* Same operations in the same order: bit-identical. */
    assert_memory_equal(w1, w2, sizeof w1);
    if (st != NULL)
      assert_memory_equal(s1, s2, sizeof s1);
  }
}

static void test_state_slots_and_config(void **state) {
  (void)state;
  pc_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.optimizer.type = PC_OPTIM_ADAGRAD;
  cfg.optimizer.lr = 0.25;
  cfg.optimizer.l2 = 0.001;
  cfg.optimizer.eps = 1e-6;
  cfg.optimizer.init_accum = 0.1;
  ps_optim_t o;
  ps_optim_from_config(&o, &cfg);
  assert_int_equal(o.type, PC_OPTIM_ADAGRAD);
  assert_true(o.lr == 0.25f && o.l2 == 0.001f && o.eps == 1e-6f && o.init_accum == 0.1f);
  assert_int_equal(ps_optim_state_slots(&o), 1);
  o.type = PC_OPTIM_SGD;
  assert_int_equal(ps_optim_state_slots(&o), 0);
}

static void test_add_rule(void **state) {
  (void)state;
  /* A table without optimize: w += g, whatever lr, l2 and the optimizer. */
  const pc_optim_type_t types[2] = {PC_OPTIM_SGD, PC_OPTIM_ADAGRAD};
  for (int t = 0; t < 2; t++) {
    ps_optim_t o = optim(types[t], 0.1f, 0.5f, 0.25f);
    const ps_optim_rule_t *r = ps_optim_rule(&o, 0);
    assert_string_equal(r->name, "add");
    assert_int_equal(r->slots, 0);
    float w[3] = {1.0f, -2.0f, 0.5f};
    const float g[3] = {0.25f, 2.0f, -1.5f};
    r->apply_n(&o, w, NULL, g, 3);
    assert_true(w[0] == 1.25f && w[1] == 0.0f && w[2] == -1.0f);
  }
  float w[2] = {1.0f, 2.0f};
  const float g[2] = {3.0f, 4.0f};
  ps_optim_add_n(w, g, 2);
  assert_true(w[0] == 4.0f && w[1] == 6.0f);
}

static void test_rules_per_value(void **state) {
  (void)state;
  ps_optim_t ada = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, 0.0f);
  const ps_optim_rule_t *r = ps_optim_rule(&ada, 1);
  assert_string_equal(r->name, "adagrad");
  assert_int_equal(r->slots, 1);
  /* One accumulator per value: g = (3, 4, 0) then (4, 3, 12):
   *   s = (9, 16, 0) -> (25, 25, 144); w = (-0.5, -0.5, 0) -> (-0.9, -0.8, -0.5) */
  float w[3] = {0, 0, 0}, s[3] = {0, 0, 0};
  const float g1[3] = {3, 4, 0}, g2[3] = {4, 3, 12};
  r->apply_n(&ada, w, s, g1, 3);
  assert_float_equal(s[0], 9, TOL);
  assert_float_equal(s[1], 16, TOL);
  assert_float_equal(w[1], -0.5, TOL);
  assert_true(w[2] == 0.0f && s[2] == 0.0f);
  r->apply_n(&ada, w, s, g2, 3);
  assert_float_equal(s[2], 144, TOL);
  assert_float_equal(w[0], -0.9, TOL);
  assert_float_equal(w[1], -0.8, TOL);
  assert_float_equal(w[2], -0.5, TOL);
  ps_optim_t sgd = optim(PC_OPTIM_SGD, 0.1f, 0.01f, 0.0f);
  r = ps_optim_rule(&sgd, 1);
  assert_string_equal(r->name, "sgd");
  assert_int_equal(r->slots, 0);
  /* L2 per value: w = (0.5, 2), g = (0.2, 0): (0.4795, 2 - 0.1*0.02 = 1.998) */
  float v[2] = {0.5f, 2.0f};
  const float g[2] = {0.2f, 0.0f};
  r->apply_n(&sgd, v, NULL, g, 2);
  assert_float_equal(v[0], 0.4795, TOL);
  assert_float_equal(v[1], 1.998, TOL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sgd_one_step),
      cmocka_unit_test(test_sgd_l2_only),
      cmocka_unit_test(test_adagrad_one_step),
      cmocka_unit_test(test_adagrad_accumulates),
      cmocka_unit_test(test_adagrad_l2_and_init_accum),
      cmocka_unit_test(test_init_accum_damps_first_step),
      cmocka_unit_test(test_apply_n_matches_apply),
      cmocka_unit_test(test_state_slots_and_config),
      cmocka_unit_test(test_add_rule),
      cmocka_unit_test(test_rules_per_value),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
