#!/usr/bin/env bash
# Install cropviz with its test dependencies and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
. .venv/bin/activate
exec python -m pytest -q --timeout 900 "$@"
