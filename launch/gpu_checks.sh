#!/usr/bin/env bash
# The GPU checks of one lent-GPU session (the device tool), in one command:
#   1. what bounds decoding: launch/decode_scan.py on the Qwen2.5-0.5B shape
#      (batch × new tokens, per-token loop vs decode_chunk);
#   2. the same with XLA command buffers (CUDA graphs) around while loops;
#   3. the benchmark's rollout and the sampler-vs-learner log-prob mismatch
#      of the 0.5B shape in bf16 (no GRPO/PPO steps);
#   4. the tests that make sense on an accelerator (README, "GPU and TPU").
# Each part runs under its own time limit and writes to $OUT (or
# runs/gpu_checks), so one that fails or runs out of time leaves the others.
#
# Here, once:  echo /.whl/ >> .git/info/exclude && python3 -m pip download \
#   --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#   --platform manylinux2014_x86_64 -d .whl ml-collections==1.1.0
# There:       bash launch/gpu_checks.sh   (carry: .whl)
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}
out=${OUT:-runs/gpu_checks}
mkdir -p "$out"
bw=${gpu_bw:-3.35e12}  # unknown device: H100 SXM.
echo "gpu: ${gpu:-none}, peak bandwidth $bw"
quiet() { grep -v "^W0000\|^I0000\|^WARNING: All log messages"; }
cfg=${CFG:-configs/bench.py:qwen05b}

echo "=== 1. decode scan (at ${SECONDS}s)"
timeout "${SCAN_S:-220}" python3 launch/decode_scan.py --config=$cfg \
    --out="$out/scan" --budget_s="${SCAN_BUDGET_S:-170}" \
    --peak_bandwidth="$bw" --label="default XLA flags" 2>&1 | quiet

echo "=== 2. command buffers around while loops (at ${SECONDS}s)"
XLA_FLAGS="--xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,WHILE,CONDITIONAL" \
    timeout "${CB_S:-90}" python3 launch/decode_scan.py --config=$cfg \
    --out="$out/scan_cb" --budget_s=45 --peak_bandwidth="$bw" \
    --settings=8x128:chunk16,8x32:chunk16,256x512:chunk16 \
    --label="command buffers incl. WHILE, CONDITIONAL" 2>&1 | quiet

echo "=== 3. bench rollout + log-prob mismatch (at ${SECONDS}s)"
timeout "${BENCH_S:-110}" python3 -m reasoning_jax.bench --config=$cfg \
    --workdir=/tmp/bench --table="$out/BENCHMARKS.md" \
    --config.bench.algorithms= --config.model.decode_chunk=16 \
    --config.bench.peak_flops=989e12 --config.bench.peak_bandwidth="$bw" \
    --config.bench.notes="qwen05b rollout, decode_chunk 16" 2>&1 | quiet
cp /tmp/bench/bench.json "$out/bench.json" 2>/dev/null

echo "=== 4. tests on the accelerator (at ${SECONDS}s)"
timeout "${TEST_S:-130}" python3 -m pytest -q -p no:cacheprovider \
    tests/models tests/sampling tests/rl 2>&1 | tail -25 | tee "$out/pytest.log"
echo "=== done at ${SECONDS}s"
