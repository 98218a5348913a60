/* The cluster/run configuration: one YAML file plus `--set key=value`
 * overrides. Every field has a documented default (docs/config.md); unknown
 * or misspelt fields, wrong types, out-of-range values, bytes that are not
 * UTF-8 and oversized files are errors that name the file, the line and the
 * field. Checks that only some roles need (data files, the scheduler to
 * join, the address to bind) are separate calls: pc_config_check_*. */
#ifndef PC_CONFIG_H
#define PC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pc_error.h"

#define PC_PATH_MAX 1024
#define PC_ENDPOINT_MAX 256
/* Largest config file accepted: far above any real one (a few KiB), small
 * enough that a wrong file is refused before the YAML parser sees it. */
#define PC_CONFIG_MAX_BYTES (1024 * 1024)

typedef enum {
  PC_MODEL_LOGISTIC = 1,
  PC_MODEL_SOFTMAX = 2,
  PC_MODEL_LINEAR = 3,
  PC_MODEL_MLP = 4,
  PC_MODEL_CNN = 5,
  PC_MODEL_MF = 6
} pc_model_type_t;
typedef enum { PC_LAYOUT_SPARSE = 0, PC_LAYOUT_DENSE = 1 } pc_layout_t;
typedef enum { PC_OPTIM_SGD = 1, PC_OPTIM_ADAGRAD = 2 } pc_optim_type_t;
/* Learning-rate schedules (docs/schedules.md), applied by the servers from
 * the global step (docs/protocol.md). */
typedef enum {
  PC_SCHED_CONSTANT = 0,
  PC_SCHED_STEP = 1,
  PC_SCHED_INVSQRT = 2,
  PC_SCHED_COSINE = 3
} pc_sched_type_t;
typedef enum {
  PC_FORMAT_LIBSVM = 1,
  PC_FORMAT_CSV = 2,
  PC_FORMAT_IDX = 3,
  PC_FORMAT_RATINGS = 4,
  PC_FORMAT_PREPARED = 5 /* split directories written by `parasol prep` (docs/prep.md) */
} pc_format_t;
typedef enum { PC_LOSS_SQUARED = 0, PC_LOSS_HUBER = 1 } pc_loss_t;
/* training.early_stop: the validation metric watched (docs/lifecycle.md). */
typedef enum {
  PC_STOP_NONE = 0,
  PC_STOP_ACCURACY,
  PC_STOP_LOGLOSS,
  PC_STOP_AUC,
  PC_STOP_TOP5,
  PC_STOP_RMSE,
  PC_STOP_MAE
} pc_stop_metric_t;

#define PC_MAX_HIDDEN 8
#define PC_MAX_CONV 4

/* One convolution layer of model.conv: `filters` kernels of size x size,
 * stride 1, no padding, then ReLU and 2x2 max-pooling. */
typedef struct pc_conv {
  int filters; /* 1..1024 */
  int size;    /* 1..15 */
} pc_conv_t;
typedef enum { PC_ON_ERROR_ABORT = 0, PC_ON_ERROR_SKIP = 1 } pc_on_error_t;

