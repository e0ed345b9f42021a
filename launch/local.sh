#!/usr/bin/env bash
# Runs one gan_jax training as N cooperating processes on this machine, the way a cluster runs
# one per host: process 0 coordinates on a free local port, and every process gets the same
# training flags. Useful to test multi-host behaviour on one machine.
#
#   launch/local.sh N --config=experiments/x.py [--workdir=DIR] [--config.a.b=value ...]
#
# Devices: on CPU each process gets DEVICES_PER_PROCESS (default 1) simulated devices; with
# GPUs, the visible GPUs are split evenly between the processes (CUDA_VISIBLE_DEVICES).
# Each process logs to ${LOG_DIR:-.}/process_<i>.log. If one process fails, the others are
# stopped, and the exit status is that of the first failure.
set -euo pipefail

if [[ $# -lt 2 || ! "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 NUM_PROCESSES --config=experiments/x.py [main flags...]" >&2
  exit 2
fi
num_processes=$1
shift
python=${PYTHON:-python}
log_dir=${LOG_DIR:-.}
mkdir -p "$log_dir"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("localhost", 0)); print(s.getsockname()[1])')

gpus=()
if command -v nvidia-smi >/dev/null 2>&1; then
  mapfile -t gpus < <(nvidia-smi --query-gpu=index --format=csv,noheader)
fi

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup INT TERM

for ((i = 0; i < num_processes; i++)); do
  env_vars=()
  if ((${#gpus[@]} > 0)); then
    per=$((${#gpus[@]} / num_processes))
    share=$(IFS=,; echo "${gpus[*]:$((i * per)):$per}")
    env_vars+=("CUDA_VISIBLE_DEVICES=$share")
  else
    env_vars+=("JAX_PLATFORMS=cpu"
               "XLA_FLAGS=--xla_force_host_platform_device_count=${DEVICES_PER_PROCESS:-1}")
  fi
  env "${env_vars[@]}" "$python" -m gan_jax.main "$@" \
      --coordinator_address="localhost:$port" --num_processes="$num_processes" \
      --process_id="$i" >"$log_dir/process_$i.log" 2>&1 &
  pids+=($!)
done

status=0
for ((i = 0; i < num_processes; i++)); do
  code=0
  wait "${pids[$i]}" || code=$?
  if [[ $code -ne 0 ]]; then
    echo "process $i failed (exit $code); see $log_dir/process_$i.log" >&2
    if [[ $status -eq 0 ]]; then status=$code; fi
    cleanup
  fi
done
exit "$status"
