/* parasol: one binary, one subcommand per role. Thin: parse arguments,
 * load the config, call into ps/, worker/ or deploy/. Each command is one
 * row of a table with its own getopt_long options, so an option that
 * belongs to another command is refused by name instead of ignored. */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Only for `parasol version`: each library's own run-time version call. */
#include <jansson.h>
#include <libfyaml.h>
#include <protobuf-c/protobuf-c.h>
#include <uv.h>
#include <xxhash.h>
#include <zmq.h>

#include "pc_afile.h"
#include "pc_config.h"
#include "pc_log.h"
#include "pc_metrics.h"
#include "pc_proc.h"
#include "pd_launch.h"
#include "pd_sweep.h"
#include "pd_plot.h"
#include "ps_scheduler.h"
#include "ps_optim.h"
#include "ps_server.h"
#include "ps_store.h"
#include "pw_data.h"
#include "pw_eval.h"
#include "pw_evaluate.h"
#include "pw_init.h"
#include "pw_prep.h"
#include "pw_prepared.h"
#include "pw_score.h"
#include "pw_worker.h"

#ifndef PARASOL_VERSION
#error "PARASOL_VERSION comes from CMake's project(VERSION)"
#endif

#define MAX_SETS 256
#define MAX_POS PD_PLOT_RUNS_MAX /* plot takes several run directories */
enum { EXIT_RUN = 1, EXIT_USAGE = 2 };

/* getopt_long codes; above any char so optopt tells them from short ones. */
enum {
  OPT_SET = 256,
  OPT_RANK,
  OPT_ANNOUNCE,
  OPT_OUTPUT,
  OPT_THRESHOLD,
  OPT_FORMAT,
  OPT_LABEL,
  OPT_LABELS,
  OPT_JSON,
  OPT_GRID,
  OPT_PARALLEL,
  OPT_INIT,
  OPT_KIND,
  OPT_MISSING,
  OPT_STANDARDIZE,
  OPT_SPLIT,
  OPT_SHARDS,
  OPT_SEED,
  OPT_MAXCAT,
  OPT_IGNORE,
  OPT_FORCE,
  OPT_OUT
};

struct cli_cmd;

typedef struct cli_args {
  const struct cli_cmd *cmd;
  const char *pos[MAX_POS]; /* positional arguments (the first MAX_POS) */
  int npos;           /* how many were given */
  const char *sets[MAX_SETS];
  int nsets;
  int rank;
  int announce;
  int help;
  const char *output; /* predict: NULL = stdout; plot: NULL = the default */
  double threshold;   /* predict: class 1 when probability >= threshold */
  pw_score_opts_t score; /* predict, eval: how to read DATA */
  int json;           /* eval: one JSON object */
  const char *grids[PD_SWEEP_MAX_GRIDS]; /* sweep: "key=v1,v2" */
  int ngrids;
  int parallel;       /* sweep: runs at a time */
  char init_set[PC_PATH_MAX + 16]; /* launch, worker: --init MODEL as "training.init=MODEL" */
  pw_prep_opts_t prep; /* prep: all but format, label, labels (in score) */
} cli_args_t;

typedef struct cli_cmd {
  const char *name;
  const char *synopsis; /* for the command list */
  const char *summary;
  const char *help;
  const struct option *opts;
  int npos;             /* positional arguments it needs; -1: 1 to MAX_POS */
  const char *pos_what; /* how the error names them */
  int (*run)(const cli_args_t *a);
} cli_cmd_t;

#define OPT_HELP_ROW {"help", no_argument, NULL, 'h'}
#define OPT_SET_ROW {"set", required_argument, NULL, OPT_SET}
#define OPT_END_ROW {NULL, 0, NULL, 0}

#define OPT_INIT_ROW {"init", required_argument, NULL, OPT_INIT}
static const struct option launch_opts[] = {OPT_SET_ROW, OPT_INIT_ROW, OPT_HELP_ROW,
                                            OPT_END_ROW};
static const struct option scheduler_opts[] = {
    OPT_SET_ROW, {"announce", no_argument, NULL, OPT_ANNOUNCE}, OPT_HELP_ROW, OPT_END_ROW};
static const struct option role_opts[] = {
    OPT_SET_ROW, {"rank", required_argument, NULL, OPT_RANK}, OPT_HELP_ROW, OPT_END_ROW};
static const struct option worker_opts[] = {OPT_SET_ROW,  {"rank", required_argument, NULL, OPT_RANK},
                                            OPT_INIT_ROW, OPT_HELP_ROW, OPT_END_ROW};
#define OPT_DATA_ROWS                                                                              \
  {"format", required_argument, NULL, OPT_FORMAT}, {"label", required_argument, NULL, OPT_LABEL},  \
      {"labels", required_argument, NULL, OPT_LABELS}
static const struct option predict_opts[] = {{"output", required_argument, NULL, OPT_OUTPUT},
                                             {"threshold", required_argument, NULL, OPT_THRESHOLD},
                                             OPT_DATA_ROWS, OPT_HELP_ROW, OPT_END_ROW};
static const struct option eval_opts[] = {{"json", no_argument, NULL, OPT_JSON}, OPT_DATA_ROWS,
                                          OPT_HELP_ROW, OPT_END_ROW};
