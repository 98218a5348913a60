/* Configuration loading. One static table of fields drives defaults, YAML
 * loading, --set overrides, validation and the YAML dump, so adding a
 * field means adding one table row (and a line in docs/config.md). */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#endif

#include "pc_config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHY_MAX 320    /* one reason, without the "file:line: field" prefix */
#define WHERE_MAX 1200 /* "path:line: section.field" or "--set key=value" */
#define SHOW "%.60s"   /* user text echoed in messages stays readable */

typedef enum { K_INT, K_U64, K_DOUBLE, K_BOOL, K_STRING, K_ENUM, K_LIST } kind_t;

typedef struct {
  const char *name;
  int value;
} enum_name_t;

/* One integer of a list item: model.conv's `size`, or the whole item of
 * model.hidden (name NULL). */
typedef struct {
  const char *name;
  int lo, hi; /* inclusive */
} member_t;

/* K_LIST: up to (field size / item size) items of nmembers ints each, laid
 * out as consecutive ints (an int[] or an array of structs of ints), the
 * count in a separate int. In YAML the list is a sequence: of integers
 * when an item has one unnamed member, else of mappings of the members.
 * Its text form (--set, pc_config_shared) joins items with ',' and the
 * members of an item with 'x': "256,128", "32x5,64x3"; "" is empty. */
typedef struct {
  const member_t *members;
  size_t nmembers;
  const char *item;      /* what one item is, for "at most 8 layers" */
  const char *example;   /* a valid YAML value, for messages */
  const char *yaml_item; /* one item of it */
  const char *text_item; /* an item's text form, for messages */
} list_t;

typedef struct {
  const char *sec;
  const char *name;
  kind_t kind;
  size_t off;
  size_t size;
  struct {
    int64_t lo, hi;
  } i; /* K_INT, inclusive */
  struct {
    uint64_t lo, hi;
  } u; /* K_U64, inclusive */
  struct {
    double lo, hi;
    unsigned open; /* OPEN: lo excluded, OPEN_HI: hi excluded */
  } d;                      /* K_DOUBLE */
  const enum_name_t *names; /* K_ENUM, NULL-terminated */
  const list_t *list;       /* K_LIST */
  size_t count_off;         /* K_LIST: offset of the int holding the item count */
  const char *def;          /* default, written as a user would write it */
  const char *doc;          /* one line, emitted as a comment by pc_config_dump */
  bool shared;              /* every node of a cluster must agree (pc_config_shared) */
} field_t;

static const enum_name_t model_types[] = {
    {"logistic", PC_MODEL_LOGISTIC}, {"softmax", PC_MODEL_SOFTMAX}, {"linear", PC_MODEL_LINEAR},
    {"mlp", PC_MODEL_MLP},           {"cnn", PC_MODEL_CNN},         {"mf", PC_MODEL_MF},
    {NULL, 0}};

static const member_t hidden_members[] = {{NULL, 1, 65536}};
static const list_t hidden_list = {hidden_members, 1, "layers", "[256, 128]", "256", "256"};
static const member_t conv_members[] = {{"filters", 1, 1024}, {"size", 1, 15}};
static const list_t conv_list = {conv_members, 2, "layers", "[{filters: 32, size: 5}]",
                                 "{filters: 32, size: 5}", "FILTERSxSIZE such as 32x5"};
static const enum_name_t layouts[] = {
    {"sparse", PC_LAYOUT_SPARSE}, {"dense", PC_LAYOUT_DENSE}, {NULL, 0}};
static const enum_name_t optim_types[] = {
    {"sgd", PC_OPTIM_SGD}, {"adagrad", PC_OPTIM_ADAGRAD}, {NULL, 0}};
static const enum_name_t sched_types[] = {{"constant", PC_SCHED_CONSTANT},
                                          {"step", PC_SCHED_STEP},
                                          {"invsqrt", PC_SCHED_INVSQRT},
                                          {"cosine", PC_SCHED_COSINE},
                                          {NULL, 0}};
static const enum_name_t formats[] = {{"libsvm", PC_FORMAT_LIBSVM},
                                      {"csv", PC_FORMAT_CSV},
                                      {"idx", PC_FORMAT_IDX},
                                      {"ratings", PC_FORMAT_RATINGS},
                                      {"prepared", PC_FORMAT_PREPARED},
                                      {NULL, 0}};
static const enum_name_t losses[] = {
    {"squared", PC_LOSS_SQUARED}, {"huber", PC_LOSS_HUBER}, {NULL, 0}};
static const enum_name_t stop_metrics[] = {
    {"none", PC_STOP_NONE}, {"accuracy", PC_STOP_ACCURACY}, {"logloss", PC_STOP_LOGLOSS},
    {"auc", PC_STOP_AUC},   {"top5", PC_STOP_TOP5},         {"rmse", PC_STOP_RMSE},
    {"mae", PC_STOP_MAE},   {NULL, 0}};
static const enum_name_t on_errors[] = {
    {"abort", PC_ON_ERROR_ABORT}, {"skip", PC_ON_ERROR_SKIP}, {NULL, 0}};

#define MEMBER(s, n)                                                                               \
  .sec = #s, .name = #n, .off = offsetof(pc_config_t, s.n), .size = sizeof(((pc_config_t *)0)->s.n)
/* scope: SHARED when every node of a cluster must use the same value
 * (the scheduler compares them at registration), LOCAL otherwise. */
#define F_INT(scope, s, n, lo, hi, def_, doc_)                                                     \
  { MEMBER(s, n), .kind = K_INT, .i = {lo, hi}, .def = def_, .doc = doc_, .shared = scope }
#define F_U64(scope, s, n, lo, hi, def_, doc_)                                                     \
  { MEMBER(s, n), .kind = K_U64, .u = {lo, hi}, .def = def_, .doc = doc_, .shared = scope }
#define F_DBL(scope, s, n, open, lo, hi, def_, doc_)                                               \
  { MEMBER(s, n), .kind = K_DOUBLE, .d = {lo, hi, open}, .def = def_, .doc = doc_, .shared = scope }
#define F_BOOL(scope, s, n, def_, doc_)                                                            \
  { MEMBER(s, n), .kind = K_BOOL, .def = def_, .doc = doc_, .shared = scope }
#define F_STR(scope, s, n, def_, doc_)                                                             \
  { MEMBER(s, n), .kind = K_STRING, .def = def_, .doc = doc_, .shared = scope }
#define F_ENUM(scope, s, n, names_, def_, doc_)                                                    \
  { MEMBER(s, n), .kind = K_ENUM, .names = names_, .def = def_, .doc = doc_, .shared = scope }
/* count: the member of the same section holding the number of items */
#define F_LIST(scope, s, n, count, list_, def_, doc_)                                              \
  {                                                                                                \
    MEMBER(s, n), .kind = K_LIST, .list = &list_, .count_off = offsetof(pc_config_t, s.count),     \
    .def = def_, .doc = doc_, .shared = scope                                                      \
  }
#define CLOSED 0u  /* [lo, hi] */
#define OPEN 1u    /* (lo, hi] */
#define OPEN_HI 2u /* [lo, hi) */
#define SHARED true
#define LOCAL false

/* Grouped by section in section order: pc_config_dump relies on it. */
static const field_t fields[] = {
    F_STR(LOCAL, cluster, scheduler, "tcp://127.0.0.1:0",
          "tcp://HOST:PORT or ipc://PATH; port 0 = ephemeral"),
    F_INT(LOCAL, cluster, servers, 1, 1024, "2", "parameter server processes"),
    F_INT(LOCAL, cluster, workers, 1, 4096, "2", "worker processes"),
    F_STR(LOCAL, cluster, bind, "127.0.0.1", "interface the servers bind"),
    F_STR(LOCAL, cluster, advertise, "", "address peers dial; empty = bind"),
    F_INT(LOCAL, cluster, server_port, 0, 65535, "0", "server port; 0 = ephemeral"),
    F_DBL(LOCAL, cluster, register_timeout, OPEN, 0, 3600, "30",
          "seconds to wait for all nodes to register"),
    F_DBL(LOCAL, cluster, heartbeat, OPEN, 0, 60, "1", "seconds between heartbeats"),
    F_DBL(LOCAL, cluster, node_timeout, OPEN, 0, 3600, "10",
          "seconds of silence before a node is dead"),
    F_INT(LOCAL, cluster, vnodes, 1, 4096, "256", "virtual nodes per server on the hash ring"),
    F_ENUM(SHARED, model, type, model_types, "logistic", "model family"),
    F_U64(SHARED, model, features, 1, UINT64_C(1) << 40, "124",
          "feature indices must be < features"),
    F_ENUM(SHARED, model, layout, layouts, "sparse", "sparse = hashed keys, dense = key ranges"),
    F_BOOL(SHARED, model, bias, "true", "learn a bias, stored under key `features`"),
    F_INT(SHARED, model, classes, 0, 100000, "0",
          "softmax, mlp, cnn: number of classes (2 or more); 0 = unset"),
    F_LIST(SHARED, model, hidden, nhidden, hidden_list, "", "mlp, cnn: dense layers' widths"),
    F_LIST(SHARED, model, conv, nconv, conv_list, "",
           "cnn: convolution layers, each then ReLU and 2x2 max-pool"),
    F_INT(SHARED, model, rank, 1, 1024, "16", "mf: embedding rank"),
    F_ENUM(SHARED, model, loss, losses, "squared", "linear: squared or huber"),
    F_DBL(SHARED, model, huber_delta, OPEN, 0, 1e6, "1", "linear, loss huber: the delta"),
    F_DBL(SHARED, model, init_scale, CLOSED, 0, 10, "0.1", "mf: embeddings start N(0, scale^2)"),
    F_ENUM(SHARED, optimizer, type, optim_types, "adagrad", "update rule"),
    F_DBL(SHARED, optimizer, lr, OPEN, 0, 100, "0.1", "learning rate"),
    F_DBL(SHARED, optimizer, l2, CLOSED, 0, 100, "0.0001", "L2 regularisation strength"),
    F_DBL(SHARED, optimizer, eps, OPEN, 0, 1, "1e-8", "AdaGrad epsilon"),
    F_DBL(SHARED, optimizer, init_accum, CLOSED, 0, 100, "0", "AdaGrad initial accumulator"),
    F_ENUM(SHARED, optimizer, schedule, sched_types, "constant",
           "learning-rate schedule over the global step: constant, step, invsqrt or cosine"),
    F_U64(SHARED, optimizer, warmup, 0, UINT64_C(1) << 40, "0",
          "steps of linear warm-up from lr/warmup to lr; 0 = none"),
    F_U64(SHARED, optimizer, step_every, 0, UINT64_C(1) << 40, "0",
          "schedule step: multiply the lr by step_factor every this many steps"),
    F_DBL(SHARED, optimizer, step_factor, OPEN, 0, 1, "0.1", "schedule step: the factor"),
    F_U64(SHARED, optimizer, cosine_steps, 0, UINT64_C(1) << 40, "0",
          "schedule cosine: total steps, warm-up included; the lr stays at its floor after"),
    F_DBL(SHARED, optimizer, min_lr_fraction, CLOSED, 0, 1, "0",
          "the decay's floor: lr x this (step, invsqrt, cosine)"),
    F_INT(SHARED, training, epochs, 1, 100000, "5", "passes over the training data"),
    F_INT(SHARED, training, batch, 1, 1000000, "256", "examples per mini-batch"),
    F_INT(LOCAL, training, inflight, 1, 1024, "4",
          "requests a worker keeps outstanding (per-server pushes and prefetched pulls)"),
    F_U64(SHARED, training, seed, 0, UINT64_MAX, "1", "random seed"),
    F_DBL(LOCAL, training, log_every, CLOSED, 0, 3600, "1",
          "seconds between progress lines; 0 = per epoch"),
    F_BOOL(SHARED, training, prefetch, "true",
           "pull the next mini-batch while computing this one (its weights may miss this "
           "batch's update)"),
    F_INT(SHARED, training, eval_every, 1, 100000, "1",
          "with data.valid: evaluate the model on it every N epochs"),
    F_U64(SHARED, training, eval_steps, 0, UINT64_C(1) << 40, "0",
          "with data.valid: also evaluate every N steps inside epochs; 0 = off"),
    F_ENUM(SHARED, training, early_stop, stop_metrics, "none",
           "stop when this validation metric stops improving; none = train every epoch"),
    F_INT(SHARED, training, patience, 1, 100000, "3",
          "evaluations without improvement before early stopping"),
    F_STR(LOCAL, training, init, "",
          "fine-tuning: start from this trained model file (parasol launch --init); "
          "empty = from scratch"),
    F_STR(LOCAL, data, train, "", "training file (required where data is read)"),
    F_STR(LOCAL, data, test, "", "evaluation file; empty = no evaluation"),
    F_ENUM(SHARED, data, format, formats, "libsvm",
           "input format: libsvm, csv, idx, ratings or prepared (parasol prep)"),
    F_STR(SHARED, data, label, "", "csv: label column, a header name or a 0-based number"),
    F_STR(LOCAL, data, labels, "", "idx: labels file of data.train"),
    F_STR(LOCAL, data, test_labels, "", "idx: labels file of data.test"),
    F_STR(LOCAL, data, valid, "", "validation file, evaluated during training; empty = none"),
    F_STR(LOCAL, data, valid_labels, "", "idx: labels file of data.valid"),
    F_STR(LOCAL, data, source, "",
          "where to get the data files; said when one is missing (e.g. a URL)"),
    F_INT(SHARED, data, label_offset, -1000000, 1000000, "0",
          "subtracted from every class label (1 for labels 1..K)"),
    F_DBL(SHARED, data, test_fraction, OPEN_HI, 0, 1, "0",
          "hold out this fraction of data.train (by training.seed) as the test set"),
    F_U64(SHARED, data, test_rows, 0, UINT64_MAX, "0", "or hold out its last N rows"),
    F_DBL(SHARED, data, valid_fraction, OPEN_HI, 0, 1, "0",
          "hold out this fraction of the training rows (by training.seed) as the validation set"),
    F_BOOL(SHARED, data, standardize, "false",
           "csv, idx: scale features to mean 0, variance 1 (training data statistics)"),
    F_ENUM(SHARED, data, on_error, on_errors, "abort", "on a malformed line: abort or skip it"),
    F_U64(SHARED, data, max_bad_lines, 0, UINT64_MAX, "1000", "with skip: give up after this many"),
    F_STR(LOCAL, output, dir, "runs/default", "directory for logs, metrics and the model"),
};

