#!/usr/bin/env bash
# Rebuilds sheets/static/sheets/editor.js and orders/static/orders/plan-graph.js
# (and their LICENSES.txt files) from
# frontend/src with the exact versions in package-lock.json. The output is
# committed: running or testing the Django app needs no Node.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build
