#!/usr/bin/env bash
# The main job on the embedded default. Until the trainer lands this is the Canvas world demo: generate train and
# held-out test tasks, print a few with their ground truth, and check perception on every image.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs/demo}
mkdir -p "$OUT"
.venv/bin/editrl data generate --n 1000 --seed 0 --split train --out "$OUT/train.parquet" --quiet
.venv/bin/editrl data generate --n 300 --seed 0 --split test --out "$OUT/test.parquet" --quiet
.venv/bin/editrl data show "$OUT/test.parquet" --n 3 --images "$OUT/images"
.venv/bin/editrl data check "$OUT/test.parquet"
echo "demo outputs in $OUT (images of the shown tasks in $OUT/images)"
