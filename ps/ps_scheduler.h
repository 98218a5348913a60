/* The scheduler (coordinator): nodes register with it; it assigns ranks,
 * publishes the shard map, runs barriers, watches heartbeats, collects
 * progress and server statistics, asks worker 0 to evaluate and save the
 * model, writes <output.dir>/metrics.json and orders a clean shutdown.
 * Every wait has a deadline, and its error names the peers missing. */
#ifndef PS_SCHEDULER_H
#define PS_SCHEDULER_H

#include "pc_config.h"
#include "pc_error.h"

typedef struct ps_scheduler_opts {
  int announce; /* print "@endpoint <ep>" on stdout once bound (for the launcher) */
} ps_scheduler_opts_t;

int ps_scheduler_run(const pc_config_t *cfg, const ps_scheduler_opts_t *opts, pc_err_t *err);

/* "tcp://h:0" -> "tcp://h:*" (ephemeral); other endpoints unchanged. */
int ps_scheduler_bind_endpoint(const char *configured, char *out, size_t len, pc_err_t *err);

#endif