static const struct option sweep_opts[] = {
    OPT_SET_ROW, {"grid", required_argument, NULL, OPT_GRID},
    {"parallel", required_argument, NULL, OPT_PARALLEL}, OPT_HELP_ROW, OPT_END_ROW};
static const struct option plot_opts[] = {{"output", required_argument, NULL, OPT_OUTPUT},
                                          OPT_HELP_ROW, OPT_END_ROW};
static const struct option prep_opts[] = {
    OPT_DATA_ROWS, {"kind", required_argument, NULL, OPT_KIND},
    {"missing", required_argument, NULL, OPT_MISSING},
    {"standardize", no_argument, NULL, OPT_STANDARDIZE},
    {"split", required_argument, NULL, OPT_SPLIT}, {"shards", required_argument, NULL, OPT_SHARDS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"max-categories", required_argument, NULL, OPT_MAXCAT},
    {"ignore", required_argument, NULL, OPT_IGNORE},
    {"force", no_argument, NULL, OPT_FORCE}, {"out", required_argument, NULL, OPT_OUT},
    OPT_HELP_ROW, OPT_END_ROW};
static const struct option bare_opts[] = {OPT_HELP_ROW, OPT_END_ROW};

static const char launch_help[] =
    "usage: parasol launch CONFIG [--init MODEL] [--set key=value]...\n"
    "Start 1 scheduler, cluster.servers servers and cluster.workers workers as local\n"
    "processes, show their output prefixed by role and rank, and print the test metrics.\n"
    "Ctrl-C stops every process. Exits non-zero if any process fails, naming it.\n"
    "  --init MODEL      fine-tune: start from a trained model file (training.init);\n"
    "                    its model type and tables must be this config's, or the run\n"
    "                    is refused before anything starts (exit status 2)\n"
    "  --set key=value   override a config entry, e.g. --set cluster.workers=8\n";
static const char scheduler_help[] =
    "usage: parasol scheduler CONFIG [--set key=value]... [--announce]\n"
    "Run the coordinator: binds cluster.scheduler (port 0 = pick a free port), waits\n"
    "for the servers and workers to register, and drives the run to its end.\n"
    "  --announce        print '@endpoint <endpoint>' on stdout once bound\n"
    "  --set key=value   override a config entry\n";
static const char role_help[] =
    "usage: parasol server|worker CONFIG [--rank N] [--set key=value]... (worker: [--init MODEL])\n"
    "Join the cluster whose scheduler is cluster.scheduler (give the real port, e.g.\n"
    "--set cluster.scheduler=tcp://10.0.0.1:7000). Servers bind cluster.bind:\n"
    "cluster.server_port and advertise cluster.advertise (default: the bind address).\n"
    "  --rank N          ask for rank N (default: the scheduler assigns one)\n"
    "  --init MODEL      worker: fine-tune from a trained model file (training.init;\n"
    "                    give it to every worker)\n"
    "  --set key=value   override a config entry\n";
#define DATA_OPTS_HELP                                                                             \
  "  --format F        read DATA as F (libsvm, csv, idx, ratings); default: as the\n"            \
  "                    model was trained\n"                                                       \
  "  --label COL       csv: the label column (name or 0-based number); default: the\n"           \
  "                    model's data.label\n"                                                      \
  "  --labels FILE     idx: the labels file that goes with the images file DATA\n"
static const char predict_help[] =
    "usage: parasol predict MODEL DATA|- [--output FILE] [--threshold T] [--format F]\n"
    "Load a model written by a training run (<output.dir>/model.bin) and print one line\n"
    "per example of DATA ('-' = standard input, LIBSVM only), read as the model was\n"
    "trained (its data.format and label column; its standardization applied):\n"
    "  binary (logistic):     'CLASS PROBABILITY', PROBABILITY = P(label = 1) with 6\n"
    "                         decimals, CLASS 1 when PROBABILITY >= T\n"
    "  multiclass (softmax, mlp, cnn): 'CLASS PROBABILITY' of the most probable class\n"
    "  regression (linear, mf):        the predicted number\n"
    "LIBSVM labels are optional: a line may start with index:value, and an empty line\n"
    "is an example with no features. Comment lines ('#') print nothing.\n"
    "  --output FILE     write to FILE (through FILE.tmp, renamed once complete)\n"
    "  --threshold T     binary class threshold in [0, 1], default 0.5; 0 makes every\n"
    "                    class 1, 1 makes every class 0\n" DATA_OPTS_HELP;
static const char eval_help[] =
    "usage: parasol eval MODEL DATA|- [--json] [--format F]\n"
    "Print the metrics of MODEL on DATA ('-' = standard input, LIBSVM only), one\n"
    "'name value' line each: binary accuracy (threshold 0.5), logloss, auc;\n"
    "multiclass accuracy, top5 (more than 5 classes), logloss and the confusion\n"
    "matrix; regression rmse, mae. Every example needs a label; a line without one\n"
    "is an error that names it.\n"
    "  --json            print one JSON object (as metrics.json's \"test\")\n" DATA_OPTS_HELP;
