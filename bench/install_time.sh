#!/usr/bin/env bash
# How long the README's first install takes on a fresh machine: a new venv and `pip install -e ".[local]"`
# with pip's cache off (llama-cpp-python is compiled from source, as on a machine that never built it).
# Writes bench/results/install_time.md. Usage: bench/install_time.sh [EXTRA]   (default: local)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA=${1:-local}
VENV=$(mktemp -d)/venv
load=$(cut -d' ' -f1 /proc/loadavg)
start=$(date +%s)
python3 -m venv "$VENV"
"$VENV/bin/pip" install --no-cache-dir -q -e ".[$EXTRA]"
seconds=$(( $(date +%s) - start ))
rm -rf "$(dirname "$VENV")"
{
  echo "# Install time of \`pip install -e \".[$EXTRA]\"\` in a fresh venv, pip cache off"
  echo
  echo "| date | cores | load before | seconds | minutes |"
  echo "|---|---|---|---|---|"
  echo "| $(date -u +%Y-%m-%d) | $(nproc) | $load | $seconds | $(( (seconds + 59) / 60 )) |"
} > bench/results/install_time.md
cat bench/results/install_time.md
