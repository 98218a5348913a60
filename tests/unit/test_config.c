/* Unit tests for common/pc_config: defaults, the documented example,
 * every error kind (code, file, line and field in the message), UTF-8 and
 * size limits of the file, --set, the per-role checks (data files, the
 * scheduler to join, the address to bind), the shared settings, the
 * dump/load round trip, and the fields of the other models: lists
 * (model.hidden, model.conv) and the rules between model and data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pc_config.h"

/* Data files every valid config points at; made once per run. */
static char g_train[64];
static char g_test[64];

typedef struct {
  char path[64];
  pc_config_t cfg;
  pc_err_t err;
  int rc;
} load_t;

/* A macro so a failure reports the line of the test, not of a helper. */
#define expect_in(hay, needle)                                                                     \
  do {                                                                                             \
    if (strstr((hay), (needle)) == NULL)                                                           \
      fail_msg("expected \"%s\" in message \"%s\"", (needle), (hay));                              \
  } while (0)

static void write_temp_bytes(char *path, size_t n, const char *prefix, const char *text,
                             size_t len) {
  snprintf(path, n, "/tmp/%sXXXXXX", prefix);
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  assert_int_equal(close(fd), 0);
}

static void write_temp(char *path, size_t n, const char *prefix, const char *text) {
  write_temp_bytes(path, n, prefix, text, strlen(text));
}

/* Loads len bytes of text (NULs and all) from a fresh temp file. */
static int load_bytes(load_t *l, const char *text, size_t len) {
  write_temp_bytes(l->path, sizeof l->path, "pc_config_", text, len);
  pc_err_clear(&l->err);
  l->rc = pc_config_load(&l->cfg, l->path, NULL, 0, &l->err);
  unlink(l->path);
  return l->rc;
}

static int load_sets(load_t *l, const char *const *sets, int nsets, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes the formatted YAML to a fresh temp file and loads it. */
static int load_sets(load_t *l, const char *const *sets, int nsets, const char *fmt, ...) {
  char text[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  write_temp(l->path, sizeof l->path, "pc_config_", text);
  pc_err_clear(&l->err);
  l->rc = pc_config_load(&l->cfg, l->path, sets, nsets, &l->err);
  unlink(l->path);
  return l->rc;
}

#define load_yaml(l, ...) load_sets((l), NULL, 0, __VA_ARGS__)

/* The message must start with "<file>:<line>: " (line 0: "<file>: "). */
static void expect_error(const load_t *l, int line, const char *field, const char *why) {
  char loc[96];
  if (line > 0)
    snprintf(loc, sizeof loc, "%s:%d: ", l->path, line);
  else
    snprintf(loc, sizeof loc, "%s: ", l->path);
  assert_int_equal(l->rc, PC_ECONFIG);
  assert_int_equal(l->err.code, PC_ECONFIG);
  if (strncmp(l->err.msg, loc, strlen(loc)) != 0)
    fail_msg("expected message to start with \"%s\": \"%s\"", loc, l->err.msg);
  if (field != NULL)
    expect_in(l->err.msg, field);
  if (why != NULL)
    expect_in(l->err.msg, why);
}

static void expect_loaded(const load_t *l) {
  if (l->rc != 0)
    fail_msg("load failed (%d): %s", l->rc, l->err.msg);
}

static int group_setup(void **state) {
  (void)state;
  write_temp(g_train, sizeof g_train, "pc_config_train_", "1 3:1 7:1\n-1 2:1\n");
  write_temp(g_test, sizeof g_test, "pc_config_test_", "1 3:1\n");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  unlink(g_train);
  unlink(g_test);
  return 0;
}

/* ---- defaults and valid files ------------------------------------------ */

static void test_defaults(void **state) {
  (void)state;
  pc_config_t c;
  memset(&c, 0x5a, sizeof c);
  pc_config_defaults(&c);
  assert_string_equal(c.path, "");
  assert_string_equal(c.cluster.scheduler, "tcp://127.0.0.1:0");
  assert_int_equal(c.cluster.servers, 2);
  assert_int_equal(c.cluster.workers, 2);
  assert_string_equal(c.cluster.bind, "127.0.0.1");
  assert_string_equal(c.cluster.advertise, "");
  assert_int_equal(c.cluster.server_port, 0);
  assert_true(c.cluster.register_timeout == 30.0);
  assert_true(c.cluster.heartbeat == 1.0);
  assert_true(c.cluster.node_timeout == 10.0);
  assert_int_equal(c.cluster.vnodes, 256);
  assert_int_equal(c.model.type, PC_MODEL_LOGISTIC);
  assert_int_equal(c.model.features, 124);
  assert_int_equal(c.model.layout, PC_LAYOUT_SPARSE);
  assert_int_equal(c.model.bias, 1);
  assert_int_equal(c.model.classes, 0);
  assert_int_equal(c.model.nhidden, 0);
  assert_int_equal(c.model.nconv, 0);
  assert_int_equal(c.model.rank, 16);
  assert_int_equal(c.model.loss, PC_LOSS_SQUARED);
  assert_true(c.model.huber_delta == 1.0);
  assert_true(c.model.init_scale == 0.1);
  assert_int_equal(c.optimizer.type, PC_OPTIM_ADAGRAD);
  assert_true(c.optimizer.lr == 0.1);
  assert_true(c.optimizer.l2 == 0.0001);
  assert_true(c.optimizer.eps == 1e-8);
  assert_true(c.optimizer.init_accum == 0.0);
  assert_int_equal(c.optimizer.schedule, PC_SCHED_CONSTANT);
  assert_int_equal(c.optimizer.warmup, 0);
  assert_int_equal(c.optimizer.step_every, 0);
  assert_true(c.optimizer.step_factor == 0.1);
  assert_int_equal(c.optimizer.cosine_steps, 0);
  assert_true(c.optimizer.min_lr_fraction == 0.0);
  assert_int_equal(c.training.epochs, 5);
  assert_int_equal(c.training.batch, 256);
  assert_int_equal(c.training.inflight, 4);
  assert_int_equal(c.training.seed, 1);
  assert_true(c.training.log_every == 1.0);
  assert_string_equal(c.data.train, "");
  assert_string_equal(c.data.test, "");
  assert_int_equal(c.data.format, PC_FORMAT_LIBSVM);
  assert_string_equal(c.data.label, "");
  assert_string_equal(c.data.labels, "");
  assert_string_equal(c.data.test_labels, "");
  assert_int_equal(c.data.label_offset, 0);
  assert_true(c.data.test_fraction == 0.0);
  assert_int_equal(c.data.test_rows, 0);
  assert_int_equal(c.data.standardize, 0);
  assert_int_equal(c.data.on_error, PC_ON_ERROR_ABORT);
  assert_int_equal(c.data.max_bad_lines, 1000);
  assert_string_equal(c.output.dir, "runs/default");
}

static void test_defaults_need_train(void **state) {
  (void)state;
  pc_config_t c;
  pc_err_t err;
  pc_config_defaults(&c);
  assert_int_equal(pc_config_validate(&c, &err), 0); /* the scheduler needs no data */
  assert_int_equal(pc_config_check_data(&c, &err), PC_ECONFIG);
  expect_in(err.msg, "data.train");
  expect_in(err.msg, "required");
  char set[128];
  snprintf(set, sizeof set, "data.train=%s", g_train);
  assert_int_equal(pc_config_set(&c, set, &err), 0);
  assert_int_equal(pc_config_check_data(&c, &err), 0);
}

static const char example_yaml[] =
    "cluster:   { servers: 2, workers: 2, scheduler: \"tcp://127.0.0.1:0\", bind: 127.0.0.1 }\n"
    "model:     { type: logistic, features: 124 }\n"
    "optimizer: { type: adagrad, lr: 0.1, l2: 0.0001 }\n"
    "training:  { epochs: 5, batch: 256, inflight: 4, seed: 1 }\n"
    "data:      { train: data/a9a/a9a, test: data/a9a/a9a.t, format: libsvm }\n"
    "output:    { dir: runs/a9a }\n";

static void make_file(const char *path) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("1 1:1\n", f);
  assert_int_equal(fclose(f), 0);
}

/* The example from the docs, verbatim: data paths are relative to the
 * current directory, so run it from a scratch directory holding them. */
static void test_example_loads(void **state) {
  (void)state;
  char cwd[PC_PATH_MAX], dir[] = "/tmp/pc_config_dir_XXXXXX";
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_non_null(mkdtemp(dir));
  assert_int_equal(chdir(dir), 0);
  assert_int_equal(mkdir("data", 0700), 0);
  assert_int_equal(mkdir("data/a9a", 0700), 0);
  make_file("data/a9a/a9a");
  make_file("data/a9a/a9a.t");
  load_t l;
  pc_err_t err;
  load_yaml(&l, "%s", example_yaml);
  int data_rc = l.rc == 0 ? pc_config_check_data(&l.cfg, &err) : -1;
  unlink("data/a9a/a9a");
  unlink("data/a9a/a9a.t");
  rmdir("data/a9a");
  rmdir("data");
  assert_int_equal(chdir(cwd), 0);
  rmdir(dir);
  expect_loaded(&l);
  if (data_rc != 0)
    fail_msg("data check failed: %s", err.msg);
  assert_string_equal(l.cfg.path, l.path);
  assert_int_equal(l.cfg.cluster.servers, 2);
  assert_string_equal(l.cfg.cluster.scheduler, "tcp://127.0.0.1:0");
  assert_string_equal(l.cfg.cluster.bind, "127.0.0.1");
  assert_int_equal(l.cfg.optimizer.type, PC_OPTIM_ADAGRAD);
  assert_true(l.cfg.optimizer.l2 == 0.0001);
  assert_int_equal(l.cfg.training.batch, 256);
  assert_string_equal(l.cfg.data.train, "data/a9a/a9a");
  assert_string_equal(l.cfg.data.test, "data/a9a/a9a.t");
  assert_string_equal(l.cfg.output.dir, "runs/a9a");
}

static void test_block_style_all_fields(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l,
            "# every field, block style\n"
            "cluster:\n"
            "  scheduler: ipc:///tmp/parasol.sock  # comment\n"
            "  servers: 3\n  workers: 7\n  bind: 0.0.0.0\n  advertise: 10.0.0.5\n"
            "  server_port: 9000\n  register_timeout: 12.5\n  heartbeat: 0.25\n"
            "  node_timeout: 3\n  vnodes: 16\n"
            "model:\n  type: logistic\n  features: 1099511627776\n  layout: dense\n  bias: false\n"
            "optimizer:\n  type: sgd\n  lr: 0.5\n  l2: 0\n  eps: 1e-6\n  init_accum: 0.1\n"
            "training:\n  epochs: 9\n  batch: 1000000\n  inflight: 1\n"
            "  seed: 18446744073709551615\n  log_every: 0\n"
            "data:\n  train: '%s'\n  test: \"%s\"\n  format: libsvm\n  on_error: skip\n"
            "  max_bad_lines: 0\n"
            "output:\n  dir: out/x\n",
            g_train, g_test);
  expect_loaded(&l);
  const pc_config_t *c = &l.cfg;
  assert_string_equal(c->cluster.scheduler, "ipc:///tmp/parasol.sock");
  assert_int_equal(c->cluster.servers, 3);
  assert_int_equal(c->cluster.workers, 7);
  assert_string_equal(c->cluster.advertise, "10.0.0.5");
  assert_int_equal(c->cluster.server_port, 9000);
  assert_true(c->cluster.register_timeout == 12.5);
  assert_true(c->cluster.heartbeat == 0.25);
  assert_int_equal(c->cluster.vnodes, 16);
  assert_int_equal(c->model.features, UINT64_C(1) << 40);
  assert_int_equal(c->model.layout, PC_LAYOUT_DENSE);
  assert_int_equal(c->model.bias, 0);
  assert_int_equal(c->optimizer.type, PC_OPTIM_SGD);
  assert_true(c->optimizer.eps == 1e-6);
  assert_int_equal(c->training.seed, UINT64_MAX);
  assert_true(c->training.log_every == 0.0);
  assert_string_equal(c->data.test, g_test);
  assert_int_equal(c->data.on_error, PC_ON_ERROR_SKIP);
  assert_int_equal(c->data.max_bad_lines, 0);
  assert_string_equal(c->output.dir, "out/x");
}

static void test_empty_file_is_defaults(void **state) {
  (void)state;
  load_t l;
  char set[128];
  snprintf(set, sizeof set, "data.train=%s", g_train);
  const char *sets[] = {set};
  load_sets(&l, sets, 1, "# nothing but a comment\n");
  expect_loaded(&l);
  assert_int_equal(l.cfg.cluster.workers, 2);
  assert_string_equal(l.cfg.output.dir, "runs/default");
}

/* ---- file errors --------------------------------------------------------- */

static void test_unknown_field_suggests(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "cluster:\n  servers: 2\n  wrkers: 2\n");
  expect_error(&l, 3, "cluster.wrkers", "did you mean 'workers'?");
}

static void test_unknown_section_suggests(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "model: { features: 10 }\nclustr: { workers: 2 }\n");
  expect_error(&l, 2, "clustr", "did you mean 'cluster'?");
}

static void test_field_in_wrong_section(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "training:\n  epochs: 3\n  lr: 0.5\n");
  expect_error(&l, 3, "training.lr", "did you mean 'optimizer.lr'?");
}

