#include "pc_afile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int pc_afile_open(pc_afile_t *a, const char *path, pc_err_t *err) {
  a->f = NULL;
  int n = snprintf(a->path, sizeof a->path, "%s", path);
  if (n < 0 || (size_t)n >= sizeof a->path)
    return pc_err_set(err, PC_EINVAL, "cannot write %.64s...: path too long", path);
  snprintf(a->tmp, sizeof a->tmp, "%s.tmp", path);
  a->f = fopen(a->tmp, "we");
  if (a->f == NULL)
    return pc_err_set(err, PC_EIO, "cannot write %s: cannot create %s: %s", path, a->tmp,
                      strerror(errno));
  return PC_OK;
}

/* Makes the rename itself durable; a file system that cannot sync a
 * directory has nothing more to offer, so this only loses crash safety. */
static void sync_dir_of(const char *path) {
  char dir[PC_AFILE_PATH_MAX] = ".";
  const char *slash = strrchr(path, '/');
  if (slash == path)
    snprintf(dir, sizeof dir, "/");
  else if (slash != NULL)
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

int pc_afile_commit(pc_afile_t *a, pc_err_t *err) {
  if (a->f == NULL)
    return pc_err_set(err, PC_EINVAL, "cannot write %s: not open", a->path);
  errno = 0;
  int bad = ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0;
  int saved = errno;
  if (fclose(a->f) != 0 && !bad) {
    bad = 1;
    saved = errno;
  }
  a->f = NULL;
  if (!bad && rename(a->tmp, a->path) != 0) {
    bad = 1;
    saved = errno;
  }
  if (bad) {
    unlink(a->tmp);
    return pc_err_set(err, PC_EIO, "cannot write %s: %s", a->path,
                      saved ? strerror(saved) : "write failed");
  }
  sync_dir_of(a->path);
  return PC_OK;
}

void pc_afile_abort(pc_afile_t *a) {
  if (a->f == NULL)
    return;
  fclose(a->f);
  a->f = NULL;
  unlink(a->tmp);
}
