"""`editrl perceive IMAGE...`: what Canvas perception sees in each image."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from orchestration.logs import get_logger

logger = get_logger("perceive")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("perceive", help="detect the objects in images")
    p.add_argument("images", nargs="+", type=Path, help="image files")
    p.add_argument("--json", action="store_true", help="one JSON line per image: {path, background, objects}")
    p.set_defaults(handler=perceive)


def perceive(args: argparse.Namespace) -> int:
    from envs.canvas.perception import describe, perceive as run
    from envs.image_io import ImageInputError, load_image

    failures = 0
    for path in args.images:
        try:
            image = load_image(path)
        except ImageInputError as err:
            # One bad file does not stop the others; the exit status reports it.
            logger.error("%s", err)
            failures += 1
            continue
        result = run(image)
        if args.json:
            print(json.dumps({"path": str(path), **result.to_dict()}))
        else:
            print(f"{path}: {describe(result)}")
    return 2 if failures else 0