static void test_wrong_type(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "# header\ncluster:\n  servers: 2\n  workers: two\n");
  expect_error(&l, 4, "cluster.workers", "expected an integer, got 'two'");
  load_yaml(&l, "optimizer: { lr: fast }\n");
  expect_error(&l, 1, "optimizer.lr", "expected a number, got 'fast'");
  load_yaml(&l, "model:\n  bias: yes\n");
  expect_error(&l, 2, "model.bias", "expected true or false, got 'yes'");
}

static void test_integers_are_whole(void **state) {
  (void)state;
  static const struct {
    const char *value, *why;
  } cases[] = {
      {"2.5", "expected an integer, got '2.5'"},
      {"3x", "expected an integer, got '3x'"},
      {"0x10", "expected an integer, got '0x10'"},
      {"1e3", "expected an integer, got '1e3'"},
      {"''", "expected an integer, got ''"},
      {"99999999999999999999", "must be in [1, 100000], got 99999999999999999999"},
      {"-99999999999999999999", "must be in [1, 100000], got -99999999999999999999"},
      {"4294967297", "must be in [1, 100000], got 4294967297"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    load_t l;
    load_yaml(&l, "training:\n  epochs: %s\n", cases[i].value);
    expect_error(&l, 2, "training.epochs", cases[i].why);
  }
}

static void test_u64_rejects_negative_and_overflow(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "training: { seed: -1 }\n");
  expect_error(&l, 1, "training.seed", "got -1");
  load_yaml(&l, "training: { seed: 18446744073709551616 }\n");
  expect_error(&l, 1, "training.seed", "must be in [0, 18446744073709551615]");
  load_yaml(&l, "model: { features: 1099511627777 }\n");
  expect_error(&l, 1, "model.features", "must be in [1, 1099511627776], got 1099511627777");
}

static void test_doubles_are_finite(void **state) {
  (void)state;
  static const char *const bad[] = {"inf", "nan", "1e999", "-inf"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    load_t l;
    load_yaml(&l, "optimizer:\n  l2: %s\n", bad[i]);
    expect_error(&l, 2, "optimizer.l2", "expected a finite number");
  }
  load_t l;
  load_yaml(&l, "optimizer:\n  l2: .inf\n");
  expect_error(&l, 2, "optimizer.l2", "expected a number, got '.inf'");
  load_yaml(&l, "optimizer:\n  l2: 0.5abc\n");
  expect_error(&l, 2, "optimizer.l2", "expected a number, got '0.5abc'");
}

static void test_out_of_range(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "cluster:\n  workers: 0\n");
  expect_error(&l, 2, "cluster.workers", "must be in [1, 4096], got 0");
  load_yaml(&l, "cluster: { servers: 1025 }\n");
  expect_error(&l, 1, "cluster.servers", "must be in [1, 1024], got 1025");
  load_yaml(&l, "\n\noptimizer: { lr: 0 }\n");
  expect_error(&l, 3, "optimizer.lr", "must be in (0, 100], got 0");
  load_yaml(&l, "cluster: { heartbeat: 60.5 }\n");
  expect_error(&l, 1, "cluster.heartbeat", "must be in (0, 60], got 60.5");
  load_yaml(&l, "optimizer: { init_accum: -0.1 }\n");
  expect_error(&l, 1, "optimizer.init_accum", "must be in [0, 100], got -0.1");
  /* Each value in range, but together a live node would look dead. */
  load_yaml(&l, "cluster:\n  heartbeat: 5\n  node_timeout: 8\n");
  expect_error(&l, 3, "cluster.node_timeout", "more than twice cluster.heartbeat (5 s), got 8 s");
}

static void test_bad_enum_lists_allowed(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "optimizer:\n  type: adam\n");
  expect_error(&l, 2, "optimizer.type", "expected one of 'sgd', 'adagrad', got 'adam'");
  load_yaml(&l, "data: { on_error: ignore }\n");
  expect_error(&l, 1, "data.on_error", "'abort', 'skip'");
  load_yaml(&l, "model: { layout: Dense }\n");
  expect_error(&l, 1, "model.layout", "'sparse', 'dense'");
}

static void test_section_not_mapping(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "cluster: { workers: 2 }\ntraining: 5\n");
  expect_error(&l, 2, "training", "expected a mapping of fields, got '5'");
  load_yaml(&l, "output:\n  - runs\n");
  expect_error(&l, 1, "output", "got a sequence");
  load_yaml(&l, "- cluster\n- model\n");
  expect_error(&l, 1, NULL, "expected a mapping of sections");
}

static void test_field_not_scalar(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "cluster:\n  workers: [1, 2]\n");
  expect_error(&l, 2, "cluster.workers", "expected a single value, got a sequence");
  load_yaml(&l, "cluster:\n  workers: &w 3\n  servers: *w\n");
  expect_error(&l, 3, "cluster.servers", "alias");
}

static void test_duplicate_key(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "cluster:\n  workers: 2\n  servers: 2\n  workers: 3\n");
  expect_error(&l, 4, "cluster.workers", "duplicate key (first set on line 2)");
  load_yaml(&l, "cluster: { workers: 2, workers: 3 }\n");
  expect_error(&l, 1, "cluster.workers", "duplicate key");
}

static void test_duplicate_section(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "cluster: { workers: 2 }\nmodel: { features: 3 }\ncluster: { servers: 3 }\n");
  expect_error(&l, 3, "cluster", "duplicate section 'cluster' (first on line 1)");
}

/* libfyaml must not print its own diagnostics: stderr stays empty. */
static void test_yaml_syntax_error_is_quiet(void **state) {
  (void)state;
  char errpath[] = "/tmp/pc_config_stderr_XXXXXX";
  int fd = mkstemp(errpath), saved = dup(2);
  assert_true(fd >= 0 && saved >= 0);
  fflush(stderr);
  assert_true(dup2(fd, 2) >= 0);
  load_t l1, l2;
  load_yaml(&l1, "cluster: { workers: 2\nmodel: { features: 3 }\n");
  load_yaml(&l2, "cluster:\n  workers: 2\n servers: 3\n");
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  close(fd);
  unlink(errpath);
  assert_int_equal(st.st_size, 0);
  expect_error(&l1, 2, NULL, "YAML syntax error");
  expect_error(&l2, 3, NULL, "YAML syntax error");
  expect_in(l2.err.msg, "indentation");
}

static void test_multiple_documents(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "cluster: { workers: 2 }\n---\nmodel: { features: 3 }\n");
  expect_error(&l, 3, NULL, "more than one YAML document");
}

static void test_missing_config_file(void **state) {
  (void)state;
  load_t l;
  snprintf(l.path, sizeof l.path, "/tmp/pc_config_does_not_exist.yaml");
  l.rc = pc_config_load(&l.cfg, l.path, NULL, 0, &l.err);
  expect_error(&l, 0, NULL, "cannot open: No such file or directory");
}

/* The load must succeed (it does not look at data files); then the data
 * check fails with the message the load used to give. */
static void check_data_after_load(load_t *l) {
  expect_loaded(l);
  pc_err_clear(&l->err);
  l->rc = pc_config_check_data(&l->cfg, &l->err);
}

static void test_train_required(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "cluster: { workers: 2 }\ndata:\n  format: libsvm\n");
  check_data_after_load(&l);
  expect_error(&l, 2, "data.train", "required");
  load_yaml(&l, "cluster: { workers: 2 }\n");
  check_data_after_load(&l);
  expect_error(&l, 0, "data.train", "required");
}

static void test_train_must_be_readable_file(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "data:\n  format: libsvm\n  train: /tmp/pc_config_no_such_train\n");
  check_data_after_load(&l);
  expect_error(&l, 3, "data.train", "cannot open: No such file or directory");
  load_yaml(&l, "data:\n  train: /tmp\n");
  check_data_after_load(&l);
  expect_error(&l, 2, "data.train", "not a regular file");
  /* A FIFO is refused at once rather than waiting for a writer. */
  char fifo[] = "/tmp/pc_config_fifo_XXXXXX";
  assert_non_null(mkdtemp(fifo));
  char path[64];
  snprintf(path, sizeof path, "%s/train", fifo);
  assert_int_equal(mkfifo(path, 0600), 0);
  load_yaml(&l, "data:\n  train: %s\n", path);
  check_data_after_load(&l);
  unlink(path);
  rmdir(fifo);
  expect_error(&l, 2, "data.train", "not a regular file");
}

/* data.format prepared: data.train, data.valid, data.test are split
 * directories holding part-00000.psp; standardize is prep's job; the
 * classes may come from the shards (left 0 here). */
static void test_prepared_format(void **state) {
  (void)state;
  load_t l;
  char dir[] = "/tmp/pc_config_prep_XXXXXX", part[64];
  assert_non_null(mkdtemp(dir));
  load_yaml(&l, "model: { type: softmax }\ndata:\n  format: prepared\n  train: %s\n", dir);
  check_data_after_load(&l);
  expect_error(&l, 4, "data.train", "is not a prepared split (no part-00000.psp); run parasol "
                                    "prep first");
  snprintf(part, sizeof part, "%s/part-00000.psp", dir);
  FILE *f = fopen(part, "w");
  assert_non_null(f);
  fclose(f);
  load_yaml(&l, "model: { type: softmax }\ndata:\n  format: prepared\n  train: %s\n", dir);
  check_data_after_load(&l);
  assert_int_equal(l.rc, 0);
  assert_int_equal(l.cfg.model.classes, 0);
  assert_false(pc_config_is_set(&l.cfg, "model.features"));
  assert_true(pc_config_is_set(&l.cfg, "model.type"));
  load_yaml(&l, "data:\n  format: prepared\n  train: %s\n  valid: %s\n", dir, g_train);
  check_data_after_load(&l);
  expect_error(&l, 4, "data.valid", "is not a prepared split");
  load_yaml(&l, "data:\n  format: prepared\n  train: %s\n  standardize: true\n", dir);
  expect_error(&l, 4, "data.standardize", "prepared data is standardized by parasol prep");
  unlink(part);
  rmdir(dir);
}

static void test_test_set_but_missing(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "data:\n  train: %s\n  test: /tmp/pc_config_no_such_test\n", g_train);
  check_data_after_load(&l);
  expect_error(&l, 3, "data.test", "/tmp/pc_config_no_such_test");
  expect_in(l.err.msg, "No such file or directory");
  load_yaml(&l, "data:\n  train: %s\n  test: ''\n", g_train);
  check_data_after_load(&l);
  expect_loaded(&l);
  load_yaml(&l, "data:\n  train: %s\n  test: %s\n", g_train, g_test);
  check_data_after_load(&l);
  expect_loaded(&l);
}

/* training.init (fine-tuning): a readable, non-empty regular file when set;
 * whether it is a model that fits is the workers' check. */
static void test_init_file(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "training:\n  init: /tmp/pc_config_no_such_model\ndata:\n  train: %s\n",
            g_train);
  check_data_after_load(&l);
  expect_error(&l, 2, "training.init", "No such file or directory");
  char empty[] = "/tmp/pc_config_init_XXXXXX";
  int fd = mkstemp(empty);
  assert_true(fd >= 0);
  close(fd);
  load_yaml(&l, "training: { init: %s }\ndata: { train: %s }\n", empty, g_train);
  check_data_after_load(&l);
  unlink(empty);
  expect_error(&l, 1, "training.init", "the file is empty");
  load_yaml(&l, "training: { init: %s }\ndata: { train: %s }\n", g_train, g_train);
  check_data_after_load(&l);
  expect_loaded(&l);
  load_yaml(&l, "data: { train: %s }\n", g_train);
  expect_loaded(&l);
  assert_string_equal(l.cfg.training.init, "");
}

/* Scheduler and servers load the same config as workers but never read
 * the data: missing files must not stop them. */
static void test_load_ignores_data_files(void **state) {
  (void)state;
  load_t l;
  const char *sets[] = {"data.train=/nonexistent/train.svm", "data.test=/nonexistent/test.svm"};
  load_sets(&l, sets, 2, "data: { train: /tmp/pc_config_no_such_train }\n");
  expect_loaded(&l);
  assert_string_equal(l.cfg.data.train, "/nonexistent/train.svm");
  load_yaml(&l, "cluster: { workers: 3 }\n");
  expect_loaded(&l); /* no data.train at all */
  assert_int_equal(pc_config_validate(&l.cfg, &l.err), 0);
  assert_int_equal(pc_config_check_data(NULL, &l.err), PC_EINVAL);
}

static void test_cross_field_checks(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "data: { train: %s }\ncluster:\n  scheduler: http://127.0.0.1:5\n", g_train);
  expect_error(&l, 3, "cluster.scheduler", "tcp://");
  load_yaml(&l, "data: { train: %s }\ncluster:\n  scheduler: tcp://\n", g_train);
  expect_error(&l, 3, "cluster.scheduler", "tcp://");
  load_yaml(&l, "data: { train: %s }\noutput:\n  dir: ''\n", g_train);
  expect_error(&l, 3, "output.dir", "must not be empty");
}

static void test_string_too_long(void **state) {
  (void)state;
  load_t l;
  char longname[100];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  load_yaml(&l, "cluster:\n  bind: %s\n", longname);
  expect_error(&l, 2, "cluster.bind", "too long (at most 63 bytes)");
}

