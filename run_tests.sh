#!/usr/bin/env bash
# Set up .venv if needed, then run the test suite (offline, CPU only). Extra args go to pytest.
# The browser tests (review report, workbench) need Debian's chromium and chromium-driver, and the team
# store's tests a PostgreSQL server (Debian's postgresql, started by the tests themselves): installed here
# when missing (as root, or with password-less sudo). The browser is then required, so a missing browser
# fails those tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
   || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "run_tests.sh: chromium, chromium-driver or postgresql is missing and cannot be installed without root:" \
      "apt-get install -y chromium chromium-driver postgresql" >&2
    exit 1
  fi
  echo "run_tests.sh: installing chromium, chromium-driver and postgresql for the browser and store tests" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver postgresql >/dev/null
fi
export BACKSTAMP_REQUIRE_BROWSER=1

python -m pytest "$@"
