#!/usr/bin/env bash
# Creates .venv and installs editrl with its test extras. torch is pinned to 2.13.0 first: on this kind of machine
# that version resolves to a local CPU wheel, and any other request pulls gigabytes of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
printf 'torch==2.13.0\n' > .venv/constraints.txt
.venv/bin/python -m pip install -q -c .venv/constraints.txt torch==2.13.0
.venv/bin/python -m pip install -q -c .venv/constraints.txt -e ".[dev]"
