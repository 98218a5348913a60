#include "pc_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

int pc_proc_die_with_parent(pc_err_t *err) {
  const char *s = getenv("PARASOL_PARENT_PID");
  if (s == NULL || *s == '\0')
    return PC_OK;
  char *end = NULL;
  long want = strtol(s, &end, 10);
  if (*end != '\0' || want <= 0)
    return pc_err_set(err, PC_EINVAL, "PARASOL_PARENT_PID='%s' is not a pid", s);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
    return pc_err_set(err, PC_ESYS, "prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
  /* The parent may have died between fork and prctl. */
  if ((long)getppid() != want)
    return pc_err_set(err, PC_EPEER, "launcher (pid %ld) is gone", want);
  return PC_OK;
}

/* Set from a signal handler, hence a process-wide flag. */
static volatile sig_atomic_t g_stop_signal;

static void on_stop_signal(int sig) {
  if (g_stop_signal == 0)
    g_stop_signal = sig;
}

int pc_proc_catch_stop(pc_err_t *err) {
  static const int sigs[] = {SIGINT, SIGTERM};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART; /* file reads carry on; zmq_poll still wakes up */
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sigs[i]);
    if (sigaction(sigs[i], &sa, NULL) != 0 || sigprocmask(SIG_UNBLOCK, &one, NULL) != 0)
      return pc_err_set(err, PC_ESYS, "catching %s: %s", strsignal(sigs[i]), strerror(errno));
  }
  return PC_OK;
}

int pc_proc_stop_signal(void) { return g_stop_signal; }

const char *pc_proc_signal_name(int sig) {
  switch (sig) {
  case SIGINT:
    return "SIGINT";
  case SIGTERM:
    return "SIGTERM";
  case SIGKILL:
    return "SIGKILL";
  case SIGHUP:
    return "SIGHUP";
  default:
    return "a signal";
  }
}

#define HUGETLB_TUNABLE "glibc.malloc.hugetlb=1"

void pc_proc_tune_malloc(char **argv) {
  const char *off = getenv("PARASOL_MALLOC_TUNE");
  const char *cur = getenv("GLIBC_TUNABLES");
  if ((off != NULL && strcmp(off, "0") == 0) || (cur != NULL && strstr(cur, "glibc.malloc.hugetlb")))
    return;
  char val[1024];
  int n = cur && *cur ? snprintf(val, sizeof val, "%s:%s", cur, HUGETLB_TUNABLE)
                      : snprintf(val, sizeof val, "%s", HUGETLB_TUNABLE);
  if (n < 0 || (size_t)n >= sizeof val)
    return;
  /* Never loop: the marker stops a second attempt even if glibc ignores it. */
  if (setenv("GLIBC_TUNABLES", val, 1) != 0 || setenv("PARASOL_MALLOC_TUNE", "0", 1) != 0)
    return;
  execv("/proc/self/exe", argv);
}

uint64_t pc_proc_mem_available(void) {
  FILE *f = fopen("/proc/meminfo", "re");
  if (f == NULL)
    return 0;
  char line[256];
  unsigned long long kib = 0;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
      break;
  fclose(f);
  return kib > UINT64_MAX / 1024 ? UINT64_MAX : (uint64_t)kib * 1024;
}

int pc_proc_check_memory(uint64_t need, uint64_t avail, const char *what, const char *advice,
                         pc_err_t *err) {
  if (avail == 0 || need <= avail)
    return PC_OK;
  const double gib = 1024.0 * 1024.0 * 1024.0;
  return pc_err_set(err, PC_ENOMEM, "%s needs %.1f GiB, but this machine has %.1f GiB available "
                    "(MemAvailable in /proc/meminfo)%s", what, (double)need / gib,
                    (double)avail / gib, advice ? advice : "");
}

double pc_proc_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
