"""Preference pairs for GCPO on the reasoning verifier.

```bash
python -m orchestration.gcpo pairs --tasks 200 --split train --out runs/gcpo/pairs.parquet   # Canvas preference pairs
editrl train --config edit_r1 [--set train.gcpo.pairs=runs/gcpo/pairs.parquet --set train.iterations=40 ...]
```

Training is ``editrl train`` on a pipeline whose ``train.gcpo`` is set (:mod:`orchestration.gcpo.algorithm`): the
GRPO learner on RLlib, with its checkpoints, ``--resume`` and ``ray job submit``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def make_pairs(n_tasks: int, split: str, seed: int, max_pairs: int, step_mix: dict[int, float] | None = None) -> list:
    """Preference pairs of ``n_tasks`` generated Canvas tasks (:func:`agents.lm.verifier_data.preference_pairs`)."""
    from agents.lm.verifier_data import candidate_edits, preference_pairs
    from envs.canvas.generator import generate_mixed_task

    pairs = []
    for index in range(n_tasks):
        task = generate_mixed_task(index, seed, split, step_mix)
        pairs += preference_pairs(task, candidate_edits(task, seed=seed), max_pairs=max_pairs, seed=seed)
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.gcpo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pairs", help="write Canvas preference pairs (envs.preferences format)")
    p.add_argument("--tasks", type=int, default=200, help="generated tasks (each gives up to --max-pairs pairs)")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-pairs", type=int, default=2, help="pairs per task")
    p.add_argument("--out", default="runs/gcpo/pairs.parquet",
                   help="Parquet file to write (default: where configs/edit_r1.yaml's train.gcpo.pairs reads)")
    sub.add_parser("train", help="moved: `editrl train --config edit_r1` trains the verifier with GCPO")
    args = parser.parse_args(argv)
    if args.command == "train":
        parser.error("GCPO training is `editrl train --config edit_r1` (train.gcpo in the config; --resume, "
                     "ray job submit and checkpoints as for GRPO): docs/verifier.md")
    from envs.preferences import write_pairs

    n = write_pairs(make_pairs(args.tasks, args.split, args.seed, args.max_pairs), args.out)
    print(json.dumps({"pairs": n, "out": args.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
