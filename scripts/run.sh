#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root): installs what is missing, then runs.
#   bash scripts/run.sh demo    # the whole lifecycle of the reference procurement, about a minute
#   bash scripts/run.sh test    # the test suite (real Dovecot, Postfix, PostgreSQL, Bot API stand-in)
#   bash scripts/run.sh bench   # the benchmarks (print their figures)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-test}"; shift || true

# 1. system packages: Python 3.11 with venv, and the real servers the demo and tests start on loopback
PY=""
for c in python3.11 /usr/bin/python3.11 python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
    PY="$(command -v "$c")"; break
  fi
done
if [ -z "$PY" ]; then
  echo "run.sh: installing Python 3.11 (python3.11, python3.11-venv)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv >/dev/null
  PY=/usr/bin/python3.11
fi
bash scripts/install-system-deps.sh

# 2. the project's own virtual environment
if [ ! -x .venv/bin/python ] || [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "run.sh: preparing .venv with $PY"
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch .venv/.installed
fi

# 3. run
case "$what" in
  demo)  exec .venv/bin/hankebot demo "$@" ;;
  test)  exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@" ;;
  bench) exec .venv/bin/python bench/run_all.py "$@" ;;
  *)     echo "usage: bash scripts/run.sh demo|test|bench" >&2; exit 2 ;;
esac
