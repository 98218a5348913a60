/* Line-oriented logging to stderr.
 *
 * A process names itself once (role and rank); every line then carries
 * that name unless the environment variable PARASOL_LOG_PREFIX=0 is set,
 * which the local launcher does because it prefixes child output itself. */
#ifndef PC_LOG_H
#define PC_LOG_H

#include "pc_error.h"

typedef enum { PC_LOG_DEBUG = 0, PC_LOG_INFO, PC_LOG_WARN, PC_LOG_ERROR } pc_log_level_t;

/* rank < 0 means "no rank" (scheduler, launcher, CLI tools). */
void pc_log_init(const char *role, int rank);
void pc_log_set_level(pc_log_level_t level);
void pc_log_set_rank(int rank);
/* Keep this process's log lines for a file in the run's output directory:
 * from now on lines are also held in memory (up to 1 MiB), until
 * pc_log_to_file names the file. Called by the programs that run a role
 * (not by library users or tests running roles in threads). */
void pc_log_keep(void);

/* Write the kept lines, and every line from now on, with a UTC time stamp,
 * to dir/logs/name.log (created, appended to). A no-op returning PC_OK when
 * pc_log_keep was never called. */
int pc_log_to_file(const char *dir, const char *name, pc_err_t *err);

void pc_log(pc_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define PC_DEBUG(...) pc_log(PC_LOG_DEBUG, __VA_ARGS__)
#define PC_INFO(...) pc_log(PC_LOG_INFO, __VA_ARGS__)
#define PC_WARN(...) pc_log(PC_LOG_WARN, __VA_ARGS__)
#define PC_ERROR(...) pc_log(PC_LOG_ERROR, __VA_ARGS__)

#endif
