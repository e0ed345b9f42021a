#!/usr/bin/env bash
# Runs the same gan_jax command on every worker of a Cloud TPU VM slice. Each worker runs one
# process; JAX finds the others through the TPU VM's environment (gan_jax.main calls
# jax.distributed.initialize()). The repository must be at the same path on every worker, and
# the workdir on storage all workers share (e.g. a gs:// bucket mounted with gcsfuse).
#
#   launch/tpu_vm.sh TPU_NAME ZONE --config=experiments/dcgan_celeba.py --workdir=/mnt/runs/celeba
#
# Environment: REPO_DIR (default: this repository's path), PYTHON (default: python3),
# PROJECT (passed to gcloud as --project when set).
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: $0 TPU_NAME ZONE --config=experiments/x.py [main flags...]" >&2
  exit 2
fi
tpu_name=$1
zone=$2
shift 2
repo_dir=${REPO_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
python=${PYTHON:-python3}
project_flag=()
[[ -n "${PROJECT:-}" ]] && project_flag=(--project="$PROJECT")

args=$(printf ' %q' "$@")
gcloud compute tpus tpu-vm ssh "$tpu_name" --zone="$zone" "${project_flag[@]}" --worker=all \
    --command="cd $(printf '%q' "$repo_dir") && $python -m gan_jax.main$args"
