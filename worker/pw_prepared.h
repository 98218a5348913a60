/* Prepared data: what `parasol prep` writes and `data.format: prepared`
 * reads. A split (DIR/train, DIR/valid, DIR/test) is a directory of N
 * shard files part-00000.psp ... part-(N-1).psp; worker w of W reads the
 * shards s with s mod W == w when N >= W, else every shard and keeps its
 * contiguous block of rows (so any W works with any N).
 *
 * Shard file, version 1, integers little-endian (docs/prep.md):
 *   magic "PSLPREP\0" (8 bytes), u32 version = 1
 *   u32 shard, u32 nshards, u32 split (0 train, 1 valid, 2 test)
 *   u64 rows (this shard), u64 nnz (this shard), u64 total_rows (all shards)
 *   shape: u64 features, u32 height, u32 width, u32 channels, u32 dense
 *   u32 label kind (pw_label_kind_t), u32 classes (0 for real labels)
 *   u32 recipe length, recipe JSON (pw_recipe.h; 0 bytes: none, the input
 *       was not a CSV)
 *   transform: u64 n (0 = none), n f32 means, n f32 inverse std devs (the
 *       standardization already applied to these rows, from the training
 *       split only)
 *   rows: f32 label[rows], u32 count[rows] (entries per row), then
 *       u32 index[nnz] (omitted when dense: row r holds features
 *       0..features-1 in order), f32 value[nnz]
 *   u64 XXH3-64 (seed 0) of every byte before it.
 * Every shard of a split carries the same shape, labels, recipe and
 * transform; the reader refuses shards that disagree, naming both files. */
#ifndef PW_PREPARED_H
#define PW_PREPARED_H

#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pw_data.h"

#define PW_PREP_VERSION 1u
#define PW_PREP_MAX_SHARDS 4096

typedef enum { PW_SPLIT_TRAIN = 0, PW_SPLIT_VALID = 1, PW_SPLIT_TEST = 2 } pw_split_t;

/* What a split's shards say about themselves. */
typedef struct pw_prep_info {
  uint32_t nshards;
  uint64_t total_rows;
  pw_split_t split;
  pw_shape_t shape;
  pw_label_kind_t labels;
  uint32_t classes;
  char *recipe_json;   /* owned, NULL when none */
  size_t recipe_len;
  pw_transform_t tf;   /* owned, n == 0 when none */
} pw_prep_info_t;

void pw_prep_info_free(pw_prep_info_t *info);

/* Write rows [begin, end) of ds as shard `shard` of info->nshards into
 * path, atomically (pc_afile). ds->shape, labels and classes come from
 * info; total_rows is info->total_rows. */
int pw_prep_write_shard(const char *path, const pw_prep_info_t *info, uint32_t shard,
                        const pw_dataset_t *ds, size_t begin, size_t end, pc_err_t *err);

/* Read the header of the split in dir (its part-00000.psp), checking the
 * magic, version and that the files part-00000 .. part-(N-1) exist. */
int pw_prep_read_info(const char *dir, pw_prep_info_t *info, pc_err_t *err);

/* The reader behind data.format: prepared (pw_reader_t, partial): load
 * the rows of dir for opts->part of opts->nparts, checking every count
 * against the file's size before allocating, the checksum, that indices
 * are < features, values and labels finite and labels valid for the kind.
 * Errors name the shard file and the reason. */
int pw_data_load_prepared(pw_dataset_t *ds, const char *dir, const pw_data_opts_t *opts,
                          pc_err_t *err);

/* data.format prepared: model.features, and model.classes for a model of
 * classes, from the header of data.train when the config leaves them
 * unset; a value the config gives must equal the header's (the message
 * names both). Every node calls it on the same shards, so every node
 * finds the same numbers (the scheduler compares them). A node that cannot
 * read data.train (a server on another host) needs them set in the
 * config: the error says so. No-op for other formats. */
int pw_prep_config_fill(pc_config_t *cfg, pc_err_t *err);

#endif
