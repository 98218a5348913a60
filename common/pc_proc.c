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

double pc_proc_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