#define NFIELDS (sizeof fields / sizeof fields[0])

static const char *const sections[] = {"cluster",  "model", "optimizer",
                                       "training", "data",  "output"};

#define NSECTIONS (sizeof sections / sizeof sections[0])

_Static_assert(NFIELDS <= sizeof((pc_config_t *)0)->src_line / sizeof(int),
               "pc_config_t.src_line needs one slot per field");
_Static_assert(NSECTIONS <= sizeof((pc_config_t *)0)->src_sec_line / sizeof(int),
               "pc_config_t.src_sec_line needs one slot per section");
/* Enum and bool fields are read and written as int. */
_Static_assert(sizeof(pc_model_type_t) == sizeof(int) && sizeof(pc_layout_t) == sizeof(int) &&
                   sizeof(pc_optim_type_t) == sizeof(int) && sizeof(pc_format_t) == sizeof(int) &&
                   sizeof(pc_sched_type_t) == sizeof(int) && sizeof(pc_stop_metric_t) == sizeof(int) &&
                   sizeof(pc_on_error_t) == sizeof(int) && sizeof(pc_loss_t) == sizeof(int),
               "config enums must be int-sized");
/* K_LIST items are read and written as consecutive ints. */
_Static_assert(sizeof(pc_conv_t) == 2 * sizeof(int) && offsetof(pc_conv_t, filters) == 0 &&
                   offsetof(pc_conv_t, size) == sizeof(int),
               "pc_conv_t must be the ints of conv_members, in order");
#define LIST_MAX_INTS 64 /* largest list field, in ints */
_Static_assert(sizeof((pc_config_t *)0)->model.hidden <= LIST_MAX_INTS * sizeof(int) &&
                   sizeof((pc_config_t *)0)->model.conv <= LIST_MAX_INTS * sizeof(int),
               "raise LIST_MAX_INTS");

/* ---- small helpers ---------------------------------------------------- */

static size_t field_index(const char *sec, const char *name) {
  for (size_t i = 0; i < NFIELDS; i++)
    if (strcmp(fields[i].sec, sec) == 0 && strcmp(fields[i].name, name) == 0)
      return i;
  assert(!"field missing from the table");
  return 0;
}

static int section_index(const char *name, size_t len) {
  for (size_t s = 0; s < NSECTIONS; s++)
    if (strlen(sections[s]) == len && memcmp(sections[s], name, len) == 0)
      return (int)s;
  return -1;
}

static const void *field_cptr(const pc_config_t *cfg, const field_t *f) {
  return (const char *)cfg + f->off;
}

/* int, bool and enum fields */
static int get_int(const pc_config_t *cfg, const field_t *f) {
  int v;
  memcpy(&v, field_cptr(cfg, f), sizeof v);
  return v;
}

static uint64_t get_u64(const pc_config_t *cfg, const field_t *f) {
  uint64_t v;
  memcpy(&v, field_cptr(cfg, f), sizeof v);
  return v;
}

static double get_double(const pc_config_t *cfg, const field_t *f) {
  double v;
  memcpy(&v, field_cptr(cfg, f), sizeof v);
  return v;
}

static const char *enum_name(const enum_name_t *t, int v) {
  for (; t->name != NULL; t++)
    if (t->value == v)
      return t->name;
  return NULL;
}

static void enum_list(const enum_name_t *t, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (; t->name != NULL && used < n; t++) {
    int w = snprintf(buf + used, n - used, "%s'%s'", used ? ", " : "", t->name);
    used += w > 0 ? (size_t)w : 0;
  }
}

static void list_format(const pc_config_t *cfg, const field_t *f, bool yaml, char *buf, size_t n);
static int list_check(const pc_config_t *cfg, const field_t *f, char *why, size_t n);
static int list_store_text(pc_config_t *cfg, const field_t *f, const char *s, char *why, size_t n);

/* Shortest text that reads back as exactly v, so dumps round-trip. */
static void format_double(double v, char *buf, size_t n) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      return;
  }
}

static void format_value(const pc_config_t *cfg, const field_t *f, char *buf, size_t n) {
  const char *name;
  switch (f->kind) {
  case K_INT:
    snprintf(buf, n, "%d", get_int(cfg, f));
    return;
  case K_U64:
    snprintf(buf, n, "%" PRIu64, get_u64(cfg, f));
    return;
  case K_DOUBLE:
    format_double(get_double(cfg, f), buf, n);
    return;
  case K_BOOL:
    snprintf(buf, n, "%s", get_int(cfg, f) ? "true" : "false");
    return;
  case K_ENUM:
    name = enum_name(f->names, get_int(cfg, f));
    snprintf(buf, n, "%s", name ? name : "?");
    return;
  case K_STRING:
    snprintf(buf, n, "%.*s", (int)f->size, (const char *)field_cptr(cfg, f));
    return;
  case K_LIST:
    list_format(cfg, f, false, buf, n);
    return;
  }
}

/* ---- range checks, shared by parsing and pc_config_validate ---------- */

/* shown is the value as the user wrote it, so an overflowing number is
 * echoed as typed rather than as whatever strtoll clamped it to. */
static int int_range_error(const field_t *f, const char *shown, char *why, size_t n) {
  return pc_why(why, n, "must be in [%" PRId64 ", %" PRId64 "], got " SHOW, f->i.lo, f->i.hi,
                 shown);
}

static int u64_range_error(const field_t *f, const char *shown, char *why, size_t n) {
  return pc_why(why, n, "must be in [%" PRIu64 ", %" PRIu64 "], got " SHOW, f->u.lo, f->u.hi,
                 shown);
}

static int check_int(const field_t *f, long long v, char *why, size_t n) {
  char shown[32];
  if (v >= f->i.lo && v <= f->i.hi)
    return 0;
  snprintf(shown, sizeof shown, "%lld", v);
  return int_range_error(f, shown, why, n);
}

static int check_u64(const field_t *f, uint64_t v, char *why, size_t n) {
  char shown[32];
  if (v >= f->u.lo && v <= f->u.hi)
    return 0;
  snprintf(shown, sizeof shown, "%" PRIu64, v);
  return u64_range_error(f, shown, why, n);
}

static int check_double(const field_t *f, double v, const char *shown, char *why, size_t n) {
  bool lo_open = (f->d.open & OPEN) != 0, hi_open = (f->d.open & OPEN_HI) != 0;
  bool lo_ok = lo_open ? v > f->d.lo : v >= f->d.lo;
  bool hi_ok = hi_open ? v < f->d.hi : v <= f->d.hi;
  if (isfinite(v) && lo_ok && hi_ok)
    return 0;
  char tmp[32];
  if (shown == NULL) {
    format_double(v, tmp, sizeof tmp);
    shown = tmp;
  }
  return pc_why(why, n, "must be in %c%g, %g%c, got " SHOW, lo_open ? '(' : '[', f->d.lo,
                 f->d.hi, hi_open ? ')' : ']', shown);
}

static int check_field(const pc_config_t *cfg, const field_t *f, char *why, size_t n) {
  char list[128];
  switch (f->kind) {
  case K_INT:
    return check_int(f, get_int(cfg, f), why, n);
  case K_U64:
    return check_u64(f, get_u64(cfg, f), why, n);
  case K_DOUBLE:
    return check_double(f, get_double(cfg, f), NULL, why, n);
  case K_BOOL:
    return (unsigned)get_int(cfg, f) <= 1 ? 0 : pc_why(why, n, "must be true or false");
  case K_ENUM:
    if (enum_name(f->names, get_int(cfg, f)) != NULL)
      return 0;
    enum_list(f->names, list, sizeof list);
    return pc_why(why, n, "invalid value %d, expected one of %s", get_int(cfg, f), list);
  case K_STRING:
    return memchr(field_cptr(cfg, f), '\0', f->size) ? 0 : pc_why(why, n, "not terminated");
  case K_LIST:
    return list_check(cfg, f, why, n);
  }
  return 0;
}

/* ---- parsing one value ------------------------------------------------ */

/* strtoll alone would skip leading blanks and stop quietly at "2.5" or "3x". */
static bool is_integer_text(const char *s) {
  const char *p = (*s == '-' || *s == '+') ? s + 1 : s;
  if (*p < '0' || *p > '9')
    return false;
  while (*p >= '0' && *p <= '9')
    p++;
  return *p == '\0';
}

static int parse_int(const field_t *f, const char *s, int *out, char *why, size_t n) {
  if (!is_integer_text(s))
    return pc_why(why, n, "expected an integer, got '" SHOW "'", s);
  errno = 0;
  long long v = strtoll(s, NULL, 10);
  if (errno == ERANGE || v < f->i.lo || v > f->i.hi)
    return int_range_error(f, s, why, n);
  *out = (int)v;
  return 0;
}

static int parse_u64(const field_t *f, const char *s, uint64_t *out, char *why, size_t n) {
  if (!is_integer_text(s))
    return pc_why(why, n, "expected an integer, got '" SHOW "'", s);
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10); /* wraps "-1" around */
  bool bad = errno == ERANGE || (s[0] == '-' && v != 0) || v < f->u.lo || v > f->u.hi;
  if (bad)
    return u64_range_error(f, s, why, n);
  *out = v;
  return 0;
}

