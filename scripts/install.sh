#!/usr/bin/env bash
# Create .venv (if absent) and install cropviz with pinned dependencies. Usage: install.sh [test]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
if [ "${1:-}" = "test" ]; then
  python -m pip install -q -r requirements-test.txt
  # Reference implementation the model tests compare against (not a runtime dependency).
  python -m pip install -q --no-deps breizhcrops==0.0.4.1
else
  python -m pip install -q -r requirements.txt
fi
python -m pip install -q --no-deps -e .
