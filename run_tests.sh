#!/usr/bin/env bash
# Set up .venv if needed, then run the test suite (offline, CPU only). Extra args go to pytest.
# The review report's browser tests need Debian's chromium: installed here when missing (as root, or
# with password-less sudo), and required, so a missing browser fails those tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "run_tests.sh: chromium is missing and cannot be installed without root: apt-get install -y chromium" >&2
    exit 1
  fi
  echo "run_tests.sh: installing chromium for the review report's browser tests" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export BACKSTAMP_REQUIRE_BROWSER=1

python -m pytest "$@"