/* ---- bytes and size of the file ----------------------------------------- */

/* A Latin-1 'é' in a comment used to end the file there without a word:
 * the `optimizer: { lr: -5 }` after it was never seen. */
static void test_latin1_byte_refused(void **state) {
  (void)state;
  static const char text[] = "data: { train: x }\n# caf\xe9 au lait\noptimizer: { lr: -5 }\n";
  load_t l;
  load_bytes(&l, text, sizeof text - 1);
  expect_error(&l, 2, NULL,
               "column 6 (byte offset 24): invalid UTF-8 (byte 0xE9); save the file as UTF-8");
}

/* text = "a: 1\n# x" bad "\nb: 2\n": the fault is on line 2, column 4. */
static void test_utf8_is_strict(void **state) {
  (void)state;
  static const struct {
    const char *bytes, *why;
  } bad[] = {
      {"\xc0\xaf", "invalid UTF-8 (byte 0xC0, an overlong encoding)"},
      {"\xc1\xbf", "invalid UTF-8 (byte 0xC1, an overlong encoding)"},
      {"\xe0\x80\xaf", "invalid UTF-8 (byte 0xE0, an overlong encoding)"},
      {"\xf0\x8f\xbf\xbf", "invalid UTF-8 (byte 0xF0, an overlong encoding)"},
      {"\xed\xa0\x80", "invalid UTF-8 (byte 0xED, a UTF-16 surrogate)"},
      {"\xed\xbf\xbf", "invalid UTF-8 (byte 0xED, a UTF-16 surrogate)"},
      {"\xf4\x90\x80\x80", "invalid UTF-8 (byte 0xF4, above U+10FFFF)"},
      {"\xf5\x80\x80\x80", "invalid UTF-8 (byte 0xF5, not used in UTF-8)"},
      {"\xff\xfe", "invalid UTF-8 (byte 0xFF, not used in UTF-8)"},
      {"\x80", "invalid UTF-8 (byte 0x80, a continuation byte with no lead byte)"},
      {"\xe2\x82", "invalid UTF-8 (byte 0xE2); save the file as UTF-8"}, /* cut short */
      {"\xf0\x9f\x98", "invalid UTF-8 (byte 0xF0); save the file as UTF-8"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[64];
    int n = snprintf(text, sizeof text, "a: 1\n# x%s\nb: 2\n", bad[i].bytes);
    load_t l;
    load_bytes(&l, text, (size_t)n);
    expect_error(&l, 2, "column 4 (byte offset 8)", bad[i].why);
  }
}

/* Valid UTF-8 passes through, up to the edges of each range, and the
 * rest of the file is read (the lr on line 2 is checked). */
static void test_utf8_valid_text_kept(void **state) {
  (void)state;
  static const char *const good[] = {
      "\xc3\xa9",         /* é */
      "\xc2\x80",         /* U+0080 */
      "\xe0\xa0\x80",     /* U+0800 */
      "\xe2\x82\xac",     /* € */
      "\xed\x9f\xbf",     /* U+D7FF, below the surrogates */
      "\xee\x80\x80",     /* U+E000, above them */
      "\xf0\x90\x80\x80", /* U+10000 */
      "\xf0\x9f\x98\x80", /* 😀 */
      "\xf4\x8f\xbf\xbf", /* U+10FFFF */
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    load_t l;
    load_yaml(&l, "# caf%s\noptimizer: { lr: -5 }\n", good[i]);
    expect_error(&l, 2, "optimizer.lr", "must be in (0, 100], got -5");
  }
  load_t l;
  load_yaml(&l, "output: { dir: \"r\xc3\xa9sultats/\xe2\x82\xac\" }\n");
  expect_loaded(&l);
  assert_string_equal(l.cfg.output.dir, "r\xc3\xa9sultats/\xe2\x82\xac");
}

/* Columns count characters, as an editor shows them; the offset counts
 * bytes from 0, as hexdump does. A leading BOM is accepted and is not a
 * column. */
static void test_utf8_position(void **state) {
  (void)state;
  load_t l;
  static const char multi[] = "a: 1\nb: 2\n# \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xe9\n";
  load_bytes(&l, multi, sizeof multi - 1);
  expect_error(&l, 3, NULL, "column 7 (byte offset 22): invalid UTF-8 (byte 0xE9)");
  static const char bom_ok[] = "\xef\xbb\xbf"
                               "cluster: { workers: 3 }\n";
  load_bytes(&l, bom_ok, sizeof bom_ok - 1);
  expect_loaded(&l);
  assert_int_equal(l.cfg.cluster.workers, 3);
  static const char bom_bad[] = "\xef\xbb\xbf# \xe9\n";
  load_bytes(&l, bom_bad, sizeof bom_bad - 1);
  expect_error(&l, 1, NULL, "column 3 (byte offset 5): invalid UTF-8 (byte 0xE9)");
  static const char at_end[] = "a: 1\n# \xc3";
  load_bytes(&l, at_end, sizeof at_end - 1);
  expect_error(&l, 2, NULL, "column 3 (byte offset 7): invalid UTF-8 (byte 0xC3)");
}

/* A NUL also used to end the file silently. */
static void test_nul_byte_refused(void **state) {
  (void)state;
  static const char text[] = "cluster: { workers: 3 }\n#\0\noptimizer: { lr: -5 }\n";
  load_t l;
  load_bytes(&l, text, sizeof text - 1);
  expect_error(&l, 2, NULL, "column 2 (byte offset 25): a NUL byte");
  expect_in(l.err.msg, "save it as UTF-8");
  static const char utf16[] = "c\0l\0u\0";
  load_bytes(&l, utf16, sizeof utf16 - 1);
  expect_error(&l, 1, NULL, "column 2 (byte offset 1): a NUL byte");
}

/* size bytes of comment lines ending in "cluster: { workers: 7 }\n". */
static char *sized_config(size_t size) {
  static const char tail[] = "cluster: { workers: 7 }\n";
  size_t body = size - (sizeof tail - 1);
  char *text = malloc(size);
  assert_non_null(text);
  for (size_t i = 0; i < body; i++)
    text[i] = i % 64 == 63 ? '\n' : '#';
  text[body - 1] = '\n';
  memcpy(text + body, tail, sizeof tail - 1);
  return text;
}

static void test_size_cap(void **state) {
  (void)state;
  load_t l;
  char *text = sized_config(PC_CONFIG_MAX_BYTES);
  load_bytes(&l, text, PC_CONFIG_MAX_BYTES);
  free(text);
  expect_loaded(&l);
  assert_int_equal(l.cfg.cluster.workers, 7); /* read to the very end */
  text = sized_config(PC_CONFIG_MAX_BYTES + 1);
  load_bytes(&l, text, PC_CONFIG_MAX_BYTES + 1);
  free(text);
  expect_error(&l, 0, NULL,
               "file is 1048577 bytes (1.0 MiB); a config file may be at most "
               "1048576 bytes (1 MiB)");
}

static void test_config_not_regular(void **state) {
  (void)state;
  load_t l;
  snprintf(l.path, sizeof l.path, "/dev/null");
  l.rc = pc_config_load(&l.cfg, l.path, NULL, 0, &l.err);
  expect_error(&l, 0, NULL, "not a regular file");
  /* A FIFO is refused at once instead of waiting for a writer. */
  char dir[] = "/tmp/pc_config_fifo_XXXXXX";
  assert_non_null(mkdtemp(dir));
  snprintf(l.path, sizeof l.path, "%s/cfg.yaml", dir);
  assert_int_equal(mkfifo(l.path, 0600), 0);
  l.rc = pc_config_load(&l.cfg, l.path, NULL, 0, &l.err);
  unlink(l.path);
  rmdir(dir);
  expect_error(&l, 0, NULL, "not a regular file");
}

/* ---- --set --------------------------------------------------------------- */

static void test_set_overrides_file(void **state) {
  (void)state;
  load_t l;
  const char *sets[] = {"cluster.workers=8",  "optimizer.type=sgd", "model.bias=false",
                        "model.layout=dense", "optimizer.lr=0.25",  "training.seed=42",
                        "data.test=",         "cluster.workers=9",  "output.dir=a b/c"};
  load_sets(&l, sets, 9, "cluster: { workers: 2 }\ndata: { train: %s, test: %s }\n", g_train,
            g_test);
  expect_loaded(&l);
  assert_int_equal(l.cfg.cluster.workers, 9); /* the later --set wins */
  assert_int_equal(l.cfg.optimizer.type, PC_OPTIM_SGD);
  assert_int_equal(l.cfg.model.bias, 0);
  assert_int_equal(l.cfg.model.layout, PC_LAYOUT_DENSE);
  assert_true(l.cfg.optimizer.lr == 0.25);
  assert_int_equal(l.cfg.training.seed, 42);
  assert_string_equal(l.cfg.data.test, "");
  assert_string_equal(l.cfg.output.dir, "a b/c");
}

static void expect_set_error(const char *assignment, const char *why) {
  pc_config_t c;
  pc_err_t err;
  char prefix[128];
  pc_config_defaults(&c);
  int before = c.cluster.workers;
  assert_int_equal(pc_config_set(&c, assignment, &err), PC_ECONFIG);
  snprintf(prefix, sizeof prefix, "--set %s: ", assignment);
  if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
    fail_msg("expected message to start with \"%s\": \"%s\"", prefix, err.msg);
  expect_in(err.msg, why);
  assert_int_equal(c.cluster.workers, before); /* untouched on error */
}

static void test_set_errors(void **state) {
  (void)state;
  expect_set_error("cluster.wrkers=8",
                   "unknown field 'cluster.wrkers' (did you mean 'cluster.workers'?)");
  expect_set_error("workers=8", "did you mean 'cluster.workers'?");
  expect_set_error("cluster.workers=abc", "expected an integer, got 'abc'");
  expect_set_error("cluster.workers=0", "must be in [1, 4096], got 0");
  expect_set_error("cluster.workers=", "expected an integer, got ''");
  expect_set_error("cluster.workers", "expected key=value");
  expect_set_error("optimizer.type=adam", "'sgd', 'adagrad'");
  expect_set_error("nonsense.thing=1", "unknown field 'nonsense.thing'");
}

/* --set gives the same hints as the file: the right name in the wrong
 * section, typos in the section, the name or both. */
static void test_set_suggests_like_file(void **state) {
  (void)state;
  expect_set_error("training.lr=0.5", "unknown field 'training.lr' (did you mean 'optimizer.lr'?)");
  expect_set_error("data.lr=0.5", "(did you mean 'optimizer.lr'?)");
  expect_set_error("clustr.workers=8", "(did you mean 'cluster.workers'?)");
  expect_set_error("clustr.wrkers=8", "(did you mean 'cluster.workers'?)");
  expect_set_error("optimizer.lrr=1", "(did you mean 'optimizer.lr'?)");
  expect_set_error("training.lrr=1", "(did you mean 'optimizer.lr'?)");
  expect_set_error("training.type=sgd", "(did you mean 'model.type' or 'optimizer.type'?)");
  expect_set_error("lr=1", "(did you mean 'optimizer.lr'?)");
  pc_config_t c;
  pc_err_t err;
  pc_config_defaults(&c);
  assert_int_equal(pc_config_set(&c, "nonsense.thing=1", &err), PC_ECONFIG);
  assert_string_equal(err.msg, "--set nonsense.thing=1: unknown field 'nonsense.thing'");
}

static void test_file_suggests_across_sections(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "training:\n  epochs: 3\n  lrr: 0.5\n");
  expect_error(&l, 3, "training.lrr", "(did you mean 'optimizer.lr'?)");
  load_yaml(&l, "cluster:\n  type: sgd\n");
  expect_error(&l, 2, "cluster.type", "(did you mean 'model.type' or 'optimizer.type'?)");
}

/* Paths and names on the command line must be UTF-8 like the file, or the
 * dumped configuration would not load back. */
static void test_set_refuses_invalid_utf8(void **state) {
  (void)state;
  expect_set_error("output.dir=caf\xe9",
                   "invalid UTF-8 (byte 0xE9) at byte 14; values must be UTF-8");
  pc_config_t c;
  pc_err_t err;
  pc_config_defaults(&c);
  assert_int_equal(pc_config_set(&c, "output.dir=caf\xc3\xa9", &err), 0);
  assert_string_equal(c.output.dir, "caf\xc3\xa9");
}

static void test_set_error_during_load(void **state) {
  (void)state;
  load_t l;
  const char *sets[] = {"cluster.workers=4", "cluster.workers=abc"};
  load_sets(&l, sets, 2, "data: { train: %s }\n", g_train);
  assert_int_equal(l.rc, PC_ECONFIG);
  assert_string_equal(l.err.msg, "--set cluster.workers=abc: expected an integer, got 'abc'");
}

static void test_check_data_names_set_source(void **state) {
  (void)state;
  load_t l;
  const char *sets[] = {"data.train=/tmp/pc_config_nope"};
  load_sets(&l, sets, 1, "data:\n  train: %s\n", g_train);
  check_data_after_load(&l);
  assert_int_equal(l.rc, PC_ECONFIG);
  if (strncmp(l.err.msg, "--set data.train=/tmp/pc_config_nope: ", 38) != 0)
    fail_msg("message does not name the --set: %s", l.err.msg);
  expect_in(l.err.msg, "No such file or directory");
}

