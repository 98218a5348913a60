/* The cluster/run configuration: one YAML file plus `--set key=value`
 * overrides. Every field has a documented default (docs/config.md); unknown
 * or misspelt fields, wrong types, out-of-range values and missing data
 * files are errors that name the file, the line and the field. */
#ifndef PC_CONFIG_H
#define PC_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "pc_error.h"

#define PC_PATH_MAX 1024
#define PC_ENDPOINT_MAX 256

typedef enum { PC_MODEL_LOGISTIC = 1 } pc_model_type_t;
typedef enum { PC_LAYOUT_SPARSE = 0, PC_LAYOUT_DENSE = 1 } pc_layout_t;
typedef enum { PC_OPTIM_SGD = 1, PC_OPTIM_ADAGRAD = 2 } pc_optim_type_t;
typedef enum { PC_FORMAT_LIBSVM = 1 } pc_format_t;
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
    pc_model_type_t type;  /* "logistic", default logistic */
    uint64_t features;     /* feature indices must be < features; 1..2^40, default 124 */
    pc_layout_t layout;    /* "sparse" (hashed) or "dense" (ranges), default sparse */
    int bias;              /* bool, default true: key `features` holds the bias */
  } model;
  struct {
    pc_optim_type_t type; /* "sgd" | "adagrad", default adagrad */
    double lr;            /* (0, 100], default 0.1 */
    double l2;            /* [0, 100], default 0.0001 */
    double eps;           /* AdaGrad epsilon (0, 1], default 1e-8 */
    double init_accum;    /* AdaGrad initial accumulator [0, 100], default 0 */
  } optimizer;
  struct {
    int epochs;       /* 1..100000, default 5 */
    int batch;        /* 1..1000000, default 256 */
    int inflight;     /* 1..1024, default 4: outstanding requests per worker */
    uint64_t seed;    /* any uint64, default 1 */
    double log_every; /* seconds between progress lines, [0, 3600], default 1; 0 = per epoch only */
    int prefetch;     /* bool, default true: pull batch t+1 while computing batch t */
  } training;
  struct {
    char train[PC_PATH_MAX]; /* required to exist */
    char test[PC_PATH_MAX];  /* "" = no evaluation; must exist when set */
    pc_format_t format;      /* "libsvm", default libsvm */
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
  int src_line[40];
  int src_sec_line[8];
} pc_config_t;

/* Fill every field with its documented default. */
void pc_config_defaults(pc_config_t *cfg);

/* Load defaults, then the YAML file at path, then apply each "key=value"
 * of sets in order (dotted keys: "cluster.workers=8"), then validate
 * (ranges, data files exist). On error fills err with e.g.
 * "examples/a9a.yaml:4: cluster.workers: expected an integer, got 'two'"
 * or "--set cluster.wrkers=8: unknown field 'cluster.wrkers'". */
int pc_config_load(pc_config_t *cfg, const char *path, const char *const *sets, int nsets,
                   pc_err_t *err);

/* Apply one "key=value" override to an already loaded config (no file check). */
int pc_config_set(pc_config_t *cfg, const char *assignment, pc_err_t *err);

/* Range and cross-field checks plus existence of data files; messages name
 * the field (and file:line when it came from the file). */
int pc_config_validate(const pc_config_t *cfg, pc_err_t *err);

/* Write the effective configuration as YAML (same layout as the input). */
void pc_config_dump(const pc_config_t *cfg, FILE *out);

/* Name helpers for logs and files ("logistic", "adagrad", ...). */
const char *pc_config_optim_name(pc_optim_type_t t);
const char *pc_config_model_name(pc_model_type_t t);

#endif