static int parse_double(const field_t *f, const char *s, double *out, char *why, size_t n) {
  char *end;
  bool ok = s[0] != '\0' && !isspace((unsigned char)s[0]); /* strtod would skip blanks */
  double v = ok ? strtod(s, &end) : 0;
  if (!ok || *end != '\0')
    return pc_why(why, n, "expected a number, got '" SHOW "'", s);
  if (!isfinite(v))
    return pc_why(why, n, "expected a finite number, got '" SHOW "'", s);
  if (check_double(f, v, s, why, n))
    return -1;
  *out = v;
  return 0;
}

static int parse_bool(const char *s, int *out, char *why, size_t n) {
  static const char *const yes[] = {"true", "True", "TRUE"};
  static const char *const no[] = {"false", "False", "FALSE"};
  for (size_t i = 0; i < 3; i++) {
    if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
      *out = strcmp(s, yes[i]) == 0;
      return 0;
    }
  }
  return pc_why(why, n, "expected true or false, got '" SHOW "'", s);
}

static int parse_enum(const field_t *f, const char *s, int *out, char *why, size_t n) {
  for (const enum_name_t *e = f->names; e->name != NULL; e++) {
    if (strcmp(s, e->name) == 0) {
      *out = e->value;
      return 0;
    }
  }
  char list[128];
  enum_list(f->names, list, sizeof list);
  return pc_why(why, n, "expected one of %s, got '" SHOW "'", list, s);
}

/* ---- list fields (K_LIST) --------------------------------------------- */

/* Item errors name the item ("model.conv[1].size: ..."), so every reason
 * about a list starts with the field or item it is about. */

static size_t list_max(const field_t *f) {
  return f->size / (f->list->nmembers * sizeof(int));
}

static int list_count(const pc_config_t *cfg, const field_t *f) {
  int c;
  memcpy(&c, (const char *)cfg + f->count_off, sizeof c);
  return c;
}

/* Items to show: the count, clamped so a value edited in code cannot
 * make us read past the array. */
static size_t list_shown(const pc_config_t *cfg, const field_t *f) {
  int c = list_count(cfg, f);
  return c < 0 ? 0 : (size_t)c > list_max(f) ? list_max(f) : (size_t)c;
}

static void list_store(pc_config_t *cfg, const field_t *f, const int *vals, size_t count) {
  int c = (int)count;
  memset((char *)cfg + f->off, 0, f->size);
  memcpy((char *)cfg + f->off, vals, count * f->list->nmembers * sizeof(int));
  memcpy((char *)cfg + f->count_off, &c, sizeof c);
}

/* "model.hidden[0]", "model.conv[1].size" (m NULL: the item itself) */
static void item_path(const field_t *f, size_t item, const member_t *m, char *buf, size_t n) {
  bool named = m != NULL && m->name != NULL;
  snprintf(buf, n, "%s.%s[%zu]%s%s", f->sec, f->name, item, named ? "." : "",
           named ? m->name : "");
}

static int too_many(const field_t *f, size_t count, char *why, size_t n) {
  return pc_why(why, n, "%s.%s: at most %zu %s, got %zu", f->sec, f->name, list_max(f),
                 f->list->item, count);
}

static int member_range_error(const field_t *f, size_t item, const member_t *m, const char *shown,
                              char *why, size_t n) {
  char path[96];
  item_path(f, item, m, path, sizeof path);
  return pc_why(why, n, "%s: must be in [%d, %d], got " SHOW, path, m->lo, m->hi, shown);
}

static int parse_member(const field_t *f, size_t item, const member_t *m, const char *s, int *out,
                        char *why, size_t n) {
  char path[96];
  item_path(f, item, m, path, sizeof path);
  if (!is_integer_text(s))
    return pc_why(why, n, "%s: expected an integer, got '" SHOW "'", path, s);
  errno = 0;
  long long v = strtoll(s, NULL, 10);
  if (errno == ERANGE || v < m->lo || v > m->hi)
    return member_range_error(f, item, m, s, why, n);
  *out = (int)v;
  return 0;
}

/* One item of the text form, p[0..len): "256" or "32x5", blanks around it
 * ignored. */
static int parse_text_item(const field_t *f, size_t item, const char *p, size_t len, int *out,
                           char *why, size_t n) {
  const list_t *l = f->list;
  char tok[64], path[96];
  while (len > 0 && *p == ' ')
    p++, len--;
  while (len > 0 && p[len - 1] == ' ')
    len--;
  item_path(f, item, NULL, path, sizeof path);
  if (len >= sizeof tok)
    return pc_why(why, n, "%s: too long, got '%.40s...'", path, p);
  memcpy(tok, p, len);
  tok[len] = '\0';
  char *part = tok;
  for (size_t m = 0; m < l->nmembers; m++) {
    char *x = m + 1 < l->nmembers ? strchr(part, 'x') : NULL;
    if (m + 1 < l->nmembers && x == NULL)
      return pc_why(why, n, "%s: expected %s, got '%s'", path, l->text_item, tok);
    if (x != NULL)
      *x = '\0';
    if (parse_member(f, item, &l->members[m], part, &out[m], why, n) != 0)
      return -1;
    part = x != NULL ? x + 1 : part;
  }
  return 0;
}

/* The text form: items separated by ',' ("" or blanks: no items). The
 * field is untouched on error. */
static int list_store_text(pc_config_t *cfg, const field_t *f, const char *s, char *why, size_t n) {
  int vals[LIST_MAX_INTS] = {0};
  size_t count = 1, item = 0;
  if (s[strspn(s, " ")] == '\0') {
    list_store(cfg, f, vals, 0);
    return 0;
  }
  for (const char *c = s; (c = strchr(c, ',')) != NULL; c++)
    count++;
  if (count > list_max(f))
    return too_many(f, count, why, n);
  for (const char *p = s; item < count; item++) {
    size_t len = strcspn(p, ",");
    if (parse_text_item(f, item, p, len, vals + item * f->list->nmembers, why, n) != 0)
      return -1;
    p += len + (p[len] != '\0');
  }
  list_store(cfg, f, vals, count);
  return 0;
}

static int list_check(const pc_config_t *cfg, const field_t *f, char *why, size_t n) {
  const list_t *l = f->list;
  const int *vals = (const int *)((const char *)cfg + f->off);
  int count = list_count(cfg, f);
  char shown[16];
  if (count < 0 || (size_t)count > list_max(f))
    return pc_why(why, n, "%s.%s: %d items, expected 0 to %zu", f->sec, f->name, count,
                   list_max(f));
  for (size_t i = 0; i < (size_t)count; i++) {
    for (size_t m = 0; m < l->nmembers; m++) {
      int v = vals[i * l->nmembers + m];
      snprintf(shown, sizeof shown, "%d", v);
      if (v < l->members[m].lo || v > l->members[m].hi)
        return member_range_error(f, i, &l->members[m], shown, why, n);
    }
  }
  return 0;
}

/* yaml: "[256, 128]", "[{filters: 32, size: 5}]"; else the text form
 * "256,128", "32x5". */
static void list_format(const pc_config_t *cfg, const field_t *f, bool yaml, char *buf, size_t n) {
  const list_t *l = f->list;
  const int *vals = (const int *)((const char *)cfg + f->off);
  size_t count = list_shown(cfg, f), used = 0;
#define PUT(...) (used += used < n ? (size_t)snprintf(buf + used, n - used, __VA_ARGS__) : 0)
  buf[0] = '\0';
  PUT("%s", yaml ? "[" : "");
  for (size_t i = 0; i < count; i++) {
    PUT("%s%s", i == 0 ? "" : yaml ? ", " : ",", yaml && l->nmembers > 1 ? "{" : "");
    for (size_t m = 0; m < l->nmembers; m++) {
      const char *sep = m == 0 ? "" : yaml ? ", " : "x";
      if (yaml && l->members[m].name != NULL)
        PUT("%s%s: %d", sep, l->members[m].name, vals[i * l->nmembers + m]);
      else
        PUT("%s%d", sep, vals[i * l->nmembers + m]);
    }
    PUT("%s", yaml && l->nmembers > 1 ? "}" : "");
  }
  PUT("%s", yaml ? "]" : "");
#undef PUT
}

/* Parse NUL-terminated s for f and store it; the field is untouched on error. */
static int store_text(pc_config_t *cfg, const field_t *f, const char *s, char *why, size_t n) {
  void *p = (char *)cfg + f->off;
  int rc, iv = 0;
  uint64_t uv = 0;
  double dv = 0;
  if (f->kind == K_STRING) {
    memset(p, 0, f->size);
    memcpy(p, s, strlen(s));
    return 0;
  }
  if (f->kind == K_LIST)
    return list_store_text(cfg, f, s, why, n);
  if (f->kind == K_U64) {
    if ((rc = parse_u64(f, s, &uv, why, n)) == 0)
      memcpy(p, &uv, sizeof uv);
    return rc;
  }
  if (f->kind == K_DOUBLE) {
    if ((rc = parse_double(f, s, &dv, why, n)) == 0)
      memcpy(p, &dv, sizeof dv);
    return rc;
  }
  if (f->kind == K_INT)
    rc = parse_int(f, s, &iv, why, n);
  else if (f->kind == K_BOOL)
    rc = parse_bool(s, &iv, why, n);
  else
    rc = parse_enum(f, s, &iv, why, n);
  if (rc == 0)
    memcpy(p, &iv, sizeof iv); /* int, bool and enum fields are all int-sized */
  return rc;
}

/* s need not be NUL-terminated (YAML scalars are not). */
static int store_value(pc_config_t *cfg, const field_t *f, const char *s, size_t len, char *why,
                       size_t n) {
  char buf[PC_PATH_MAX];
  size_t max = f->kind == K_STRING ? f->size - 1 : sizeof buf - 1;
  if (memchr(s, '\0', len) != NULL)
    return pc_why(why, n, "contains a NUL byte");
  if (len > max)
    return pc_why(why, n, "too long (at most %zu bytes), got '%.40s...'", max, s);
  memcpy(buf, s, len);
  buf[len] = '\0';
  return store_text(cfg, f, buf, why, n);
}

/* ---- "did you mean" --------------------------------------------------- */

