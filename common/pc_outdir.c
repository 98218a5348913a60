/* Output directories: checked before a run, locked during it, cleared of
 * an earlier run's outputs at its start. */
#ifndef _GNU_SOURCE
#define _XOPEN_SOURCE 700 /* nftw */
#endif
#include "pc_outdir.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pc_config.h"
#include "pc_log.h"

static int join(char *out, size_t len, const char *dir, const char *name, pc_err_t *err) {
  int n = snprintf(out, len, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= len)
    return pc_err_set(err, PC_EINVAL, "output.dir '%.200s': path too long", dir);
  return PC_OK;
}

static int mkdir_one(const char *path, const char *dir, pc_err_t *err) {
  struct stat st;
  if (mkdir(path, 0777) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
    return PC_OK;
  if (errno == EEXIST)
    return pc_err_set(err, PC_EIO, "output.dir '%s': %s is a file, not a directory", dir, path);
  return pc_err_set(err, PC_EIO, "output.dir '%s': cannot create %s: %s", dir, path,
                    strerror(errno));
}

/* mkdir -p */
static int make_dirs(const char *dir, pc_err_t *err) {
  char p[PC_PATH_MAX];
  if (dir[0] == '\0' || snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
    return pc_err_set(err, PC_EINVAL, "output.dir '%.200s': empty or too long", dir);
  for (char *c = p + 1; *c; c++) {
    if (*c != '/' || c[-1] == '/')
      continue;
    *c = '\0';
    int rc = mkdir_one(p, dir, err);
    *c = '/';
    if (rc != PC_OK)
      return rc;
  }
  return mkdir_one(p, dir, err);
}

int pc_outdir_check(const char *dir, pc_err_t *err) {
  int rc = make_dirs(dir, err);
  char probe[PC_PATH_MAX + 64];
  if (rc == PC_OK)
    rc = join(probe, sizeof probe, dir, ".parasol-probe-XXXXXX", err);
  if (rc != PC_OK)
    return rc;
  /* access() says yes to root on a read-only file system: try for real,
   * under a name no other process or thread checking dir can take. */
  int fd = mkostemp(probe, O_CLOEXEC);
  if (fd < 0)
    return pc_err_set(err, PC_EIO, "output.dir '%s': cannot write there: %s", dir,
                      strerror(errno));
  close(fd);
  unlink(probe);
  return PC_OK;
}

/* What the holder wrote into the lock file, for the refusal. */
static void holder(int fd, char *buf, size_t len) {
  ssize_t n = pread(fd, buf, len - 1, 0);
  buf[n > 0 ? n : 0] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  if (buf[0] == '\0')
    snprintf(buf, len, "a process that has not said which");
}

static int refuse_held(int fd, const char *dir, pc_err_t *err) {
  char who[256];
  holder(fd, who, sizeof who);
  return pc_err_set(err, PC_EINVAL, "output.dir '%s' is in use by another run (%s): wait for it "
                    "to end, or give this run another output.dir", dir, who);
}

static void note_holder(int fd) {
  char host[128] = "", when[32] = "", line[256];
  time_t now = time(NULL);
  struct tm tm;
  gethostname(host, sizeof host - 1);
  if (gmtime_r(&now, &tm) != NULL)
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  int n = snprintf(line, sizeof line, "pid %ld on host %s, started %s\n", (long)getpid(), host,
                   when);
  if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)n, 0) != n)
    PC_DEBUG("could not note this run in the lock file");
}

int pc_outdir_lock(pc_outdir_t *o, const char *dir, pc_err_t *err) {
  char path[PC_PATH_MAX + 32];
  o->fd = -1;
  int rc = join(path, sizeof path, dir, PC_OUTDIR_LOCK, err);
  if (rc != PC_OK)
    return rc;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return pc_err_set(err, PC_EIO, "output.dir '%s': cannot open %s: %s", dir, path,
                      strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    rc = errno == EWOULDBLOCK ? refuse_held(fd, dir, err)
                              : pc_err_set(err, PC_EIO, "output.dir '%s': cannot lock %s: %s",
                                           dir, path, strerror(errno));
    close(fd);
    return rc;
  }
  note_holder(fd);
  o->fd = fd;
  return PC_OK;
}

int pc_outdir_probe(const char *dir, pc_err_t *err) {
  char path[PC_PATH_MAX + 32];
  int rc = join(path, sizeof path, dir, PC_OUTDIR_LOCK, err);
  if (rc != PC_OK)
    return rc;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return PC_OK; /* never locked */
  if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK)
    rc = refuse_held(fd, dir, err);
  close(fd); /* also drops the shared lock */
  return rc;
}

void pc_outdir_unlock(pc_outdir_t *o) {
  if (o->fd >= 0)
    close(o->fd);
  o->fd = -1;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT ? 0 : -1;
  return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir/previous, emptied, for this run's predecessor's outputs. */
static int fresh_previous(const char *dir, char *prev, size_t len, pc_err_t *err) {
  int rc = join(prev, len, dir, PC_OUTDIR_PREVIOUS, err);
  if (rc == PC_OK && remove_tree(prev) != 0)
    rc = pc_err_set(err, PC_EIO, "output.dir '%s': cannot clear %s: %s", dir, prev,
                    strerror(errno));
  if (rc == PC_OK && mkdir(prev, 0777) != 0)
    rc = pc_err_set(err, PC_EIO, "output.dir '%s': cannot create %s: %s", dir, prev,
                    strerror(errno));
  return rc;
}

static int retire_one(const char *dir, const char *name, char *prev, size_t plen, int *moved,
                      pc_err_t *err) {
  char from[PC_PATH_MAX + 64], to[2 * PC_PATH_MAX + 64], tmp[PC_PATH_MAX + 64];
  struct stat st;
  int rc = join(from, sizeof from, dir, name, err);
  if (rc == PC_OK && snprintf(tmp, sizeof tmp, "%s.tmp", from) >= (int)sizeof tmp)
    rc = pc_err_set(err, PC_EINVAL, "output.dir '%.200s': path too long", dir);
  if (rc != PC_OK)
    return rc;
  if (remove_tree(tmp) != 0)
    return pc_err_set(err, PC_EIO, "cannot remove %s, left by an earlier run: %s", tmp,
                      strerror(errno));
  if (lstat(from, &st) != 0)
    return errno == ENOENT ? PC_OK
                           : pc_err_set(err, PC_EIO, "%s: %s", from, strerror(errno));
  if (*moved == 0 && (rc = fresh_previous(dir, prev, plen, err)) != PC_OK)
    return rc;
  snprintf(to, sizeof to, "%s/%s", prev, name);
  if (rename(from, to) != 0)
    return pc_err_set(err, PC_EIO, "cannot move %s, an earlier run's, to %s: %s", from, to,
                      strerror(errno));
  ++*moved;
  return PC_OK;
}

int pc_outdir_retire(const char *dir, const char *const *names, size_t n, int *moved,
                     pc_err_t *err) {
  char prev[PC_PATH_MAX + 32];
  int count = 0, rc = PC_OK;
  for (size_t i = 0; i < n && rc == PC_OK; i++)
    rc = retire_one(dir, names[i], prev, sizeof prev, &count, err);
  if (count > 0)
    PC_INFO("moved %d outputs of an earlier run to %s", count, prev);
  if (moved != NULL)
    *moved = count;
  return rc;
}