static const char sweep_help[] =
    "usage: parasol sweep CONFIG --grid key=v1,v2,... [--grid ...]... [--parallel N]\n"
    "                     [--set key=value]...\n"
    "Train every combination of the grids' values, each as `parasol launch CONFIG` with\n"
    "output.dir=<output.dir>/sweep/<name> (name from the settings, e.g. lr=0.1,batch=64;\n"
    "its output in <output.dir>/sweep/<name>.log), then print the runs best first by\n"
    "their first metric (validation when metrics.json has it, else test) and write\n"
    "<output.dir>/sweep/sweep.json and sweep.csv. Ctrl-C stops every run.\n"
    "Exits 1 if any run failed (after the others end).\n"
    "  --grid key=v1,v2  a config key and its values (separate them by ';' instead\n"
    "                    when a value is a list: model.hidden=256,128;64); at most\n"
    "                    1000 combinations\n"
    "  --parallel N      runs at a time (default 1); N > 1 needs cluster.scheduler\n"
    "                    and cluster.server_port on port 0\n"
    "  --set key=value   override a config entry in every run\n";
static const char plot_help[] =
    "usage: parasol plot RUN_DIR [RUN_DIR...] [--output FILE.png]\n"
    "Draw the training and validation curves of finished runs (each RUN_DIR's\n"
    "metrics.csv) with gnuplot (Debian package gnuplot-nox) as a 900x600 PNG: a\n"
    "losses panel (train_loss, valid_logloss, valid_rmse, valid_mae) and a scores\n"
    "panel (valid_accuracy, valid_auc, valid_top5) against the epoch, one line per\n"
    "run and series, named by the run directory. The gnuplot script is written\n"
    "beside the image (curves.png -> curves.gp) to edit and re-run with gnuplot.\n"
    "  --output FILE     the image (written through FILE.tmp, renamed once complete);\n"
    "                    default: RUN_DIR/curves.png for one run, plot.png in the\n"
    "                    current directory for several\n";
static const char prep_help[] =
    "usage: parasol prep INPUT --format csv|libsvm|idx|ratings --out DIR [--label COL]\n"
    "                    [--labels FILE] [--kind binary|class|real] [--missing mean|zero|drop]\n"
    "                    [--standardize] [--split TRAIN,VALID,TEST] [--shards N] [--seed S]\n"
    "                    [--max-categories K] [--ignore COL,...] [--force]\n"
    "Read raw data, drop dirty rows (each reason counted, with its first line numbers),\n"
    "encode a CSV's columns (numbers; text as one-hot categories, hashed past K), split\n"
    "it by the seed (stratified by class) and write DIR/train, DIR/valid, DIR/test as N\n"
    "shards each, plus DIR/prep.json (docs/prep.md). INPUT is never written.\n"
    "  --format F        csv (default), libsvm, idx (with --labels), ratings\n"
    "  --label COL       csv: the label column (name or 0-based number); default: the last\n"
    "  --labels FILE     idx: the labels file that goes with the images file INPUT\n"
    "  --kind K          binary, class or real; default: from the labels (csv: numbers\n"
    "                    with a fraction -> real, two values -> binary, else class;\n"
    "                    libsvm binary, idx class, ratings real)\n"
    "  --missing M       a missing cell: mean (of the training split, default), zero, or\n"
    "                    drop the row\n"
    "  --standardize     scale features to mean 0, deviation 1 (training split's figures;\n"
    "                    csv and idx)\n"
    "  --split T,V,E     fractions summing to 1, train above 0 (default 0.8,0.1,0.1)\n"
    "  --shards N        shards per split, 1..4096 (default 1)\n"
    "  --seed S          seed of the split and the shuffle (default 1)\n"
    "  --max-categories K  one-hot up to K categories, hashed into K buckets past it\n"
    "                    (default 32)\n"
    "  --ignore COL,...  csv: columns that are no feature (ids, free text); still part of\n"
    "                    the duplicate check\n"
    "  --force           write into a non-empty DIR (its prep.json and splits replaced)\n"
    "  --out DIR         where to write (created if missing)\n";
static const char version_help[] =
    "usage: parasol version   (or: parasol --version)\n"
    "Print the Parasol version and the version of each library as loaded at run time.\n";

static int cmd_launch(const cli_args_t *a);
static int cmd_scheduler(const cli_args_t *a);
static int cmd_server(const cli_args_t *a);
static int cmd_worker(const cli_args_t *a);
static int cmd_predict(const cli_args_t *a);
static int cmd_eval(const cli_args_t *a);
static int cmd_plot(const cli_args_t *a);
static int cmd_version(const cli_args_t *a);
static int cmd_sweep(const cli_args_t *a);
static int cmd_prep(const cli_args_t *a);

