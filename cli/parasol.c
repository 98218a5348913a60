/* parasol: one binary, one subcommand per role. Thin: parse arguments,
 * load the config, call into ps/, worker/ or deploy/. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pc_config.h"
#include "pc_log.h"
#include "pc_proc.h"
#include "pd_launch.h"
#include "ps_scheduler.h"
#include "ps_server.h"
#include "pw_data.h"
#include "pw_eval.h"
#include "pw_model.h"
#include "pw_worker.h"

#define MAX_SETS 256
enum { EXIT_RUN = 1, EXIT_USAGE = 2 };

typedef struct cli_args {
  const char *cmd;
  const char *pos[2]; /* positional arguments */
  int npos;
  const char *sets[MAX_SETS];
  int nsets;
  int rank;
  int announce;
  int help;
} cli_args_t;

static const char *usage_text =
    "usage: parasol <command> [options]\n"
    "\n"
    "commands:\n"
    "  launch CONFIG      run a whole cluster (scheduler, servers, workers) on this machine\n"
    "  scheduler CONFIG   run the coordinator of a cluster\n"
    "  server CONFIG      run one parameter server\n"
    "  worker CONFIG      run one worker\n"
    "  predict MODEL DATA print P(label=1) for every example of a LIBSVM file\n"
    "  eval MODEL DATA    print accuracy, log-loss and AUC of a model on a LIBSVM file\n"
    "\n"
    "Run 'parasol <command> --help' for the options of a command.\n";

static const char *help_for(const char *cmd) {
  if (strcmp(cmd, "launch") == 0)
    return "usage: parasol launch CONFIG [--set key=value]...\n"
           "Start 1 scheduler, cluster.servers servers and cluster.workers workers as local\n"
           "processes, show their output prefixed by role and rank, and print the test metrics.\n"
           "Ctrl-C stops every process. Exits non-zero if any process fails, naming it.\n"
           "  --set key=value   override a config entry, e.g. --set cluster.workers=8\n";
  if (strcmp(cmd, "scheduler") == 0)
    return "usage: parasol scheduler CONFIG [--set key=value]... [--announce]\n"
           "Run the coordinator: binds cluster.scheduler (port 0 = pick a free port), waits\n"
           "for the servers and workers to register, and drives the run to its end.\n"
           "  --announce        print '@endpoint <endpoint>' on stdout once bound\n"
           "  --set key=value   override a config entry\n";
  if (strcmp(cmd, "server") == 0 || strcmp(cmd, "worker") == 0)
    return "usage: parasol server|worker CONFIG [--rank N] [--set key=value]...\n"
           "Join the cluster whose scheduler is cluster.scheduler (give the real port, e.g.\n"
           "--set cluster.scheduler=tcp://10.0.0.1:7000). Servers bind cluster.bind:\n"
           "cluster.server_port and advertise cluster.advertise (default: the bind address).\n"
           "  --rank N          ask for rank N (default: the scheduler assigns one)\n"
           "  --set key=value   override a config entry\n";
  if (strcmp(cmd, "predict") == 0)
    return "usage: parasol predict MODEL DATA\n"
           "Load a model written by a training run (<output.dir>/model.bin) and print the\n"
           "probability of the positive class for every example of the LIBSVM file DATA,\n"
           "one per line.\n";
  if (strcmp(cmd, "eval") == 0)
    return "usage: parasol eval MODEL DATA\n"
           "Print accuracy, log-loss and AUC of MODEL on the labelled LIBSVM file DATA.\n";
  return NULL;
}

static int parse_int(const char *s, int *out) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 0 || v > 1 << 24)
    return -1;
  *out = (int)v;
  return 0;
}

static int parse_args(int argc, char **argv, cli_args_t *a) {
  memset(a, 0, sizeof *a);
  a->rank = -1;
  a->cmd = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *s = argv[i];
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
      a->help = 1;
    else if (strcmp(s, "--announce") == 0)
      a->announce = 1;
    else if ((strcmp(s, "--set") == 0 || strcmp(s, "--rank") == 0) && i + 1 >= argc) {
      fprintf(stderr, "parasol %s: %s needs a value\n", a->cmd, s);
      return -1;
    } else if (strcmp(s, "--set") == 0 || strncmp(s, "--set=", 6) == 0) {
      if (a->nsets == MAX_SETS) {
        fprintf(stderr, "parasol %s: more than %d --set options\n", a->cmd, MAX_SETS);
        return -1;
      }
      a->sets[a->nsets++] = s[5] == '=' ? s + 6 : argv[++i];
    } else if (strcmp(s, "--rank") == 0) {
      if (parse_int(argv[++i], &a->rank) != 0) {
        fprintf(stderr, "parasol %s: --rank needs a non-negative integer, got '%s'\n", a->cmd,
                argv[i]);
        return -1;
      }
    } else if (s[0] == '-' && s[1] != '\0') {
      fprintf(stderr, "parasol %s: unknown option '%s' (see --help)\n", a->cmd, s);
      return -1;
    } else if (a->npos < 2) {
      a->pos[a->npos++] = s;
    } else {
      fprintf(stderr, "parasol %s: unexpected argument '%s' (see --help)\n", a->cmd, s);
      return -1;
    }
  }
  return 0;
}

