#!/usr/bin/env bash
# The GPU suite in one command (benchmarks/gpu_suite.py says what it measures):
#
#   bash benchmarks/gpu_suite.sh [--dry] [--out=DIR] [--parts=smoke,step,...] [--budget=S]
#       [--jobs=N] [--wheels=DIR]
#
# On one GPU it takes at most --budget seconds (440 by default, under 8 minutes with the
# start-up); --dry runs the same parts on the CPU at smoke sizes in about a minute or two. It
# writes OUT/suite.json and OUT/suite.txt (default OUT: runs/gpu_suite) and exits non-zero if a
# part failed.
#
# Packages. The suite needs jax, flax, optax, orbax-checkpoint, absl-py, numpy, pillow,
# scikit-learn (the bundled digits of the smoke test), scipy, matplotlib, pyyaml, etils and
# cloudpickle, which the GPU machines have, torch for the PyTorch peer, and five packages they
# lack: ml_collections, grain with the two it imports (array_record, portpicker) and
# tensorboardX (the trainer's event files). TensorFlow and tensorflow-datasets are not needed:
# the benchmarks make random data, and the smoke test and the input benchmark read no TFDS
# dataset. Those machines reach no package index, so the five travel as wheels. Where pip
# reaches PyPI, in the repository's root:
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d wheels \
#       ml_collections==1.1.0 grain==0.2.18 array_record==0.8.6 portpicker==1.6.0 \
#       tensorboardX==2.6.5
#
# (about 5 MB; --python-version is the GPU machine's Python, 3.12 there). Send wheels/ along
# with the working tree (name it in the device run's carry: .gitignore ignores it) and this
# script installs every wheels/*.whl with pip, offline and without dependencies, into a folder
# of the temporary directory that it puts on PYTHONPATH, before it runs the suite. A package
# still missing then stops the suite before anything runs (exit code 2), naming it and
# repeating these steps.
#
# PYTHON picks the interpreter (default python3: on the GPU machines, the one with torch).

set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
wheels=wheels
args=()
for arg in "$@"; do
  case "$arg" in
    --wheels=*) wheels="${arg#--wheels=}" ;;
    *) args+=("$arg") ;;
  esac
done

shopt -s nullglob
carried=("$wheels"/*.whl)
if (( ${#carried[@]} )); then
  site="${TMPDIR:-/tmp}/gan_jax_gpu_suite_site"
  echo "gpu_suite.sh: installing ${#carried[@]} wheel(s) from $wheels/ into $site"
  if ! "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --disable-pip-version-check --upgrade --target "$site" "${carried[@]}"; then
    echo "gpu_suite.sh: pip could not install the wheels of $wheels/ (see above): download" \
         "them for this machine's Python as this script's header says" >&2
    exit 2
  fi
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi

exec "$PYTHON" benchmarks/gpu_suite.py ${args[@]+"${args[@]}"}