static size_t edit_distance(const char *a, size_t alen, const char *b) {
  size_t blen = strlen(b), row[64];
  if (alen >= 64 || blen >= 64)
    return SIZE_MAX;
  for (size_t j = 0; j <= blen; j++)
    row[j] = j;
  for (size_t i = 1; i <= alen; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= blen; j++) {
      size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[blen];
}

/* A typo, not a different word: at most 3 edits and at most half the name. */
static bool close_enough(size_t dist, const char *cand) {
  return dist <= 3 && 2 * dist <= strlen(cand);
}

/* A key as the user wrote it: "section.name" (sec_len 0 when there is no
 * section: a bare --set name or a field at the top level of the file). */
typedef struct {
  const char *sec, *name;
  size_t sec_len, name_len;
} user_key_t;

static user_key_t split_key(const char *key, size_t len) {
  const char *dot = memchr(key, '.', len);
  if (dot == NULL)
    return (user_key_t){.sec = key, .sec_len = 0, .name = key, .name_len = len};
  size_t sl = (size_t)(dot - key);
  return (user_key_t){.sec = key, .sec_len = sl, .name = dot + 1, .name_len = len - sl - 1};
}

static bool key_in_section(const user_key_t *k, const char *sec) {
  return k->sec_len == strlen(sec) && memcmp(k->sec, sec, k->sec_len) == 0;
}

/* How far k is from field f, SIZE_MAX when too far to suggest. A typo in
 * the name counts its edits; the right name (or a typo of it) in another
 * section costs one more; a typo in the section shows in the dotted
 * distance. */
static size_t field_distance(const user_key_t *k, const field_t *f) {
  size_t best = SIZE_MAX, dn = edit_distance(k->name, k->name_len, f->name);
  if (close_enough(dn, f->name))
    best = key_in_section(k, f->sec) ? dn : dn + 1;
  if (k->sec_len > 0 && k->sec_len + k->name_len < 63) {
    char dotted[64], typed[64];
    snprintf(dotted, sizeof dotted, "%s.%s", f->sec, f->name);
    int tl = snprintf(typed, sizeof typed, "%.*s.%.*s", (int)k->sec_len, k->sec, (int)k->name_len,
                      k->name);
    size_t dd = edit_distance(typed, (size_t)tl, dotted);
    if (dd < best && close_enough(dd, f->name))
      best = dd;
  }
  return best;
}

/* Fills hint with " (did you mean '...'?)" naming every equally close
 * field (a name can live in two sections: model.type, optimizer.type), or
 * "". short_names: a field of the key's own section is named without it,
 * as it would be written inside that section of the file. */
static void suggest_field(const user_key_t *k, bool short_names, char *hint, size_t n) {
  size_t best = SIZE_MAX, used = 0, shown = 0;
  for (size_t i = 0; i < NFIELDS; i++) {
    size_t d = field_distance(k, &fields[i]);
    best = d < best ? d : best;
  }
  hint[0] = '\0';
  for (size_t i = 0; i < NFIELDS && best != SIZE_MAX && shown < 3 && used < n; i++) {
    if (field_distance(k, &fields[i]) != best)
      continue;
    const field_t *f = &fields[i];
    bool bare = short_names && key_in_section(k, f->sec);
    int w = snprintf(hint + used, n - used, "%s'%s%s%s'", shown ? " or " : " (did you mean ",
                     bare ? "" : f->sec, bare ? "" : ".", f->name);
    used += w > 0 ? (size_t)w : 0;
    shown++;
  }
  if (shown > 0 && used < n)
    snprintf(hint + used, n - used, "?)");
}

static void suggest_section(const char *key, size_t len, char *hint, size_t n) {
  size_t best = SIZE_MAX, at = 0;
  for (size_t s = 0; s < NSECTIONS; s++) {
    size_t d = edit_distance(key, len, sections[s]);
    if (d < best && close_enough(d, sections[s]))
      best = d, at = s;
  }
  if (best != SIZE_MAX) {
    snprintf(hint, n, " (did you mean '%s'?)", sections[at]);
    return;
  }
  user_key_t k = {.sec = key, .sec_len = 0, .name = key, .name_len = len};
  suggest_field(&k, false, hint, n); /* a field written outside its section */
}

/* ---- where a value came from ----------------------------------------- */

/* named: end with ": section.field" (without: the reason names it). "" for
 * a default without a file. */
static void describe_origin(const pc_config_t *cfg, size_t idx, bool named, char *buf, size_t n) {
  const field_t *f = &fields[idx];
  int src = cfg->src_line[idx];
  int sec_line = cfg->src_sec_line[section_index(f->sec, strlen(f->sec))];
  char name[80] = "";
  if (named)
    snprintf(name, sizeof name, ": %s.%s", f->sec, f->name);
  if (src < 0) {
    char v[PC_PATH_MAX];
    format_value(cfg, f, v, sizeof v);
    snprintf(buf, n, "--set %s.%s=%s", f->sec, f->name, v);
  } else if (src > 0 || (cfg->path[0] && sec_line > 0)) {
    snprintf(buf, n, "%s:%d%s", cfg->path, src > 0 ? src : sec_line, name);
  } else if (cfg->path[0]) {
    snprintf(buf, n, "%s%s", cfg->path, name);
  } else {
    snprintf(buf, n, "%s", named ? name + 2 : "");
  }
}

static int vfield_fail(const pc_config_t *cfg, size_t idx, bool named, pc_err_t *err,
                       const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static int vfield_fail(const pc_config_t *cfg, size_t idx, bool named, pc_err_t *err,
                       const char *fmt, va_list ap) {
  char where[WHERE_MAX], why[WHY_MAX];
  vsnprintf(why, sizeof why, fmt, ap);
  describe_origin(cfg, idx, named, where, sizeof where);
  if (where[0] == '\0')
    return pc_err_set(err, PC_ECONFIG, "%s", why);
  return pc_err_set(err, PC_ECONFIG, "%s: %s", where, why);
}

static int field_fail(const pc_config_t *cfg, size_t idx, pc_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int field_fail(const pc_config_t *cfg, size_t idx, pc_err_t *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vfield_fail(cfg, idx, true, err, fmt, ap);
  va_end(ap);
  return rc;
}

/* For reasons that name the field themselves (list items: "model.conv[1].size: ..."). */
static int place_fail(const pc_config_t *cfg, size_t idx, pc_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int place_fail(const pc_config_t *cfg, size_t idx, pc_err_t *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vfield_fail(cfg, idx, false, err, fmt, ap);
  va_end(ap);
  return rc;
}

static int file_fail(const pc_config_t *cfg, int line, pc_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int file_fail(const pc_config_t *cfg, int line, pc_err_t *err, const char *fmt, ...) {
  char why[WHY_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (line > 0)
    return pc_err_set(err, PC_ECONFIG, "%s:%d: %s", cfg->path, line, why);
  return pc_err_set(err, PC_ECONFIG, "%s: %s", cfg->path, why);
}

/* ---- YAML document walk ---------------------------------------------- */

/* 1-based line of a node; collections report their first scalar. */
static int node_line(struct fy_node *n) {
  for (int depth = 0; n != NULL && depth < 64; depth++) {
    if (fy_node_get_type(n) == FYNT_SCALAR) {
      struct fy_token *t = fy_node_get_scalar_token(n);
      const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
      return m ? m->line + 1 : 0;
    }
    void *it = NULL;
    struct fy_node_pair *p;
    if (fy_node_get_type(n) == FYNT_MAPPING)
      n = (p = fy_node_mapping_iterate(n, &it)) ? fy_node_pair_key(p) : NULL;
    else
      n = fy_node_sequence_get_by_index(n, 0);
  }
  return 0;
}

static void describe_node(struct fy_node *n, char *buf, size_t size) {
  size_t len = 0;
  const char *s;
  if (n == NULL)
    snprintf(buf, size, "nothing");
  else if (fy_node_is_alias(n))
    snprintf(buf, size, "an alias (anchors and aliases are not supported)");
  else if (fy_node_get_type(n) == FYNT_MAPPING)
    snprintf(buf, size, "a mapping");
  else if (fy_node_get_type(n) == FYNT_SEQUENCE)
    snprintf(buf, size, "a sequence");
  else if ((s = fy_node_get_scalar(n, &len)) != NULL && len > 0)
    snprintf(buf, size, "'%.*s'", len > 60 ? 60 : (int)len, s);
  else
    snprintf(buf, size, "an empty value");
}

/* Keys must be plain names; NULL for anything else. */
static const char *key_text(struct fy_node *key, size_t *len) {
  if (key == NULL || fy_node_get_type(key) != FYNT_SCALAR || fy_node_is_alias(key))
    return NULL;
  return fy_node_get_scalar(key, len);
}

/* One integer of a list item from the file. *line: where it is, if known. */
static int yaml_member(const field_t *f, size_t item, const member_t *m, struct fy_node *v,
                       int *out, int *line, char *why, size_t n) {
  char path[96], got[96], buf[64];
  size_t len = 0;
  const char *s;
  *line = node_line(v) > 0 ? node_line(v) : *line;
  if (v == NULL || fy_node_get_type(v) != FYNT_SCALAR || fy_node_is_alias(v)) {
    item_path(f, item, m, path, sizeof path);
    describe_node(v, got, sizeof got);
    return pc_why(why, n, "%s: expected an integer, got %s", path, got);
  }
  if ((s = fy_node_get_scalar(v, &len)) == NULL)
    s = "", len = 0;
  if (len >= sizeof buf) {
    snprintf(buf, sizeof buf, "%.40s...", s);
    return member_range_error(f, item, m, buf, why, n);
  }
  memcpy(buf, s, len);
  buf[len] = '\0';
  return parse_member(f, item, m, buf, out, why, n);
}

static const member_t *find_member(const list_t *l, const char *name, size_t len) {
  for (size_t m = 0; m < l->nmembers; m++)
    if (strlen(l->members[m].name) == len && memcmp(l->members[m].name, name, len) == 0)
      return &l->members[m];
  return NULL;
}

/* An item that is a mapping of the members: every one, once, nothing else. */
static int yaml_mapping_item(const field_t *f, size_t item, struct fy_node *node, int *out,
                             int *line, char *why, size_t n) {
  const list_t *l = f->list;
  char path[96], names[96] = "";
  bool seen[LIST_MAX_INTS] = {false};
  void *it = NULL;
  struct fy_node_pair *p;
  item_path(f, item, NULL, path, sizeof path);
  for (size_t m = 0; m < l->nmembers; m++)
    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", m ? ", " : "",
             l->members[m].name);
  while ((p = fy_node_mapping_iterate(node, &it)) != NULL) {
    size_t len = 0;
    const char *key = key_text(fy_node_pair_key(p), &len);
    const member_t *m = key ? find_member(l, key, len) : NULL;
    *line = node_line(fy_node_pair_key(p)) > 0 ? node_line(fy_node_pair_key(p)) : *line;
    if (key == NULL)
      return pc_why(why, n, "%s: expected a key name (%s)", path, names);
    if (m == NULL)
      return pc_why(why, n, "%s: unknown key '%.*s' (an item has %s)", path,
                     (int)(len > 60 ? 60 : len), key, names);
    size_t mi = (size_t)(m - l->members);
    if (seen[mi])
      return pc_why(why, n, "%s.%s: duplicate key", path, m->name);
    seen[mi] = true;
    if (yaml_member(f, item, m, fy_node_pair_value(p), &out[mi], line, why, n) != 0)
      return -1;
  }
  for (size_t m = 0; m < l->nmembers; m++)
    if (!seen[m])
      return pc_why(why, n, "%s: missing %s (an item is %s)", path, l->members[m].name,
                     l->yaml_item);
  return 0;
}

static int yaml_item(const field_t *f, size_t item, struct fy_node *node, int *out, int *line,
                     char *why, size_t n) {
  char path[96], got[96];
  *line = node_line(node) > 0 ? node_line(node) : *line;
  if (f->list->nmembers == 1)
    return yaml_member(f, item, &f->list->members[0], node, out, line, why, n);
  if (fy_node_get_type(node) == FYNT_MAPPING && !fy_node_is_alias(node))
    return yaml_mapping_item(f, item, node, out, line, why, n);
  item_path(f, item, NULL, path, sizeof path);
  describe_node(node, got, sizeof got);
  return pc_why(why, n, "%s: expected a mapping such as %s, got %s", path, f->list->yaml_item,
                 got);
}

/* A sequence, flow ([a, b]) or block (- a); the field is set only when
 * every item is valid. */
static int apply_list(pc_config_t *cfg, size_t idx, struct fy_node *val, int line, pc_err_t *err) {
  const field_t *f = &fields[idx];
  int vals[LIST_MAX_INTS] = {0}, at = line, total;
  char why[WHY_MAX], got[96];
  if (val == NULL || fy_node_get_type(val) != FYNT_SEQUENCE || fy_node_is_alias(val)) {
    describe_node(val, got, sizeof got);
    return file_fail(cfg, line, err, "%s.%s: expected a list such as %s, got %s", f->sec, f->name,
                     f->list->example, got);
  }
  total = fy_node_sequence_item_count(val);
  if (total < 0 || (size_t)total > list_max(f)) {
    too_many(f, total < 0 ? 0 : (size_t)total, why, sizeof why);
    return file_fail(cfg, line, err, "%s", why);
  }
  for (int i = 0; i < total; i++) {
    struct fy_node *item = fy_node_sequence_get_by_index(val, i);
    if (yaml_item(f, (size_t)i, item, vals + (size_t)i * f->list->nmembers, &at, why,
                  sizeof why) != 0)
      return file_fail(cfg, at, err, "%s", why);
  }
  list_store(cfg, f, vals, (size_t)total);
  cfg->src_line[idx] = line;
  return 0;
}

/* Fields that also take a mapping of related fields, written the way the
 * docs show them: `early_stop: {metric: logloss, patience: 3}` sets
 * training.early_stop and training.patience. */
typedef struct {
  const char *sec, *name;
  const char *member[2]; /* mapping keys ... */
  const char *field[2];  /* ... and the fields of sec they set */
} compound_t;
static const compound_t compounds[] = {
    {"training", "early_stop", {"metric", "patience"}, {"early_stop", "patience"}}};

static int apply_scalar(pc_config_t *cfg, size_t idx, struct fy_node *val, int line,
                        pc_err_t *err);

static int apply_compound_member(pc_config_t *cfg, const compound_t *c, struct fy_node_pair *p,
                                 pc_err_t *err) {
  struct fy_node *key = fy_node_pair_key(p);
  int line = node_line(key);
  size_t len = 0;
  const char *name = key_text(key, &len);
  for (size_t m = 0; name != NULL && m < 2; m++)
    if (strlen(c->member[m]) == len && memcmp(c->member[m], name, len) == 0)
      return apply_scalar(cfg, field_index(c->sec, c->field[m]), fy_node_pair_value(p), line, err);
  return file_fail(cfg, line, err, "%s.%s: unknown key '%.*s' (expected %s and %s)", c->sec,
                   c->name, name ? (int)len : 0, name ? name : "", c->member[0], c->member[1]);
}

static int apply_compound(pc_config_t *cfg, const field_t *f, struct fy_node *val, int line,
                          pc_err_t *err) {
  for (size_t i = 0; i < sizeof compounds / sizeof compounds[0]; i++) {
    if (strcmp(compounds[i].sec, f->sec) != 0 || strcmp(compounds[i].name, f->name) != 0)
      continue;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(val, &it)) != NULL) {
      int rc = apply_compound_member(cfg, &compounds[i], p, err);
      if (rc != 0)
        return rc;
    }
    return 0;
  }
  return file_fail(cfg, line, err, "%s.%s: expected a single value, got a mapping", f->sec,
                   f->name);
}

static int apply_scalar(pc_config_t *cfg, size_t idx, struct fy_node *val, int line,
                        pc_err_t *err) {
  const field_t *f = &fields[idx];
  size_t vlen = 0;
  const char *text;
  char why[WHY_MAX];
  if (cfg->src_line[idx] > 0)
    return file_fail(cfg, line, err, "%s.%s: duplicate key (first set on line %d)", f->sec, f->name,
                     cfg->src_line[idx]);
  if (val == NULL || fy_node_get_type(val) != FYNT_SCALAR || fy_node_is_alias(val)) {
    describe_node(val, why, sizeof why);
    return file_fail(cfg, line, err, "%s.%s: expected a single value, got %s", f->sec, f->name,
                     why);
  }
  if ((text = fy_node_get_scalar(val, &vlen)) == NULL)
    text = "", vlen = 0;
  if (store_value(cfg, f, text, vlen, why, sizeof why) != 0)
    return file_fail(cfg, line, err, "%s.%s: %s", f->sec, f->name, why);
  cfg->src_line[idx] = line;
  return 0;
}

static int apply_field(pc_config_t *cfg, int sec, struct fy_node_pair *pair, pc_err_t *err) {
  struct fy_node *key = fy_node_pair_key(pair), *val = fy_node_pair_value(pair);
  int line = node_line(key);
  size_t len = 0, idx;
  const char *name = key_text(key, &len);
  char why[WHY_MAX];
  if (name == NULL)
    return file_fail(cfg, line, err, "%s: expected a field name as key", sections[sec]);
  for (idx = 0; idx < NFIELDS; idx++)
    if (strcmp(fields[idx].sec, sections[sec]) == 0 && strlen(fields[idx].name) == len &&
        memcmp(fields[idx].name, name, len) == 0)
      break;
  if (idx == NFIELDS) {
    user_key_t k = {
        .sec = sections[sec], .sec_len = strlen(sections[sec]), .name = name, .name_len = len};
    suggest_field(&k, true, why, sizeof why);
    return file_fail(cfg, line, err, "unknown field '%s.%.*s'%s", sections[sec], (int)len, name,
                     why);
  }
  const field_t *f = &fields[idx];
  if (f->kind == K_LIST) {
    if (cfg->src_line[idx] > 0)
      return file_fail(cfg, line, err, "%s.%s: duplicate key (first set on line %d)", f->sec,
                       f->name, cfg->src_line[idx]);
    return apply_list(cfg, idx, val, line, err);
  }
  if (val != NULL && fy_node_get_type(val) == FYNT_MAPPING && !fy_node_is_alias(val))
    return apply_compound(cfg, f, val, line, err);
  return apply_scalar(cfg, idx, val, line, err);
}

static int apply_section(pc_config_t *cfg, struct fy_node_pair *pair, pc_err_t *err) {
  struct fy_node *key = fy_node_pair_key(pair), *val = fy_node_pair_value(pair);
  int line = node_line(key);
  size_t len = 0;
  const char *name = key_text(key, &len);
  char why[WHY_MAX];
  if (name == NULL)
    return file_fail(cfg, line, err, "expected a section name as key");
  int sec = section_index(name, len);
  if (sec < 0) {
    suggest_section(name, len, why, sizeof why);
    return file_fail(cfg, line, err, "unknown section '%.*s'%s", (int)len, name, why);
  }
  if (cfg->src_sec_line[sec] != 0)
    return file_fail(cfg, line, err, "duplicate section '%s' (first on line %d)", sections[sec],
                     cfg->src_sec_line[sec]);
  cfg->src_sec_line[sec] = line > 0 ? line : -1;
  if (val == NULL || fy_node_get_type(val) != FYNT_MAPPING) {
    describe_node(val, why, sizeof why);
    return file_fail(cfg, line, err, "%s: expected a mapping of fields, got %s", sections[sec],
                     why);
  }
  void *it = NULL;
  struct fy_node_pair *p;
  while ((p = fy_node_mapping_iterate(val, &it)) != NULL) {
    int rc = apply_field(cfg, sec, p, err);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int apply_root(pc_config_t *cfg, struct fy_node *root, pc_err_t *err) {
  if (root == NULL)
    return 0; /* empty file: all defaults */
  if (fy_node_get_type(root) != FYNT_MAPPING)
    return file_fail(
        cfg, node_line(root), err,
        "expected a mapping of sections (cluster, model, optimizer, training, data, output)");
  void *it = NULL;
  struct fy_node_pair *p;
  while ((p = fy_node_mapping_iterate(root, &it)) != NULL) {
    int rc = apply_section(cfg, p, err);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* ---- reading the file ------------------------------------------------- */

static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len) {
  (void)diag, (void)user, (void)buf, (void)len;
}

/* libfyaml prints parse errors to stderr by default; collect them instead
 * so the caller gets one message with our file name and line. */
static struct fy_diag *quiet_diag(void) {
  struct fy_diag_cfg dc;
  fy_diag_cfg_default(&dc);
  dc.fp = NULL;
  dc.output_fn = diag_discard;
  dc.colorize = false;
  struct fy_diag *diag = fy_diag_create(&dc);
  if (diag != NULL)
    fy_diag_set_collect_errors(diag, true);
  return diag;
}

static int syntax_error(const pc_config_t *cfg, struct fy_diag *diag, pc_err_t *err) {
  void *it = NULL;
  struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
  if (e == NULL)
    return file_fail(cfg, 0, err, "YAML syntax error");
  return file_fail(cfg, e->line, err, "YAML syntax error: %s", e->msg ? e->msg : "unknown");
}

/* Later documents would be silently ignored, so a non-empty one is an
 * error; reading to the end also surfaces syntax errors that libfyaml
 * reports only once it looks past the first document. Returns the line of
 * the first extra document, -1 when there is none. */
static int drain_documents(struct fy_parser *fyp, struct fy_diag *diag) {
  int extra = -1;
  struct fy_document *doc;
  while (!fy_diag_got_error(diag) && (doc = fy_parse_load_document(fyp)) != NULL) {
    if (extra < 0 && fy_document_root(doc) != NULL)
      extra = node_line(fy_document_root(doc));
    fy_parse_document_destroy(fyp, doc);
  }
  return extra;
}

static int parse_yaml(pc_config_t *cfg, struct fy_parser *fyp, struct fy_diag *diag,
                      pc_err_t *err) {
  struct fy_document *doc = fy_parse_load_document(fyp);
  int extra = drain_documents(fyp, diag), rc;
  if (fy_diag_got_error(diag))
    rc = syntax_error(cfg, diag, err);
  else if (extra >= 0)
    rc = file_fail(cfg, extra, err, "more than one YAML document; put all sections in one");
  else
    rc = apply_root(cfg, doc ? fy_document_root(doc) : NULL, err);
  if (doc != NULL)
    fy_parse_document_destroy(fyp, doc);
  return rc;
}

/* Opens path for reading, refusing directories, devices and FIFOs;
 * O_NONBLOCK so a FIFO is refused instead of waiting for a writer. Returns
 * the descriptor (size in *size) or -1 with why filled. */
static int open_regular(const char *path, off_t *size, char *why, size_t n) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    pc_why(why, n, "cannot open: %s", strerror(errno));
    return -1;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    pc_why(why, n, "not a regular file");
    close(fd);
    return -1;
  }
  *size = st.st_size;
  return fd;
}

static int too_big(const pc_config_t *cfg, uint64_t size, pc_err_t *err) {
  return file_fail(cfg, 0, err,
                   "file is %" PRIu64 " bytes (%.1f MiB); a config file may be at most %d bytes "
                   "(%d MiB): is this the right file?",
                   size, (double)size / (1024.0 * 1024.0), PC_CONFIG_MAX_BYTES,
                   PC_CONFIG_MAX_BYTES / (1024 * 1024));
}

/* Reads the whole file: its size is checked against PC_CONFIG_MAX_BYTES
 * before anything is allocated, and a file that changes size while read is
 * refused rather than parsed in part. *out is malloc'd and NUL-terminated;
 * the caller frees it. */
static int read_config(const pc_config_t *cfg, char **out, size_t *len, pc_err_t *err) {
  char why[WHY_MAX];
  off_t st_size = 0;
  *out = NULL;
  int fd = open_regular(cfg->path, &st_size, why, sizeof why);
  if (fd < 0)
    return file_fail(cfg, 0, err, "%s", why);
  if (st_size > PC_CONFIG_MAX_BYTES) {
    close(fd);
    return too_big(cfg, (uint64_t)st_size, err);
  }
  size_t size = (size_t)st_size, got = 0;
  char *buf = malloc(size + 2); /* one byte more shows growth, one for the NUL */
  ssize_t r = 1;
  while (buf != NULL && got <= size && r != 0) {
    r = read(fd, buf + got, size + 1 - got);
    if (r < 0 && errno != EINTR)
      break;
    got += r > 0 ? (size_t)r : 0;
  }
  int saved = errno, rc = PC_OK;
  close(fd);
  if (buf == NULL)
    rc = pc_err_set(err, PC_ENOMEM, "%s: no memory to read %zu bytes", cfg->path, size);
  else if (r < 0)
    rc = file_fail(cfg, 0, err, "cannot read: %s", strerror(saved));
  else if (got != size)
    rc = file_fail(cfg, 0, err, "changed size while being read (%zu bytes, then %s%zu); try again",
                   size, got > size ? "more than " : "", got > size ? size : got);
  if (rc != PC_OK) {
    free(buf);
    return rc;
  }
  buf[got] = '\0';
  *out = buf;
  *len = got;
  return PC_OK;
}

/* Length of the UTF-8 sequence at p (RFC 3629: no overlongs, surrogates or
 * code points above U+10FFFF), or 0 with *what naming the fault (NULL for
 * a byte that simply cannot be there, such as Latin-1 text). */
static size_t utf8_seq(const unsigned char *p, size_t left, const char **what) {
  unsigned char c = p[0], lo = 0x80, hi = 0xBF;
  size_t n;
  *what = NULL;
  if (c < 0x80)
    return 1;
  if (c < 0xC2) {
    *what = c < 0xC0 ? "a continuation byte with no lead byte" : "an overlong encoding";
    return 0;
  }
  if (c >= 0xF5) {
    *what = "not used in UTF-8";
    return 0;
  }
  n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : lo;
  hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : hi;
  if (left < n || p[1] < 0x80 || p[1] > 0xBF || (n > 2 && (p[2] & 0xC0) != 0x80) ||
      (n > 3 && (p[3] & 0xC0) != 0x80))
    return 0; /* cut short: the usual shape of a Latin-1 or Windows-1252 byte */
  if (p[1] >= lo && p[1] <= hi)
    return n;
  *what = c == 0xED ? "a UTF-16 surrogate" : c == 0xF4 ? "above U+10FFFF" : "an overlong encoding";
  return 0;
}

static const char utf8_nul[] = "a NUL byte";

/* Offset of the first byte that makes text not UTF-8 or is NUL (*what set
 * as for utf8_seq, or to utf8_nul), len when there is none. */
static size_t utf8_first_bad(const char *text, size_t len, const char **what) {
  const unsigned char *p = (const unsigned char *)text;
  size_t i = 0, n;
  while (i < len) {
    if (p[i] == 0) {
      *what = utf8_nul;
      return i;
    }
    if ((n = utf8_seq(p + i, len - i, what)) == 0)
      return i;
    i += n;
  }
  return len;
}

/* "invalid UTF-8 (byte 0xE9)" or "a NUL byte" for the fault at text[at]. */
static void utf8_reason(const char *text, size_t at, const char *what, char *buf, size_t n) {
  unsigned char c = (unsigned char)text[at];
  if (what == utf8_nul)
    snprintf(buf, n, "%s", utf8_nul);
  else if (what != NULL)
    snprintf(buf, n, "invalid UTF-8 (byte 0x%02X, %s)", c, what);
  else
    snprintf(buf, n, "invalid UTF-8 (byte 0x%02X)", c);
}

static const char utf8_bom[] = "\xEF\xBB\xBF";

/* YAML must be UTF-8, and libfyaml takes the first byte that is not (or a
 * NUL) as the end of the input: every section after it would silently
 * vanish. So the bytes are checked here, naming line, column (characters,
 * as editors count) and byte offset (from 0, as hexdump counts). */
static int check_text(const pc_config_t *cfg, const char *text, size_t len, pc_err_t *err) {
  const char *what = NULL;
  size_t at = utf8_first_bad(text, len, &what), line = 1, col = 1;
  if (at == len)
    return PC_OK;
  size_t i = (len >= 3 && memcmp(text, utf8_bom, 3) == 0) ? 3 : 0; /* not a column */
  for (; i < at; i++) {
    if (text[i] == '\n')
      line++, col = 1;
    else if (((unsigned char)text[i] & 0xC0) != 0x80)
      col++;
  }
  char reason[96];
  utf8_reason(text, at, what, reason, sizeof reason);
  const char *hint = what == utf8_nul
                         ? "a config file is text (UTF-16 files are full of NULs): save it as UTF-8"
                         : "save the file as UTF-8";
  return file_fail(cfg, (int)line, err, "column %zu (byte offset %zu): %s; %s", col, at, reason,
                   hint);
}

static int load_file(pc_config_t *cfg, pc_err_t *err) {
  char *text = NULL;
  size_t len = 0;
  int rc = read_config(cfg, &text, &len, err);
  if (rc == PC_OK)
    rc = check_text(cfg, text, len, err);
  if (rc != PC_OK) {
    free(text);
    return rc;
  }
  struct fy_diag *diag = quiet_diag();
  struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_ALLOW_DUPLICATE_KEYS, .diag = diag};
  struct fy_parser *fyp = diag ? fy_parser_create(&pcfg) : NULL;
  if (fyp == NULL)
    rc = pc_err_set(err, PC_ENOMEM, "%s: cannot create a YAML parser", cfg->path);
  else if (fy_parser_set_string(fyp, text, len) != 0)
    rc = pc_err_set(err, PC_EIO, "%s: cannot read", cfg->path);
  else
    rc = parse_yaml(cfg, fyp, diag, err);
  if (fyp != NULL)
    fy_parser_destroy(fyp);
  if (diag != NULL)
    fy_diag_destroy(diag);
  free(text);
  return rc;
}

/* ---- validation ------------------------------------------------------- */

static int check_data_file(const pc_config_t *cfg, const char *name, bool required, pc_err_t *err) {
  size_t idx = field_index("data", name);
  const char *path = field_cptr(cfg, &fields[idx]);
  char why[WHY_MAX];
  off_t size;
  if (path[0] == '\0')
    return required ? field_fail(cfg, idx, err, "required but not set (the training data file)")
                    : 0;
  int fd = open_regular(path, &size, why, sizeof why);
  if (fd < 0 && cfg->data.source[0] != '\0')
    return field_fail(cfg, idx, err, "'%s': %s; get the data from %.200s (data.source)", path,
                      why, cfg->data.source);
  if (fd < 0)
    return field_fail(cfg, idx, err, "'%s': %s", path, why);
  close(fd);
  /* Training on nothing "succeeds" with a NaN loss; say so before it starts. */
  if (size == 0)
    return field_fail(cfg, idx, err, "'%s': the file is empty (0 bytes)", path);
  return 0;
}

/* training.init, when set, is a readable non-empty regular file; whether
 * it is a model that fits this config is the workers' check (pw_init). */
static int check_init_file(const pc_config_t *cfg, pc_err_t *err) {
  size_t idx = field_index("training", "init");
  const char *path = cfg->training.init;
  char why[WHY_MAX];
  off_t size;
  if (path[0] == '\0')
    return 0;
  int fd = open_regular(path, &size, why, sizeof why);
  if (fd < 0)
    return field_fail(cfg, idx, err, "'%s': %s", path, why);
  close(fd);
  if (size == 0)
    return field_fail(cfg, idx, err, "'%s': the file is empty (0 bytes), not a model", path);
  return 0;
}

/* A prepared split is a directory holding part-00000.psp (docs/prep.md). */
static int check_split_dir(const pc_config_t *cfg, const char *name, bool required,
                           pc_err_t *err) {
  size_t idx = field_index("data", name);
  const char *path = field_cptr(cfg, &fields[idx]);
  char part[PC_PATH_MAX + 32];
  struct stat st;
  if (path[0] == '\0')
    return required ? field_fail(cfg, idx, err, "required but not set (the training split, "
                                 "e.g. prep/train)") : 0;
  snprintf(part, sizeof part, "%s/part-00000.psp", path);
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) || stat(part, &st) != 0)
    return field_fail(cfg, idx, err, "%s is not a prepared split (no part-00000.psp); run "
                      "parasol prep first", path);
  return 0;
}

int pc_config_is_set(const pc_config_t *cfg, const char *key) {
  const char *dot = key != NULL ? strchr(key, '.') : NULL;
  if (cfg == NULL || dot == NULL || (size_t)(dot - key) >= 32)
    return 0;
  char sec[32];
  memcpy(sec, key, (size_t)(dot - key));
  sec[dot - key] = '\0';
  for (size_t i = 0; i < NFIELDS; i++)
    if (strcmp(fields[i].sec, sec) == 0 && strcmp(fields[i].name, dot + 1) == 0)
      return cfg->src_line[i] != 0;
  return 0;
}

/* ---- cross-field rules of the models and their data ------------------- */

static bool model_has_classes(pc_model_type_t t) {
  return t == PC_MODEL_SOFTMAX || t == PC_MODEL_MLP || t == PC_MODEL_CNN;
}

static int check_model(const pc_config_t *cfg, pc_err_t *err) {
  pc_model_type_t t = cfg->model.type;
  const char *type = pc_config_model_name(t);
  /* prepared data: the shards' header gives the classes (pw_prep_config_fill) */
  if (model_has_classes(t) && cfg->model.classes == 0 && cfg->data.format != PC_FORMAT_PREPARED)
    return field_fail(cfg, field_index("model", "classes"), err,
                      "required for model.type %s: the number of classes (2 or more)", type);
  if (model_has_classes(t) && cfg->model.classes < 2 && cfg->model.classes != 0)
    return field_fail(cfg, field_index("model", "classes"), err,
                      "model.type %s needs 2 or more classes, got %d", type, cfg->model.classes);
  if (cfg->model.nhidden > 0 && t != PC_MODEL_MLP && t != PC_MODEL_CNN)
    return field_fail(cfg, field_index("model", "hidden"), err,
                      "only model.type mlp and cnn have hidden layers, not %s; remove it", type);
  if (cfg->model.nconv > 0 && t != PC_MODEL_CNN)
    return field_fail(cfg, field_index("model", "conv"), err,
                      "only model.type cnn has convolution layers, not %s; remove it", type);
  if (t == PC_MODEL_CNN && cfg->model.nconv == 0)
    return field_fail(cfg, field_index("model", "conv"), err,
                      "required for model.type cnn: at least one convolution layer, such as %s",
                      conv_list.example);
  return 0;
}

/* A path or name set for a format that does not read it. */
static int only_for_format(const pc_config_t *cfg, const char *name, pc_format_t fmt,
                           pc_err_t *err) {
  size_t idx = field_index("data", name);
  const char *v = field_cptr(cfg, &fields[idx]);
  if (v[0] == '\0' || cfg->data.format == fmt)
    return 0;
  return field_fail(cfg, idx, err, "only data.format %s reads it, not %s; remove it",
                    pc_config_format_name(fmt), pc_config_format_name(cfg->data.format));
}

static int check_format(const pc_config_t *cfg, pc_err_t *err) {
  pc_format_t fmt = cfg->data.format;
  size_t fi = field_index("data", "format");
  /* Name the line that was written: a default format points at model.type. */
  if (cfg->model.type == PC_MODEL_MF && fmt != PC_FORMAT_RATINGS && fmt != PC_FORMAT_PREPARED)
    return field_fail(cfg, cfg->src_line[fi] != 0 ? fi : field_index("model", "type"), err,
                      "model.type mf trains on ratings: needs data.format ratings (or prepared "
                      "ratings), got %s",
                      pc_config_format_name(fmt));
  if (cfg->model.type != PC_MODEL_MF && fmt == PC_FORMAT_RATINGS)
    return field_fail(cfg, fi, err, "ratings are only for model.type mf (model.type is %s)",
                      pc_config_model_name(cfg->model.type));
  if (fmt == PC_FORMAT_CSV && cfg->data.label[0] == '\0')
    return field_fail(cfg, field_index("data", "label"), err,
                      "required for data.format csv: the label column, a header name or a "
                      "0-based column number");
  if (fmt == PC_FORMAT_IDX && cfg->data.labels[0] == '\0')
    return field_fail(cfg, field_index("data", "labels"), err,
                      "required for data.format idx: the labels file of data.train");
  if (fmt == PC_FORMAT_IDX && cfg->data.test[0] != '\0' && cfg->data.test_labels[0] == '\0')
    return field_fail(cfg, field_index("data", "test_labels"), err,
                      "required for data.format idx when data.test is set: the labels file of "
                      "data.test");
  int rc = only_for_format(cfg, "label", PC_FORMAT_CSV, err);
  rc = rc ? rc : only_for_format(cfg, "labels", PC_FORMAT_IDX, err);
  rc = rc ? rc : only_for_format(cfg, "test_labels", PC_FORMAT_IDX, err);
  if (rc == 0 && cfg->data.test_labels[0] != '\0' && cfg->data.test[0] == '\0')
    rc = field_fail(cfg, field_index("data", "test_labels"), err,
                    "set but data.test is not; set data.test or remove it");
  rc = rc ? rc : only_for_format(cfg, "valid_labels", PC_FORMAT_IDX, err);
  if (rc == 0 && fmt == PC_FORMAT_IDX && cfg->data.valid[0] != '\0' &&
      cfg->data.valid_labels[0] == '\0')
    rc = field_fail(cfg, field_index("data", "valid_labels"), err,
                    "required for data.format idx when data.valid is set: the labels file of "
                    "data.valid");
  if (rc == 0 && cfg->data.valid_labels[0] != '\0' && cfg->data.valid[0] == '\0')
    rc = field_fail(cfg, field_index("data", "valid_labels"), err,
                    "set but data.valid is not; set data.valid or remove it");
  if (rc == 0 && cfg->data.valid_fraction > 0 && cfg->data.valid[0] != '\0')
    rc = field_fail(cfg, field_index("data", "valid_fraction"), err,
                    "data.valid is set too; take the validation set from one place: drop "
                    "data.valid_fraction or data.valid");
  if (rc == 0 && cfg->data.test_fraction + cfg->data.valid_fraction >= 1)
    rc = field_fail(cfg, field_index("data", "valid_fraction"), err,
                    "with data.test_fraction %g, leaves no training row (their sum must be "
                    "below 1)", cfg->data.test_fraction);
  if (rc == 0 && cfg->training.early_stop != PC_STOP_NONE && !pc_config_validating(cfg))
    rc = field_fail(cfg, field_index("training", "early_stop"), err,
                    "needs a validation set to watch: set data.valid or data.valid_fraction");
  if (rc == 0 && cfg->training.eval_steps > 0 && !pc_config_validating(cfg))
    rc = field_fail(cfg, field_index("training", "eval_steps"), err,
                    "needs a validation set to evaluate on: set data.valid or "
                    "data.valid_fraction, or remove it");
  if (rc == 0 && cfg->data.standardize && fmt == PC_FORMAT_PREPARED)
    rc = field_fail(cfg, field_index("data", "standardize"), err,
                    "prepared data is standardized by parasol prep --standardize (the shards "
                    "carry the transform); remove it");
  if (rc == 0 && cfg->data.standardize && fmt != PC_FORMAT_CSV && fmt != PC_FORMAT_IDX)
    rc = field_fail(cfg, field_index("data", "standardize"), err,
                    "only for dense data (data.format csv or idx), not %s",
                    pc_config_format_name(fmt));
  return rc;
}

/* The hold-out takes the test set out of data.train: one way, no file. */
static int check_holdout(const pc_config_t *cfg, pc_err_t *err) {
  bool frac = cfg->data.test_fraction > 0, rows = cfg->data.test_rows > 0;
  if (frac && rows)
    return field_fail(cfg, field_index("data", "test_rows"), err,
                      "data.test_fraction is set too (%g); hold out one way: drop one of them",
                      cfg->data.test_fraction);
  if ((frac || rows) && cfg->data.test[0] != '\0')
    return field_fail(cfg, field_index("data", frac ? "test_fraction" : "test_rows"), err,
                      "data.test is set too, and the hold-out would replace it; drop data.%s or "
                      "data.test",
                      frac ? "test_fraction" : "test_rows");
  return 0;
}

/* A schedule's own fields: required by it, refused with another one (a
 * step_every left with schedule constant would silently train at one lr). */
static int check_schedule(const pc_config_t *cfg, pc_err_t *err) {
  pc_sched_type_t t = cfg->optimizer.schedule;
  const char *name = pc_config_sched_name(t);
  uint64_t every = cfg->optimizer.step_every, total = cfg->optimizer.cosine_steps;
  if (t == PC_SCHED_STEP && every == 0)
    return field_fail(cfg, field_index("optimizer", "step_every"), err,
                      "required for optimizer.schedule step: the steps between decays (> 0)");
  if (t != PC_SCHED_STEP && every != 0)
    return field_fail(cfg, field_index("optimizer", "step_every"), err,
                      "only optimizer.schedule step reads it, not %s; remove it", name);
  if (t == PC_SCHED_COSINE && total <= cfg->optimizer.warmup)
    return field_fail(cfg, field_index("optimizer", "cosine_steps"), err,
                      "optimizer.schedule cosine needs the total steps, more than "
                      "optimizer.warmup (%" PRIu64 "), got %" PRIu64,
                      cfg->optimizer.warmup, total);
  if (t != PC_SCHED_COSINE && total != 0)
    return field_fail(cfg, field_index("optimizer", "cosine_steps"), err,
                      "only optimizer.schedule cosine reads it, not %s; remove it", name);
  return 0;
}

static int check_cross(const pc_config_t *cfg, pc_err_t *err) {
  const char *sched = cfg->cluster.scheduler;
  bool sched_ok =
      (strncmp(sched, "tcp://", 6) == 0 || strncmp(sched, "ipc://", 6) == 0) && sched[6] != '\0';
  if (!sched_ok)
    return field_fail(cfg, field_index("cluster", "scheduler"), err,
                      "must be tcp://HOST:PORT or ipc://PATH, got '" SHOW "'", sched);
  if (cfg->output.dir[0] == '\0')
    return field_fail(cfg, field_index("output", "dir"), err, "must not be empty");
  /* Otherwise a healthy node is declared dead between two heartbeats. */
  if (cfg->cluster.node_timeout <= 2 * cfg->cluster.heartbeat)
    return field_fail(cfg, field_index("cluster", "node_timeout"), err,
                      "must be more than twice cluster.heartbeat (%g s), got %g s",
                      cfg->cluster.heartbeat, cfg->cluster.node_timeout);
  int rc = check_model(cfg, err);
  rc = rc ? rc : check_schedule(cfg, err);
  rc = rc ? rc : check_format(cfg, err);
  return rc ? rc : check_holdout(cfg, err);
}

/* ---- public API ------------------------------------------------------- */

void pc_config_defaults(pc_config_t *cfg) {
  if (cfg == NULL)
    return;
  memset(cfg, 0, sizeof *cfg);
  for (size_t i = 0; i < NFIELDS; i++) {
    char why[WHY_MAX];
    int rc = store_text(cfg, &fields[i], fields[i].def, why, sizeof why);
    assert(rc == 0 && "every default in the field table must parse");
    (void)rc;
  }
}

/* key (not NUL-terminated) is "section.name" of f */
static bool is_dotted_name(const field_t *f, const char *key, size_t len) {
  size_t slen = strlen(f->sec);
  return len == slen + 1 + strlen(f->name) && memcmp(key, f->sec, slen) == 0 && key[slen] == '.' &&
         memcmp(key + slen + 1, f->name, len - slen - 1) == 0;
}

int pc_config_set(pc_config_t *cfg, const char *assignment, pc_err_t *err) {
  if (cfg == NULL || assignment == NULL)
    return pc_err_set(err, PC_EINVAL, "pc_config_set: NULL argument");
  const char *eq = strchr(assignment, '=');
  char why[WHY_MAX];
  if (eq == NULL)
    return pc_err_set(err, PC_ECONFIG, "--set %s: expected key=value, e.g. cluster.workers=8",
                      assignment);
  const char *what = NULL;
  size_t alen = strlen(assignment), bad = utf8_first_bad(assignment, alen, &what);
  if (bad < alen) {
    utf8_reason(assignment, bad, what, why, sizeof why);
    return pc_err_set(err, PC_ECONFIG, "--set %s: %s at byte %zu; values must be UTF-8", assignment,
                      why, bad);
  }
  size_t klen = (size_t)(eq - assignment), idx;
  for (idx = 0; idx < NFIELDS; idx++)
    if (is_dotted_name(&fields[idx], assignment, klen))
      break;
  if (idx == NFIELDS) {
    user_key_t k = split_key(assignment, klen);
    suggest_field(&k, false, why, sizeof why);
    return pc_err_set(err, PC_ECONFIG, "--set %s: unknown field '%.*s'%s", assignment, (int)klen,
                      assignment, why);
  }
  if (store_value(cfg, &fields[idx], eq + 1, strlen(eq + 1), why, sizeof why) != 0)
    return pc_err_set(err, PC_ECONFIG, "--set %s: %s", assignment, why);
  cfg->src_line[idx] = -1;
  return 0;
}

int pc_config_validate(const pc_config_t *cfg, pc_err_t *err) {
  if (cfg == NULL)
    return pc_err_set(err, PC_EINVAL, "pc_config_validate: NULL config");
  char why[WHY_MAX];
  for (size_t i = 0; i < NFIELDS; i++)
    if (check_field(cfg, &fields[i], why, sizeof why) != 0)
      return fields[i].kind == K_LIST ? place_fail(cfg, i, err, "%s", why)
                                      : field_fail(cfg, i, err, "%s", why);
  return check_cross(cfg, err);
}

int pc_config_check_data(const pc_config_t *cfg, pc_err_t *err) {
  if (cfg == NULL)
    return pc_err_set(err, PC_EINVAL, "pc_config_check_data: NULL config");
  static const char *const files[] = {"test", "labels", "test_labels", "valid",
                                      "valid_labels"};
  if (cfg->data.format == PC_FORMAT_PREPARED) {
    int rc = check_split_dir(cfg, "train", true, err);
    rc = rc ? rc : check_split_dir(cfg, "test", false, err);
    return rc ? rc : check_split_dir(cfg, "valid", false, err);
  }
  int rc = check_data_file(cfg, "train", true, err);
  for (size_t i = 0; i < sizeof files / sizeof files[0] && rc == 0; i++)
    rc = check_data_file(cfg, files[i], false, err);
  return rc == 0 ? check_init_file(cfg, err) : rc;
}

/* path NULL: defaults plus sets only. */
int pc_config_load(pc_config_t *cfg, const char *path, const char *const *sets, int nsets,
                   pc_err_t *err) {
  if (cfg == NULL || nsets < 0 || (nsets > 0 && sets == NULL))
    return pc_err_set(err, PC_EINVAL, "pc_config_load: invalid arguments");
  pc_config_defaults(cfg);
  if (path != NULL) {
    if (strlen(path) >= sizeof cfg->path)
      return pc_err_set(err, PC_ECONFIG, "%.60s...: config path too long", path);
    memcpy(cfg->path, path, strlen(path) + 1);
    int rc = load_file(cfg, err);
    if (rc != 0)
      return rc;
  }
  for (int i = 0; i < nsets; i++) {
    int rc = pc_config_set(cfg, sets[i], err);
    if (rc != 0)
      return rc;
  }
  return pc_config_validate(cfg, err);
}

/* ---- checks for processes that join a scheduler or bind ------------- */

#define LISTEN_HINT                                                                                \
  "give the port the scheduler listens on (it logs 'listening on tcp://HOST:PORT')"

/* hp is what follows "tcp://": "HOST:PORT" or "[IPV6]:PORT". *port is NULL
 * when there is no ':' after the host. */
static void split_host_port(const char *hp, char *host, size_t hn, const char **port) {
  const char *end = hp[0] == '[' ? strchr(hp, ']') : NULL;
  if (end != NULL) {
    snprintf(host, hn, "%.*s", (int)(end - hp - 1), hp + 1);
    *port = end[1] == ':' ? end + 2 : NULL;
    return;
  }
  end = strrchr(hp, ':');
  snprintf(host, hn, "%.*s", end ? (int)(end - hp) : (int)strlen(hp), hp);
  *port = end ? end + 1 : NULL;
}

static bool is_port(const char *p) {
  size_t n = strspn(p, "0123456789");
  return n > 0 && n <= 5 && p[n] == '\0' && atoi(p) >= 1 && atoi(p) <= 65535;
}

int pc_config_check_join(const pc_config_t *cfg, pc_err_t *err) {
  if (cfg == NULL)
    return pc_err_set(err, PC_EINVAL, "pc_config_check_join: NULL config");
  const char *ep = cfg->cluster.scheduler, *port;
  size_t idx = field_index("cluster", "scheduler");
  char host[PC_ENDPOINT_MAX];
  if (strncmp(ep, "ipc://", 6) == 0 && ep[6] != '\0')
    return 0;
  if (strncmp(ep, "tcp://", 6) != 0)
    return field_fail(cfg, idx, err, "must be tcp://HOST:PORT or ipc://PATH, got '" SHOW "'", ep);
  split_host_port(ep + 6, host, sizeof host, &port);
  if (port == NULL || port[0] == '\0')
    return field_fail(cfg, idx, err, "'" SHOW "' has no port; " LISTEN_HINT, ep);
  if (strcmp(port, "*") == 0 || strspn(port, "0") == strlen(port))
    return field_fail(cfg, idx, err,
                      "'" SHOW "': port %s picks a free port and only works for `parasol launch` "
                      "and the scheduler itself; " LISTEN_HINT,
                      ep, port);
  if (!is_port(port))
    return field_fail(cfg, idx, err, "'" SHOW "': the port must be in [1, 65535], got '" SHOW "'",
                      ep, port);
  if (host[0] == '\0' || strcmp(host, "*") == 0)
    return field_fail(cfg, idx, err, "'" SHOW "': %s; give the scheduler's host name or address",
                      ep, host[0] ? "'*' can be bound but not dialled" : "no host");
  return 0;
}

static bool is_numeric_addr(const char *a) {
  struct in_addr v4;
  struct in6_addr v6;
  return inet_pton(AF_INET, a, &v4) == 1 || inet_pton(AF_INET6, a, &v6) == 1;
}

static bool is_ipv6(const char *a) {
  struct in6_addr v6;
  return inet_pton(AF_INET6, a, &v6) == 1;
}

/* Servers bind and workers dial IPv4 only for now (no ZMQ_IPV6 on the
 * sockets, no brackets in endpoints): say so rather than fail at bind. */
static int ipv6_refused(const pc_config_t *cfg, const char *field, const char *v,
                        pc_err_t *err) {
  return field_fail(cfg, field_index("cluster", field), err,
                    "'" SHOW "' is an IPv6 address; servers listen on IPv4 only for now: give an "
                    "IPv4 address, '*' or an interface name", v);
}

/* '*', 0.0.0.0, :: : every interface, which no peer can dial. */
static bool is_any_addr(const char *a) {
  struct in_addr v4;
  struct in6_addr v6;
  if (strcmp(a, "*") == 0)
    return true;
  if (inet_pton(AF_INET, a, &v4) == 1)
    return v4.s_addr == htonl(INADDR_ANY);
  return inet_pton(AF_INET6, a, &v6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&v6);
}

static bool is_interface(const char *a) {
  return a[0] != '\0' && strlen(a) < IF_NAMESIZE && if_nametoindex(a) != 0;
}

/* "lo, eth0, ..." into buf, cut with ", ..." when it does not fit. */
static void list_interfaces(char *buf, size_t n) {
  struct if_nameindex *ifs = if_nameindex();
  size_t used = 0;
  buf[0] = '\0';
  if (ifs == NULL) {
    snprintf(buf, n, "cannot list them: %s", strerror(errno));
    return;
  }
  for (struct if_nameindex *i = ifs; i->if_index != 0 && i->if_name != NULL; i++) {
    size_t need = strlen(i->if_name) + (used ? 2 : 0);
    if (used + need + 6 >= n) {
      snprintf(buf + used, n - used, ", ...");
      break;
    }
    used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "", i->if_name);
  }
  if_freenameindex(ifs);
}

