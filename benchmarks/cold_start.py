"""Is the SFT cold start competent? The LM decomposer against the rule pipeline, in both execution modes.

Rows, each on the same held-out test tasks (``generate_tasks(n, seed, split="test")``) and judged the same way
(:func:`orchestration.scoring.judge_episode`: F1 of the decomposition against the ground-truth components; full
success = every item of the task's reference checklist passes on the edited image):

- ``rule pipeline``: ``canvas_rule`` (rule thinker -> rule decomposer -> sorter -> Canvas editor -> verifier);
- ``ImageEdit-R1, rule decomposer``: ``imageedit_r1`` with ``decomposer.backend=rule``;
- ``ImageEdit-R1, LM decomposer``: ``imageedit_r1`` with the policy under test;

each in single-pass and multi-turn execution (``editor.options.mode``). Every comparison of the LM row with a rule
row is a paired bootstrap 95% interval over tasks (:func:`orchestration.stats.paired_bootstrap`).

Usage::

    python benchmarks/cold_start.py --policy runs/sft/decomposer --n 500 --seed 0 --out cold_start_eval.json

Choose settings with ``--seed 1`` (other held-out tasks); report ``--seed 0``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.config import load_config  # noqa: E402
from orchestration.grpo.evaluate import evaluate_pipeline, held_out_tasks  # noqa: E402
from orchestration.stats import paired_bootstrap  # noqa: E402

MODES = ("single_pass", "multi_turn")


def rows_for(policy: str) -> list[tuple[str, str, list[str]]]:
    rows = []
    for mode in MODES:
        editor = f"editor.options.mode={mode}"
        rows += [
            (f"rule pipeline, {mode}", "canvas_rule", [editor]),
            (f"ImageEdit-R1 rule decomposer, {mode}", "imageedit_r1", ["decomposer.backend=rule", "decomposer.model=null", "decomposer.options={}", editor]),
            (f"ImageEdit-R1 LM decomposer, {mode}", "imageedit_r1", [f"decomposer.model={policy}", editor]),
        ]
    return rows


def breakdown(rows: list[dict], key: str, metric: str) -> dict[str, float]:
    groups: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r[metric] is not None:
            groups[str(r[key])].append(float(r[metric]))
    return {k: round(sum(v) / len(v), 3) for k, v in sorted(groups.items())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", required=True, help="the SFT decomposer (a folder written by `editrl sft`)")
    ap.add_argument("--n", type=int, default=500, help="held-out test tasks")
    ap.add_argument("--seed", type=int, default=0, help="held-out task seed (report 0; tune on another)")
    ap.add_argument("--out", default=None, help="JSON report")
    args = ap.parse_args()

    tasks = held_out_tasks(args.n, seed=args.seed)
    results: dict[str, dict] = {}
    for label, name, overrides in rows_for(args.policy):
        start = time.perf_counter()
        out = evaluate_pipeline(load_config(name, overrides), tasks)
        results[label] = {"summary": out["summary"], "rows": out["rows"], "wall_s": round(time.perf_counter() - start, 1)}
        print(f"done: {label} ({results[label]['wall_s']} s)", flush=True)

    metrics = ("f1_action", "f1_subject", "f1_target", "f1_overall", "checklist_pass", "full_success")
    print(f"\n{args.n} held-out test tasks (seed {args.seed}), greedy decoding\n")
    print("| row | " + " | ".join(metrics) + " | failed |")
    print("|---" * (len(metrics) + 2) + "|")
    for label, r in results.items():
        s = r["summary"]
        print(f"| {label} | " + " | ".join("-" if s[m] is None else f"{s[m]:.3f}" for m in metrics) + f" | {s['failed']} |")

    comparisons = {}
    print("\nfull success, LM decomposer minus rule row, same tasks and execution mode (paired bootstrap 95%):\n")
    for mode in MODES:
        lm = results[f"ImageEdit-R1 LM decomposer, {mode}"]["rows"]
        for other in (f"rule pipeline, {mode}", f"ImageEdit-R1 rule decomposer, {mode}"):
            base = results[other]["rows"]
            iv = paired_bootstrap([float(r["full_success"]) for r in lm], [float(r["full_success"]) for r in base])
            comparisons[f"LM vs {other}"] = {"estimate": iv.estimate, "low": iv.low, "high": iv.high}
            print(f"- vs {other}: {iv}")
    print("\nfull success by category / by steps:\n")
    for label, r in results.items():
        print(f"- {label}: {breakdown(r['rows'], 'category', 'full_success')} {breakdown(r['rows'], 'n_steps', 'full_success')}")
    if args.out:
        report = {"settings": vars(args), "comparisons": comparisons,
                  "rows": {label: {"summary": r["summary"], "wall_s": r["wall_s"],
                                   "by_category": breakdown(r["rows"], "category", "full_success"),
                                   "by_steps": breakdown(r["rows"], "n_steps", "full_success"),
                                   "f1_by_category": breakdown(r["rows"], "category", "f1_overall")}
                           for label, r in results.items()}}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
