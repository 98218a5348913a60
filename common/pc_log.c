#include "pc_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-process logging identity: the one kind of global state allowed. */
static struct {
  char role[32];
  int rank;
  int prefix;
  pc_log_level_t level;
} g_log = {"parasol", -1, 1, PC_LOG_INFO};

void pc_log_init(const char *role, int rank) {
  snprintf(g_log.role, sizeof g_log.role, "%s", role);
  g_log.rank = rank;
  const char *p = getenv("PARASOL_LOG_PREFIX");
  g_log.prefix = !(p != NULL && strcmp(p, "0") == 0);
  const char *lvl = getenv("PARASOL_LOG_LEVEL");
  if (lvl != NULL && strcmp(lvl, "debug") == 0)
    g_log.level = PC_LOG_DEBUG;
  setvbuf(stderr, NULL, _IOLBF, 0);
}

void pc_log_set_level(pc_log_level_t level) { g_log.level = level; }
void pc_log_set_rank(int rank) { g_log.rank = rank; }

void pc_log(pc_log_level_t level, const char *fmt, ...) {
  static const char *names[] = {"debug", "info", "warn", "error"};
  if (level < g_log.level)
    return;
  char line[2048];
  int off = 0;
  if (g_log.prefix) {
    if (g_log.rank >= 0)
      off = snprintf(line, sizeof line, "[%s %d] ", g_log.role, g_log.rank);
    else
      off = snprintf(line, sizeof line, "[%s] ", g_log.role);
  }
  if (level != PC_LOG_INFO)
    off += snprintf(line + off, sizeof line - (size_t)off, "%s: ", names[level]);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
  va_end(ap);
  /* One write per line so lines from concurrent threads do not interleave. */
  fprintf(stderr, "%s\n", line);
}
