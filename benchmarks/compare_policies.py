"""Paired comparison of decomposer policies in the ImageEdit-R1 pipeline on the same held-out tasks.

Each policy (a folder written by ``editrl sft`` or a GRPO checkpoint's ``policies/decomposer``) runs in
``imageedit_r1`` (multi-turn Canvas editor, greedy decoding) on ``generate_tasks(n, seed, split="test")`` and is
judged by :func:`orchestration.scoring.judge_episode`; every policy after the first is compared with the first by a
paired bootstrap 95% interval on full success (:func:`orchestration.stats.paired_bootstrap`).

Usage::

    python benchmarks/compare_policies.py --n 500 --seed 0 \\
        shipped=agents/lm/pretrained/decomposer grpo=outputs/demo/grpo/checkpoints/latest/policies/decomposer
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cold_start import breakdown  # noqa: E402
from orchestration.config import load_config  # noqa: E402
from orchestration.grpo.evaluate import evaluate_pipeline, held_out_tasks  # noqa: E402
from orchestration.stats import paired_bootstrap  # noqa: E402


def labelled(text: str) -> tuple[str, str]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: write each policy as LABEL=FOLDER, e.g. shipped=agents/lm/pretrained/decomposer")
    if not Path(path).is_dir():
        raise argparse.ArgumentTypeError(f"{path}: no such policy folder")
    return label, path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("policies", nargs="+", type=labelled, help="LABEL=FOLDER, the first is the baseline")
    ap.add_argument("--n", type=int, default=500, help="held-out test tasks")
    ap.add_argument("--seed", type=int, default=0, help="held-out task seed (report 0; choose settings on another)")
    ap.add_argument("--out", default=None, help="JSON report")
    args = ap.parse_args()

    tasks = held_out_tasks(args.n, seed=args.seed)
    rows: dict[str, list[dict]] = {}
    report: dict[str, dict] = {}
    print(f"{args.n} held-out test tasks (seed {args.seed}), imageedit_r1 multi-turn, greedy\n")
    print("| policy | F1 overall | full success | full success by category |")
    print("|---|---|---|---|")
    for label, path in args.policies:
        out = evaluate_pipeline(load_config("imageedit_r1", [f"decomposer.model={path}"]), tasks)
        rows[label] = out["rows"]
        categories = breakdown(out["rows"], "category", "full_success")
        report[label] = {"path": path, "summary": out["summary"], "by_category": categories}
        s = out["summary"]
        print(f"| {label} | {s['f1_overall']:.3f} | {s['full_success']:.3f} | "
              + ", ".join(f"{k} {v:.3f}" for k, v in categories.items()) + " |", flush=True)
    base = args.policies[0][0]
    print(f"\nfull success minus {base}, paired bootstrap 95%:\n")
    for label, _ in args.policies[1:]:
        iv = paired_bootstrap([float(r["full_success"]) for r in rows[label]], [float(r["full_success"]) for r in rows[base]])
        report[label]["minus_first"] = {"estimate": iv.estimate, "low": iv.low, "high": iv.high}
        print(f"- {label}: {iv}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"settings": {"n": args.n, "seed": args.seed}, "policies": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
