#include "pc_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LOG_KEEP_MAX (1u << 20)

/* Per-process logging identity and its file: the one kind of global state
 * allowed. Lines may come from several threads. */
static struct {
  char role[32];
  int rank;
  int prefix;
  pc_log_level_t level;
  pthread_mutex_t mu;
  int keep;        /* pc_log_keep was called */
  FILE *file;      /* dir/logs/<name>.log once named */
  char *held;      /* lines logged before the file was named */
  size_t nheld, dropped;
} g_log = {"parasol", -1, 1, PC_LOG_INFO, PTHREAD_MUTEX_INITIALIZER, 0, NULL, NULL, 0, 0};

void pc_log_keep(void) {
  pthread_mutex_lock(&g_log.mu);
  g_log.keep = 1;
  pthread_mutex_unlock(&g_log.mu);
}

/* A file line: time stamp, level, text. Caller holds the mutex. */
static void file_line(const char *level, const char *text) {
  char stamp[40] = "";
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (gmtime_r(&ts.tv_sec, &tm) != NULL) {
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000);
  }
  char line[2200];
  int n = snprintf(line, sizeof line, "%s %s %s\n", stamp, level, text);
  size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  if (g_log.file != NULL) {
    fwrite(line, 1, len, g_log.file);
    fflush(g_log.file);
  } else if (g_log.keep && g_log.nheld + len <= LOG_KEEP_MAX) {
    char *p = realloc(g_log.held, g_log.nheld + len);
    if (p != NULL) {
      memcpy(p + g_log.nheld, line, len);
      g_log.held = p;
      g_log.nheld += len;
    }
  } else if (g_log.keep) {
    g_log.dropped++;
  }
}

static FILE *open_log(const char *dir, const char *name, pc_err_t *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/logs", dir);
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    pc_err_set(err, PC_EIO, "output.dir '%s': cannot create %s: %s", dir, path, strerror(errno));
    return NULL;
  }
  snprintf(path, sizeof path, "%s/logs/%s.log", dir, name);
  FILE *f = fopen(path, "ae");
  if (f == NULL)
    pc_err_set(err, PC_EIO, "output.dir '%s': cannot write %s: %s", dir, path, strerror(errno));
  return f;
}

int pc_log_to_file(const char *dir, const char *name, pc_err_t *err) {
  pthread_mutex_lock(&g_log.mu);
  int rc = PC_OK;
  if (g_log.keep && g_log.file == NULL) {
    g_log.file = open_log(dir, name, err);
    if (g_log.file == NULL)
      rc = PC_EIO;
    else if (g_log.nheld > 0)
      fwrite(g_log.held, 1, g_log.nheld, g_log.file);
    if (g_log.file != NULL && g_log.dropped > 0)
      fprintf(g_log.file, "(%zu earlier lines were not kept)\n", g_log.dropped);
    if (g_log.file != NULL)
      fflush(g_log.file);
    free(g_log.held);
    g_log.held = NULL;
    g_log.nheld = 0;
  }
  pthread_mutex_unlock(&g_log.mu);
  return rc;
}

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
  size_t text = (size_t)off; /* the file line has a level column of its own */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
  va_end(ap);
  /* One write per line so lines from concurrent threads do not interleave. */
  fprintf(stderr, "%s\n", line);
  pthread_mutex_lock(&g_log.mu);
  if (g_log.keep || g_log.file != NULL)
    file_line(names[level], line + text);
  pthread_mutex_unlock(&g_log.mu);
}
