#!/usr/bin/env bash
# GPU check for a lent H100/H200, one prepared run under 8 minutes: eager hf, compiled static-cache decoding,
# deepspeed and continuous batching on a GPT-J-6B-shaped random fp16 model, against the memory-bandwidth bound
# (bench/gpu_check.py says what each stage measures). Writes gpu_check.{json,md} and gpu_check.log under $OUT
# (else bench/results/gpu/); keep them in bench/results/gpu/ (README.md there says what the JSON holds).
#
#   bench/gpu_check.sh            # on the GPU machine
#   bench/gpu_check.sh --tiny     # anywhere: every stage on a 2-layer CPU model (tests/test_decode.py runs it)
#
# Wheels in .whl/ (git-ignored; carry it) are installed first into /tmp/site: the device image's transformers
# may be older than the project's 5.24 and it has no DeepSpeed (bench/results/gpu/README.md lists the wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-bench/results/gpu}"
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-/tmp/torch_extensions}"
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-/tmp/torchinductor_cache}"
if [[ -x .venv/bin/python ]]; then PYTHON="${PYTHON:-.venv/bin/python}"; else PYTHON="${PYTHON:-python3}"; fi
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [[ " $* " == *" --tiny "* ]]; then LIMIT=300; else
  LIMIT=450
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
# the Python side spends at most --budget_s (400 s) on its stages; the timeout is the backstop
timeout "$LIMIT" "$PYTHON" -m bench.gpu_check --out "$OUT_DIR" "$@" 2>&1 | tee "$OUT_DIR/gpu_check.log"
