#!/usr/bin/awk -f
# Aggregates "ROW name value unit" lines (one per repetition) into medians
# with min-max, derives the ratios to the machine's limits measured in the
# same run, checks the targets, prints the table and (json=FILE) writes
# every figure as {"name", "value", "unit"} rows. Portable awk (mawk).
$1 == "ROW" {
  name = $2
  if (!(name in count)) { order[++norder] = name; unit[name] = $4 }
  if ($3 == "nan" || $3 == "-nan" || $3 == "") { nan[name]++; next }
  vals[name, ++count[name]] = $3 + 0
}

function median(name,   n, i, j, t, a) {
  n = count[name]
  if (n == 0) return "nan"
  for (i = 1; i <= n; i++) a[i] = vals[name, i]
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  lo[name] = a[1]; hi[name] = a[n]
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function fmt(v) {
  if (v == "nan" || v == "") return "n/a"
  if (v >= 1e6) return sprintf("%.3g", v)
  if (v >= 100) return sprintf("%.0f", v)
  if (v >= 10) return sprintf("%.1f", v)
  return sprintf("%.3g", v)
}

function add(name, v, u) { if (!(name in med)) derived[++nderived] = name; med[name] = v; unit[name] = u }

function ratio(name, a, b) {
  if (!(a in med) || !(b in med) || med[a] == "" || med[b] == "" || med[a] == "nan" || med[b] == "nan" || med[b] == 0) add(name, "nan", "ratio")
  else add(name, med[a] / med[b], "ratio")
}

# target(label, figure, op, goal): op ">=" or "<="
function target(label, fig, op, goal,   v, met) {
  v = (fig in med) ? med[fig] : "nan"
  if (v == "") v = "nan"
  med[fig] = v
  met = v != "nan" && ((op == ">=" && v >= goal) || (op == "<=" && v <= goal))
  ntarget++
  tl[ntarget] = label; tf[ntarget] = fig; top[ntarget] = op; tg[ntarget] = goal; tm[ntarget] = met
}

END {
  for (i = 1; i <= norder; i++) med[order[i]] = median(order[i])
  split("4KiB 64KiB 4MiB 64MiB", sizes, " ")
  for (i = 1; i <= 4; i++) {
    ratio("dense_vs_raw_tcp@" sizes[i], "dense_pushpull_gbps@" sizes[i], "raw_zmq_tcp_gbps@" sizes[i])
    ratio("dense_2x2_vs_raw_tcp@" sizes[i], "dense_pushpull_gbps_2x2@" sizes[i], "raw_zmq_tcp_gbps@" sizes[i])
  }
  ratio("small_op_rtt_vs_raw", "small_op_rtt_us@4KiB", "raw_zmq_rtt_us@4KiB")
  ratio("dense_64MiB_vs_memcpy", "dense_pushpull_gbps@64MiB", "memcpy_gbps")
  ratio("sparse_vs_store", "sparse_mkeys_s", "store_sparse_mkeys_s")
  ratio("bulk_vs_store", "bulk_mkeys_s", "store_bulk_mkeys_s")
  ratio("mlp_vs_torch", "mlp_examples_s@1x1", "torch_mlp_examples_s")
  ratio("cnn_vs_torch", "cnn_examples_s@1x1", "torch_cnn_examples_s")
  ratio("mf_vs_store", "mf_ratings_s@1x1", "store_mf_ratings_s")
  target("dense push+pull @4MiB >= 0.80 x raw ZeroMQ tcp", "dense_vs_raw_tcp@4MiB", ">=", 0.80)
  target("dense push+pull @64MiB >= 2 GB/s", "dense_pushpull_gbps@64MiB", ">=", 2)
  target("small push+pull rtt <= 1.15 x raw ZeroMQ rtt", "small_op_rtt_vs_raw", "<=", 1.15)
  target("sparse 100-key requests, AdaGrad >= 15 M keys/s", "sparse_mkeys_s", ">=", 15)
  target("bulk 1M-key requests >= 50 M keys/s", "bulk_mkeys_s", ">=", 50)
  target("training, 2 workers x 1 server >= 1 M examples/s", "train_examples_s@2x1", ">=", 1e6)
  target("a9a to 0.848 test accuracy <= 1.5 s wall", "a9a_seconds_to_0848", "<=", 1.5)
  target("AdaGrad store <= 24 bytes per sparse key", "bytes_per_key_adagrad", "<=", 24)
  target("dense storage <= 1.05 x its arrays", "dense_bytes_ratio", "<=", 1.05)
  target("MNIST MLP 1x1 >= 0.6 x PyTorch examples/s", "mlp_vs_torch", ">=", 0.6)
  target("MNIST CNN 1x1 >= 0.6 x PyTorch examples/s", "cnn_vs_torch", ">=", 0.6)

  printf "Parasol benchmarks (%s%s)\n\n", machine, quick ? ", --quick" : ""
  printf "%-36s %12s  %-23s %s\n", "figure", "median", "min - max (runs)", "unit"
  for (i = 1; i <= norder; i++) {
    n = order[i]
    r = count[n] ? sprintf("%s - %s (%d)", fmt(lo[n]), fmt(hi[n]), count[n] + nan[n]) : sprintf("(%d failed)", nan[n])
    printf "%-36s %12s  %-23s %s\n", n, fmt(med[n]), r, unit[n]
  }
  printf "\n%-36s %12s\n", "ratio (same run)", "value"
  for (i = 1; i <= nderived; i++) printf "%-36s %12s\n", derived[i], fmt(med[derived[i]])
  printf "\n%-52s %12s %10s  %s\n", "target", "value", "goal", "status"
  for (i = 1; i <= ntarget; i++)
    printf "%-52s %12s %10s  %s\n", tl[i], fmt(med[tf[i]]), top[i] " " tg[i], tm[i] ? "met" : "NOT MET"
  if (json != "") write_json()
}

function jnum(v) { return v == "nan" ? "null" : sprintf("%.6g", v) }

function write_json(   i, n, sep) {
  print "[" > json
  sep = ""
  for (i = 1; i <= norder; i++) {
    n = order[i]
    printf "%s  {\"name\": \"%s\", \"value\": %s, \"unit\": \"%s\", \"min\": %s, \"max\": %s, \"runs\": %d}", \
      sep, n, jnum(med[n]), unit[n], count[n] ? jnum(lo[n]) : "null", count[n] ? jnum(hi[n]) : "null", count[n] + nan[n] > json
    sep = ",\n"
  }
  for (i = 1; i <= nderived; i++)
    printf "%s  {\"name\": \"%s\", \"value\": %s, \"unit\": \"ratio\"}", sep, derived[i], jnum(med[derived[i]]) > json
  for (i = 1; i <= ntarget; i++)
    printf "%s  {\"name\": \"target:%s\", \"value\": %s, \"unit\": \"%s\", \"goal\": \"%s %s\", \"met\": %s}", \
      sep, tf[i], jnum(med[tf[i]]), unit[tf[i]], top[i], tg[i], tm[i] ? "true" : "false" > json
  print "\n]" > json
  close(json)
}
