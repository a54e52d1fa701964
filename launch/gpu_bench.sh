#!/usr/bin/env bash
# One command for a lent GPU machine (the device tool): installs what is
# missing, runs the benchmark on the standard workload and on a
# Qwen2.5-0.5B-shaped policy (bf16, 1,024-token sequences, rollout batch
# 256), and prints the table. Results land in $OUT (or runs/gpu_bench).
#
# Here, once:  echo /.whl/ >> .git/info/exclude && python3 -m pip download \
#   --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#   --platform manylinux2014_x86_64 -d .whl ml-collections==1.1.0 \
#   tensorboardX==2.6.4 importlib_resources
# There:       bash launch/gpu_bench.sh   (carry: .whl)
#
# PEAK_FLOPS: the accelerator's dense bf16 peak for MFU (H100/H200 SXM:
# 989e12); the standard float32 workload is measured against it too.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
out=${OUT:-runs/gpu_bench}
peak=${PEAK_FLOPS:-989e12}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -m reasoning_jax.bench --config=configs/bench.py \
    --workdir="$out/standard" --table="$out/BENCHMARKS.md" \
    --config.bench.peak_flops="$peak" --config.bench.notes="standard workload"
python3 -m reasoning_jax.bench --config=configs/bench.py:qwen05b \
    --workdir="$out/qwen05b" --table="$out/BENCHMARKS.md" \
    --config.bench.peak_flops="$peak" \
    --config.bench.notes="Qwen2.5-0.5B shape, bf16, 1k tokens"
cat "$out/BENCHMARKS.md"
