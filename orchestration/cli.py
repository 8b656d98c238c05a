"""The `editrl` command line. Each sub-command lives in `orchestration/commands/<name>.py` and exposes
`register(subparsers)`; this module only assembles them and turns expected failures into one clear line.

Expected failures are `CLIError` (and the `ValueError` subclasses the layers below raise for bad input: image,
dataset, config): they print `editrl: error: ...` and exit with status 2, without a traceback (`--debug` shows it).
Results go to stdout; progress, warnings and errors go to stderr through the `editrl` logger, at the level
`--quiet` / `--verbose` choose (:mod:`orchestration.logs`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from orchestration import logs

COMMANDS = ("data", "perceive", "edit", "serve", "train", "train_editor", "merge_lora")


class CLIError(Exception):
    """A user error with a message that says what to change."""


def package_version() -> str:
    """The installed distribution's version (``pyproject.toml`` at install time); "unknown" when the source tree
    runs without being installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("editrl")
    except PackageNotFoundError:
        return "unknown (not installed; pip install -e .)"


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every sub-command parser under ``parser``, nested ones (``data generate``) included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                found += [child, *_parsers(child)]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="editrl", description="Multi-agent image editing with reinforcement learning.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    logs.add_arguments(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"orchestration.commands.{name}").register(sub)
    for child in _parsers(parser):
        logs.add_arguments(child, top_level=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with logs.cli_logging(args.verbosity) as logger:
        try:
            return int(args.handler(args) or 0)
        except (CLIError, ValueError, FileNotFoundError) as err:
            logger.error("%s", err, exc_info=err if args.debug else None)
            return 2
        except KeyboardInterrupt:
            logger.warning("interrupted", exc_info=args.debug or None)
            return 130


if __name__ == "__main__":
    sys.exit(main())