/* RFC 1123 syntax (plus '_', found in container host names): dot-separated
 * labels of 1..63 letters, digits and '-', not starting or ending with '-';
 * all digits and dots is a mistyped IPv4 address, not a name. */
static bool is_host_name(const char *h) {
  size_t len = strlen(h), label = 0;
  bool digits_only = true;
  if (len == 0 || len > 253)
    return false;
  for (size_t i = 0; i <= len; i++) {
    char c = h[i];
    if (c == '.' || c == '\0') {
      if (label == 0 || label > 63 || h[i - 1] == '-')
        return false;
      label = 0;
      continue;
    }
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!(alnum || c == '-' || c == '_') || (label == 0 && c == '-'))
      return false;
    digits_only = digits_only && c >= '0' && c <= '9';
    label++;
  }
  return !digits_only;
}

static int check_bind_field(const pc_config_t *cfg, pc_err_t *err) {
  const char *b = cfg->cluster.bind;
  char list[160];
  if (is_ipv6(b))
    return ipv6_refused(cfg, "bind", b, err);
  if (strcmp(b, "*") == 0 || is_numeric_addr(b) || is_interface(b))
    return 0;
  list_interfaces(list, sizeof list);
  return field_fail(cfg, field_index("cluster", "bind"), err,
                    "'" SHOW "' is not '*' (every interface), a numeric IPv4 address or a "
                    "network interface of this host (%s)",
                    b, list);
}

