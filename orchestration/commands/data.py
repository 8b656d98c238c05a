"""`editrl data generate`: Canvas tasks with ground truth, written to Parquet."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm


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
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(handler=generate)


def generate(args: argparse.Namespace) -> int:
    from envs.canvas.generator import GeneratorConfig, generate_tasks
    from envs.dataset import write_tasks
    from orchestration.cli import CLIError

    if args.n < 1:
        raise CLIError(f"--n must be at least 1, got {args.n}")
    if not 16 <= args.size <= 2048:
        raise CLIError(f"--size must be between 16 and 2048 pixels, got {args.size}")
    if args.out.suffix != ".parquet":
        raise CLIError(f"--out must end in .parquet, got {args.out}")
    categories: Counter[str] = Counter()
    steps: Counter[int] = Counter()

    def counted():
        for task in tqdm(generate_tasks(args.n, args.seed, args.split, GeneratorConfig(size=args.size), start=args.start),
                         total=args.n, disable=args.quiet, desc="generate", unit="task"):
            categories[task.category] += 1
            steps[task.n_steps] += 1
            yield task

    rows = write_tasks(counted(), args.out)
    summary = {"out": str(args.out), "rows": rows, "split": args.split, "seed": args.seed,
               "categories": dict(sorted(categories.items())), "steps": {str(k): v for k, v in sorted(steps.items())}}
    print(json.dumps(summary), file=sys.stdout)
    return 0