static const cli_cmd_t commands[] = {
    {"launch", "launch CONFIG", "run a whole cluster (scheduler, servers, workers) on this machine",
     launch_help, launch_opts, 1, "one CONFIG file", cmd_launch},
    {"scheduler", "scheduler CONFIG", "run the coordinator of a cluster", scheduler_help,
     scheduler_opts, 1, "one CONFIG file", cmd_scheduler},
    {"server", "server CONFIG", "run one parameter server", role_help, role_opts, 1,
     "one CONFIG file", cmd_server},
    {"worker", "worker CONFIG", "run one worker", role_help, worker_opts, 1, "one CONFIG file",
     cmd_worker},
    {"sweep", "sweep CONFIG", "train every combination of a few settings and rank them",
     sweep_help, sweep_opts, 1, "one CONFIG file", cmd_sweep},
    {"prep", "prep INPUT", "clean, encode, split and shard raw data for training (--out DIR)",
     prep_help, prep_opts, 1, "one INPUT file", cmd_prep},
    {"predict", "predict MODEL DATA", "print a trained model's prediction for each example",
     predict_help, predict_opts, 2, "MODEL and DATA", cmd_predict},
    {"eval", "eval MODEL DATA", "print a trained model's test metrics on a data file", eval_help,
     eval_opts, 2, "MODEL and DATA", cmd_eval},
    {"plot", "plot RUN_DIR...", "draw runs' training and validation curves as a PNG (gnuplot)",
     plot_help, plot_opts, -1, "1 to 64 RUN_DIRs", cmd_plot},
    {"version", "version", "print the versions of Parasol and its libraries", version_help,
     bare_opts, 0, "no argument", cmd_version},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fputs("usage: parasol <command> [options]\n\ncommands:\n", f);
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-19s %s\n", commands[i].synopsis, commands[i].summary);
  fputs("\nRun 'parasol <command> --help' for the options of a command;\n"
        "'parasol --version' is 'parasol version'.\n",
        f);
}

static const cli_cmd_t *find_cmd(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

/* ---- arguments ---- */

static int parse_rank(const char *s, int *out) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 0 || v > 1 << 24)
    return -1;
  *out = (int)v;
  return 0;
}

/* NaN fails both comparisons, so it is refused too. */
static int parse_threshold(const char *s, double *out) {
  char *end = NULL;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
    return -1;
  *out = v;
  return 0;
}

static const struct option *find_opt(const struct option *opts, int val) {
  for (; opts->name != NULL; opts++)
    if (opts->val == val)
      return opts;
  return NULL;
}

/* getopt_long said '?' (refused) or ':' (value missing): say which option,
 * of which command. opterr is off, so this is the only message. */
static int refuse(const cli_args_t *a, int c, char **argv) {
  const char *cmd = a->cmd->name;
  const struct option *o = optopt != 0 ? find_opt(a->cmd->opts, optopt) : NULL;
  if (c == ':' && o != NULL)
    fprintf(stderr, "parasol %s: --%s needs a value\n", cmd, o->name);
  else if (o != NULL)
    fprintf(stderr, "parasol %s: --%s takes no value\n", cmd, o->name);
  else if (optopt != 0)
    fprintf(stderr, "parasol %s: '-%c' is not an option of '%s' (see 'parasol %s --help')\n",
            cmd, optopt, cmd, cmd);
  else {
    const char *s = argv[optind - 1];
    fprintf(stderr, "parasol %s: '%.*s' is not an option of '%s' (see 'parasol %s --help')\n",
            cmd, (int)strcspn(s, "="), s, cmd, cmd);
  }
  return EXIT_USAGE;
}

static void add_positional(cli_args_t *a, const char *s) {
  if (a->npos < MAX_POS)
    a->pos[a->npos] = s;
  a->npos++;
}

static int take_set(cli_args_t *a, const char *v) {
  if (a->nsets == MAX_SETS) {
    fprintf(stderr, "parasol %s: more than %d --set options\n", a->cmd->name, MAX_SETS);
    return EXIT_USAGE;
  }
  a->sets[a->nsets++] = v;
  return 0;
}

/* --init MODEL is --set training.init=MODEL, in its place among the --sets
 * (so the children of `launch` get it too). */
static int take_init(cli_args_t *a, const char *v) {
  const char *cmd = a->cmd->name;
  if (a->init_set[0] != '\0') {
    fprintf(stderr, "parasol %s: --init given twice\n", cmd);
    return EXIT_USAGE;
  }
  if (*v == '\0' || strlen(v) >= PC_PATH_MAX) {
    fprintf(stderr, "parasol %s: --init needs a model file name (at most %d bytes)\n", cmd,
            PC_PATH_MAX - 1);
    return EXIT_USAGE;
  }
  snprintf(a->init_set, sizeof a->init_set, "training.init=%s", v);
  return take_set(a, a->init_set);
}

static int take_grid(cli_args_t *a, const char *v) {
  if (a->ngrids == PD_SWEEP_MAX_GRIDS) {
    fprintf(stderr, "parasol %s: more than %d --grid options\n", a->cmd->name,
            PD_SWEEP_MAX_GRIDS);
    return EXIT_USAGE;
  }
  a->grids[a->ngrids++] = v;
  return 0;
}

static int bad_value(const char *opt, const char *want, const char *v) {
  fprintf(stderr, "parasol prep: --%s needs %s, got '%s'\n", opt, want, v);
  return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *end != '\0' || errno != 0 || s[0] == '-' || v > max)
    return -1;
  *out = v;
  return 0;
}

static int parse_split(const char *s, double f[3]) {
  int n = 0;
  return sscanf(s, "%lf,%lf,%lf%n", &f[0], &f[1], &f[2], &n) == 3 && s[n] == '\0' ? 0 : -1;
}

static int name_of(const char *v, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(v, names[i]) == 0)
      return i;
  return -1;
}

