#!/usr/bin/env bash
# Install, generate the simulated demo on first run, and serve the app on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
[ -f data/demo/cropviz.json ] || cropviz demo --root data/demo
exec streamlit run app.py --server.address 127.0.0.1 --server.port "${PORT:-8501}" \
  --server.headless true --browser.gatherUsageStats false