/* An empty training file used to "train" to a NaN loss: refused up front. */
static void test_check_data_refuses_empty(void **state) {
  (void)state;
  char empty[64];
  write_temp(empty, sizeof empty, "pc_config_empty_", "");
  load_t l;
  load_yaml(&l, "data:\n  train: %s\n", empty);
  expect_loaded(&l);
  check_data_after_load(&l);
  expect_error(&l, 2, "data.train", "the file is empty (0 bytes)");
  unlink(empty);
}

/* Values changed in code after loading are still checked, and the message
 * points at where the field was last set. */
static void test_validate_after_edit(void **state) {
  (void)state;
  load_t l;
  pc_err_t err;
  load_yaml(&l, "data: { train: %s }\ncluster:\n  workers: 3\n", g_train);
  expect_loaded(&l);
  l.cfg.cluster.workers = 0;
  l.rc = pc_config_validate(&l.cfg, &l.err);
  expect_error(&l, 3, "cluster.workers", "must be in [1, 4096], got 0");
  l.cfg.cluster.workers = 3;
  l.cfg.optimizer.type = (pc_optim_type_t)7;
  assert_int_equal(pc_config_validate(&l.cfg, &err), PC_ECONFIG);
  expect_in(err.msg, "optimizer.type");
  expect_in(err.msg, "'sgd', 'adagrad'");
  l.cfg.optimizer.type = PC_OPTIM_SGD;
  assert_int_equal(pc_config_set(&l.cfg, "optimizer.lr=2", &err), 0);
  assert_int_equal(pc_config_validate(&l.cfg, &err), 0);
}

/* ---- the fields of the other models (issue 8) ---------------------------- */

static void dump_to_file(const pc_config_t *c, char *path, size_t n);
static char *slurp(const char *path);
static void assert_same_config(const pc_config_t *a, const pc_config_t *b);

static void test_model_fields_load(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "model:\n  type: mlp\n  classes: 10\n  hidden: [256, 128]\n  rank: 20\n"
                "  loss: huber\n  huber_delta: 0.5\n  init_scale: 0\n"
                "data:\n  format: idx\n  labels: /d/train-labels\n  test: /d/t10k\n"
                "  test_labels: /d/t10k-labels\n  label_offset: -1\n  standardize: true\n");
  expect_loaded(&l);
  const pc_config_t *c = &l.cfg;
  assert_int_equal(c->model.type, PC_MODEL_MLP);
  assert_int_equal(c->model.classes, 10);
  assert_int_equal(c->model.nhidden, 2);
  assert_int_equal(c->model.hidden[0], 256);
  assert_int_equal(c->model.hidden[1], 128);
  assert_int_equal(c->model.nconv, 0);
  assert_int_equal(c->model.rank, 20);
  assert_int_equal(c->model.loss, PC_LOSS_HUBER);
  assert_true(c->model.huber_delta == 0.5);
  assert_true(c->model.init_scale == 0.0);
  assert_int_equal(c->data.format, PC_FORMAT_IDX);
  assert_string_equal(c->data.labels, "/d/train-labels");
  assert_string_equal(c->data.test_labels, "/d/t10k-labels");
  assert_int_equal(c->data.label_offset, -1);
  assert_int_equal(c->data.standardize, 1);
  load_yaml(&l, "model: { type: softmax, classes: 10 }\n"
                "data: { format: csv, label: '64', test_fraction: 0.25 }\n");
  expect_loaded(&l);
  assert_int_equal(l.cfg.data.format, PC_FORMAT_CSV);
  assert_string_equal(l.cfg.data.label, "64");
  assert_true(l.cfg.data.test_fraction == 0.25);
  load_yaml(&l, "model: { type: linear, loss: squared }\ndata: { test_rows: 2000 }\n");
  expect_loaded(&l);
  assert_int_equal(l.cfg.model.type, PC_MODEL_LINEAR);
  assert_int_equal(l.cfg.data.test_rows, 2000);
  load_yaml(&l, "model: { type: mf, rank: 1024, init_scale: 10 }\ndata: { format: ratings }\n");
  expect_loaded(&l);
  assert_int_equal(l.cfg.model.type, PC_MODEL_MF);
  assert_int_equal(l.cfg.data.format, PC_FORMAT_RATINGS);
  assert_int_equal(l.cfg.model.rank, 1024);
}

/* Lists in block style, mappings in either style, and the empty list. */
static void test_list_styles(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "model:\n  type: cnn\n  classes: 10\n  hidden:\n    - 128\n    - 64\n"
                "  conv:\n    - filters: 32\n      size: 5\n    - {filters: 64, size: 3}\n");
  expect_loaded(&l);
  assert_int_equal(l.cfg.model.nhidden, 2);
  assert_int_equal(l.cfg.model.hidden[0], 128);
  assert_int_equal(l.cfg.model.hidden[1], 64);
  assert_int_equal(l.cfg.model.nconv, 2);
  assert_int_equal(l.cfg.model.conv[0].filters, 32);
  assert_int_equal(l.cfg.model.conv[0].size, 5);
  assert_int_equal(l.cfg.model.conv[1].filters, 64);
  assert_int_equal(l.cfg.model.conv[1].size, 3);
  load_yaml(&l, "model:\n  type: cnn\n  classes: 2\n  hidden: []\n"
                "  conv: [{size: 15, filters: 1024}, {filters: 1, size: 1}, {filters: 2, size: 2},"
                " {filters: 3, size: 3}]\n");
  expect_loaded(&l);
  assert_int_equal(l.cfg.model.nhidden, 0);
  assert_int_equal(l.cfg.model.nconv, PC_MAX_CONV);
  assert_int_equal(l.cfg.model.conv[0].filters, 1024);
  assert_int_equal(l.cfg.model.conv[0].size, 15);
  assert_int_equal(l.cfg.model.conv[3].filters, 3);
  load_yaml(&l, "model:\n  type: mlp\n  classes: 2\n"
                "  hidden: [1, 2, 3, 4, 5, 6, 7, 65536]\n");
  expect_loaded(&l);
  assert_int_equal(l.cfg.model.nhidden, PC_MAX_HIDDEN);
  assert_int_equal(l.cfg.model.hidden[7], 65536);
}