/* prep's own options (pw_prep_opts_t; pw_prep_run checks their ranges). */
static int take_prep(pw_prep_opts_t *p, int c, const char *v) {
  static const char *const kinds[] = {"binary", "class", "real"};
  static const char *const missing[] = {"mean", "zero", "drop"};
  uint64_t x;
  int k;
  switch (c) {
  case OPT_KIND:
    if ((k = name_of(v, kinds, 3)) < 0)
      return bad_value("kind", "binary, class or real", v);
    p->labels = (pw_label_kind_t)k;
    p->labels_auto = 0;
    return 0;
  case OPT_MISSING:
    if ((k = name_of(v, missing, 3)) < 0)
      return bad_value("missing", "mean, zero or drop", v);
    p->missing = (pw_missing_t)k;
    return 0;
  case OPT_STANDARDIZE: p->standardize = 1; return 0;
  case OPT_IGNORE: p->ignore = v; return 0;
  case OPT_FORCE: p->force = 1; return 0;
  case OPT_OUT: p->out = v; return 0;
  case OPT_SPLIT:
    return parse_split(v, p->split) == 0 ? 0 : bad_value("split", "TRAIN,VALID,TEST fractions", v);
  case OPT_SHARDS:
    if (parse_u64(v, UINT32_MAX, &x) != 0)
      return bad_value("shards", "a number of shards (1..4096)", v);
    p->shards = (uint32_t)x;
    return 0;
  case OPT_MAXCAT:
    if (parse_u64(v, UINT32_MAX, &x) != 0)
      return bad_value("max-categories", "a positive integer", v);
    p->max_categories = (uint32_t)x;
    return 0;
  case OPT_SEED:
    if (parse_u64(v, UINT64_MAX, &p->seed) != 0)
      return bad_value("seed", "a non-negative integer", v);
    return 0;
  default: return EXIT_USAGE;
  }
}

/* One accepted option (or, as code 1, a positional argument). */
static int take(cli_args_t *a, int c, const char *v) {
  const char *cmd = a->cmd->name;
  if (c >= OPT_KIND && c <= OPT_OUT)
    return take_prep(&a->prep, c, v);
  switch (c) {
  case 1: add_positional(a, v); return 0;
  case 'h': a->help = 1; return 0;
  case OPT_ANNOUNCE: a->announce = 1; return 0;
  case OPT_OUTPUT:
    a->output = v;
    if (*v != '\0')
      return 0;
    fprintf(stderr, "parasol %s: --output needs a file name\n", cmd);
    return EXIT_USAGE;
  case OPT_SET: return take_set(a, v);
  case OPT_FORMAT: a->score.format = v; return 0;
  case OPT_LABEL: a->score.label = v; return 0;
  case OPT_LABELS: a->score.labels = v; return 0;
  case OPT_JSON: a->json = 1; return 0;
  case OPT_GRID: return take_grid(a, v);
  case OPT_INIT: return take_init(a, v);
  case OPT_PARALLEL:
    if (parse_rank(v, &a->parallel) == 0 && a->parallel >= 1)
      return 0;
    fprintf(stderr, "parasol %s: --parallel needs a positive integer, got '%s'\n", cmd, v);
    return EXIT_USAGE;
  case OPT_RANK:
    if (parse_rank(v, &a->rank) == 0)
      return 0;
    fprintf(stderr, "parasol %s: --rank needs a non-negative integer, got '%s'\n", cmd, v);
    return EXIT_USAGE;
  case OPT_THRESHOLD:
    if (parse_threshold(v, &a->threshold) == 0)
      return 0;
    fprintf(stderr, "parasol %s: --threshold needs a number in [0, 1], got '%s'\n", cmd, v);
    return EXIT_USAGE;
  default: return EXIT_USAGE; /* unreachable: getopt returns only the table's codes */
  }
}

/* argv[0] is the command. Options and positionals in any order, "--opt v"
 * and "--opt=v" alike; "--" ends the options. Returns 0 or an exit code. */
static int parse_args(const cli_cmd_t *c, int argc, char **argv, cli_args_t *a) {
  memset(a, 0, sizeof *a);
  a->cmd = c;
  a->rank = -1;
  a->threshold = 0.5;
  a->parallel = 1;
  pw_prep_opts_default(&a->prep);
  opterr = 0;
  optind = 1;
  int ch;
  /* '-': positionals come back in order as code 1 (no reordering, and
   * POSIXLY_CORRECT cannot stop option parsing at the first one);
   * ':': a missing value is ':' rather than '?'. */
  while ((ch = getopt_long(argc, argv, "-:h", c->opts, NULL)) != -1) {
    if (ch == '?' || ch == ':')
      return refuse(a, ch, argv);
    int x = take(a, ch, optarg);
    if (x != 0)
      return x;
  }
  for (; optind < argc; optind++) /* what followed "--" */
    add_positional(a, argv[optind]);
  return 0;
}

/* ---- cluster roles ---- */

/* What a command checks beyond the file itself (docs/config.md, "Checks
 * by role"): only the processes that read data need the data files. */
enum { CHECK_DATA = 1, CHECK_JOIN = 2, CHECK_BIND = 4 };

static int load_config(const cli_args_t *a, pc_config_t *cfg, int checks) {
  pc_err_t err = {0};
  int rc = pc_config_load(cfg, a->pos[0], a->sets, a->nsets, &err);
  if (rc == PC_OK && (checks & CHECK_JOIN))
    rc = pc_config_check_join(cfg, &err);
  if (rc == PC_OK && (checks & CHECK_BIND))
    rc = pc_config_check_bind(cfg, &err);
  if (rc == PC_OK && (checks & CHECK_DATA))
    rc = pc_config_check_data(cfg, &err);
  /* prepared data: model.features (and classes) from the shards, on every node alike */
  if (rc == PC_OK)
    rc = pw_prep_config_fill(cfg, &err);
  if (rc != PC_OK) {
    fprintf(stderr, "parasol %s: error: %s\n", a->cmd->name, err.msg);
    return EXIT_USAGE;
  }
  return 0;
}

