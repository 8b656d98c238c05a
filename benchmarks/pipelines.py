"""ImageEdit-R1's first and fourth research questions on the Canvas world: does the multi-agent pipeline beat the
editor alone, and is single-pass execution better than multi-turn? Plus: what does reflection add?

    python benchmarks/pipelines.py [--n 500] [--workers 2] [--ray] [--json OUT]

Every row runs the same held-out test tasks (`generate_tasks(n, seed=0, split="test")`) and is judged the same way
(the task's reference checklist answered by perceiving the edited image; F1 of the decomposition when there is one).
"""

from __future__ import annotations

import argparse
import json
import time

from envs.canvas.generator import generate_tasks
from orchestration.config import load_config
from orchestration.evaluate import make_pipeline, run_episodes, summarize

ROWS = [
    ("editor alone, single-pass", "editor_only", []),
    ("editor alone, multi-turn", "editor_only", ["editor.options.mode=multi_turn"]),
    ("rule multi-agent, single-pass", "canvas_rule", []),
    ("rule multi-agent, multi-turn", "canvas_rule", ["editor.options.mode=multi_turn"]),
    # Reflection with the verifier deriving its own checklist from the request (as when serving): honest.
    ("rule multi-agent, multi-turn + reflection", "canvas_rule",
     ["editor.options.mode=multi_turn", "verifier.options.use_reference=false",
      "graph.reflection={source: verifier, target: thinker, max_rounds: 1}"]),
    # Reflection fed by the task's reference checklist: an oracle upper bound, since its questions spell out the
    # ideal result. Reported to show the size of that leak, not as a result.
    ("rule multi-agent, multi-turn + reflection (oracle checklist)", "canvas_rule",
     ["editor.options.mode=multi_turn", "graph.reflection={source: verifier, target: thinker, max_rounds: 1}"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="agents as Ray actors (default: in-process)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    tasks = list(generate_tasks(args.n, seed=0, split="test"))
    results = []
    for label, name, overrides in ROWS:
        config = load_config(name, overrides)
        start = time.perf_counter()
        rows = run_episodes(make_pipeline(config, use_ray=args.ray), tasks, workers=args.workers)
        summary = summarize(rows)
        summary.update(label=label, seconds=round(time.perf_counter() - start, 1))
        results.append(summary)
        print(f"done: {label} ({summary['seconds']} s)", flush=True)

    steps = sorted({k for r in results for k in r["by_steps"]})
    head = "| pipeline | F1 overall | checklist pass | full success | " + " | ".join(f"success, {s} step{'s' if s != '1' else ''}" for s in steps) + " | failed |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in results:
        o = r["overall"]
        f1 = "-" if o["f1_overall"] is None else f"{o['f1_overall']:.3f}"
        per_step = " | ".join(f"{r['by_steps'][s]['full_success']:.3f}" for s in steps)
        print(f"| {r['label']} | {f1} | {o['checklist_pass']:.3f} | {o['full_success']:.3f} | {per_step} | {o['failed']} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"n": args.n, "seed": 0, "split": "test", "rows": results}, fh, indent=2)


if __name__ == "__main__":
    main()
