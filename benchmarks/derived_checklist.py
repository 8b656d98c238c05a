"""How passable the label-free checklist is: the Canvas verifier's checklist derived from the instruction alone,
answered on the task's target image and on its untouched source image, per reasoning category and reader.

    python benchmarks/derived_checklist.py [--train 300] [--test 300] [--cache runs/derived_checklist/perceived.pkl]
        [--json OUT]

Tasks: ``--train`` train-split tasks of the mixed stream (`generate_mixed_tasks(n, seed=3, split="train")`, step
counts balanced 1-4) and ``--test`` test-split tasks of the plain stream (`generate_tasks(n, seed=1,
split="test")`, held-out wording). For each task the verifier (``use_reference=False, derive_from="instruction"``)
derives its checklist from the instruction and the *perceived* source image, exactly as in `CanvasVerifier.act`,
and answers it on the perceived target image (a correct edit: it should pass, want 1.0) and on the perceived source
image (nothing done: it should fail, want 0.0), with ``reader="rule"`` (the rule thinker's reading) and
``reader="full"`` (`agents.canvas_reader`). A checklist with an unanswerable item (a step the reader could not
resolve) never passes. The verifier reads nothing of the task's ground truth; the benchmark reads the two images,
the category (to group the rows) and, for the last columns only, the reference checklist: the share of tasks whose
derived checklist asks exactly the reference's questions.

Perception is the slow part (about a second an image on a loaded 2-core machine); ``--cache`` keeps what was
perceived, keyed by task id, so a rerun after a reader change only re-reads the text.
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

CATEGORIES = ("direct", "superlative", "spatial", "knowledge", "logic", "attribute")


def _tasks(n_train: int, n_test: int) -> list[tuple[str, Any]]:
    from envs.canvas.generator import generate_mixed_tasks, generate_tasks

    out: list[tuple[str, Any]] = [("train", t) for t in generate_mixed_tasks(n_train, seed=3, split="train")]
    out += [("test", t) for t in generate_tasks(n_test, seed=1, split="test")]
    return out


def _perceive(tasks: list[tuple[str, Any]], cache: Path | None) -> dict[str, tuple[Any, Any]]:
    """task id -> (perceived source, perceived target)."""
    from agents.canvas_paint import perceive_png

    seen: dict[str, tuple[Any, Any]] = {}
    if cache is not None and cache.exists():
        seen = pickle.loads(cache.read_bytes())
    missing = [t for _, t in tasks if t.task_id not in seen]
    for k, t in enumerate(missing):
        seen[t.task_id] = (perceive_png(t.source_png), perceive_png(t.target_png))
        if cache is not None and (k % 50 == 49 or k == len(missing) - 1):
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(pickle.dumps(seen))
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=300, help="train-split tasks (mixed stream, seed 3)")
    parser.add_argument("--test", type=int, default=300, help="test-split tasks (plain stream, seed 1)")
    parser.add_argument("--cache", default=None, help="pickle of perceived images, read and extended")
    parser.add_argument("--json", default=None, help="write the table here")
    parser.add_argument("--show-failures", type=int, default=0, help="print up to this many full-reader target failures")
    args = parser.parse_args(argv)

    from agents.base import EpisodeState
    from agents.canvas_language import scene_from_perception
    from agents.verifier import READERS, CanvasVerifier

    t0 = time.perf_counter()
    tasks = _tasks(args.train, args.test)
    seen = _perceive(tasks, Path(args.cache) if args.cache else None)
    print(f"{len(tasks)} tasks generated and perceived ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    verifiers = {r: CanvasVerifier(use_reference=False, derive_from="instruction", reader=r) for r in READERS}
    # (split, category, reader) -> [tasks, target passes, source passes, same questions as the reference]
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    shown = 0
    for split, task in tasks:
        source_seen, target_seen = seen[task.task_id]
        source = scene_from_perception(source_seen)
        state = EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png)
        for name, verifier in verifiers.items():
            items = verifier.derive_checklist(state, source)
            good, bad = verifier.answer(items, target_seen), verifier.answer(items, source_seen)
            for key in ((split, task.category, name), (split, "all", name)):
                row = counts[key]
                row[0] += 1
                row[1] += good.passed
                row[2] += bad.passed
                row[3] += sorted(i["question"] for i in items) == sorted(c.question for c in task.checklist)
            if name == "full" and not good.passed and shown < args.show_failures:
                shown += 1
                print(f"--- {task.task_id} {task.category}: {task.instruction}\n    reasoning: {task.reasoning}\n"
                      f"    {good.feedback}", file=sys.stderr)
    rows = []
    print("| split | category | tasks | target passes, rule | target passes, full | source passes, rule | source passes, full "
          "| = reference, rule | = reference, full |")
    print("|---|---|---|---|---|---|---|---|---|")
    for split in ("train", "test"):
        for category in CATEGORIES + ("all",):
            rule, full = counts.get((split, category, "rule")), counts.get((split, category, "full"))
            if rule is None or full is None:
                continue
            n = rule[0]
            rows.append({"split": split, "category": category, "tasks": n, "target_rule": rule[1] / n, "target_full": full[1] / n,
                         "source_rule": rule[2] / n, "source_full": full[2] / n, "same_rule": rule[3] / n, "same_full": full[3] / n})
            print(f"| {split} | {category} | {n} | {rule[1] / n:.2f} ({rule[1]}) | {full[1] / n:.2f} ({full[1]}) | "
                  f"{rule[2] / n:.2f} ({rule[2]}) | {full[2] / n:.2f} ({full[2]}) | {rule[3] / n:.2f} | {full[3] / n:.2f} |")
    print(f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "machine": platform.platform()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