/* A role stopped by SIGINT/SIGTERM exits as the shell reports a process
 * killed by it (128 + signal); every other failure exits 1. */
static int report(int rc, const pc_err_t *err) {
  if (rc == PC_OK)
    return 0;
  PC_ERROR("%s", err->msg[0] ? err->msg : parasol_strerror(rc));
  int sig = pc_proc_stop_signal();
  return sig ? 128 + sig : EXIT_RUN;
}

/* Config loaded, logging named, tied to the parent's life: ready to run. */
static int role_start(const cli_args_t *a, pc_config_t *cfg, int checks) {
  int x = load_config(a, cfg, checks);
  if (x != 0)
    return x;
  pc_err_t err = {0};
  pc_log_init(a->cmd->name, a->rank);
  pc_log_keep(); /* for output.dir/logs, once the role knows its name */
  if (pc_proc_die_with_parent(&err) != PC_OK)
    return report(PC_EPEER, &err);
  return 0;
}

static int cmd_scheduler(const cli_args_t *a) {
  pc_config_t cfg;
  pc_err_t err = {0};
  int x = role_start(a, &cfg, 0);
  if (x != 0)
    return x;
  ps_scheduler_opts_t o = {.announce = a->announce};
  return report(ps_scheduler_run(&cfg, &o, &err), &err);
}

static int cmd_server(const cli_args_t *a) {
  pc_config_t cfg;
  pc_err_t err = {0};
  int x = role_start(a, &cfg, CHECK_JOIN | CHECK_BIND);
  return x != 0 ? x : report(ps_server_run(&cfg, a->rank, &err), &err);
}

static int cmd_worker(const cli_args_t *a) {
  pc_config_t cfg;
  pc_err_t err = {0};
  int x = role_start(a, &cfg, CHECK_JOIN | CHECK_DATA);
  return x != 0 ? x : report(pw_worker_run(&cfg, a->rank, &err), &err);
}

/* Every process of a local run shares this machine: the dense tables'
 * values and optimizer state on the servers plus worker 0's copy when it
 * saves the model must fit together, or the kernel kills one mid-run. */
static int check_launch_memory(const pc_config_t *cfg, pc_err_t *err) {
  pc_table_t t[PC_TABLE_MAX];
  size_t n = 0;
  pc_err_t e = {0};
  if (pw_worker_config_tables(cfg, t, &n, &e) != PC_OK)
    return PC_OK; /* tables that need the data's shape: small models; workers check */
  ps_optim_t o;
  ps_optim_from_config(&o, cfg);
  uint64_t servers = 0, worker0 = pw_worker_model_bytes(cfg);
  for (size_t i = 0; i < n; i++) {
    uint64_t b = t[i].kind == PC_TABLE_DENSE ? ps_store_dense_bytes(&o, &t[i], t[i].size) : 0;
    servers = b > UINT64_MAX - servers ? UINT64_MAX : servers + b;
  }
  if (servers == 0)
    return PC_OK;
  char what[200];
  snprintf(what, sizeof what, "model.features=%llu with dense tables (the servers' values "
           "and %s state, and worker 0's copy to save it)",
           (unsigned long long)cfg->model.features, pc_config_optim_name(cfg->optimizer.type));
  return pc_proc_check_memory(servers > UINT64_MAX - worker0 ? UINT64_MAX : servers + worker0,
                              pc_proc_mem_available(), what,
                              "; use model.layout: sparse, fewer features, or several machines",
                              err);
}

static int cmd_launch(const cli_args_t *a) {
  pc_config_t cfg;
  int x = load_config(a, &cfg, CHECK_DATA | CHECK_BIND);
  if (x != 0)
    return x;
  char exe[PC_PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    perror("parasol launch: readlink /proc/self/exe");
    return EXIT_RUN;
  }
  exe[n] = '\0';
  pc_log_init("launch", -1);
  pc_log_keep();
  /* Piping the launcher into `head` must not kill it before it reaps its children. */
  signal(SIGPIPE, SIG_IGN);
  pd_launch_opts_t o = {.exe = exe, .config_path = a->pos[0], .sets = a->sets,
                        .nsets = a->nsets, .cfg = &cfg};
  pc_err_t err = {0};
  /* A model that does not fit is refused before any process starts. */
  if (pw_init_check_config(&cfg, &err) != PC_OK) {
    fprintf(stderr, "parasol launch: error: %s\n", err.msg);
    return EXIT_USAGE;
  }
  int rc = check_launch_memory(&cfg, &err);
  if (rc == PC_OK)
    rc = pd_launch_run(&o, &err);
  if (rc == PC_OK)
    return 0;
  PC_ERROR("%s", err.msg);
  return rc == PC_ECANCELED ? 130 : EXIT_RUN;
}

/* ---- sweep ---- */

static int self_exe(char *buf, size_t len, const char *cmd) {
  ssize_t n = readlink("/proc/self/exe", buf, len - 1);
  if (n <= 0) {
    fprintf(stderr, "parasol %s: readlink /proc/self/exe: %s\n", cmd, strerror(errno));
    return -1;
  }
  buf[n] = '\0';
  return 0;
}