typedef struct pc_config {
  char path[PC_PATH_MAX]; /* file it was loaded from ("" for defaults) */
  struct {
    char scheduler[PC_ENDPOINT_MAX]; /* "tcp://127.0.0.1:0": port 0 = ephemeral */
    int servers;                     /* 1..1024, default 2 */
    int workers;                     /* 1..4096, default 2 */
    char bind[64];                   /* interface servers bind, default 127.0.0.1 */
    char advertise[64];              /* address peers dial, default "" = bind */
    int server_port;                 /* 0..65535, 0 = ephemeral, default 0 */
    double register_timeout;         /* seconds, (0, 3600], default 30 */
    double heartbeat;                /* seconds between heartbeats, (0, 60], default 1 */
    double node_timeout;             /* seconds of silence = dead, (0, 3600], default 10 */
    int vnodes;                      /* virtual nodes per server on the ring, 1..4096, default 256 */
  } cluster;
  struct {
    pc_model_type_t type;  /* logistic|softmax|linear|mlp|cnn|mf, default logistic */
    uint64_t features;     /* feature indices must be < features; 1..2^40, default 124 */
    pc_layout_t layout;    /* "sparse" (hashed) or "dense" (ranges), default sparse */
    int bias;              /* bool, default true: key `features` holds the bias */
    int classes;           /* softmax/mlp/cnn: 2..100000 (required); 0 = unset */
    int hidden[PC_MAX_HIDDEN]; /* mlp/cnn dense layers' widths, each 1..65536; YAML
                                  [256, 128], --set 256,128 */
    int nhidden;               /* default 0 ([]) */
    pc_conv_t conv[PC_MAX_CONV]; /* cnn: convolution layers, default []; YAML
                                    [{filters: 32, size: 5}], --set 32x5,64x3 */
    int nconv;
    int rank;              /* mf: embedding rank 1..1024, default 16 */
    pc_loss_t loss;        /* linear: "squared" | "huber", default squared */
    double huber_delta;    /* (0, 1e6], default 1 */
    double init_scale;     /* mf embeddings' N(0, s^2) init, [0, 10], default 0.1 */
  } model;
  struct {
    pc_optim_type_t type; /* "sgd" | "adagrad", default adagrad */
    double lr;            /* (0, 100], default 0.1 */
    double l2;            /* [0, 100], default 0.0001 */
    double eps;           /* AdaGrad epsilon (0, 1], default 1e-8 */
    double init_accum;    /* AdaGrad initial accumulator [0, 100], default 0 */
    pc_sched_type_t schedule; /* constant|step|invsqrt|cosine, default constant */
    uint64_t warmup;          /* steps of linear warm-up, 0..2^40, default 0 */
    uint64_t step_every;      /* step: decay every N steps, 0..2^40 (> 0 for step), default 0 */
    double step_factor;       /* step: multiply by this, (0, 1], default 0.1 */
    uint64_t cosine_steps;    /* cosine: total steps, warm-up included, 0..2^40
                                 (> warmup for cosine), default 0 */
    double min_lr_fraction;   /* the decay stops at lr x this, [0, 1], default 0 */
  } optimizer;
  struct {
    int epochs;       /* 1..100000, default 5 */
    int batch;        /* 1..1000000, default 256 */
    int inflight;     /* 1..1024, default 4: outstanding requests per worker */
    uint64_t seed;    /* any uint64, default 1 */
    double log_every; /* seconds between progress lines, [0, 3600], default 1; 0 = per epoch only */
    int prefetch;     /* bool, default true: pull batch t+1 while computing batch t */
    int eval_every;   /* with data.valid: evaluate every N epochs, 1..100000, default 1 */
    uint64_t eval_steps; /* with data.valid: also every N steps inside epochs, 0..2^40; 0 = off */
    pc_stop_metric_t early_stop; /* none (default) or the validation metric to watch */
    int patience;     /* evaluations without improvement before stopping, 1..100000, default 3 */
    char init[PC_PATH_MAX]; /* fine-tuning: a trained model file to start from; "" = none */
  } training;
  struct {
    char train[PC_PATH_MAX]; /* required by pc_config_check_data */
    char test[PC_PATH_MAX];  /* "" = no evaluation; checked when set */
    pc_format_t format;      /* libsvm|csv|idx|ratings|prepared, default libsvm */
    char label[64];          /* csv: label column, a header name or a 0-based number (required) */
    char labels[PC_PATH_MAX];      /* idx: labels file of data.train (required for idx) */
    char test_labels[PC_PATH_MAX]; /* idx: labels file of data.test */
    char valid[PC_PATH_MAX];       /* validation file: evaluated during training; "" = none */
    char valid_labels[PC_PATH_MAX];/* idx: labels file of data.valid */
    char source[256];        /* where to get the data files: said when one is missing */
    int label_offset;        /* subtracted from every class label, -1e6..1e6, default 0 */
    double test_fraction;    /* hold out this fraction of data.train as the test set, [0, 1) */
    uint64_t test_rows;      /* or its last N rows; default 0 (neither) */
    double valid_fraction;   /* hold out this fraction of the training rows as the
                                validation set, [0, 1), default 0; not with data.valid */
    int standardize;         /* bool, default false: dense features to mean 0, variance 1 */
    pc_on_error_t on_error;  /* "abort" | "skip", default abort */
    uint64_t max_bad_lines;  /* with skip: give up after this many, default 1000 */
  } data;
  struct {
    char dir[PC_PATH_MAX]; /* default "runs/default" */
  } output;
  /* Private to pc_config.c, kept so errors can name where a value came
   * from. src_line: per field (in the order of docs/config.md), 0 =
   * default, > 0 = 1-based line in path, -1 = --set. src_sec_line: line
   * of each section's key in path, 0 = absent. */
  int src_line[64];
  int src_sec_line[8];
} pc_config_t;

