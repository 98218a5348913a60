/* Files replaced whole or not at all: the content goes to PATH.tmp, which
 * is synced and renamed over PATH, and the directory synced, so a reader
 * (or a crash) sees the old file or the new one, never half of one. */
#ifndef PC_AFILE_H
#define PC_AFILE_H

#include <stdio.h>

#include "pc_error.h"

#define PC_AFILE_PATH_MAX 4096

typedef struct pc_afile {
  FILE *f; /* write the content here; NULL once committed or aborted */
  char path[PC_AFILE_PATH_MAX];
  char tmp[PC_AFILE_PATH_MAX + 8];
} pc_afile_t;

/* Create PATH.tmp for writing; PATH itself is untouched until commit.
 * Errors read "cannot write PATH: cannot create PATH.tmp: <why>". */
int pc_afile_open(pc_afile_t *a, const char *path, pc_err_t *err);

/* Flush, sync and close PATH.tmp, rename it over PATH, sync the directory.
 * On any failure PATH.tmp is removed and PATH is as it was; the error
 * reads "cannot write PATH: <why>". */
int pc_afile_commit(pc_afile_t *a, pc_err_t *err);

/* Drop what was written: close and remove PATH.tmp (no-op once done). */
void pc_afile_abort(pc_afile_t *a);

#endif