static int cmd_sweep(const cli_args_t *a) {
  char exe[PC_PATH_MAX];
  if (self_exe(exe, sizeof exe, "sweep") != 0)
    return EXIT_RUN;
  pd_sweep_opts_t o = {.exe = exe, .config_path = a->pos[0], .sets = a->sets,
                       .nsets = a->nsets, .grids = a->grids, .ngrids = a->ngrids,
                       .parallel = a->parallel};
  pd_sweep_t s;
  pc_err_t err = {0};
  int rc = pd_sweep_plan(&s, &o, &err);
  if (rc != PC_OK) {
    fprintf(stderr, "parasol sweep: error: %s\n", err.msg);
    return rc == PC_ECONFIG ? EXIT_USAGE : EXIT_RUN;
  }
  signal(SIGPIPE, SIG_IGN); /* as launch: reap every run even when stdout goes away */
  int signo = 0;
  pc_err_t rerr = {0};
  int run_rc = pd_sweep_run(&s, &o, &signo, &rerr);
  rc = pd_sweep_report(&s, stdout, &err);
  if (rc != PC_OK)
    fprintf(stderr, "parasol sweep: error: %s\n", err.msg);
  if (run_rc != PC_OK)
    fprintf(stderr, "parasol sweep: %s\n", rerr.msg);
  pd_sweep_free(&s);
  if (run_rc == PC_ECANCELED)
    return 128 + signo;
  return run_rc == PC_OK && rc == PC_OK ? 0 : EXIT_RUN;
}

/* ---- prep ---- */

static int cmd_prep(const cli_args_t *a) {
  pw_prep_opts_t o = a->prep;
  o.input = a->pos[0];
  o.label = a->score.label;
  o.labels_path = a->score.labels;
  int f = 0;
  for (int i = PC_FORMAT_LIBSVM; a->score.format != NULL && i <= PC_FORMAT_RATINGS && !f; i++)
    if (strcmp(a->score.format, pc_config_format_name((pc_format_t)i)) == 0)
      f = i;
  if (a->score.format != NULL && f == 0) {
    fprintf(stderr, "parasol prep: --format needs csv, libsvm, idx or ratings, got '%s'\n",
            a->score.format);
    return EXIT_USAGE;
  }
  if (f != 0)
    o.format = (pc_format_t)f;
  if (o.out == NULL) {
    fprintf(stderr, "parasol prep: --out DIR is needed (where the splits go)\n");
    return EXIT_USAGE;
  }
  pc_err_t err = {0};
  int rc = pw_prep_run(&o, stdout, &err);
  if (rc != PC_OK) {
    fprintf(stderr, "parasol prep: error: %s\n", err.msg);
    return rc == PC_EINVAL ? EXIT_USAGE : EXIT_RUN;
  }
  return fflush(stdout) == 0 ? 0 : EXIT_RUN;
}

/* ---- predict / eval ---- */

/* The model and the data, read and transformed as in training; s is
 * closed by the caller, even on error. */
static int score(const cli_args_t *a, int labels_optional, pw_scored_t *s) {
  pc_err_t err = {0};
  pw_score_opts_t o = a->score;
  o.labels_optional = labels_optional;
  int rc = pw_score_open(s, a->pos[0], a->pos[1], &o, &err);
  if (rc != PC_OK)
    fprintf(stderr, "parasol %s: error: %s\n", a->cmd->name, err.msg);
  return rc;
}

/* FILE is written whole or not at all (pc_afile); refused when it exists
 * and is not a regular file (renaming over /dev/stdout would replace it). */
static int open_output(const char *path, pc_afile_t *out) {
  struct stat st;
  pc_err_t err;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    fprintf(stderr, "parasol predict: cannot write %s: not a regular file\n", path);
    return -1;
  }
  if (pc_afile_open(out, path, &err) != PC_OK) {
    fprintf(stderr, "parasol predict: %s\n", err.msg);
    return -1;
  }
  return 0;
}

/* werr 0: the predictions are all in out, make it FILE. Otherwise drop it;
 * werr > 0 is the errno of a failed write, to report naming FILE (< 0: the
 * failure was reported already). */
static int close_output(pc_afile_t *out, int werr) {
  pc_err_t err;
  if (werr == 0 && pc_afile_commit(out, &err) == PC_OK)
    return 0;
  if (werr == 0)
    fprintf(stderr, "parasol predict: %s\n", err.msg);
  pc_afile_abort(out);
  if (werr > 0)
    fprintf(stderr, "parasol predict: cannot write %s: %s\n", out->path, strerror(werr));
  return EXIT_RUN;
}

static int cmd_predict(const cli_args_t *a) {
  pc_afile_t file;
  FILE *out = stdout;
  if (a->output != NULL) {
    if (open_output(a->output, &file) != 0)
      return EXIT_RUN;
    out = file.f;
  }
  pw_scored_t s;
  pc_err_t err = {0};
  int werr = score(a, 1, &s) == PC_OK ? 0 : -1;
  errno = 0;
  if (werr == 0 && pw_score_write(&s, out, a->threshold, &err) != PC_OK) {
    werr = errno != 0 ? errno : -1;
    if (werr < 0)
      fprintf(stderr, "parasol predict: error: %s\n", err.msg);
  }
  if (werr == 0 && fflush(out) != 0)
    werr = errno != 0 ? errno : EIO;
  pw_score_close(&s);
  if (a->output != NULL)
    return close_output(&file, werr);
  if (werr > 0)
    fprintf(stderr, "parasol predict: writing standard output: %s\n", strerror(werr));
  return werr == 0 ? 0 : EXIT_RUN;
}

