#!/usr/bin/env bash
# The main job on the embedded default (the README's first quick-start command): the ImageEdit-R1 pipeline on the
# Canvas world, trained end to end on the CPU -
#   1. SFT cold start: a tokenizer and a tiny Llama decomposer trained from scratch on generated Canvas tasks;
#   2. GRPO on RLlib's new API stack for GRPO_SECONDS of wall time (format + structured-F1 reward);
#   3. a before/after table on EVAL_TASKS held-out test tasks (templates never seen in training).
# Sized for 2 CPU cores and at most 15 minutes; every output lands in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs/demo}
GRPO_SECONDS=${GRPO_SECONDS:-300}
EVAL_TASKS=${EVAL_TASKS:-300}
mkdir -p "$OUT"
start=$(date +%s)
# SFT and GRPO run as two processes: SFT's allocator keeps what it grew (measured 2.3 GiB peak alone), and GRPO in
# the same process would start from there (4.07 GiB peak measured for `train --sft-first` with its Ray workers).
.venv/bin/editrl sft --config imageedit_r1 --out "$OUT/sft"
.venv/bin/editrl train --config imageedit_r1 --overwrite \
    --set "decomposer.model=$OUT/sft/decomposer" --run-dir "$OUT/grpo" \
    --time-budget "$GRPO_SECONDS" --eval-tasks "$EVAL_TASKS"
echo
echo "before/after GRPO on $EVAL_TASKS held-out test tasks ($OUT/grpo/eval.md):"
cat "$OUT/grpo/eval.md"
echo
echo "done in $(( $(date +%s) - start )) s: policies in $OUT/sft and $OUT/grpo/checkpoints, metrics in $OUT/grpo/metrics.parquet (TensorBoard: $OUT/grpo/tb)"
