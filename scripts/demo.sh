#!/usr/bin/env bash
# The main job on the embedded default (the README's first quick-start command): the ImageEdit-R1 pipeline on the
# Canvas world, trained on the CPU -
#   1. the cold start: the shipped SFT decomposer (agents/lm/pretrained/decomposer), the way users of the peers start
#      RL from a pretrained model; COLD_START=1 remakes it first with `editrl sft` (about 14 minutes on 2 cores);
#   2. GRPO on RLlib's new API stack for GRPO_SECONDS of wall time (grounded-F1 + success + format reward, tasks
#      with indirect references; configs/imageedit_r1.yaml);
#   3. a before/after table on EVAL_TASKS held-out test tasks (templates never seen in training), with paired
#      bootstrap intervals.
# Sized for 2 CPU cores and at most 15 minutes; every output lands in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs/demo}
GRPO_SECONDS=${GRPO_SECONDS:-480}
EVAL_TASKS=${EVAL_TASKS:-300}
POLICY=agents/lm/pretrained/decomposer
mkdir -p "$OUT"
start=$(date +%s)
if [ "${COLD_START:-0}" = "1" ]; then
  .venv/bin/editrl sft --config imageedit_r1 --out "$OUT/sft"
  POLICY="$OUT/sft/decomposer"
fi
.venv/bin/editrl train --config imageedit_r1 --overwrite \
    --set "decomposer.model=$POLICY" --run-dir "$OUT/grpo" \
    --time-budget "$GRPO_SECONDS" --eval-tasks "$EVAL_TASKS"
# `editrl train` has printed the before/after table on stdout; it is also in $OUT/grpo/eval.md.
echo
echo "done in $(( $(date +%s) - start )) s: cold start $POLICY, before/after table in $OUT/grpo/eval.md, trained policy and checkpoints in $OUT/grpo/checkpoints, metrics in $OUT/grpo/metrics.parquet (TensorBoard: $OUT/grpo/tb)"
