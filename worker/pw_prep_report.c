/* What `parasol prep` did, for people (the summary) and for programs
 * (prep.json, docs/prep.md). */
#include <jansson.h>
#include <string.h>

#include "pw_prep_int.h"

static const char *const split_names[3] = {"train", "valid", "test"};
static const char *const missing_names[3] = {"mean", "zero", "drop"};

static int has_lines(pw_drop_t d) { return d != PW_DROP_BAD_RECORD; }

static size_t nlines(const pw_drops_t *d, int r) {
  return has_lines((pw_drop_t)r) ? (size_t)(d->count[r] < PW_DROP_LINES ? d->count[r]
                                                                         : PW_DROP_LINES)
                                 : 0;
}

/* ---- prep.json ---- */

static json_t *drops_json(const pw_drops_t *d) {
  json_t *o = json_object();
  for (int r = 0; o != NULL && r < PW_DROP_N; r++) {
    json_t *lines = json_array();
    for (size_t i = 0; i < nlines(d, r); i++)
      json_array_append_new(lines, json_integer((json_int_t)d->lines[r][i]));
    json_object_set_new(o, pw_drop_name((pw_drop_t)r),
                        json_pack("{s:I, s:o, s:s}", "count", (json_int_t)d->count[r], "lines",
                                  lines, "first", d->first[r]));
  }
  return o;
}

static json_t *column_json(const pw_prep_run_t *p, size_t c, const pw_recipe_col_t *rc) {
  const pw_prep_table_t *t = &p->table;
  const pw_colstat_t *st = &t->stats[c];
  json_t *o = json_pack("{s:s, s:s, s:I}", "name", t->names[c], "kind",
                        rc ? pw_col_kind_name(rc->kind) : "label", "missing",
                        (json_int_t)st->missing);
  if (o != NULL && rc != NULL && t->numeric[c] && rc->kind != PW_COL_DROPPED) {
    json_object_set_new(o, "min", json_real(st->min));
    json_object_set_new(o, "mean", json_real(st->mean));
    json_object_set_new(o, "max", json_real(st->max));
  }
  if (o != NULL && rc != NULL && !t->numeric[c])
    json_object_set_new(o, "categories", json_integer((json_int_t)st->categories));
  if (o != NULL && rc != NULL && rc->kind == PW_COL_DROPPED)
    json_object_set_new(o, "why", json_string(rc->why));
  return o;
}

static json_t *columns_json(const pw_prep_run_t *p) {
  json_t *a = json_array();
  for (size_t c = 0, j = 0; a != NULL && c < p->table.ncols; c++) {
    const pw_recipe_col_t *rc = c == p->table.label_col ? NULL : &p->recipe.cols[j++];
    json_array_append_new(a, column_json(p, c, rc));
  }
  return a;
}

static json_t *floats_json(const float *v, uint64_t n) {
  json_t *a = json_array();
  for (uint64_t i = 0; a != NULL && i < n; i++)
    json_array_append_new(a, json_real(v[i]));
  return a;
}

static json_t *options_json(const pw_prep_opts_t *o) {
  return json_pack("{s:s?, s:s?, s:s?, s:s, s:s, s:b, s:[f,f,f], s:i, s:I, s:i, s:b}", "label",
                   o->label, "labels_file", o->labels_path, "ignore", o->ignore, "kind",
                   o->labels_auto ? "auto" : pw_label_kind_name(o->labels), "missing",
                   missing_names[o->missing], "standardize", o->standardize, "split",
                   o->split[0], o->split[1], o->split[2], "shards", (int)o->shards, "seed",
                   (json_int_t)o->seed, "max_categories", (int)o->max_categories, "force",
                   o->force);
}

static json_t *splits_json(const pw_prep_run_t *p) {
  json_t *o = json_object();
  for (int k = 0; o != NULL && k < 3; k++)
    json_object_set_new(o, split_names[k],
                        json_pack("{s:I, s:i}", "rows", (json_int_t)p->split[k].n, "shards",
                                  p->split[k].n > 0 ? (int)p->o->shards : 0));
  return o;
}

static json_t *labels_json(const pw_prep_run_t *p) {
  json_t *cl = json_array();
  for (size_t i = 0; cl != NULL && i < p->table.nclasses; i++)
    json_array_append_new(cl, json_string(p->table.classes[i]));
  return json_pack("{s:s, s:i, s:o}", "kind", pw_label_kind_name(p->kind), "classes",
                   (int)p->classes, "names", cl);
}

