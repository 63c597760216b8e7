#!/usr/bin/env bash
# Set up .venv if needed, then run the test suite (offline, CPU only). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh
python -m pytest "$@"
