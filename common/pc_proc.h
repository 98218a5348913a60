/* Process helpers shared by every role. */
#ifndef PC_PROC_H
#define PC_PROC_H

#include <stdint.h>

#include "pc_error.h"

/* If PARASOL_PARENT_PID is set (the launcher sets it), ask the kernel to
 * SIGKILL this process when its parent dies, and fail if the parent is
 * already gone. A no-op when the variable is absent (started by hand). */
int pc_proc_die_with_parent(pc_err_t *err);

/* Large message buffers come from the allocator (ZeroMQ mallocs every
 * received message), and glibc serves large requests with fresh mmaps:
 * first-touch page faults then cap throughput near 0.3 GB/s here. glibc's
 * tunable glibc.malloc.hugetlb=1 makes those mappings transparent huge
 * pages (about 50x fewer faults). Tunables are read at process start, so
 * when it is missing this re-executes the program once with it set
 * (argv as given); on any failure it returns and the process runs as is.
 * PARASOL_MALLOC_TUNE=0 turns this off. */
void pc_proc_tune_malloc(char **argv);

/* Catch SIGINT and SIGTERM for the rest of the process's life, even where
 * they arrive ignored (a non-interactive shell starts `cmd &` with SIGINT
 * ignored): instead of dying, the process notes the first one and carries
 * on, so its role can tell the cluster why it stops. Roles ask
 * pc_proc_stop_signal() at their regular checkpoints. */
int pc_proc_catch_stop(pc_err_t *err);

/* 0, or the number of the first SIGINT/SIGTERM caught. */
int pc_proc_stop_signal(void);

/* "SIGINT", "SIGTERM", ... ("signal N" for others). */
const char *pc_proc_signal_name(int sig);

/* Bytes this machine can still allocate without swapping (MemAvailable in
 * /proc/meminfo); 0 when it cannot tell. */
uint64_t pc_proc_mem_available(void);

/* PC_OK when need bytes fit in avail (avail 0: unknown, assumed to fit);
 * otherwise PC_ENOMEM with "<what> needs 29.8 GiB, but this machine has
 * 22.1 GiB available (MemAvailable in /proc/meminfo)<advice>". */
int pc_proc_check_memory(uint64_t need, uint64_t avail, const char *what, const char *advice,
                         pc_err_t *err);

/* Monotonic seconds. */
double pc_proc_now(void);

#endif