json_t *pw_prep_json(const pw_prep_run_t *p) {
  json_t *recipe = p->recipe_json ? json_loads(p->recipe_json, 0, NULL) : json_null();
  json_t *tf = p->tf.n == 0 ? json_null()
                            : json_pack("{s:o, s:o}", "mean", floats_json(p->tf.mean, p->tf.n),
                                        "inv_std", floats_json(p->tf.inv_std, p->tf.n));
  return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:o, s:o, s:o, s:I, s:o, s:o, s:o}", "input",
                   p->o->input, "format", pc_config_format_name(p->o->format), "options",
                   options_json(p->o), "rows_in", (json_int_t)p->rows_in, "rows_out",
                   (json_int_t)p->rows_out, "rows_dropped",
                   (json_int_t)pw_drops_total(p->drops), "dropped", drops_json(p->drops),
                   "splits", splits_json(p), "labels", labels_json(p), "features",
                   (json_int_t)p->shape.features, "columns", columns_json(p), "recipe", recipe,
                   "standardize", tf);
}

/* ---- the summary ---- */

static void print_drops(const pw_drops_t *d, int records, FILE *f) {
  fprintf(f, "dropped %llu rows\n", (unsigned long long)pw_drops_total(d));
  for (int r = 0; r < PW_DROP_N; r++) {
    if (d->count[r] == 0)
      continue;
    fprintf(f, "  %-10s %8llu", pw_drop_name((pw_drop_t)r), (unsigned long long)d->count[r]);
    for (size_t i = 0; i < nlines(d, r); i++)
      fprintf(f, "%s%llu", i ? ", " : records ? "  records " : "  lines ",
              (unsigned long long)d->lines[r][i]);
    fprintf(f, "%s  (first: %s)\n", d->count[r] > PW_DROP_LINES && has_lines(r) ? ", ..." : "",
            d->first[r]);
  }
}

static void print_column(const pw_prep_run_t *p, size_t c, const pw_recipe_col_t *rc, FILE *f) {
  const pw_prep_table_t *t = &p->table;
  const pw_colstat_t *st = &t->stats[c];
  fprintf(f, "  %-20s %-8s %8llu  ", t->names[c], pw_col_kind_name(rc->kind),
          (unsigned long long)st->missing);
  if (rc->kind == PW_COL_DROPPED)
    fprintf(f, "%s\n", rc->why);
  else if (t->numeric[c])
    fprintf(f, "%g / %g / %g\n", st->min, st->mean, st->max);
  else
    fprintf(f, "%zu categories%s\n", st->categories, rc->kind == PW_COL_HASHED ? ", hashed" : "");
}

void pw_prep_print(const pw_prep_run_t *p, FILE *f) {
  fprintf(f, "prep %s (%s) -> %s\n", p->o->input, pc_config_format_name(p->o->format), p->o->out);
  fprintf(f, "rows in %llu, out %llu (train %zu, valid %zu, test %zu; %u shard(s) each)\n",
          (unsigned long long)p->rows_in, (unsigned long long)p->rows_out, p->split[0].n,
          p->split[1].n, p->split[2].n, p->o->shards);
  print_drops(p->drops, p->o->format != PC_FORMAT_CSV, f);
  fprintf(f, "labels: %s", pw_label_kind_name(p->kind));
  for (size_t i = 0; i < p->table.nclasses && i < 20; i++)
    fprintf(f, "%s%s", i ? ", " : " (classes: ", p->table.classes[i]);
  fprintf(f, "%s\n", p->table.nclasses > 20 ? ", ...)" : p->table.nclasses ? ")" : "");
  fprintf(f, "features: %llu%s\n", (unsigned long long)p->shape.features,
          p->tf.n ? ", standardized with the training split's mean and deviation" : "");
  if (p->table.ncols > 0)
    fprintf(f, "  %-20s %-8s %8s  %s\n", "column", "kind", "missing", "min / mean / max");
  for (size_t c = 0, j = 0; c < p->table.ncols; c++)
    if (c != p->table.label_col)
      print_column(p, c, &p->recipe.cols[j++], f);
}