/* After "model:\n  type: cnn\n  classes: 10\n" (lines 1-3). */
static void test_list_errors_in_file(void **state) {
  (void)state;
  static const struct {
    const char *yaml;
    int line;
    const char *why;
  } cases[] = {
      {"  hidden: 256\n", 4, "model.hidden: expected a list such as [256, 128], got '256'"},
      {"  hidden:\n", 4, "model.hidden: expected a list such as [256, 128], got an empty value"},
      {"  hidden: {a: 1}\n", 4, "model.hidden: expected a list such as [256, 128], got a mapping"},
      {"  hidden: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n", 4, "model.hidden: at most 8 layers, got 9"},
      {"  hidden:\n    - 64\n    - 0\n", 6, "model.hidden[1]: must be in [1, 65536], got 0"},
      {"  hidden: [64, wide]\n", 4, "model.hidden[1]: expected an integer, got 'wide'"},
      {"  hidden: [64, 2.5]\n", 4, "model.hidden[1]: expected an integer, got '2.5'"},
      {"  hidden: [[1]]\n", 4, "model.hidden[0]: expected an integer, got a sequence"},
      {"  hidden: [65537]\n", 4, "model.hidden[0]: must be in [1, 65536], got 65537"},
      {"  hidden: [99999999999999999999]\n", 4,
       "model.hidden[0]: must be in [1, 65536], got 99999999999999999999"},
      {"  hidden: [1]\n  hidden: [2]\n", 5, "model.hidden: duplicate key (first set on line 4)"},
      {"  conv: &c [{filters: 1, size: 1}]\n  hidden: *c\n", 5,
       "model.hidden: expected a list such as [256, 128], got an alias"},
      {"  conv: 32x5\n", 4,
       "model.conv: expected a list such as [{filters: 32, size: 5}], got '32x5'"},
      {"  conv: [32]\n", 4,
       "model.conv[0]: expected a mapping such as {filters: 32, size: 5}, got '32'"},
      {"  conv:\n    - {filters: 32, size: 5}\n    - filters: 64\n      size: 16\n", 7,
       "model.conv[1].size: must be in [1, 15], got 16"},
      {"  conv:\n    - {filters: 32, size: 5}\n    - filters: 64\n      stride: 2\n", 7,
       "model.conv[1]: unknown key 'stride' (an item has filters, size)"},
      {"  conv:\n    - {filters: 32, size: 5}\n    - filters: 64\n", 6,
       "model.conv[1]: missing size (an item is {filters: 32, size: 5})"},
      {"  conv:\n    - size: 5\n", 5, "model.conv[0]: missing filters"},
      {"  conv: [{filters: 0, size: 5}]\n", 4,
       "model.conv[0].filters: must be in [1, 1024], got 0"},
      {"  conv: [{filters: many, size: 5}]\n", 4,
       "model.conv[0].filters: expected an integer, got 'many'"},
      {"  conv: [{filters: [32], size: 5}]\n", 4,
       "model.conv[0].filters: expected an integer, got a sequence"},
      {"  conv: [{filters: 3, size: }]\n", 4, "model.conv[0].size: expected an integer"},
      {"  conv: [{filters: 3, size: 5, size: 3}]\n", 4, "model.conv[0].size: duplicate key"},
      {"  conv: [{filters: 1, size: 1}, {filters: 1, size: 1}, {filters: 1, size: 1},"
       " {filters: 1, size: 1}, {filters: 1, size: 1}]\n",
       4, "model.conv: at most 4 layers, got 5"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    load_t l;
    load_yaml(&l, "model:\n  type: cnn\n  classes: 10\n%s", cases[i].yaml);
    expect_error(&l, cases[i].line, NULL, cases[i].why);
  }
}

static void expect_set_ok(pc_config_t *c, const char *assignment) {
  pc_err_t err;
  if (pc_config_set(c, assignment, &err) != 0)
    fail_msg("--set %s failed: %s", assignment, err.msg);
}

static void test_new_fields_from_set(void **state) {
  (void)state;
  pc_config_t c;
  pc_config_defaults(&c);
  static const char *const sets[] = {
      "model.type=cnn",       "model.classes=10",         "model.hidden=256,128",
      "model.conv=32x5,64x3", "model.rank=8",             "model.loss=huber",
      "model.huber_delta=2",  "model.init_scale=0.01",    "data.format=idx",
      "data.label=y",         "data.labels=/l",           "data.test_labels=/tl",
      "data.label_offset=1",  "data.test_fraction=0.125", "data.test_rows=9",
      "data.standardize=true"};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    expect_set_ok(&c, sets[i]);
  assert_int_equal(c.model.type, PC_MODEL_CNN);
  assert_int_equal(c.model.classes, 10);
  assert_int_equal(c.model.nhidden, 2);
  assert_int_equal(c.model.hidden[0], 256);
  assert_int_equal(c.model.hidden[1], 128);
  assert_int_equal(c.model.nconv, 2);
  assert_int_equal(c.model.conv[1].filters, 64);
  assert_int_equal(c.model.conv[1].size, 3);
  assert_int_equal(c.model.rank, 8);
  assert_int_equal(c.model.loss, PC_LOSS_HUBER);
  assert_true(c.model.huber_delta == 2.0);
  assert_true(c.model.init_scale == 0.01);
  assert_int_equal(c.data.format, PC_FORMAT_IDX);
  assert_string_equal(c.data.label, "y");
  assert_string_equal(c.data.labels, "/l");
  assert_string_equal(c.data.test_labels, "/tl");
  assert_int_equal(c.data.label_offset, 1);
  assert_true(c.data.test_fraction == 0.125);
  assert_int_equal(c.data.test_rows, 9);
  assert_int_equal(c.data.standardize, 1);
  /* Blanks around items are fine; an empty value is the empty list. */
  expect_set_ok(&c, "model.hidden= 64 , 32 ");
  assert_int_equal(c.model.nhidden, 2);
  assert_int_equal(c.model.hidden[1], 32);
  expect_set_ok(&c, "model.hidden=");
  assert_int_equal(c.model.nhidden, 0);
  expect_set_ok(&c, "model.conv=1024x15,1x1,2x2,3x3");
  assert_int_equal(c.model.nconv, 4);
  assert_int_equal(c.model.conv[0].filters, 1024);
  assert_int_equal(c.model.conv[0].size, 15);
  expect_set_ok(&c, "model.conv=");
  assert_int_equal(c.model.nconv, 0);
}

static void test_list_set_errors(void **state) {
  (void)state;
  expect_set_error("model.hidden=256,", "model.hidden[1]: expected an integer, got ''");
  expect_set_error("model.hidden=,", "model.hidden[0]: expected an integer, got ''");
  expect_set_error("model.hidden=1,2,3,4,5,6,7,8,9", "model.hidden: at most 8 layers, got 9");
  expect_set_error("model.hidden=0", "model.hidden[0]: must be in [1, 65536], got 0");
  expect_set_error("model.hidden=[256]", "model.hidden[0]: expected an integer, got '[256]'");
  expect_set_error("model.hidden=64x3", "model.hidden[0]: expected an integer, got '64x3'");
  expect_set_error("model.conv=32", "model.conv[0]: expected FILTERSxSIZE such as 32x5, got '32'");
  expect_set_error("model.conv=32X5", "model.conv[0]: expected FILTERSxSIZE such as 32x5");
  expect_set_error("model.conv=32x5,64x16", "model.conv[1].size: must be in [1, 15], got 16");
  expect_set_error("model.conv=32x5x3", "model.conv[0].size: expected an integer, got '5x3'");
  expect_set_error("model.conv=0x5", "model.conv[0].filters: must be in [1, 1024], got 0");
  expect_set_error("model.conv=32x", "model.conv[0].size: expected an integer, got ''");
  expect_set_error("model.conv=1x1,1x1,1x1,1x1,1x1", "model.conv: at most 4 layers, got 5");
  /* A refused list leaves the one set before. */
  pc_config_t c;
  pc_err_t err;
  pc_config_defaults(&c);
  expect_set_ok(&c, "model.hidden=64,32");
  expect_set_ok(&c, "model.conv=8x3");
  assert_int_equal(pc_config_set(&c, "model.hidden=16,0", &err), PC_ECONFIG);
  assert_int_equal(pc_config_set(&c, "model.conv=8x3,9", &err), PC_ECONFIG);
  assert_int_equal(c.model.nhidden, 2);
  assert_int_equal(c.model.hidden[0], 64);
  assert_int_equal(c.model.hidden[1], 32);
  assert_int_equal(c.model.nconv, 1);
  assert_int_equal(c.model.conv[0].filters, 8);
}

static void test_new_fields_ranges(void **state) {
  (void)state;
  static const struct {
    const char *yaml, *field, *why;
  } cases[] = {
      {"model: { classes: 100001 }\n", "model.classes", "must be in [0, 100000], got 100001"},
      {"model: { classes: -1 }\n", "model.classes", "must be in [0, 100000], got -1"},
      {"model: { rank: 0 }\n", "model.rank", "must be in [1, 1024], got 0"},
      {"model: { rank: 1025 }\n", "model.rank", "must be in [1, 1024], got 1025"},
      {"model: { huber_delta: 0 }\n", "model.huber_delta", "must be in (0, 1e+06], got 0"},
      {"model: { huber_delta: 1e7 }\n", "model.huber_delta", "got 1e7"},
      {"model: { init_scale: 10.5 }\n", "model.init_scale", "must be in [0, 10], got 10.5"},
      {"model: { init_scale: -0.1 }\n", "model.init_scale", "must be in [0, 10], got -0.1"},
      {"model: { loss: abs }\n", "model.loss", "expected one of 'squared', 'huber', got 'abs'"},
      {"model: { type: svm }\n", "model.type",
       "expected one of 'logistic', 'softmax', 'linear', 'mlp', 'cnn', 'mf', got 'svm'"},
      {"data: { format: json }\n", "data.format",
       "expected one of 'libsvm', 'csv', 'idx', 'ratings', 'prepared', got 'json'"},
      {"data: { label_offset: 1000001 }\n", "data.label_offset",
       "must be in [-1000000, 1000000], got 1000001"},
      {"data: { test_fraction: 1 }\n", "data.test_fraction", "must be in [0, 1), got 1"},
      {"data: { test_fraction: -0.5 }\n", "data.test_fraction", "must be in [0, 1), got -0.5"},
      {"data: { test_rows: -1 }\n", "data.test_rows", "got -1"},
      {"data: { standardize: yes }\n", "data.standardize", "expected true or false, got 'yes'"},
      {"data: { label: [1] }\n", "data.label", "expected a single value, got a sequence"},
      {"data: { label: 0123456789012345678901234567890123456789012345678901234567890123 }\n",
       "data.label", "too long (at most 63 bytes)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    load_t l;
    load_yaml(&l, "%s", cases[i].yaml);
    expect_error(&l, 1, cases[i].field, cases[i].why);
  }
  expect_set_error("data.test_fraction=1", "must be in [0, 1), got 1");
  expect_set_error("model.type=svm", "'logistic', 'softmax', 'linear', 'mlp', 'cnn', 'mf'");
  expect_set_error("model.hiden=3", "(did you mean 'model.hidden'?)");
  load_t l;
  load_yaml(&l, "data:\n  test_fractoin: 0.2\n");
  expect_error(&l, 2, "data.test_fractoin", "(did you mean 'test_fraction'?)");
}

/* A yaml that must load, or fail at line with the field and reason. */
static void expect_rule(const char *yaml, int line, const char *field, const char *why) {
  load_t l;
  load_yaml(&l, "%s", yaml);
  if (field == NULL)
    expect_loaded(&l);
  else
    expect_error(&l, line, field, why);
}

static void test_model_rules(void **state) {
  (void)state;
  static const char need[] = "the number of classes (2 or more)";
  expect_rule("model:\n  type: softmax\n", 1, "model.classes",
              "required for model.type softmax: the number of classes (2 or more)");
  expect_rule("model:\n  type: mlp\n  hidden: [8]\n", 1, "model.classes",
              "required for model.type mlp");
  expect_rule("model:\n  type: cnn\n  conv: [{filters: 8, size: 3}]\n", 1, "model.classes",
              "required for model.type cnn");
  expect_rule("data: { test_rows: 3 }\nmodel:\n  type: softmax\n", 2, "model.classes", need);
  expect_rule("model:\n  type: mlp\n  classes: 1\n", 3, "model.classes",
              "model.type mlp needs 2 or more classes, got 1");
  expect_rule("model:\n  type: softmax\n  classes: 2\n", 0, NULL, NULL);
  expect_rule("model:\n  type: mlp\n  classes: 10\n", 0, NULL, NULL); /* no hidden layer */
  expect_rule("model:\n  hidden: [8]\n", 2, "model.hidden",
              "only model.type mlp and cnn have hidden layers, not logistic; remove it");
  expect_rule("model:\n  type: softmax\n  classes: 3\n  hidden: [8]\n", 4, "model.hidden",
              "not softmax");
  expect_rule("model:\n  type: mlp\n  classes: 3\n  conv: [{filters: 8, size: 3}]\n", 4,
              "model.conv", "only model.type cnn has convolution layers, not mlp; remove it");
  expect_rule("model:\n  type: cnn\n  classes: 3\n  hidden: [8]\n", 1, "model.conv",
              "required for model.type cnn: at least one convolution layer, such as "
              "[{filters: 32, size: 5}]");
  expect_rule("model:\n  type: cnn\n  classes: 3\n  conv: [{filters: 8, size: 3}]\n", 0, NULL,
              NULL);
  expect_rule("model:\n  type: linear\n  loss: huber\n", 0, NULL, NULL);
}

static void test_format_rules(void **state) {
  (void)state;
  /* A default data.format: the message points at model.type. */
  expect_rule("model:\n  type: mf\n", 2, "model.type",
              "model.type mf trains on ratings: needs data.format ratings (or prepared ratings), got libsvm");
  expect_rule("data:\n  format: csv\n  label: y\nmodel: { type: mf }\n", 2, "data.format",
              "needs data.format ratings (or prepared ratings), got csv");
  expect_rule("data:\n  format: ratings\n", 2, "data.format",
              "ratings are only for model.type mf (model.type is logistic)");
  expect_rule("model: { type: linear }\ndata:\n  format: ratings\n", 3, "data.format",
              "(model.type is linear)");
  expect_rule("model: { type: mf }\ndata:\n  format: ratings\n", 0, NULL, NULL);
  expect_rule("data:\n  format: csv\n", 1, "data.label",
              "required for data.format csv: the label column, a header name or a 0-based "
              "column number");
  expect_rule("data:\n  format: csv\n  label: price\n", 0, NULL, NULL);
  expect_rule("data:\n  label: price\n", 2, "data.label",
              "only data.format csv reads it, not libsvm; remove it");
  expect_rule("data:\n  format: idx\n", 1, "data.labels",
              "required for data.format idx: the labels file of data.train");
  expect_rule("data:\n  format: idx\n  labels: l\n  test: t\n", 1, "data.test_labels",
              "required for data.format idx when data.test is set: the labels file of data.test");
  expect_rule("data:\n  format: idx\n  labels: l\n  test_labels: tl\n", 4, "data.test_labels",
              "set but data.test is not; set data.test or remove it");
  expect_rule("data:\n  format: idx\n  labels: l\n  test: t\n  test_labels: tl\n", 0, NULL, NULL);
  expect_rule("data:\n  format: idx\n  labels: l\n  test_rows: 100\n", 0, NULL, NULL);
  expect_rule("data:\n  format: csv\n  label: '0'\n  labels: l\n", 4, "data.labels",
              "only data.format idx reads it, not csv; remove it");
  expect_rule("data:\n  test: t\n  test_labels: tl\n", 3, "data.test_labels",
              "only data.format idx reads it, not libsvm");
  expect_rule("data:\n  standardize: true\n", 2, "data.standardize",
              "only for dense data (data.format csv or idx), not libsvm");
  expect_rule("model: { type: mf }\ndata: { format: ratings, standardize: true }\n", 2,
              "data.standardize", "not ratings");
  expect_rule("data: { format: csv, label: y, standardize: true }\n", 0, NULL, NULL);
  expect_rule("data: { format: idx, labels: l, standardize: true }\n", 0, NULL, NULL);
}

static void test_holdout_rules(void **state) {
  (void)state;
  expect_rule("data:\n  test_fraction: 0.2\n  test_rows: 100\n", 3, "data.test_rows",
              "data.test_fraction is set too (0.2); hold out one way: drop one of them");
  expect_rule("data:\n  test: t\n  test_fraction: 0.2\n", 3, "data.test_fraction",
              "data.test is set too, and the hold-out would replace it; drop data.test_fraction "
              "or data.test");
  expect_rule("data:\n  test_rows: 5\n  test: t\n", 2, "data.test_rows",
              "drop data.test_rows or data.test");
  expect_rule("data:\n  test_fraction: 0.2\n", 0, NULL, NULL);
  expect_rule("data:\n  test_rows: 5\n", 0, NULL, NULL);
  expect_rule("data:\n  test_fraction: 0\n  test_rows: 0\n  test: t\n", 0, NULL, NULL);
}

static void test_check_data_label_files(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "data:\n  format: idx\n  train: %s\n  labels: /tmp/pc_config_no_labels\n",
            g_train);
  check_data_after_load(&l);
  expect_error(&l, 4, "data.labels", "'/tmp/pc_config_no_labels': cannot open: No such file");
  load_yaml(&l, "data:\n  format: idx\n  train: %s\n  labels: %s\n  test: %s\n"
                "  test_labels: /tmp\n",
            g_train, g_train, g_test);
  check_data_after_load(&l);
  expect_error(&l, 6, "data.test_labels", "not a regular file");
  load_yaml(&l, "data:\n  format: idx\n  train: %s\n  labels: %s\n  test: %s\n  test_labels: %s\n",
            g_train, g_train, g_test, g_test);
  check_data_after_load(&l);
  expect_loaded(&l);
  /* A hold-out has no data.test to check. */
  load_yaml(&l, "data:\n  format: idx\n  train: %s\n  labels: %s\n  test_fraction: 0.1\n", g_train,
            g_train);
  check_data_after_load(&l);
  expect_loaded(&l);
}

/* Lists edited in code after loading: the message names the item once. */
static void test_validate_list_after_edit(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "model:\n  type: mlp\n  classes: 3\n  hidden: [64, 32]\n");
  expect_loaded(&l);
  l.cfg.model.hidden[1] = 0;
  l.rc = pc_config_validate(&l.cfg, &l.err);
  expect_error(&l, 4, NULL, "model.hidden[1]: must be in [1, 65536], got 0");
  assert_null(strstr(l.err.msg, "model.hidden: model.hidden"));
  l.cfg.model.hidden[1] = 32;
  l.cfg.model.nhidden = PC_MAX_HIDDEN + 1;
  l.rc = pc_config_validate(&l.cfg, &l.err);
  expect_error(&l, 4, NULL, "model.hidden: 9 items, expected 0 to 8");
  /* Named by its --set, which shows no more items than the array holds. */
  pc_config_t c;
  pc_err_t err;
  pc_config_defaults(&c);
  expect_set_ok(&c, "model.type=cnn");
  expect_set_ok(&c, "model.classes=3");
  expect_set_ok(&c, "model.conv=8x3");
  c.model.nconv = 1000;
  assert_int_equal(pc_config_validate(&c, &err), PC_ECONFIG);
  assert_string_equal(err.msg, "--set model.conv=8x3,0x0,0x0,0x0: model.conv: 1000 items, "
                               "expected 0 to 4");
  c.model.nconv = 1;
  c.model.conv[0].size = 16;
  assert_int_equal(pc_config_validate(&c, &err), PC_ECONFIG);
  assert_string_equal(err.msg, "--set model.conv=8x16: model.conv[0].size: must be in [1, 15], "
                               "got 16");
  /* A default, without a file: the reason alone. */
  pc_config_defaults(&c);
  c.model.nhidden = -1;
  assert_int_equal(pc_config_validate(&c, &err), PC_ECONFIG);
  assert_string_equal(err.msg, "model.hidden: -1 items, expected 0 to 8");
}