static int cmd_eval(const cli_args_t *a) {
  pw_scored_t s;
  pw_evalres_t res = {0};
  pc_err_t err = {0};
  int rc = score(a, 0, &s);
  if (rc == PC_OK && (rc = pw_evaluate(s.ops, &s.model, &s.data, NULL, &res, &err)) != PC_OK)
    fprintf(stderr, "parasol eval: error: %s\n", err.msg);
  if (rc == PC_OK && a->json && (rc = pw_evalres_json(&res, stdout, &err)) != PC_OK)
    fprintf(stderr, "parasol eval: error: %s\n", err.msg);
  else if (rc == PC_OK && !a->json)
    pw_evalres_print(&res, stdout);
  pw_score_close(&s);
  if (fflush(stdout) != 0 && rc == PC_OK) {
    perror("parasol eval: writing standard output");
    rc = PC_ESYS;
  }
  char text[PC_METRICS_TEXT_MAX]; /* stdout is for scripts; this, in the launcher's digits */
  if (rc == PC_OK)
    fprintf(stderr, "parasol eval: %s  (%zu examples)\n",
            pc_metrics_format(text, sizeof text, res.metrics, res.nmetrics), res.n);
  pw_evalres_free(&res);
  return rc == PC_OK ? 0 : EXIT_RUN;
}

/* ---- plot ---- */

static int cmd_plot(const cli_args_t *a) {
  char png[PC_PATH_MAX + 16];
  if (a->output != NULL)
    snprintf(png, sizeof png, "%s", a->output);
  else if (a->npos == 1)
    snprintf(png, sizeof png, "%s/%s", a->pos[0], PD_PLOT_PNG);
  else
    snprintf(png, sizeof png, "plot.png");
  pc_err_t err = {0};
  if (pd_plot(a->pos, a->npos, png, NULL, &err) != PC_OK) {
    fprintf(stderr, "parasol plot: error: %s\n", err.msg);
    return EXIT_RUN;
  }
  printf("%s\n", png);
  return fflush(stdout) == 0 ? 0 : EXIT_RUN;
}

/* ---- version ---- */

/* OpenBLAS's own description, loaded for this command only: linked into
 * the binary, it costs every process of a cluster a few milliseconds at
 * start (thread pool, CPU detection), and no role calls it today. */
static void blas_version(char *buf, size_t len) {
  void *h = dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_LOCAL);
  const char *(*get)(void) = NULL;
  if (h != NULL)
    *(void **)&get = dlsym(h, "openblas_get_config");
  const char *v = get ? get() : NULL;
  if (v != NULL && strncmp(v, "OpenBLAS ", 9) == 0)
    v += 9;
  snprintf(buf, len, "%s", v ? v : "not found (libopenblas.so.0)");
  if (h != NULL)
    dlclose(h);
}

static int cmd_version(const cli_args_t *a) {
  (void)a;
  int major, minor, patch;
  zmq_version(&major, &minor, &patch);
  unsigned xxh = XXH_versionNumber(); /* major * 10000 + minor * 100 + release */
  char blas[256];
  blas_version(blas, sizeof blas);
  printf("parasol %s\n", PARASOL_VERSION);
  printf("libraries, as loaded at run time:\n");
  printf("  libzmq     %d.%d.%d\n", major, minor, patch);
  printf("  protobuf-c %s\n", protobuf_c_version());
  printf("  libuv      %s\n", uv_version_string());
  printf("  libfyaml   %s\n", fy_library_version());
  printf("  OpenBLAS   %s\n", blas);
  printf("  jansson    %s\n", jansson_version_str());
  printf("  xxHash     %u.%u.%u\n", xxh / 10000, xxh / 100 % 100, xxh % 100);
  if (fflush(stdout) != 0) {
    perror("parasol version: writing standard output");
    return EXIT_RUN;
  }
  return 0;
}

/* ---- main ---- */

static int is_help(const char *s) {
  return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "help") == 0;
}

int main(int argc, char **argv) {
  pc_proc_tune_malloc(argv);
  if (argc < 2 || is_help(argv[1])) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : 0;
  }
  const cli_cmd_t *c = find_cmd(strcmp(argv[1], "--version") == 0 ? "version" : argv[1]);
  if (c == NULL) {
    fprintf(stderr, "parasol: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
  }
  cli_args_t a;
  int x = parse_args(c, argc - 1, argv + 1, &a);
  if (x != 0)
    return x;
  if (a.help) {
    fputs(c->help, stdout);
    return 0;
  }
  if (c->npos >= 0 ? a.npos != c->npos : a.npos < 1 || a.npos > MAX_POS) {
    fprintf(stderr, "parasol %s: expected %s, got %d (see 'parasol %s --help')\n", c->name,
            c->pos_what, a.npos, c->name);
    return EXIT_USAGE;
  }
  pc_log_init("parasol", -1);
  return c->run(&a);
}