/* Peers dial the advertised address, or the bind address when none is
 * set: either way it must be a host name or a specific address. */
static int check_advertise_field(const pc_config_t *cfg, pc_err_t *err) {
  const char *a = cfg->cluster.advertise, *b = cfg->cluster.bind;
  if (a[0] == '\0' && (is_any_addr(b) || !is_numeric_addr(b)))
    return field_fail(cfg, field_index("cluster", "bind"), err,
                      "'" SHOW "' is %s, which peers cannot dial; set cluster.advertise to the "
                      "host name or address they reach this host by",
                      b, is_any_addr(b) ? "every interface" : "an interface name");
  if (is_ipv6(a))
    return ipv6_refused(cfg, "advertise", a, err);
  if (a[0] == '\0' || (!is_any_addr(a) && (is_numeric_addr(a) || is_host_name(a))))
    return 0;
  const char *why = is_any_addr(a) ? "means every interface and cannot be dialled"
                                   : "is not a host name or a numeric IPv4 address";
  const char *port = "";
  if (strchr(a, ':') != NULL && !is_numeric_addr(a))
    port = " (no port: that is cluster.server_port)";
  return field_fail(cfg, field_index("cluster", "advertise"), err,
                    "'" SHOW "' %s; give the host name or numeric address peers reach this host "
                    "by%s",
                    a, why, port);
}

