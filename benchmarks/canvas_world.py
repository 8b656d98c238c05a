"""Canvas world generator benchmark: speed (tasks per second on one core) and coverage.

    python benchmarks/canvas_world.py [--n 2000] [--json OUT]

Runs in one process pinned to one core (os.sched_setaffinity) so the figure is per core. Coverage: templates per
action and per reasoning category, share of each category and step count, how often the written order differs from
the execution order, and how many tasks carry cross-step dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter

from envs.canvas.generator import generate_tasks
from envs.canvas.templates import (BACKGROUND_WORDS, BOTH, CLAUSES, FINAL_JOINERS, FORWARD, JOINERS, KNOWN_BACKGROUNDS, KNOWN_COLORS,
                                   KNOWN_SHAPES, QUESTION_WRAPPERS, QUESTIONS, REVERSED, SAYING_WRAPPERS, SAYINGS, WRAPPERS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="tasks per split")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    results: dict = {"n_per_split": args.n, "splits": {}}
    for split in ("train", "test"):
        start = time.perf_counter()
        tasks = list(generate_tasks(args.n, seed=0, split=split))
        elapsed = time.perf_counter() - start
        multi = [t for t in tasks if t.n_steps > 1]
        results["splits"][split] = {
            "tasks_per_s": round(args.n / elapsed, 1),
            "categories": {k: round(v / args.n, 3) for k, v in sorted(Counter(t.category for t in tasks).items())},
            "steps": {str(k): round(v / args.n, 3) for k, v in sorted(Counter(t.n_steps for t in tasks).items())},
            "reordered_share_of_multistep": round(sum(t.order != sorted(t.order) for t in multi) / max(len(multi), 1), 3),
            "dependent_share_of_multistep": round(sum(bool(t.dependencies) for t in multi) / max(len(multi), 1), 3),
            "actions": dict(sorted(Counter(c.action for t in tasks for c in t.components).items())),
            "distinct_instructions": len({t.instruction for t in tasks}),
            "checklist_items_per_task": round(sum(len(t.checklist) for t in tasks) / args.n, 2),
        }
    templates = {a: len(v) for a, v in CLAUSES.items() if not a.startswith("resize")}
    templates["resize"] = sum(len(v) for a, v in CLAUSES.items() if a.startswith("resize"))
    results["templates_per_action"] = templates
    for name, table in (("sayings_per_action", SAYINGS), ("questions_per_action", QUESTIONS)):
        counts = {a: len(v) for a, v in table.items() if not a.startswith("resize")}
        counts["resize"] = sum(len(v) for a, v in table.items() if a.startswith("resize"))
        results[name] = counts
    results["background_words"] = sum(len(v) for v in BACKGROUND_WORDS.values())
    results["templates_other"] = {"wrappers": len(WRAPPERS), "saying wrappers": len(SAYING_WRAPPERS), "question wrappers": len(QUESTION_WRAPPERS), "forward": len(FORWARD), "reversed": len(REVERSED), "unordered": len(BOTH), "joiners": len(JOINERS) + len(FINAL_JOINERS)}
    results["phrases_per_category"] = {
        "knowledge": sum(map(len, KNOWN_COLORS.values())) + sum(map(len, KNOWN_SHAPES.values())) + sum(map(len, KNOWN_BACKGROUNDS.values())),
        "spatial": "4 relations + nearest (3 wordings) + region (3 wordings)",
        "superlative": "4 positional extremes x 2 wordings + largest/smallest x 3 wordings, over all shapes or one shape",
        "attribute": "corner counts (5 values, 2 wordings) + most common colour (3) + unique colour (1)",
        "logic": "not-colour (3), all-of-colour (3), all-of-shape (3), except (2), or (1)",
    }

    print(f"{'split':6} {'tasks/s':>8} {'reordered':>10} {'dependent':>10} {'distinct instr':>15}  categories")
    for split, r in results["splits"].items():
        cats = ", ".join(f"{k} {v:.0%}" for k, v in r["categories"].items())
        print(f"{split:6} {r['tasks_per_s']:8.1f} {r['reordered_share_of_multistep']:10.0%} {r['dependent_share_of_multistep']:10.0%} {r['distinct_instructions']:15d}  {cats}")
    print("templates per action:", ", ".join(f"{k} {v}" for k, v in templates.items()))
    print("sayings per action:", ", ".join(f"{k} {v}" for k, v in results["sayings_per_action"].items()))
    print("questions per action:", ", ".join(f"{k} {v}" for k, v in results["questions_per_action"].items()))
    print("other templates:", results["templates_other"], "| knowledge phrases:", results["phrases_per_category"]["knowledge"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
