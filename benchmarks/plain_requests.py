"""Requests as people write them: how often each pipeline carries out a hand-written one-step request.

The requests (``benchmarks/data/plain_requests.jsonl``, format in :mod:`envs.canvas.requests`) were written without
looking at the generator's templates: wishes ("the pink square should be blue instead"), obligations ("the star has
to go"), questions, passives, deictic words ("make that square look green"), lower case, no final full stop. Each
row runs one pipeline on all of them and judges the edited image against the expected edit (full success = every
item of the reference checklist passes), so "carried out" means the picture changed as asked and nothing else did.

Rows: the rule pipeline (``canvas_rule``) and the default learned pipeline (``imageedit_r1``, multi-turn, the
shipped decomposer or ``--policy``). The learned row minus the rule row is a paired bootstrap 95% interval.

Usage::

    python benchmarks/plain_requests.py [--policy agents/lm/pretrained/decomposer] [--out plain_requests.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.canvas.requests import load_scene_requests  # noqa: E402
from orchestration.config import load_config  # noqa: E402
from orchestration.grpo.evaluate import evaluate_pipeline  # noqa: E402
from orchestration.stats import paired_bootstrap  # noqa: E402

REQUESTS = Path(__file__).resolve().parent / "data" / "plain_requests.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", default=str(REQUESTS), help="a .jsonl request file (envs.canvas.requests)")
    ap.add_argument("--policy", default=None, help="decomposer policy folder (default: the one imageedit_r1 ships)")
    ap.add_argument("--out", default=None, help="JSON report")
    ap.add_argument("--show-failures", action="store_true", help="print every request the learned pipeline failed")
    args = ap.parse_args()

    tasks = load_scene_requests(args.requests)
    actions = {t.task_id: t.components[0].action for t in tasks}
    learned = [f"decomposer.model={args.policy}"] if args.policy else []
    rows = {"rule pipeline (canvas_rule)": load_config("canvas_rule"), "learned pipeline (imageedit_r1)": load_config("imageedit_r1", learned)}
    results = {}
    for label, config in rows.items():
        start = time.perf_counter()
        out = evaluate_pipeline(config, tasks)
        by_action: dict[str, list[float]] = defaultdict(list)
        for r in out["rows"]:
            by_action[actions[r["task_id"]]].append(float(r["full_success"]))
        results[label] = {"summary": out["summary"], "rows": out["rows"], "wall_s": round(time.perf_counter() - start, 1),
                          "by_action": {a: round(sum(v) / len(v), 3) for a, v in sorted(by_action.items())}}

    print(f"{len(tasks)} hand-written one-step requests ({args.requests}), greedy decoding\n")
    print("| row | carried out (full success) | checklist pass | failed | by action |")
    print("|---|---|---|---|---|")
    for label, r in results.items():
        s = r["summary"]
        done = sum(float(x["full_success"]) for x in r["rows"])
        print(f"| {label} | {s['full_success']:.3f} ({done:.0f}/{len(tasks)}) | {s['checklist_pass']:.3f} | {s['failed']} | {r['by_action']} |")
    rule, lm = (results[label]["rows"] for label in rows)
    iv = paired_bootstrap([float(r["full_success"]) for r in lm], [float(r["full_success"]) for r in rule])
    print(f"\nlearned minus rule, paired bootstrap 95%: {iv}")
    if args.show_failures:
        by_id = {t.task_id: t for t in tasks}
        print("\nnot carried out by the learned pipeline:")
        for r in lm:
            if not r["full_success"]:
                print(f"- {r['task_id']}: {by_id[r['task_id']].instruction!r}")
    if args.out:
        report = {"settings": vars(args), "learned_minus_rule": {"estimate": iv.estimate, "low": iv.low, "high": iv.high},
                  "rows": {label: {k: v for k, v in r.items() if k != "rows"} for label, r in results.items()}}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