int pc_config_check_bind(const pc_config_t *cfg, pc_err_t *err) {
  if (cfg == NULL)
    return pc_err_set(err, PC_EINVAL, "pc_config_check_bind: NULL config");
  int rc = check_bind_field(cfg, err);
  return rc == 0 ? check_advertise_field(cfg, err) : rc;
}

/* ---- settings the whole cluster shares -------------------------------- */

_Static_assert(NFIELDS <= PC_CONFIG_MAX_SHARED, "PC_CONFIG_MAX_SHARED must hold every field");
/* Shared values must fit pc_setting_t.value (and Setting on the wire)
 * whole, or two different settings could compare equal: the longest
 * string and the longest list in its text form ("65536,65536,...",
 * "1024x15,..."). */
#define SETTING_VALUE_SIZE sizeof(((pc_setting_t *)0)->value)
_Static_assert(sizeof(((pc_config_t *)0)->data.label) <= SETTING_VALUE_SIZE,
               "data.label must fit pc_setting_t.value");
_Static_assert(PC_MAX_HIDDEN * sizeof "65536," <= SETTING_VALUE_SIZE,
               "model.hidden's text form must fit pc_setting_t.value");
_Static_assert(PC_MAX_CONV * sizeof "1024x15," <= SETTING_VALUE_SIZE,
               "model.conv's text form must fit pc_setting_t.value");

