/* Where `parasol prep` writes: the checks on DIR, the shards and prep.json
 * through DIR/.prep.tmp-PID, and the printed summary (pw_prep_int.h). */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pw_prep_int.h"
#include "pw_prepared.h"

#define PREP_PATH_MAX 4096

static const char *const split_names[3] = {"train", "valid", "test"};

/* ---- DIR checks ---- */

/* Is in (a real path) prep.json of dir, or under one of its splits? */
static int would_write(const char *dir, const char *in) {
  size_t n = strlen(dir);
  if (strncmp(in, dir, n) != 0 || in[n] != '/')
    return 0;
  const char *rest = in + n + 1;
  for (int k = 0; k < 3; k++) {
    size_t m = strlen(split_names[k]);
    if (strncmp(rest, split_names[k], m) == 0 && rest[m] == '/')
      return 1;
  }
  return strcmp(rest, "prep.json") == 0;
}

static int dir_empty(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int empty = 1;
  while (d != NULL && empty && (e = readdir(d)) != NULL)
    empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
  if (d != NULL)
    closedir(d);
  return empty;
}

int pw_prep_check_out(const pw_prep_opts_t *o, pc_err_t *err) {
  char in[PATH_MAX], out[PATH_MAX];
  struct stat si, so;
  if (realpath(o->input, in) == NULL || stat(in, &si) != 0)
    return pc_err_set(err, PC_EIO, "cannot read %s: %s", o->input, strerror(errno));
  if (stat(o->out, &so) != 0)
    return errno == ENOENT ? 0 : pc_err_set(err, PC_EIO, "--out %s: %s", o->out, strerror(errno));
  if (so.st_dev == si.st_dev && so.st_ino == si.st_ino)
    return pc_err_set(err, PC_EINVAL, "--out %s is the input file: prep never writes its input",
                      o->out);
  if (!S_ISDIR(so.st_mode))
    return pc_err_set(err, PC_EINVAL, "--out %s exists and is not a directory", o->out);
  if (realpath(o->out, out) == NULL)
    return pc_err_set(err, PC_EIO, "--out %s: %s", o->out, strerror(errno));
  if (would_write(out, in))
    return pc_err_set(err, PC_EINVAL, "--out %s: the input %s is inside it where prep writes "
                      "(prep.json, train/, valid/, test/): prep never writes its input", o->out,
                      o->input);
  if (!o->force && !dir_empty(o->out))
    return pc_err_set(err, PC_EINVAL, "--out %s is not empty: use --force to write into it "
                      "(prep.json and train/, valid/, test/ are replaced)", o->out);
  return 0;
}

/* ---- removing what prep wrote ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path) != 0 ? -1 : 0;
}

static void rm_tree(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static int is_shard_name(const char *s) {
  unsigned v;
  int n = 0;
  return sscanf(s, "part-%5u.psp%n", &v, &n) == 1 && (s[n] == '\0' || strcmp(s + n, ".tmp") == 0);
}

/* An earlier run's split dir may go only when it holds nothing but shards. */
static int check_split(const char *dir, pc_err_t *err) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return errno == ENOENT ? 0 : pc_err_set(err, PC_EIO, "%s: %s", dir, strerror(errno));
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && !is_shard_name(e->d_name))
      rc = pc_err_set(err, PC_EINVAL, "%s holds %s, which prep did not write: move it away "
                      "first", dir, e->d_name);
  closedir(d);
  return rc;
}

/* ---- writing ---- */

static int write_split(const pw_prep_run_t *p, const char *tmp, int k, pc_err_t *err) {
  char dir[PREP_PATH_MAX + 16], path[PREP_PATH_MAX + 48];
  const pw_dataset_t *ds = &p->split[k];
  snprintf(dir, sizeof dir, "%s/%s", tmp, split_names[k]);
  if (mkdir(dir, 0777) != 0)
    return pc_err_set(err, PC_EIO, "cannot create %s: %s", dir, strerror(errno));
  pw_prep_info_t info = {.nshards = p->o->shards, .total_rows = ds->n, .split = (pw_split_t)k,
                         .shape = p->shape, .labels = p->kind, .classes = p->classes,
                         .recipe_json = p->recipe_json,
                         .recipe_len = p->recipe_json ? strlen(p->recipe_json) : 0, .tf = p->tf};
  for (uint32_t s = 0; s < p->o->shards; s++) {
    snprintf(path, sizeof path, "%s/part-%05u.psp", dir, s);
    size_t a = (size_t)((uint64_t)ds->n * s / p->o->shards);
    size_t b = (size_t)((uint64_t)ds->n * (s + 1) / p->o->shards);
    int rc = pw_prep_write_shard(path, &info, s, ds, a, b, err);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int write_json(const pw_prep_run_t *p, const char *tmp, pc_err_t *err) {
  char path[PREP_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/prep.json", tmp);
  json_t *j = pw_prep_json(p);
  size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10);
  int rc = j != NULL && json_dump_file(j, path, flags) == 0
               ? 0
               : pc_err_set(err, PC_EIO, "cannot write %s: %s", path, strerror(errno));
  json_decref(j);
  return rc;
}

static int move_into_place(const pw_prep_run_t *p, const char *tmp, pc_err_t *err) {
  char from[PREP_PATH_MAX + 16], to[PREP_PATH_MAX + 16];
  for (int k = 0; k < 3; k++) { /* every check before anything is removed */
    snprintf(to, sizeof to, "%s/%s", p->o->out, split_names[k]);
    int rc = check_split(to, err);
    if (rc != 0)
      return rc;
  }
  for (int k = 0; k < 3; k++) {
    snprintf(to, sizeof to, "%s/%s", p->o->out, split_names[k]);
    rm_tree(to);
  }
  for (int k = 0; k < 4; k++) {
    const char *name = k < 3 ? split_names[k] : "prep.json";
    snprintf(from, sizeof from, "%s/%s", tmp, name);
    snprintf(to, sizeof to, "%s/%s", p->o->out, name);
    if ((k == 3 || p->split[k].n > 0) && rename(from, to) != 0)
      return pc_err_set(err, PC_EIO, "cannot rename %s to %s: %s", from, to, strerror(errno));
  }
  return 0;
}

int pw_prep_write(const pw_prep_run_t *p, pc_err_t *err) {
  char tmp[PREP_PATH_MAX];
  if (strlen(p->o->out) > PREP_PATH_MAX - 64)
    return pc_err_set(err, PC_EINVAL, "--out: path too long");
  int created = mkdir(p->o->out, 0777) == 0;
  if (!created && errno != EEXIST)
    return pc_err_set(err, PC_EIO, "cannot create %s: %s", p->o->out, strerror(errno));
  snprintf(tmp, sizeof tmp, "%s/.prep.tmp-%ld", p->o->out, (long)getpid());
  rm_tree(tmp); /* a crashed run of this pid's namesake */
  int rc = 0;
  if (mkdir(tmp, 0777) != 0)
    rc = pc_err_set(err, PC_EIO, "cannot create %s: %s", tmp, strerror(errno));
  for (int k = 0; k < 3 && rc == 0; k++)
    if (p->split[k].n > 0)
      rc = write_split(p, tmp, k, err);
  if (rc == 0)
    rc = write_json(p, tmp, err);
  if (rc == 0)
    rc = move_into_place(p, tmp, err);
  rm_tree(tmp);
  if (rc != 0 && created)
    rmdir(p->o->out); /* as it was: not there */
  return rc;
}