static int load_config(const cli_args_t *a, pc_config_t *cfg) {
  pc_err_t err = {0};
  if (a->npos != 1) {
    fprintf(stderr, "parasol %s: expected one CONFIG file (see --help)\n", a->cmd);
    return EXIT_USAGE;
  }
  if (pc_config_load(cfg, a->pos[0], a->sets, a->nsets, &err) != PC_OK) {
    fprintf(stderr, "parasol %s: error: %s\n", a->cmd, err.msg);
    return EXIT_USAGE;
  }
  return 0;
}

static int report(const char *role, int rc, const pc_err_t *err) {
  if (rc == PC_OK)
    return 0;
  PC_ERROR("%s failed: %s", role, err->msg);
  return EXIT_RUN;
}

static int cmd_role(const cli_args_t *a) {
  pc_config_t cfg;
  int x = load_config(a, &cfg);
  if (x != 0)
    return x;
  pc_err_t err = {0};
  pc_log_init(a->cmd, a->rank);
  if (pc_proc_die_with_parent(&err) != PC_OK)
    return report(a->cmd, PC_EPEER, &err);
  if (strcmp(a->cmd, "scheduler") == 0) {
    ps_scheduler_opts_t o = {.announce = a->announce};
    return report(a->cmd, ps_scheduler_run(&cfg, &o, &err), &err);
  }
  if (strcmp(a->cmd, "server") == 0)
    return report(a->cmd, ps_server_run(&cfg, a->rank, &err), &err);
  return report(a->cmd, pw_worker_run(&cfg, a->rank, &err), &err);
}

static int cmd_launch(const cli_args_t *a) {
  pc_config_t cfg;
  int x = load_config(a, &cfg);
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
  /* Piping the launcher into `head` must not kill it before it reaps its children. */
  signal(SIGPIPE, SIG_IGN);
  pd_launch_opts_t o = {.exe = exe, .config_path = a->pos[0], .sets = a->sets,
                        .nsets = a->nsets, .cfg = &cfg};
  pc_err_t err = {0};
  int rc = pd_launch_run(&o, &err);
  if (rc == PC_OK)
    return 0;
  PC_ERROR("%s", err.msg);
  return rc == PC_ECANCELED ? 130 : EXIT_RUN;
}

/* predict / eval: a model file and a labelled LIBSVM file. */
static int cmd_model(const cli_args_t *a) {
  if (a->npos != 2) {
    fprintf(stderr, "parasol %s: expected MODEL and DATA (see --help)\n", a->cmd);
    return EXIT_USAGE;
  }
  pc_err_t err = {0};
  pw_model_t m = {0};
  pw_dataset_t ds = {0};
  pw_data_opts_t o = {.part = 0, .nparts = 1};
  float *prob = NULL;
  int rc = pw_model_load(&m, a->pos[0], &err);
  if (rc == PC_OK)
    rc = pw_data_load_libsvm(&ds, a->pos[1], &o, &err);
  if (rc == PC_OK && (prob = malloc((ds.n ? ds.n : 1) * sizeof *prob)) == NULL)
    rc = pc_err_set(&err, PC_ENOMEM, "predictions");
  for (size_t i = 0; rc == PC_OK && i < ds.n; i++)
    prob[i] = pw_model_predict_row(&m, &ds, i);
  pw_metrics_t met;
  if (rc == PC_OK && strcmp(a->cmd, "eval") == 0 &&
      (rc = pw_eval_binary(prob, ds.label, ds.n, &met, &err)) == PC_OK)
    printf("examples %zu\naccuracy %.6f\nlogloss %.6f\nauc %.6f\n", met.n, met.accuracy,
           met.logloss, met.auc);
  for (size_t i = 0; rc == PC_OK && strcmp(a->cmd, "predict") == 0 && i < ds.n; i++)
    printf("%.6f\n", prob[i]);
  if (rc != PC_OK)
    fprintf(stderr, "parasol %s: error: %s\n", a->cmd, err.msg);
  free(prob);
  pw_data_free(&ds);
  pw_model_free(&m);
  if (fflush(stdout) != 0 && rc == PC_OK) {
    perror("parasol: writing output");
    return EXIT_RUN;
  }
  return rc == PC_OK ? 0 : EXIT_RUN;
}

int main(int argc, char **argv) {
  pc_proc_tune_malloc(argv);
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(usage_text, argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : 0;
  }
  const char *help = help_for(argv[1]);
  if (help == NULL) {
    fprintf(stderr, "parasol: unknown command '%s'\n\n%s", argv[1], usage_text);
    return EXIT_USAGE;
  }
  cli_args_t a;
  if (parse_args(argc, argv, &a) != 0)
    return EXIT_USAGE;
  if (a.help) {
    fputs(help, stdout);
    return 0;
  }
  pc_log_init("parasol", -1);
  if (strcmp(a.cmd, "launch") == 0)
    return cmd_launch(&a);
  if (strcmp(a.cmd, "predict") == 0 || strcmp(a.cmd, "eval") == 0)
    return cmd_model(&a);
  return cmd_role(&a);
}
