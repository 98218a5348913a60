/* The run's output directory (output.dir): the scheduler writes
 * metrics.json, config.yaml and logs there, worker 0 model.bin. One run at
 * a time: the scheduler holds a lock file in it for the run's whole life,
 * and at the start moves an earlier run's outputs into dir/previous, so a
 * file in dir is always this run's. */
#ifndef PC_OUTDIR_H
#define PC_OUTDIR_H

#include <stddef.h>

#include "pc_error.h"

#define PC_OUTDIR_LOCK ".parasol.lock"
#define PC_OUTDIR_PREVIOUS "previous"

typedef struct pc_outdir {
  int fd; /* the locked file; -1 when none */
} pc_outdir_t;

/* Create dir and its parents if needed, then prove this process can create
 * a file in it. Refuses a path that is a file, or a directory it cannot
 * write, naming output.dir, the path and why. */
int pc_outdir_check(const char *dir, pc_err_t *err);

/* Take dir's run lock (dir/.parasol.lock, flock) until pc_outdir_unlock or
 * the process ends, and note this process (pid, host, start) in it. A dir
 * locked by another run is refused with that run's pid, host and start. */
int pc_outdir_lock(pc_outdir_t *o, const char *dir, pc_err_t *err);

/* The same refusal, without taking the lock: the launcher asks before it
 * starts anything. PC_OK when no run holds dir. */
int pc_outdir_probe(const char *dir, pc_err_t *err);

void pc_outdir_unlock(pc_outdir_t *o);

/* Move the outputs names[0..n) ("metrics.json", "logs", ...) an earlier
 * run left in dir into dir/previous (replacing what that held), and delete
 * the temporaries ("<name>.tmp") a killed process left. Sets *moved to the
 * number of outputs moved (may be NULL). */
int pc_outdir_retire(const char *dir, const char *const *names, size_t n, int *moved,
                     pc_err_t *err);

#endif
