/* A parameter-server node: binds a ROUTER for workers, joins the cluster,
 * holds its shard of the model (ps_store) and answers pulls and pushes
 * until the scheduler orders shutdown. */
#ifndef PS_SERVER_H
#define PS_SERVER_H

#include "pc_config.h"
#include "pc_error.h"

/* Run a server until shutdown. rank_req: requested rank or -1. Returns
 * PC_OK after an ordered shutdown. */
int ps_server_run(const pc_config_t *cfg, int rank_req, pc_err_t *err);

/* Build the tcp endpoint to bind ("tcp://HOST:PORT", port 0 -> "*") and,
 * from the endpoint actually bound, the one to advertise (bind host
 * replaced by cluster.advertise when set). */
int ps_server_endpoints(const pc_config_t *cfg, char *bind_ep, size_t blen, pc_err_t *err);
int ps_server_advertised(const pc_config_t *cfg, const char *bound, char *out, size_t len,
                         pc_err_t *err);

#endif
