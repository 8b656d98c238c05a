"""`editrl data generate`: Canvas tasks with ground truth, written to Parquet (atomically: all tasks or the old file)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from orchestration.logs import get_logger, progress_bar_wanted

logger = get_logger("data")


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="generate and inspect Canvas datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    gen = data_sub.add_parser("generate", help="generate Canvas tasks to a Parquet file")
    gen.add_argument("--n", type=int, required=True, help="number of tasks")
    gen.add_argument("--seed", type=int, default=0, help="stream seed: the same arguments give identical files")
    gen.add_argument("--split", choices=("train", "test"), default="train", help="train or test (held-out wording)")
    gen.add_argument("--out", type=Path, required=True, help="output .parquet file")
    gen.add_argument("--size", type=int, default=128, help="image size in pixels (default 128)")
    gen.add_argument("--start", type=int, default=0, help="index of the first task in the stream")
    gen.set_defaults(handler=generate)
    show = data_sub.add_parser("show", help="print tasks of a dataset with their ground truth")
    show.add_argument("file", type=Path, help="dataset .parquet file")
    show.add_argument("--n", type=int, default=3, help="how many tasks to print")
    show.add_argument("--images", type=Path, default=None, help="folder to write each shown task's source and target PNG")
    show.set_defaults(handler=show_tasks)
    check = data_sub.add_parser("check", help="perceive every source and target image and compare with its scene")
    check.add_argument("file", type=Path, help="dataset .parquet file with source_scene/target_scene")
    check.add_argument("--limit", type=int, default=None, help="check only the first N tasks")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.set_defaults(handler=check_tasks)


def generate(args: argparse.Namespace) -> int:
    from envs.canvas.generator import GeneratorConfig, generate_tasks
    from envs.dataset import write_tasks
    from orchestration.cli import CLIError
    from orchestration.run_folder import atomic_path

    if args.n < 1:
        raise CLIError(f"--n must be at least 1, got {args.n}")
    if not 16 <= args.size <= 2048:
        raise CLIError(f"--size must be between 16 and 2048 pixels, got {args.size}")
    if args.out.suffix != ".parquet":
        raise CLIError(f"--out must end in .parquet, got {args.out}")
    categories: Counter[str] = Counter()
    steps: Counter[int] = Counter()

    logger.info(f"generating {args.n} {args.split} tasks (seed {args.seed}, {args.size} px) to {args.out}")

    def counted():
        for task in tqdm(generate_tasks(args.n, args.seed, args.split, GeneratorConfig(size=args.size), start=args.start),
                         total=args.n, disable=not progress_bar_wanted(logger), desc="generate", unit="task"):
            categories[task.category] += 1
            steps[task.n_steps] += 1
            yield task

    # Written under a temporary name and renamed only when every task is in: an interrupted run leaves --out as it
    # was, never a valid but short dataset that a later training would take for the whole one.
    with atomic_path(args.out) as tmp:
        rows = write_tasks(counted(), tmp)
    summary = {"out": str(args.out), "rows": rows, "split": args.split, "seed": args.seed,
               "categories": dict(sorted(categories.items())), "steps": {str(k): v for k, v in sorted(steps.items())}}
    print(json.dumps(summary), file=sys.stdout)
    return 0


def show_tasks(args: argparse.Namespace) -> int:
    from envs.dataset import read_tasks

    for task in read_tasks(args.file, limit=args.n):
        print(f"== {task.task_id}  [{task.category}, {task.n_steps} step(s)]")
        print(f"instruction : {task.instruction}")
        print(f"explicit    : {task.explicit_instruction}")
        for i, c in enumerate(task.components):
            print(f"component {i} : {c.action} | {', '.join(c.subject)} | {', '.join(c.target) or '-'}")
        print(f"order       : {task.order}   dependencies: {task.dependencies}")
        for item in task.checklist:
            print(f"  [{item.group:6}] {item.question} -> {item.expected}")
        if args.images:
            args.images.mkdir(parents=True, exist_ok=True)
            (args.images / f"{task.task_id}_source.png").write_bytes(task.source_png)
            if task.target_png:
                (args.images / f"{task.task_id}_target.png").write_bytes(task.target_png)
    return 0


def check_tasks(args: argparse.Namespace) -> int:
    import io

    from PIL import Image

    from envs.canvas.perception import compare_to_scene, perceive
    from envs.canvas.scene import Scene
    from envs.dataset import read_tasks
    from orchestration.cli import CLIError

    totals: Counter[str] = Counter()
    for task in read_tasks(args.file, limit=args.limit):
        if not task.source_scene or not task.target_scene:
            raise CLIError(f"{args.file}: task {task.task_id} has no scenes to check against; only Canvas datasets can be checked")
        for png, scene_json in ((task.source_png, task.source_scene), (task.target_png, task.target_scene)):
            score = compare_to_scene(perceive(Image.open(io.BytesIO(png)).convert("RGB")), Scene.from_json(scene_json))
            totals["images"] += 1
            totals["objects"] += score.objects
            totals["matched"] += score.matched
            totals["spurious"] += score.spurious
            totals["missed"] += score.missed
            totals["background_errors"] += not score.background_ok
    summary = dict(totals)
    summary["matched_pct"] = round(100.0 * totals["matched"] / max(totals["objects"], 1), 3)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"perception on {totals['images']} images: {totals['matched']}/{totals['objects']} objects matched "
              f"({summary['matched_pct']}%), {totals['spurious']} spurious, {totals['missed']} missed, "
              f"{totals['background_errors']} background errors")
    return 0
