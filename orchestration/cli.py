"""The `editrl` command line. Each sub-command lives in `orchestration/commands/<name>.py` and exposes
`register(subparsers)`; this module only assembles them and turns expected failures into one clear line.

Expected failures are `CLIError` (and the `ValueError` subclasses the layers below raise for bad input: image,
dataset, config): they print `editrl: error: ...` and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

COMMANDS = ("data", "perceive", "edit", "serve", "train")


class CLIError(Exception):
    """A user error with a message that says what to change."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="editrl", description="Multi-agent image editing with reinforcement learning.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"orchestration.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (CLIError, ValueError, FileNotFoundError) as err:
        print(f"editrl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("editrl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
