#!/usr/bin/env bash
# One command for a lent GPU machine (the device tool): installs what is
# missing, runs the benchmark on a Qwen2.5-0.5B-shaped policy (bf16,
# 1,024-token sequences, rollout batch 256) in a few learner settings and on
# the standard workload, and prints the table. Results land in $OUT (or
# runs/gpu_bench): BENCHMARKS.md rows, bench JSONs and the log.
#
# Here, once:  echo /.whl/ >> .git/info/exclude && python3 -m pip download \
#   --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#   --platform manylinux2014_x86_64 -d .whl ml-collections==1.1.0
# There:       bash launch/gpu_bench.sh   (carry: .whl)
#
# Each setting runs in its own process under a time limit, so one that runs
# out of memory or time leaves the others' rows. PEAK_FLOPS is the dense
# bf16 peak for MFU (H100/H200 SXM: 989e12); PEAK_BW the HBM bytes/s for
# the rollout roofline (H100 SXM 3.35e12, H200 4.8e12; from nvidia-smi).
# LARGE overrides the large config (e.g. configs/bench.py:quick to try the
# script on a CPU).
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.94}
out=${OUT:-runs/gpu_bench}
large=${LARGE:-configs/bench.py:qwen05b}
limit=${LIMIT:-170}
mkdir -p "$out"
echo "gpu: ${gpu:-none}"
peak=${PEAK_FLOPS:-989e12}
bw=${PEAK_BW:-${gpu_bw:-0}}  # 0: measured.
python3 -c "import jax, flax; print('jax', jax.__version__, 'flax', \
flax.__version__, jax.devices())"

total=${TOTAL:-500}  # seconds for all settings; a setting that would not
                     # fit in what is left is skipped.
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/jax_cache}

bench() {  # name, limit seconds, config, overrides...
  local name=$1 lim=$2 cfg=$3
  shift 3
  if (( SECONDS + lim > total )); then
    echo "=== $name skipped (${SECONDS}s used of ${total}s)"
    return 1
  fi
  echo "=== $name (at ${SECONDS}s)"
  timeout "$lim" python3 -m reasoning_jax.bench --config="$cfg" \
      --workdir="$out/$name" --table="$out/BENCHMARKS.md" \
      --config.bench.peak_flops="$peak" --config.bench.peak_bandwidth="$bw" \
      --config.bench.notes="$name" "$@" 2>&1 | grep -v "^W0000\|^I0000"
  local rc=$?
  [ -f "$out/$name/bench.json" ] && cp "$out/$name/bench.json" \
      "$out/$name.json"
  (( rc == 0 )) || echo "=== $name FAILED (exit $rc)"
  return $rc
}

# 0.5B as configured (cuDNN flash attention, no remat, the whole
# 32-sequence minibatch), with the rollout at batch 256; then 16-sequence
# minibatches (2 optimizer steps) and remat (a third more FLOPs, a fraction
# of the activations), with the rollout at the step's batch.
bench qwen05b-cudnn-mb32 "$limit" "$large"
bench qwen05b-cudnn-mb16 "$limit" "$large" --config.rl.minibatch_size=16 \
    --config.bench.rollout_batch=32
bench qwen05b-remat-cudnn-mb32 "$limit" "$large" --config.model.remat=true \
    --config.bench.rollout_batch=32
# The standard float32 workload (its MFU is against the bf16 peak).
bench standard 100 configs/bench.py
cat "$out/BENCHMARKS.md"