size_t pc_config_shared(const pc_config_t *cfg, pc_setting_t *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < NFIELDS; i++) {
    const field_t *f = &fields[i];
    if (!f->shared)
      continue;
    if (cfg != NULL && out != NULL && n < cap) {
      snprintf(out[n].name, sizeof out[n].name, "%s.%s", f->sec, f->name);
      format_value(cfg, f, out[n].value, sizeof out[n].value);
    }
    n++;
  }
  return n;
}

/* Double-quoted so any path reads back unchanged; returns columns written. */
static int dump_string(const char *s, size_t size, FILE *out) {
  int w = 2;
  fputc('"', out);
  for (size_t i = 0; i < size && s[i] != '\0'; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      w += fprintf(out, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      w += fprintf(out, "\\x%02x", c);
    else
      w += fputc(c, out) != EOF;
  }
  fputc('"', out);
  return w;
}

/* Longest non-string value pc_config_dump writes: model.conv in YAML. */
#define DUMP_VALUE_MAX 256
_Static_assert(PC_MAX_CONV * sizeof "{filters: 1024, size: 15}, " + 2 <= DUMP_VALUE_MAX &&
                   PC_MAX_HIDDEN * sizeof "65536, " + 2 <= DUMP_VALUE_MAX,
               "raise DUMP_VALUE_MAX");

void pc_config_dump(const pc_config_t *cfg, FILE *out) {
  if (cfg == NULL || out == NULL)
    return;
  fprintf(out, "# Parasol configuration (effective values; see docs/config.md)\n");
  for (size_t i = 0; i < NFIELDS; i++) {
    const field_t *f = &fields[i];
    char val[DUMP_VALUE_MAX];
    if (i == 0 || strcmp(f->sec, fields[i - 1].sec) != 0)
      fprintf(out, "%s:\n", f->sec);
    int w = fprintf(out, "  %s: ", f->name);
    if (f->kind == K_STRING) {
      w += dump_string(field_cptr(cfg, f), f->size, out);
    } else if (f->kind == K_LIST) {
      list_format(cfg, f, true, val, sizeof val);
      w += fprintf(out, "%s", val);
    } else {
      format_value(cfg, f, val, sizeof val);
      w += fprintf(out, "%s", val);
    }
    fprintf(out, "%*s# %s\n", w < 38 ? 40 - w : 2, "", f->doc);
  }
}

const char *pc_config_optim_name(pc_optim_type_t t) {
  const char *name = enum_name(optim_types, (int)t);
  return name ? name : "unknown";
}

const char *pc_config_sched_name(pc_sched_type_t t) {
  const char *name = enum_name(sched_types, (int)t);
  return name ? name : "unknown";
}

const char *pc_config_model_name(pc_model_type_t t) {
  const char *name = enum_name(model_types, (int)t);
  return name ? name : "unknown";
}

const char *pc_config_format_name(pc_format_t t) {
  const char *name = enum_name(formats, (int)t);
  return name ? name : "unknown";
}

bool pc_config_validating(const pc_config_t *cfg) {
  return cfg->data.valid[0] != '\0' || cfg->data.valid_fraction > 0;
}

const char *pc_config_stop_metric_name(pc_stop_metric_t m) {
  const char *name = enum_name(stop_metrics, (int)m);
  return name ? name : "unknown";
}
