#!/usr/bin/env bash
# The runner's GPU checks in one run (the GPU tests, then benchmarks/runner.py on the GPU); results in BENCHMARKS.md.
# Needs python3 with torch (CUDA) and edgeopt's dependencies importable; writes to ${OUT:-out}.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/edgeopt-mpl XDG_CACHE_HOME=/tmp/edgeopt-cache
nvidia-smi -L
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tail -15
for epochs in 1 3; do
  timeout 150 python3 benchmarks/runner.py --device cuda --family mlp --sets 4k --trials 4096 --pack 512 \
    --alone-s 10 --methods workers runner --workers-trials 256 --epochs $epochs $([ $epochs = 1 ] && echo --pack-memory) \
    --json "$out/gpu-mlp-e$epochs.json" 2>&1 | tee "$out/gpu-mlp-e$epochs.txt"
  timeout 150 python3 benchmarks/runner.py --device cuda --family cnn1d --sets one-structure --trials 512 \
    --pack 128 --alone-s 10 --methods workers runner --workers-trials 64 --epochs $epochs $([ $epochs = 1 ] && echo --pack-memory) \
    --json "$out/gpu-cnn1d-e$epochs.json" 2>&1 | tee "$out/gpu-cnn1d-e$epochs.txt"
done