/* The longest lists still fit pc_setting_t.value whole. */
static void test_shared_longest_lists(void **state) {
  (void)state;
  pc_config_t c;
  pc_setting_t s[PC_CONFIG_MAX_SHARED];
  char want[128];
  pc_config_defaults(&c);
  expect_set_ok(&c, "model.hidden=65536,65536,65536,65536,65536,65536,65536,65536");
  expect_set_ok(&c, "model.conv=1024x15,1024x15,1024x15,1024x15");
  expect_set_ok(&c, "data.label=012345678901234567890123456789012345678901234567890123456789012");
  size_t n = pc_config_shared(&c, s, PC_CONFIG_MAX_SHARED);
  assert_true(n <= PC_CONFIG_MAX_SHARED);
  snprintf(want, sizeof want, "%s", "65536,65536,65536,65536,65536,65536,65536,65536");
  assert_string_equal(s[5].name, "model.hidden");
  assert_string_equal(s[5].value, want);
  assert_string_equal(s[6].name, "model.conv");
  assert_string_equal(s[6].value, "1024x15,1024x15,1024x15,1024x15");
  assert_string_equal(s[31].name, "data.label");
  assert_int_equal(strlen(s[31].value), 63);
}

/* Validation and early stopping: the fields load, and the rules between
 * them and data.valid name the field. */
static void test_validation_fields(void **state) {
  (void)state;
  pc_config_t c;
  pc_err_t err = {0};
  pc_config_defaults(&c);
  assert_int_equal(c.training.eval_every, 1);
  assert_int_equal(c.training.eval_steps, 0);
  assert_int_equal(c.training.early_stop, PC_STOP_NONE);
  assert_int_equal(c.training.patience, 3);
  expect_set_ok(&c, "data.valid=v.svm");
  expect_set_ok(&c, "training.early_stop=logloss");
  expect_set_ok(&c, "training.patience=5");
  expect_set_ok(&c, "training.eval_every=2");
  assert_int_equal(c.training.early_stop, PC_STOP_LOGLOSS);
  assert_int_equal(pc_config_validate(&c, &err), PC_OK);
  assert_string_equal(pc_config_stop_metric_name(PC_STOP_RMSE), "rmse");
  expect_set_ok(&c, "data.valid=");
  assert_int_equal(pc_config_validate(&c, &err), PC_ECONFIG);
  assert_non_null(strstr(err.msg, "training.early_stop=logloss: needs a validation set to watch"));
  assert_int_not_equal(pc_config_set(&c, "training.early_stop=f1", &err), PC_OK);
  assert_non_null(strstr(err.msg, "training.early_stop"));
  /* data.valid_fraction: a validation set too, but from one place only. */
  expect_set_ok(&c, "data.valid_fraction=0.1");
  assert_int_equal(pc_config_validate(&c, &err), PC_OK);
  assert_true(pc_config_validating(&c));
  expect_set_ok(&c, "data.valid=v.svm");
  assert_int_equal(pc_config_validate(&c, &err), PC_ECONFIG);
  assert_non_null(strstr(err.msg, "data.valid_fraction=0.1: data.valid is set too"));
  expect_set_ok(&c, "data.valid=");
  expect_set_ok(&c, "data.test_fraction=0.9");
  assert_int_equal(pc_config_validate(&c, &err), PC_ECONFIG);
  assert_non_null(strstr(err.msg, "data.valid_fraction=0.1: with data.test_fraction 0.9, leaves "
                                  "no training row"));
  assert_int_not_equal(pc_config_set(&c, "data.valid_fraction=1", &err), PC_OK);
  pc_config_defaults(&c);
  assert_false(pc_config_validating(&c));
  /* training.eval_steps: mid-epoch evaluations need a validation set too. */
  expect_set_ok(&c, "training.eval_steps=20");
  assert_int_equal(c.training.eval_steps, 20);
  assert_int_equal(pc_config_validate(&c, &err), PC_ECONFIG);
  assert_non_null(strstr(err.msg, "training.eval_steps=20: needs a validation set to evaluate "
                                  "on: set data.valid or data.valid_fraction"));
  expect_set_ok(&c, "data.valid_fraction=0.1");
  assert_int_equal(pc_config_validate(&c, &err), PC_OK);
  expect_set_ok(&c, "training.eval_steps=0");
  expect_set_ok(&c, "data.valid_fraction=0");
  assert_int_equal(pc_config_validate(&c, &err), PC_OK);
  pc_config_defaults(&c);
  expect_set_ok(&c, "data.valid_labels=l.idx");
  assert_int_equal(pc_config_validate(&c, &err), PC_ECONFIG);
  assert_non_null(strstr(err.msg, "data.valid_labels"));
}

/* early_stop also takes the mapping the docs write: {metric, patience}. */
static void test_early_stop_mapping(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "data:\n  train: %s\n  valid: %s\ntraining:\n"
                "  early_stop: {metric: auc, patience: 7}\n",
            g_train, g_test);
  expect_loaded(&l);
  assert_int_equal(l.cfg.training.early_stop, PC_STOP_AUC);
  assert_int_equal(l.cfg.training.patience, 7);
  load_yaml(&l, "data:\n  valid: %s\ntraining:\n  early_stop:\n    metric: logloss\n", g_test);
  expect_loaded(&l);
  assert_int_equal(l.cfg.training.early_stop, PC_STOP_LOGLOSS);
  assert_int_equal(l.cfg.training.patience, 3);
  load_yaml(&l, "training:\n  early_stop: {metric: f1}\n");
  expect_error(&l, 2, "training.early_stop", "f1");
  load_yaml(&l, "training:\n  early_stop: {metric: auc, wait: 3}\n");
  expect_error(&l, 2, "training.early_stop", "unknown key 'wait' (expected metric and patience)");
  load_yaml(&l, "training:\n  patience: 2\n  early_stop: {metric: auc, patience: 3}\n");
  expect_error(&l, 3, "training.patience", "duplicate key (first set on line 2)");
  load_yaml(&l, "training:\n  early_stop: {metric: [auc]}\n");
  expect_error(&l, 2, "training.early_stop", "expected a single value, got a sequence");
  load_yaml(&l, "cluster:\n  workers: {n: 2}\n");
  expect_error(&l, 2, "cluster.workers", "expected a single value, got a mapping");
}

static void test_dump_round_trip_models(void **state) {
  (void)state;
  static const char *const yaml[] = {
      "model:\n  type: cnn\n  classes: 10\n  hidden: [128]\n"
      "  conv:\n    - {filters: 32, size: 5}\n    - {filters: 1024, size: 15}\n"
      "  rank: 3\n  init_scale: 0.123456789\n"
      "data:\n  format: idx\n  labels: 'a b/l'\n  test: t\n  test_labels: \"x#y\"\n"
      "  label_offset: -7\n  standardize: true\n",
      "model: { type: mlp, classes: 100000, hidden: [1, 2, 3, 4, 5, 6, 7, 8] }\n"
      "data: { format: csv, label: 'my \"label\": #1', test_fraction: 0.3 }\n",
      "model: { type: linear, loss: huber, huber_delta: 1e6 }\n"
      "data: { test_rows: 18446744073709551615 }\n",
  };
  for (size_t i = 0; i < sizeof yaml / sizeof yaml[0]; i++) {
    load_t l;
    load_yaml(&l, "%s", yaml[i]);
    expect_loaded(&l);
    char dump1[64], dump2[64];
    dump_to_file(&l.cfg, dump1, sizeof dump1);
    pc_config_t back;
    pc_err_t err;
    if (pc_config_load(&back, dump1, NULL, 0, &err) != 0)
      fail_msg("dump %zu did not load back: %s", i, err.msg);
    assert_same_config(&l.cfg, &back);
    dump_to_file(&back, dump2, sizeof dump2);
    char *t1 = slurp(dump1), *t2 = slurp(dump2);
    assert_string_equal(t1, t2);
    if (i == 0) {
      expect_in(t1, "  hidden: [128] ");
      expect_in(t1, "  conv: [{filters: 32, size: 5}, {filters: 1024, size: 15}] ");
    }
    free(t1);
    free(t2);
    unlink(dump1);
    unlink(dump2);
  }
}

/* ---- checks for processes that join or bind ------------------------------ */

/* cluster.scheduler set by --set; why NULL: accepted. */
static void expect_join(const char *sched, const char *why) {
  pc_config_t c;
  pc_err_t err;
  char set[300], prefix[320];
  pc_config_defaults(&c);
  snprintf(set, sizeof set, "cluster.scheduler=%s", sched);
  assert_int_equal(pc_config_set(&c, set, &err), 0);
  int rc = pc_config_check_join(&c, &err);
  if (why == NULL) {
    if (rc != 0)
      fail_msg("%s refused: %s", sched, err.msg);
    return;
  }
  assert_int_equal(rc, PC_ECONFIG);
  snprintf(prefix, sizeof prefix, "--set %s: ", set);
  if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
    fail_msg("expected message to start with \"%s\": \"%s\"", prefix, err.msg);
  expect_in(err.msg, why);
}

static void test_check_join(void **state) {
  (void)state;
  expect_join("tcp://127.0.0.1:0",
              "'tcp://127.0.0.1:0': port 0 picks a free port and only works for `parasol launch` "
              "and the scheduler itself; give the port the scheduler listens on (it logs "
              "'listening on tcp://HOST:PORT')");
  expect_join("tcp://10.1.2.3:*", "'tcp://10.1.2.3:*': port * picks a free port");
  expect_join("tcp://10.1.2.3", "'tcp://10.1.2.3' has no port; give the port the scheduler");
  expect_join("tcp://10.1.2.3:", "has no port");
  expect_join("tcp://[::1]", "has no port");
  expect_join("tcp://10.1.2.3:65536", "the port must be in [1, 65535], got '65536'");
  expect_join("tcp://10.1.2.3:7k", "got '7k'");
  expect_join("tcp://*:7000", "'*' can be bound but not dialled");
  expect_join("tcp://:7000", "no host");
  expect_join("udp://10.1.2.3:7000", "must be tcp://HOST:PORT or ipc://PATH");
  expect_join("tcp://127.0.0.1:7000", NULL);
  expect_join("tcp://sched.example.com:65535", NULL);
  expect_join("tcp://[::1]:7000", NULL);
  expect_join("ipc:///tmp/parasol.sock", NULL);
}

/* The default endpoint, written in the file or left to the default. */
static void test_check_join_names_origin(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "cluster:\n  workers: 2\n  scheduler: tcp://127.0.0.1:0\n");
  expect_loaded(&l);
  l.rc = pc_config_check_join(&l.cfg, &l.err);
  expect_error(&l, 3, "cluster.scheduler: 'tcp://127.0.0.1:0': port 0 picks", NULL);
  pc_config_t c;
  pc_config_defaults(&c);
  assert_int_equal(pc_config_check_join(&c, &l.err), PC_ECONFIG);
  expect_in(l.err.msg, "cluster.scheduler: 'tcp://127.0.0.1:0': port 0");
  assert_int_equal(pc_config_check_join(NULL, &l.err), PC_EINVAL);
}

/* The first network interface of this host ("lo" on Linux). */
static void first_interface(char *name, size_t n) {
  struct if_nameindex *ifs = if_nameindex();
  assert_non_null(ifs);
  assert_true(ifs[0].if_index != 0);
  snprintf(name, n, "%s", ifs[0].if_name);
  if_freenameindex(ifs);
}

/* bind and advertise set by --set (advertise NULL: left empty). */
static int check_bind(const char *bind, const char *adv, pc_err_t *err) {
  pc_config_t c;
  char set[128];
  pc_config_defaults(&c);
  snprintf(set, sizeof set, "cluster.bind=%s", bind);
  assert_int_equal(pc_config_set(&c, set, err), 0);
  snprintf(set, sizeof set, "cluster.advertise=%s", adv ? adv : "");
  assert_int_equal(pc_config_set(&c, set, err), 0);
  return pc_config_check_bind(&c, err);
}

static void expect_bind_ok(const char *bind, const char *adv) {
  pc_err_t err;
  if (check_bind(bind, adv, &err) != 0)
    fail_msg("bind '%s' advertise '%s' refused: %s", bind, adv ? adv : "", err.msg);
}

static void expect_bind_error(const char *bind, const char *adv, const char *start,
                              const char *why) {
  pc_err_t err;
  assert_int_equal(check_bind(bind, adv, &err), PC_ECONFIG);
  if (strncmp(err.msg, start, strlen(start)) != 0)
    fail_msg("expected message to start with \"%s\": \"%s\"", start, err.msg);
  expect_in(err.msg, why);
}

static void test_check_bind_accepts(void **state) {
  (void)state;
  char ifname[IF_NAMESIZE];
  first_interface(ifname, sizeof ifname);
  pc_config_t c;
  pc_err_t err;
  pc_config_defaults(&c);
  assert_int_equal(pc_config_check_bind(&c, &err), 0);
  expect_bind_ok("127.0.0.1", NULL);
  expect_bind_ok("*", "node-1.example.com");
  expect_bind_ok("*", "my_host");
  expect_bind_ok("0.0.0.0", "10.0.0.5");
  expect_bind_ok(ifname, "10.0.0.5");
}

