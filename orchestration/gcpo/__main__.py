"""Command line of GCPO on the reasoning verifier.

```bash
python -m orchestration.gcpo pairs --tasks 200 --split train --out runs/gcpo/pairs.parquet   # Canvas preference pairs
python -m orchestration.gcpo train --model runs/sft/verifier --pairs runs/gcpo/pairs.parquet --out runs/gcpo \
    [--set steps=40 --set group_size=8 ...] [--resume]
```

Every ``--set`` key is a field of :class:`orchestration.gcpo.config.GCPOSettings` (unknown keys are refused with
the known ones).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

import yaml
from pydantic import ValidationError


def make_pairs(n_tasks: int, split: str, seed: int, max_pairs: int, step_mix: dict[int, float] | None = None) -> list:
    """Preference pairs of ``n_tasks`` generated Canvas tasks (:func:`agents.lm.verifier_data.preference_pairs`)."""
    from agents.lm.verifier_data import candidate_edits, preference_pairs
    from envs.canvas.generator import generate_mixed_task

    pairs = []
    for index in range(n_tasks):
        task = generate_mixed_task(index, seed, split, step_mix)
        pairs += preference_pairs(task, candidate_edits(task, seed=seed), max_pairs=max_pairs, seed=seed)
    return pairs


def _settings(args: argparse.Namespace, parser: argparse.ArgumentParser):
    from orchestration.gcpo.config import GCPOSettings

    fields = {"model": args.model, "pairs": args.pairs, "out_dir": args.out}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: write key=value, e.g. --set steps=40")
        fields[key.strip()] = yaml.safe_load(value)
    try:
        return GCPOSettings(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:
        known = ", ".join(GCPOSettings.model_fields)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        parser.error(f"invalid GCPO settings: {problems} (fields: {known})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.gcpo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pairs", help="write Canvas preference pairs (envs.preferences format)")
    p.add_argument("--tasks", type=int, default=200, help="generated tasks (each gives up to --max-pairs pairs)")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-pairs", type=int, default=2, help="pairs per task")
    p.add_argument("--out", required=True, help="Parquet file to write")
    t = sub.add_parser("train", help="train the verifier with GCPO")
    t.add_argument("--model", help="starting verifier (default: the settings' model)")
    t.add_argument("--pairs", help="preference pairs (Parquet)")
    t.add_argument("--out", help="run folder (default runs/gcpo)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any GCPOSettings field")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.command == "pairs":
        from envs.preferences import write_pairs

        n = write_pairs(make_pairs(args.tasks, args.split, args.seed, args.max_pairs), args.out)
        print(json.dumps({"pairs": n, "out": args.out}))
        return 0
    from orchestration.gcpo.trainer import train_gcpo

    settings = _settings(args, t)
    try:
        summary = train_gcpo(settings, resume=args.resume)
    except ValueError as err:
        t.error(str(err))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
