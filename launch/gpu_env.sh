# Sourced by launch/gpu_bench.sh and launch/gpu_checks.sh on a lent GPU
# machine: installs the carried wheels (.whl/, if any), puts this checkout on
# PYTHONPATH, and sets `gpu` (the device name) and `gpu_bw` (its HBM
# bytes/s for the rollout roofline; empty when the device is not known).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
case "$gpu" in
  *H200*) gpu_bw=4.8e12 ;;
  *H100*) gpu_bw=3.35e12 ;;
  *) gpu_bw= ;;
esac