/* Fill every field with its documented default. */
void pc_config_defaults(pc_config_t *cfg);

/* Load defaults, then the YAML file at path, then apply each "key=value"
 * of sets in order (dotted keys: "cluster.workers=8"), then validate
 * (ranges, cross-field rules). The file must be at most
 * PC_CONFIG_MAX_BYTES of UTF-8 text (a leading BOM is skipped) without NUL
 * bytes. Data files are not looked at: see pc_config_check_data. On error
 * fills err with e.g.
 * "examples/a9a.yaml:4: cluster.workers: expected an integer, got 'two'"
 * or "--set cluster.wrkers=8: unknown field 'cluster.wrkers'". */
int pc_config_load(pc_config_t *cfg, const char *path, const char *const *sets, int nsets,
                   pc_err_t *err);

/* Apply one "key=value" override to an already loaded config (no
 * validation). The assignment must be valid UTF-8. */
int pc_config_set(pc_config_t *cfg, const char *assignment, pc_err_t *err);

/* Range and cross-field checks; messages name the field (and file:line
 * when it came from the file). Does not touch data files. */
int pc_config_validate(const pc_config_t *cfg, pc_err_t *err);

/* For processes that read the data (workers, and `parasol launch` before it
 * starts any): data.train is set and a readable regular file; data.test,
 * data.labels, data.test_labels, data.valid, data.valid_labels and
 * training.init are ones when set (a hold-out,
 * data.test_fraction or data.test_rows, has no data.test). Messages name
 * the field and where it was set, e.g.
 * "a9a.yaml:8: data.train: 'nope': cannot open: No such file or directory". */
int pc_config_check_data(const pc_config_t *cfg, pc_err_t *err);

/* Whether key ("model.features") was given, in the file or by --set,
 * rather than left at its default. 0 for an unknown key. */
int pc_config_is_set(const pc_config_t *cfg, const char *key);

/* For processes that join a scheduler (server, worker): cluster.scheduler
 * must name a port they can dial, so tcp:// needs a host and a port in
 * 1..65535 (not 0 or '*', which only the scheduler itself can bind);
 * ipc:// is accepted as is. */
int pc_config_check_join(const pc_config_t *cfg, pc_err_t *err);

/* For processes that bind (servers, and `parasol launch` for them):
 * cluster.bind is '*', a numeric IPv4/IPv6 address or the name of a
 * network interface of this host (the error lists them); cluster.advertise
 * is empty or a host name / numeric address peers can dial (not '*' or
 * 0.0.0.0; syntax only, no DNS), and must be set when bind is a wildcard. */
int pc_config_check_bind(const pc_config_t *cfg, pc_err_t *err);

/* One setting every node of a cluster must agree on. */
typedef struct pc_setting {
  char name[48];  /* "optimizer.lr" */
  char value[96]; /* "0.1" */
} pc_setting_t;

#define PC_CONFIG_MAX_SHARED 64

/* The settings that every node of one cluster must agree on: model.*,
 * optimizer.*, training.* except training.log_every and training.inflight,
 * and data.format, data.label, data.label_offset, data.test_fraction,
 * data.test_rows, data.standardize, data.on_error, data.max_bad_lines (not
 * addresses, ports, counts, timeouts, paths or output). Each value is one
 * canonical text, so equal settings give equal strings: numbers, bools
 * and enums as pc_config_dump writes them ("0.1"), strings as they are
 * (without the dump's quotes), lists in the form --set takes ("256,128",
 * "32x5,64x3", "" when empty). Fills out[0..cap) in field-table order (out
 * may be NULL when cap is 0), returns the number of shared settings (at
 * most PC_CONFIG_MAX_SHARED). */
size_t pc_config_shared(const pc_config_t *cfg, pc_setting_t *out, size_t cap);

/* Write the effective configuration as YAML (same layout as the input). */
void pc_config_dump(const pc_config_t *cfg, FILE *out);

/* Name helpers for logs and files ("logistic", "adagrad", "csv", ...);
 * "unknown" for a value outside the enum. */
const char *pc_config_optim_name(pc_optim_type_t t);
const char *pc_config_sched_name(pc_sched_type_t t);
const char *pc_config_model_name(pc_model_type_t t);
const char *pc_config_format_name(pc_format_t t);
/* Whether the run evaluates a validation set during training: data.valid
 * or data.valid_fraction. */
bool pc_config_validating(const pc_config_t *cfg);
const char *pc_config_stop_metric_name(pc_stop_metric_t m); /* "none", "logloss", ... */

#endif