static void test_check_bind_refuses(void **state) {
  (void)state;
  char ifname[IF_NAMESIZE], why[64];
  first_interface(ifname, sizeof ifname);
  snprintf(why, sizeof why, "this host (%s", ifname);
  expect_bind_error("yes", NULL, "--set cluster.bind=yes: ",
                    "'yes' is not '*' (every interface), a numeric IPv4 address or a "
                    "network interface of this host (");
  expect_bind_error("yes", NULL, "--set cluster.bind=yes: ", why);
  expect_bind_error("", "10.0.0.5", "--set cluster.bind=: ", "'' is not '*'");
  expect_bind_error("localhost", "10.0.0.5", "--set cluster.bind=localhost: ", "is not '*'");
  expect_bind_error("127.0.0.1:5000", NULL, "--set cluster.bind=127.0.0.1:5000: ", "is not '*'");
  expect_bind_error("*", NULL, "--set cluster.bind=*: ",
                    "'*' is every interface, which peers cannot dial; set cluster.advertise");
  expect_bind_error("0.0.0.0", NULL, "--set cluster.bind=0.0.0.0: ", "every interface");
  expect_bind_error(ifname, NULL, "--set cluster.bind=", "is an interface name, which peers");
  expect_bind_error(
      "*", "*", "--set cluster.advertise=*: ", "'*' means every interface and cannot be dialled");
  expect_bind_error("*", "0.0.0.0", "--set cluster.advertise=0.0.0.0: ", "cannot be dialled");
  expect_bind_error("::1", NULL, "--set cluster.bind=::1: ", "is an IPv6 address; servers listen on IPv4 only");
  expect_bind_error("*", "fe80::1", "--set cluster.advertise=fe80::1: ", "is an IPv6 address");
  expect_bind_error("*", "host:7000", "--set cluster.advertise=host:7000: ",
                    "'host:7000' is not a host name or a numeric IPv4 address; give the "
                    "host name or numeric address peers reach this host by (no port: that is "
                    "cluster.server_port)");
  static const char *const bad_names[] = {"-bad.example", "bad-.example", "a..b", "999.1.1.1",
                                          "tcp://x",      "a b",          "x."};
  for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
    expect_bind_error("*", bad_names[i], "--set cluster.advertise=", "is not a host name");
}

static void test_check_bind_names_file_line(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "cluster:\n  workers: 2\n  bind: yes\n");
  expect_loaded(&l);
  l.rc = pc_config_check_bind(&l.cfg, &l.err);
  expect_error(&l, 3, "cluster.bind: 'yes' is not '*'", NULL);
  assert_int_equal(pc_config_check_bind(NULL, &l.err), PC_EINVAL);
}

/* ---- settings the whole cluster shares ----------------------------------- */

static const char *const shared_names[] = {
    "model.type",         "model.features",     "model.layout",       "model.bias",
    "model.classes",      "model.hidden",       "model.conv",         "model.rank",
    "model.loss",         "model.huber_delta",  "model.init_scale",   "optimizer.type",
    "optimizer.lr",       "optimizer.l2",       "optimizer.eps",      "optimizer.init_accum",
    "optimizer.schedule", "optimizer.warmup",   "optimizer.step_every", "optimizer.step_factor",
    "optimizer.cosine_steps", "optimizer.min_lr_fraction",
    "training.epochs",    "training.batch",     "training.seed",      "training.prefetch",
    "training.eval_every", "training.eval_steps", "training.early_stop", "training.patience",
    "data.format",
    "data.label",         "data.label_offset",  "data.test_fraction", "data.test_rows",
    "data.valid_fraction", "data.standardize",   "data.on_error",      "data.max_bad_lines"};
#define NSHARED (sizeof shared_names / sizeof shared_names[0])

static void test_shared_settings_list(void **state) {
  (void)state;
  pc_config_t c;
  pc_setting_t out[PC_CONFIG_MAX_SHARED];
  pc_config_defaults(&c);
  size_t n = pc_config_shared(&c, out, PC_CONFIG_MAX_SHARED);
  assert_int_equal(n, NSHARED);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(out[i].name, shared_names[i]);
  assert_string_equal(out[1].value, "124");
  assert_string_equal(out[3].value, "true");
  assert_string_equal(out[4].value, "0");
  assert_string_equal(out[5].value, ""); /* model.hidden: no layers */
  assert_string_equal(out[6].value, "");
  assert_string_equal(out[7].value, "16");
  assert_string_equal(out[8].value, "squared");
  assert_string_equal(out[11].value, "adagrad");
  assert_string_equal(out[12].value, "0.1");
  assert_string_equal(out[14].value, "1e-08");
  assert_string_equal(out[16].value, "constant");
  assert_string_equal(out[17].value, "0");
  assert_string_equal(out[19].value, "0.1");
  assert_string_equal(out[26].value, "1");    /* training.eval_every */
  assert_string_equal(out[27].value, "0");    /* training.eval_steps */
  assert_string_equal(out[28].value, "none"); /* training.early_stop */
  assert_string_equal(out[30].value, "libsvm");
  assert_string_equal(out[31].value, "");
  assert_string_equal(out[35].value, "0");     /* data.valid_fraction */
  assert_string_equal(out[36].value, "false");
  assert_string_equal(out[38].value, "1000");
  /* Like snprintf: the count whatever cap is, only cap entries written. */
  assert_int_equal(pc_config_shared(&c, NULL, 0), NSHARED);
  memset(out, 0x5a, sizeof out);
  assert_int_equal(pc_config_shared(&c, out, 2), NSHARED);
  assert_string_equal(out[1].name, "model.features");
  assert_int_equal((unsigned char)out[2].name[0], 0x5a);
}

static bool same_settings(const pc_setting_t *a, const pc_setting_t *b, size_t n, size_t *diff) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(a[i].name, b[i].name) != 0 || strcmp(a[i].value, b[i].value) != 0) {
      *diff = i;
      return false;
    }
  }
  return true;
}

static void test_shared_settings_compare(void **state) {
  (void)state;
  pc_config_t a, b;
  pc_err_t err;
  pc_setting_t sa[PC_CONFIG_MAX_SHARED], sb[PC_CONFIG_MAX_SHARED];
  size_t diff = 0;
  pc_config_defaults(&a);
  pc_config_defaults(&b);
  /* Addresses, counts, timeouts, paths and output may differ per node. */
  static const char *const local[] = {"cluster.scheduler=tcp://10.0.0.1:7000",
                                      "cluster.workers=9",
                                      "cluster.servers=3",
                                      "cluster.bind=*",
                                      "cluster.advertise=n1",
                                      "cluster.server_port=7001",
                                      "cluster.register_timeout=5",
                                      "cluster.heartbeat=2",
                                      "cluster.node_timeout=20",
                                      "cluster.vnodes=16",
                                      "training.log_every=0",
                                      "data.train=/x",
                                      "data.test=/y",
                                      "data.labels=/x.labels",
                                      "data.test_labels=/y.labels",
                                      "output.dir=elsewhere",
                                      "optimizer.lr=0.10"}; /* the same number, written otherwise */
  for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
    assert_int_equal(pc_config_set(&b, local[i], &err), 0);
  size_t n = pc_config_shared(&a, sa, PC_CONFIG_MAX_SHARED);
  assert_int_equal(pc_config_shared(&b, sb, PC_CONFIG_MAX_SHARED), n);
  assert_true(same_settings(sa, sb, n, &diff));
  assert_int_equal(pc_config_set(&b, "optimizer.lr=0.5", &err), 0);
  pc_config_shared(&b, sb, PC_CONFIG_MAX_SHARED);
  assert_false(same_settings(sa, sb, n, &diff));
  assert_string_equal(sb[diff].name, "optimizer.lr");
  assert_string_equal(sa[diff].value, "0.1");
  assert_string_equal(sb[diff].value, "0.5");
  assert_true(same_settings(sa + diff + 1, sb + diff + 1, n - diff - 1, &diff));
}


/* Strings and lists: the dump writes YAML, the shared value is the text. */
static const struct {
  const char *name, *value, *dumped;
} text_forms[] = {
    {"model.hidden", "256,128", "[256, 128]"},
    {"model.conv", "32x5,64x3", "[{filters: 32, size: 5}, {filters: 64, size: 3}]"},
    {"data.label", "my label: #1", "\"my label: #1\""},
};

/* Each value is the text pc_config_dump writes for the field (strings
 * and lists: the same value in YAML). */
static void test_shared_values_match_dump(void **state) {
  (void)state;
  pc_config_t c;
  pc_err_t err;
  static const char *const sets[] = {"optimizer.lr=0.3",
                                     "optimizer.eps=1e-300",
                                     "optimizer.l2=0.1234567890123456789",
                                     "optimizer.schedule=cosine",
                                     "optimizer.warmup=100",
                                     "optimizer.cosine_steps=1099511627776",
                                     "optimizer.step_factor=0.5",
                                     "optimizer.min_lr_fraction=0.01",
                                     "model.bias=false",
                                     "training.seed=18446744073709551615",
                                     "data.on_error=skip",
                                     "model.layout=dense",
                                     "model.features=1099511627776",
                                     "model.type=cnn",
                                     "model.classes=10",
                                     "model.hidden=256, 128",
                                     "model.conv=32x5,64x3",
                                     "model.loss=huber",
                                     "model.huber_delta=0.75",
                                     "model.init_scale=0.25",
                                     "model.rank=20",
                                     "data.format=csv",
                                     "data.label=my label: #1",
                                     "data.label_offset=-1",
                                     "data.test_fraction=0.2",
                                     "data.test_rows=7",
                                     "data.standardize=true"};
  pc_config_defaults(&c);
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    assert_int_equal(pc_config_set(&c, sets[i], &err), 0);
  char path[64], want[256], section[32];
  dump_to_file(&c, path, sizeof path);
  char *text = slurp(path);
  unlink(path);
  pc_setting_t s[PC_CONFIG_MAX_SHARED];
  size_t n = pc_config_shared(&c, s, PC_CONFIG_MAX_SHARED);
  assert_int_equal(n, NSHARED);
  for (size_t i = 0; i < n; i++) {
    const char *dot = strchr(s[i].name, '.');
    assert_non_null(dot);
    snprintf(section, sizeof section, "\n%.*s:\n", (int)(dot - s[i].name), s[i].name);
    snprintf(want, sizeof want, "  %s: %s ", dot + 1, s[i].value);
    for (size_t t = 0; t < sizeof text_forms / sizeof text_forms[0]; t++) {
      if (strcmp(s[i].name, text_forms[t].name) == 0) {
        assert_string_equal(s[i].value, text_forms[t].value);
        snprintf(want, sizeof want, "  %s: %s ", dot + 1, text_forms[t].dumped);
      }
    }
    const char *sec = strstr(text, section);
    assert_non_null(sec);
    if (strstr(sec, want) == NULL)
      fail_msg("dump lacks \"%s\" after \"%s\"", want, section + 1);
  }
  free(text);
}

/* ---- dump ---------------------------------------------------------------- */

