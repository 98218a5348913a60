/* Process helpers shared by every role. */
#ifndef PC_PROC_H
#define PC_PROC_H

#include "pc_error.h"

/* If PARASOL_PARENT_PID is set (the launcher sets it), ask the kernel to
 * SIGKILL this process when its parent dies, and fail if the parent is
 * already gone. A no-op when the variable is absent (started by hand). */
int pc_proc_die_with_parent(pc_err_t *err);

/* Monotonic seconds. */
double pc_proc_now(void);

#endif
