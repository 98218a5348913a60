#!/usr/bin/env bash
# One-command set-up on Debian 12 (as root, or with sudo available):
#   ./setup.sh example   install what is missing, build, run the default example
#   ./setup.sh test      install what is missing, build, run the whole test suite
#                        (a normal build and an ASan/UBSan build)
#   ./setup.sh deps      only install what is missing (bench/run uses it)
#   ./setup.sh reference install the reference tools bench/reference compares
#                        against (liblinear, scikit-learn, PyTorch; large, optional,
#                        not needed by the build or the tests)
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
          libopenblas-dev libuv1-dev libfyaml-dev libcmocka-dev libjansson-dev libxxhash-dev
          zlib1g-dev jq gnuplot-nox)
# jq: the integration tests and the benchmarks read metrics.json with it;
# gnuplot-nox: curves.png and `parasol plot` (deploy/pd_plot.c)
REFERENCE_PACKAGES=(liblinear-tools python3-numpy python3-sklearn python3-torch)
JOBS=$(nproc 2>/dev/null || echo 2)

install_missing() { # [package...], default: PACKAGES
  local missing=() wanted=("$@")
  [ $# -gt 0 ] || wanted=("${PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() { # dir [cmake args...]
  local dir=$1
  shift
  echo "== building in $dir"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" > "$dir.cmake.log" 2>&1 ||
    { cat "$dir.cmake.log"; exit 1; }
  cmake --build "$dir" -j "$JOBS"
}

# The environment may pin OpenBLAS to one core type; leave it, but keep each
# process single-threaded: the cluster already runs one process per core.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

case "${1:-}" in
  example)
    install_missing
    build build
    echo "== parasol launch examples/a9a.yaml"
    ./build/parasol launch examples/a9a.yaml
    ;;
  test)
    install_missing
    build build
    echo "== test suite (release build)"
    (cd build && ctest --output-on-failure -j 1)
    build build-asan -DPARASOL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    echo "== test suite (AddressSanitizer + UndefinedBehaviorSanitizer build)"
    (cd build-asan && ctest --output-on-failure -j 1)
    ;;
  deps)
    install_missing
    ;;
  reference)
    install_missing "${REFERENCE_PACKAGES[@]}"
    echo "== reference tools installed; run bench/reference"
    ;;
  *)
    echo "usage: $0 example|test|deps|reference" >&2
    exit 2
    ;;
esac
