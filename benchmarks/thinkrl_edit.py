"""ThinkRL-Edit on the Canvas world: after GRPO, does reflection (plan -> edit -> verify -> feedback -> re-plan ->
re-edit) improve on the same trained planner without it, and does UCPG beat a weighted sum of the same rewards?

The pipeline is ``thinkrl_edit``: an LM planner, the multi-turn Canvas editor, and a verifier that derives its
checklist from the request (``use_reference: false``: no oracle in the feedback). Every row is judged on the same
held-out test tasks (``generate_tasks(n, seed=eval_seed, split="test")``) by the project's judge (the task's
reference checklist on the final edited image), each planner with one reflection round and without any:

    rule planner          the rule thinker (it reads the feedback's failed items itself)
    (a) planner, SFT      the cold start (``--policy``: ``editrl sft --config thinkrl_edit``, whose reflection
                          stage teaches re-planning from the verifier's feedback on its own failed plans)
    (c) GRPO, UCPG        ``thinkrl_edit``'s GRPO: chains ranked over the subset of the group the two reward
                          dimensions (verifier checklist on the image, reference checklist on the plan) order
                          consistently
    (d) GRPO, weighted    the same two rewards summed with their weights, then normalised, same wall time

Comparisons (paired bootstrap 95% over the tasks, overall and per indirect category): each planner with reflection
minus itself without; (c) minus (d), with and without reflection; (c) and (d) minus (a). The UCPG run's
``thinker/ucpg_subset_smaller_share`` (share of groups whose consistent subset is smaller than the group) is
averaged over its iterations. One command per GRPO seed; each run folder (``<work>/seed<S>/<row>``) holds the
metrics, TensorBoard curves and checkpoints, and ``<work>/seed<S>/table.md`` the final table.

Usage::

    python benchmarks/thinkrl_edit.py --policy runs/sft/thinker --grpo-seconds 600 --eval-tasks 500 --seed 0
    # the same with a verifier that resolves references no better than the rule planner
    python benchmarks/thinkrl_edit.py --policy runs/sft/thinker --seed 0 --pipeline verifier.options.reader=rule
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow.parquet as pq  # noqa: E402
from _thinker_runs import add_run_arguments, comparison_lines, grpo_run, open_run, write_results  # noqa: E402
from orchestration.config import load_config  # noqa: E402
from orchestration.grpo.evaluate import evaluate_pipeline, format_category_table, held_out_tasks  # noqa: E402

CONFIG = "thinkrl_edit"
NO_REFLECTION = ["graph.reflection=null"]
RULE = "rule planner"
COLD = "(a) planner, SFT"
UCPG = "(c) GRPO, UCPG"
WEIGHTED = "(d) GRPO, weighted sum"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", default="runs/sft/thinker", help="the planner's cold start (editrl sft --config thinkrl_edit)")
    add_run_arguments(ap, "outputs/thinkrl_edit", "acd", "which trained rows to run (subset of acd; the rule rows always run)")
    ap.add_argument("--pipeline", action="append", default=[], help=(
        "a config override of the pipeline for every row, trained and judged (repeatable), e.g. "
        "verifier.options.reader=rule: a verifier that reads references no better than the rule planner"))
    args = ap.parse_args()

    work, report = open_run(args)
    seeded = [*args.pipeline, f"train.seed={args.seed}", *args.overrides]
    policies = {}
    if "a" in args.rows:
        policies[COLD] = args.policy
    if "c" in args.rows:
        report["timings"][UCPG] = grpo_run("c", CONFIG, args.policy, work / "grpo_ucpg", args.grpo_seconds, seeded, args.reuse)
        policies[UCPG] = report["timings"][UCPG]["path"]
        metrics = pq.read_table(Path(report["timings"][UCPG]["run_dir"]) / "metrics.parquet").to_pylist()
        shares = [m["thinker/ucpg_subset_smaller_share"] for m in metrics if m.get("thinker/ucpg_subset_smaller_share") is not None]
        kept = [m["thinker/ucpg_kept_share"] for m in metrics if m.get("thinker/ucpg_kept_share") is not None]
        report["ucpg"] = {"subset_smaller_share": sum(shares) / len(shares), "kept_share": sum(kept) / len(kept),
                          "iterations": len(shares)}
    if "d" in args.rows:
        report["timings"][WEIGHTED] = grpo_run("d", CONFIG, args.policy, work / "grpo_weighted", args.grpo_seconds,
                                               [*seeded, "train.agents.thinker.advantage=grpo"], args.reuse)
        policies[WEIGHTED] = report["timings"][WEIGHTED]["path"]

    tasks = held_out_tasks(args.eval_tasks, args.eval_seed)
    per_task = {}
    for reflect in (False, True):
        suffix = ", reflection" if reflect else ", no reflection"
        extra = [] if reflect else NO_REFLECTION
        per_task[RULE + suffix] = evaluate_pipeline(load_config(CONFIG, [*args.pipeline, "thinker={backend: rule}", *extra]),
                                                    tasks)["rows"]
        for name, path in policies.items():
            per_task[name + suffix] = evaluate_pipeline(load_config(CONFIG, [*args.pipeline, f"thinker.model={path}", *extra]),
                                                        tasks)["rows"]
            print(f"{name}{suffix}: full success {sum(float(r['full_success']) for r in per_task[name + suffix]) / len(tasks):.3f}",
                  flush=True)

    pairs = [(f"{name}, reflection", f"{name}, no reflection") for name in [RULE, *policies]]
    if UCPG in policies and WEIGHTED in policies:
        pairs += [(f"{UCPG}{s}", f"{WEIGHTED}{s}") for s in (", reflection", ", no reflection")]
    pairs += [(f"{later}, reflection", f"{COLD}, reflection") for later in (UCPG, WEIGHTED) if later in policies and COLD in policies]
    lines = comparison_lines(per_task, pairs, report)
    text = format_category_table(per_task) + "\n\nfull success, paired bootstrap 95% over the held-out tasks:\n" + "\n".join(lines)
    if "ucpg" in report:
        text += (f"\n\nUCPG: the consistent subset was smaller than the group in {report['ucpg']['subset_smaller_share']:.1%} "
                 f"of groups (mean over {report['ucpg']['iterations']} iterations); it kept {report['ucpg']['kept_share']:.1%} "
                 "of the completions")
    write_results(work, text, report, per_task)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
