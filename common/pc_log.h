/* Line-oriented logging to stderr.
 *
 * A process names itself once (role and rank); every line then carries
 * that name unless the environment variable PARASOL_LOG_PREFIX=0 is set,
 * which the local launcher does because it prefixes child output itself. */
#ifndef PC_LOG_H
#define PC_LOG_H

typedef enum { PC_LOG_DEBUG = 0, PC_LOG_INFO, PC_LOG_WARN, PC_LOG_ERROR } pc_log_level_t;

/* rank < 0 means "no rank" (scheduler, launcher, CLI tools). */
void pc_log_init(const char *role, int rank);
void pc_log_set_level(pc_log_level_t level);
void pc_log_set_rank(int rank);
void pc_log(pc_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define PC_DEBUG(...) pc_log(PC_LOG_DEBUG, __VA_ARGS__)
#define PC_INFO(...) pc_log(PC_LOG_INFO, __VA_ARGS__)
#define PC_WARN(...) pc_log(PC_LOG_WARN, __VA_ARGS__)
#define PC_ERROR(...) pc_log(PC_LOG_ERROR, __VA_ARGS__)

#endif
