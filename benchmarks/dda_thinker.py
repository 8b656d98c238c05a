"""DDA-Thinker on the Canvas world: does a learned thinker plan better for a fixed editor than the rule thinker or
no thinker at all, and do dual-atomic advantages beat the same two rewards summed?

Rows, each judged on the same held-out test tasks (``generate_tasks(n, seed=eval_seed, split="test")``) by the
project's judge (:func:`orchestration.scoring.judge_episode`: full success = every item of the task's reference
checklist passes on the edited image), all over the same fixed editor (``dda_thinker``'s: the multi-turn Canvas
editor):

    editor alone          the editor on the raw request (``editor_only``)
    rule thinker          the rule thinker's plan (``dda_thinker`` with ``thinker={backend: rule}``)
    (a) LM thinker, SFT   the cold start (``--policy``: ``editrl sft --config dda_thinker``'s thinker)
    (b) SFT continued     the cold start trained on its own labelled data stream for the same wall time as one GRPO run
    (c) GRPO dual-atomic  ``dda_thinker``'s GRPO: cognitive (``plan_checklist``) and visual (``checklist``) rewards,
                          each normalised in its own group (``advantage: dual_atomic``)
    (d) GRPO summed       the same two rewards summed, then normalised (``advantage: grpo``), same wall time

Comparisons: paired bootstrap 95% intervals over the held-out tasks, overall and for each reasoning category, of
every LM row against the editor alone and the rule thinker, of (b) against (a), of (c) and (d) against (a) and (b),
and of (c) against (d). One command per GRPO seed; each run folder (``<work>/seed<S>/<row>``) holds the metrics, TensorBoard curves
and checkpoints, and ``<work>/seed<S>/table.md`` the final table.

Usage::

    python benchmarks/dda_thinker.py --policy runs/sft/thinker --grpo-seconds 600 --eval-tasks 500 --seed 0
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _thinker_runs import add_run_arguments, comparison_lines, grpo_run, open_run, sft_continued, write_results  # noqa: E402
from orchestration.config import load_config  # noqa: E402
from orchestration.grpo.evaluate import evaluate_pipeline, format_category_table, held_out_tasks  # noqa: E402

CONFIG = "dda_thinker"
EDITOR_ALONE = "editor alone"
RULE = "rule thinker"
COLD = "(a) LM thinker, SFT"
MORE_SFT = "(b) SFT continued, same wall time"
DUAL = "(c) GRPO, dual-atomic"
SUMMED = "(d) GRPO, summed"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", default="runs/sft/thinker", help="the thinker's cold start (editrl sft --config dda_thinker)")
    add_run_arguments(ap, "outputs/dda_thinker", "abcd", "which trained rows to run (subset of abcd; the baselines always "
                      "run); (b) continues SFT for --grpo-seconds with the --seed")
    args = ap.parse_args()

    work, report = open_run(args)
    base = load_config(CONFIG, [f"thinker.model={args.policy}"])
    seeded = [f"train.seed={args.seed}", *args.overrides]
    policies = {}
    if "a" in args.rows:
        policies[COLD] = args.policy
    if "b" in args.rows:
        report["timings"][MORE_SFT] = sft_continued(CONFIG, args.policy, work / "sft_continued", args.grpo_seconds, args.seed, args.reuse)
        policies[MORE_SFT] = report["timings"][MORE_SFT]["path"]
    if "c" in args.rows:
        report["timings"][DUAL] = grpo_run("c", CONFIG, args.policy, work / "grpo_dual_atomic", args.grpo_seconds, seeded, args.reuse)
        policies[DUAL] = report["timings"][DUAL]["path"]
    if "d" in args.rows:
        report["timings"][SUMMED] = grpo_run("d", CONFIG, args.policy, work / "grpo_summed", args.grpo_seconds,
                                             [*seeded, "train.agents.thinker.advantage=grpo"], args.reuse)
        policies[SUMMED] = report["timings"][SUMMED]["path"]

    tasks = held_out_tasks(args.eval_tasks, args.eval_seed)
    per_task = {EDITOR_ALONE: evaluate_pipeline(load_config("editor_only", ["editor.options.mode=multi_turn"]), tasks)["rows"],
                RULE: evaluate_pipeline(load_config(CONFIG, ["thinker={backend: rule}"]), tasks)["rows"]}
    for name, path in policies.items():
        per_task[name] = evaluate_pipeline(base, tasks, models={"thinker": path})["rows"]
        print(f"{name}: full success {sum(float(r['full_success']) for r in per_task[name]) / len(tasks):.3f}", flush=True)

    pairs = [(name, base_row) for name in policies for base_row in (EDITOR_ALONE, RULE)]
    pairs += [(MORE_SFT, COLD)] if MORE_SFT in policies and COLD in policies else []
    pairs += [(later, earlier) for later in (DUAL, SUMMED) for earlier in (COLD, MORE_SFT) if later in policies and earlier in policies]
    pairs += [(DUAL, SUMMED)] if DUAL in policies and SUMMED in policies else []
    lines = comparison_lines(per_task, pairs, report)
    text = format_category_table(per_task) + "\n\nfull success, paired bootstrap 95% over the held-out tasks:\n" + "\n".join(lines)
    write_results(work, text, report, per_task)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