static void dump_to_file(const pc_config_t *c, char *path, size_t n) {
  snprintf(path, n, "/tmp/pc_config_dump_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  assert_non_null(f);
  pc_config_dump(c, f);
  assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char *buf = calloc(1, 16384);
  assert_non_null(buf);
  fread(buf, 1, 16383, f);
  fclose(f);
  return buf;
}

static void assert_same_config(const pc_config_t *a, const pc_config_t *b) {
  assert_string_equal(a->cluster.scheduler, b->cluster.scheduler);
  assert_string_equal(a->cluster.bind, b->cluster.bind);
  assert_string_equal(a->cluster.advertise, b->cluster.advertise);
  assert_true(a->cluster.servers == b->cluster.servers && a->cluster.workers == b->cluster.workers);
  assert_true(a->cluster.server_port == b->cluster.server_port &&
              a->cluster.vnodes == b->cluster.vnodes);
  assert_true(a->cluster.register_timeout == b->cluster.register_timeout);
  assert_true(a->cluster.heartbeat == b->cluster.heartbeat);
  assert_true(a->cluster.node_timeout == b->cluster.node_timeout);
  assert_true(a->model.type == b->model.type && a->model.features == b->model.features);
  assert_true(a->model.layout == b->model.layout && a->model.bias == b->model.bias);
  assert_true(a->model.classes == b->model.classes && a->model.rank == b->model.rank);
  assert_int_equal(a->model.nhidden, b->model.nhidden);
  assert_memory_equal(a->model.hidden, b->model.hidden, sizeof a->model.hidden);
  assert_int_equal(a->model.nconv, b->model.nconv);
  assert_memory_equal(a->model.conv, b->model.conv, sizeof a->model.conv);
  assert_true(a->model.loss == b->model.loss && a->model.huber_delta == b->model.huber_delta);
  assert_true(a->model.init_scale == b->model.init_scale);
  assert_true(a->optimizer.type == b->optimizer.type && a->optimizer.lr == b->optimizer.lr);
  assert_true(a->optimizer.l2 == b->optimizer.l2 && a->optimizer.eps == b->optimizer.eps);
  assert_true(a->optimizer.init_accum == b->optimizer.init_accum);
  assert_true(a->training.epochs == b->training.epochs && a->training.batch == b->training.batch);
  assert_true(a->training.inflight == b->training.inflight && a->training.seed == b->training.seed);
  assert_true(a->training.log_every == b->training.log_every);
  assert_string_equal(a->data.train, b->data.train);
  assert_string_equal(a->data.test, b->data.test);
  assert_true(a->data.format == b->data.format && a->data.on_error == b->data.on_error);
  assert_true(a->data.max_bad_lines == b->data.max_bad_lines);
  assert_string_equal(a->data.label, b->data.label);
  assert_string_equal(a->data.labels, b->data.labels);
  assert_string_equal(a->data.test_labels, b->data.test_labels);
  assert_true(a->data.label_offset == b->data.label_offset);
  assert_true(a->data.test_fraction == b->data.test_fraction);
  assert_true(a->data.test_rows == b->data.test_rows);
  assert_true(a->data.standardize == b->data.standardize);
  assert_string_equal(a->output.dir, b->output.dir);
}

static void test_dump_round_trip(void **state) {
  (void)state;
  load_t l;
  const char *sets[] = {"cluster.advertise=we\"ird\\ #host: \tx",
                        "output.dir=runs/it's #1: ok",
                        "optimizer.l2=0.1234567890123456789",
                        "optimizer.lr=0.3",
                        "optimizer.eps=1e-300",
                        "training.seed=18446744073709551615",
                        "training.log_every=3600",
                        "model.bias=false",
                        "data.on_error=skip"};
  load_sets(&l, sets, 9,
            "cluster: { workers: 4096, servers: 1024, server_port: 65535, heartbeat: 0.1 }\n"
            "model: { layout: dense, features: 7 }\n"
            "data: { train: %s, test: %s, max_bad_lines: 5 }\n",
            g_train, g_test);
  expect_loaded(&l);
  char dump1[64], dump2[64];
  dump_to_file(&l.cfg, dump1, sizeof dump1);
  pc_config_t back;
  pc_err_t err;
  int rc = pc_config_load(&back, dump1, NULL, 0, &err);
  if (rc != 0)
    fail_msg("dump did not load back: %s", err.msg);
  assert_same_config(&l.cfg, &back);
  dump_to_file(&back, dump2, sizeof dump2);
  char *t1 = slurp(dump1), *t2 = slurp(dump2);
  assert_string_equal(t1, t2);
  expect_in(t1, "cluster:\n  scheduler: \"tcp://127.0.0.1:0\"");
  expect_in(t1, "  workers: 4096");
  free(t1);
  free(t2);
  unlink(dump1);
  unlink(dump2);
}

/* ---- learning-rate schedules ------------------------------------------ */

static void test_schedule_fields_load(void **state) {
  (void)state;
  load_t l;
  load_yaml(&l, "optimizer:\n  schedule: step\n  warmup: 50\n  step_every: 1000\n"
                "  step_factor: 0.5\n  min_lr_fraction: 0.01\n");
  expect_loaded(&l);
  assert_int_equal(l.cfg.optimizer.schedule, PC_SCHED_STEP);
  assert_int_equal(l.cfg.optimizer.warmup, 50);
  assert_int_equal(l.cfg.optimizer.step_every, 1000);
  assert_true(l.cfg.optimizer.step_factor == 0.5);
  assert_true(l.cfg.optimizer.min_lr_fraction == 0.01);
  load_yaml(&l, "optimizer: { schedule: cosine, cosine_steps: 5000, warmup: 4999 }\n");
  expect_loaded(&l);
  assert_int_equal(l.cfg.optimizer.schedule, PC_SCHED_COSINE);
  assert_int_equal(l.cfg.optimizer.cosine_steps, 5000);
  load_yaml(&l, "optimizer: { schedule: invsqrt, warmup: 100 }\n");
  expect_loaded(&l);
  assert_int_equal(l.cfg.optimizer.schedule, PC_SCHED_INVSQRT);
  load_yaml(&l, "optimizer: { warmup: 100 }\n"); /* warm-up to a constant rate */
  expect_loaded(&l);
  assert_int_equal(l.cfg.optimizer.schedule, PC_SCHED_CONSTANT);
}

static void test_schedule_ranges(void **state) {
  (void)state;
  static const struct {
    const char *yaml, *field, *why;
  } cases[] = {
      {"optimizer: { schedule: linear }\n", "optimizer.schedule",
       "expected one of 'constant', 'step', 'invsqrt', 'cosine', got 'linear'"},
      {"optimizer: { warmup: -1 }\n", "optimizer.warmup", "got -1"},
      {"optimizer: { warmup: 1099511627777 }\n", "optimizer.warmup",
       "must be in [0, 1099511627776], got 1099511627777"},
      {"optimizer: { step_every: 2.5 }\n", "optimizer.step_every", "got '2.5'"},
      {"optimizer: { step_factor: 0 }\n", "optimizer.step_factor", "must be in (0, 1], got 0"},
      {"optimizer: { step_factor: 1.5 }\n", "optimizer.step_factor", "must be in (0, 1], got 1.5"},
      {"optimizer: { cosine_steps: 1099511627777 }\n", "optimizer.cosine_steps",
       "must be in [0, 1099511627776]"},
      {"optimizer: { min_lr_fraction: 1.01 }\n", "optimizer.min_lr_fraction",
       "must be in [0, 1], got 1.01"},
      {"optimizer: { min_lr_fraction: -0.1 }\n", "optimizer.min_lr_fraction",
       "must be in [0, 1], got -0.1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    load_t l;
    load_yaml(&l, "%s", cases[i].yaml);
    expect_error(&l, 1, cases[i].field, cases[i].why);
  }
  expect_set_error("optimizer.schedule=exp",
                   "expected one of 'constant', 'step', 'invsqrt', 'cosine', got 'exp'");
  expect_set_error("optimizer.step_factor=2", "must be in (0, 1], got 2");
}

/* Each schedule's own fields: required by it, refused with another one. */
static void test_schedule_rules(void **state) {
  (void)state;
  /* unset: the line of its section */
  expect_rule("optimizer:\n  schedule: step\n", 1, "optimizer.step_every",
              "required for optimizer.schedule step: the steps between decays (> 0)");
  expect_rule("optimizer:\n  schedule: step\n  step_every: 0\n", 3, "optimizer.step_every",
              "required for optimizer.schedule step");
  expect_rule("optimizer:\n  step_every: 100\n", 2, "optimizer.step_every",
              "only optimizer.schedule step reads it, not constant; remove it");
  expect_rule("optimizer:\n  schedule: cosine\n", 1, "optimizer.cosine_steps",
              "optimizer.schedule cosine needs the total steps, more than optimizer.warmup (0), "
              "got 0");
  expect_rule("optimizer:\n  schedule: cosine\n  warmup: 10\n  cosine_steps: 10\n", 4,
              "optimizer.cosine_steps", "more than optimizer.warmup (10), got 10");
  expect_rule("optimizer:\n  schedule: invsqrt\n  cosine_steps: 10\n", 3,
              "optimizer.cosine_steps", "only optimizer.schedule cosine reads it, not invsqrt");
  expect_rule("optimizer:\n  schedule: step\n  step_every: 10\n", 0, NULL, NULL);
  expect_rule("optimizer:\n  schedule: cosine\n  cosine_steps: 11\n  warmup: 10\n", 0, NULL,
              NULL);
  /* --set names itself */
  load_t l;
  static const char *const sets[] = {"optimizer.schedule=cosine", "optimizer.cosine_steps=3",
                                     "optimizer.warmup=5"};
  load_sets(&l, sets, 3, "cluster: { workers: 1 }\n");
  assert_int_equal(l.rc, PC_ECONFIG);
  expect_in(l.err.msg, "--set optimizer.cosine_steps=3: ");
  expect_in(l.err.msg, "more than optimizer.warmup (5), got 3");
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(pc_config_optim_name(PC_OPTIM_SGD), "sgd");
  assert_string_equal(pc_config_optim_name(PC_OPTIM_ADAGRAD), "adagrad");
  assert_string_equal(pc_config_optim_name((pc_optim_type_t)99), "unknown");
  assert_string_equal(pc_config_sched_name(PC_SCHED_CONSTANT), "constant");
  assert_string_equal(pc_config_sched_name(PC_SCHED_STEP), "step");
  assert_string_equal(pc_config_sched_name(PC_SCHED_INVSQRT), "invsqrt");
  assert_string_equal(pc_config_sched_name(PC_SCHED_COSINE), "cosine");
  assert_string_equal(pc_config_sched_name((pc_sched_type_t)99), "unknown");
  assert_string_equal(pc_config_model_name(PC_MODEL_LOGISTIC), "logistic");
  assert_string_equal(pc_config_model_name(PC_MODEL_SOFTMAX), "softmax");
  assert_string_equal(pc_config_model_name(PC_MODEL_LINEAR), "linear");
  assert_string_equal(pc_config_model_name(PC_MODEL_MLP), "mlp");
  assert_string_equal(pc_config_model_name(PC_MODEL_CNN), "cnn");
  assert_string_equal(pc_config_model_name(PC_MODEL_MF), "mf");
  assert_string_equal(pc_config_model_name((pc_model_type_t)99), "unknown");
  assert_string_equal(pc_config_format_name(PC_FORMAT_LIBSVM), "libsvm");
  assert_string_equal(pc_config_format_name(PC_FORMAT_CSV), "csv");
  assert_string_equal(pc_config_format_name(PC_FORMAT_IDX), "idx");
  assert_string_equal(pc_config_format_name(PC_FORMAT_RATINGS), "ratings");
  assert_string_equal(pc_config_format_name((pc_format_t)0), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_defaults_need_train),
      cmocka_unit_test(test_example_loads),
      cmocka_unit_test(test_block_style_all_fields),
      cmocka_unit_test(test_empty_file_is_defaults),
      cmocka_unit_test(test_unknown_field_suggests),
      cmocka_unit_test(test_unknown_section_suggests),
      cmocka_unit_test(test_field_in_wrong_section),
      cmocka_unit_test(test_wrong_type),
      cmocka_unit_test(test_integers_are_whole),
      cmocka_unit_test(test_u64_rejects_negative_and_overflow),
      cmocka_unit_test(test_doubles_are_finite),
      cmocka_unit_test(test_out_of_range),
      cmocka_unit_test(test_bad_enum_lists_allowed),
      cmocka_unit_test(test_section_not_mapping),
      cmocka_unit_test(test_field_not_scalar),
      cmocka_unit_test(test_duplicate_key),
      cmocka_unit_test(test_duplicate_section),
      cmocka_unit_test(test_yaml_syntax_error_is_quiet),
      cmocka_unit_test(test_multiple_documents),
      cmocka_unit_test(test_missing_config_file),
      cmocka_unit_test(test_train_required),
      cmocka_unit_test(test_train_must_be_readable_file),
      cmocka_unit_test(test_prepared_format),
      cmocka_unit_test(test_test_set_but_missing),
      cmocka_unit_test(test_init_file),
      cmocka_unit_test(test_load_ignores_data_files),
      cmocka_unit_test(test_cross_field_checks),
      cmocka_unit_test(test_string_too_long),
      cmocka_unit_test(test_latin1_byte_refused),
      cmocka_unit_test(test_utf8_is_strict),
      cmocka_unit_test(test_utf8_valid_text_kept),
      cmocka_unit_test(test_utf8_position),
      cmocka_unit_test(test_nul_byte_refused),
      cmocka_unit_test(test_size_cap),
      cmocka_unit_test(test_config_not_regular),
      cmocka_unit_test(test_set_overrides_file),
      cmocka_unit_test(test_set_errors),
      cmocka_unit_test(test_set_suggests_like_file),
      cmocka_unit_test(test_file_suggests_across_sections),
      cmocka_unit_test(test_set_refuses_invalid_utf8),
      cmocka_unit_test(test_set_error_during_load),
      cmocka_unit_test(test_check_data_names_set_source),
      cmocka_unit_test(test_check_data_refuses_empty),
      cmocka_unit_test(test_validate_after_edit),
      cmocka_unit_test(test_model_fields_load),
      cmocka_unit_test(test_list_styles),
      cmocka_unit_test(test_list_errors_in_file),
      cmocka_unit_test(test_new_fields_from_set),
      cmocka_unit_test(test_list_set_errors),
      cmocka_unit_test(test_new_fields_ranges),
      cmocka_unit_test(test_model_rules),
      cmocka_unit_test(test_format_rules),
      cmocka_unit_test(test_holdout_rules),
      cmocka_unit_test(test_check_data_label_files),
      cmocka_unit_test(test_validate_list_after_edit),
      cmocka_unit_test(test_shared_longest_lists),
      cmocka_unit_test(test_dump_round_trip_models),
      cmocka_unit_test(test_validation_fields),
    cmocka_unit_test(test_early_stop_mapping),
      cmocka_unit_test(test_check_join),
      cmocka_unit_test(test_check_join_names_origin),
      cmocka_unit_test(test_check_bind_accepts),
      cmocka_unit_test(test_check_bind_refuses),
      cmocka_unit_test(test_check_bind_names_file_line),
      cmocka_unit_test(test_shared_settings_list),
      cmocka_unit_test(test_shared_settings_compare),
      cmocka_unit_test(test_shared_values_match_dump),
      cmocka_unit_test(test_dump_round_trip),
      cmocka_unit_test(test_schedule_fields_load),
      cmocka_unit_test(test_schedule_ranges),
      cmocka_unit_test(test_schedule_rules),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
