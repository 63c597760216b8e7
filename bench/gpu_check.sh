#!/usr/bin/env bash
# GPU check for a lent H100/H200 (under 8 minutes): hf vs deepspeed (without and with kernel injection) on a
# GPT-J-6B-shaped random fp16 model; tables in bench/results/gpu_check.{md,json}.
# DeepSpeed JIT-builds its inference kernels on first use (cached in TORCH_EXTENSIONS_DIR),
# which is most of the first run's time; the timeout keeps whatever was measured.
set -euo pipefail
cd "$(dirname "$0")/.."
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$PWD/.cache/torch_extensions}" HF_HUB_OFFLINE=1
PYTHON="${PYTHON:-.venv/bin/python}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
timeout 450 "$PYTHON" -m bench.gpu_check "$@"
cat bench/results/gpu_check.md
