"""What the ``editrl`` commands say, and where: results on stdout, everything else through :mod:`logging` on stderr.

Every diagnostic and progress message of the commands goes to a logger under ``editrl`` (``editrl.train``,
``editrl.sft``, ``editrl.eval``, ...), so that ``editrl eval --json > summary.json`` or ``editrl train ... | tee``
keep the results apart from the chatter. What the user asked for - the tables at the end of ``train`` and ``eval``,
a JSON summary, an edit's report - is printed to stdout.

The command line (:func:`cli_logging`) puts one stderr handler on the ``editrl`` logger for the duration of a
command, at the level ``--quiet`` / ``--verbose`` choose:

===============  ========  ==================================================================================
flag             level     what shows
===============  ========  ==================================================================================
``-q/--quiet``   WARNING   warnings and errors only: no progress bar, no progress line
(none)           INFO      progress (a bar on a terminal, a line every few steps in a log file) and messages
``-v/--verbose`` DEBUG     also what is decided on the way, each line with its time and logger
===============  ========  ==================================================================================

Library code never installs a handler: called from Python (a notebook, a benchmark script), these loggers follow
the host's logging configuration, which by default shows warnings only.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from contextlib import contextmanager
from typing import Iterator

LOGGER = "editrl"
QUIET, NORMAL, VERBOSE = -1, 0, 1
LEVELS = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}


def get_logger(name: str) -> logging.Logger:
    """The logger ``editrl.<name>``."""
    return logging.getLogger(f"{LOGGER}.{name}")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record, not the one it was created with: pytest's
    capture, a redirect made after start-up, and tqdm's ``logging_redirect_tqdm`` all replace ``sys.stderr``."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class ConsoleFormatter(logging.Formatter):
    """``editrl: error: ...`` and ``editrl: warning: ...`` (argparse's style, so every failure of the command line
    reads alike), plain messages otherwise; with ``verbose``, each line starts with the time and the logger name.

    >>> record = logging.LogRecord("editrl.train", logging.WARNING, __file__, 1, "eval.json is not readable", None, None)
    >>> ConsoleFormatter().format(record)
    'editrl: warning: eval.json is not readable'
    """

    def __init__(self, verbose: bool = False) -> None:
        super().__init__("%(message)s")
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)  # the message, and the traceback when exc_info is set (--debug)
        if record.levelno >= logging.ERROR:
            text = f"{LOGGER}: error: {text}"
        elif record.levelno >= logging.WARNING:
            text = f"{LOGGER}: warning: {text}"
        if self.verbose:
            stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
            text = f"{stamp} {record.name}: {text}"
        return text


@contextmanager
def cli_logging(verbosity: int = NORMAL) -> Iterator[logging.Logger]:
    """The ``editrl`` logger at ``verbosity``'s level with one stderr handler, for the duration of the block; the
    logger is left as it was afterwards (so calling the CLI in-process, as the tests do, changes nothing after)."""
    logger = logging.getLogger(LOGGER)
    handler = _StderrHandler()
    handler.setFormatter(ConsoleFormatter(verbose=verbosity >= VERBOSE))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(LEVELS[max(QUIET, min(VERBOSE, verbosity))])
    logger.propagate = False  # a root handler set up by a library (Ray, W&B) would print every line twice
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def add_arguments(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """``-v/--verbose``, ``-q/--quiet`` and ``--debug``, accepted before the command and after it.

    Sub-command parsers get them with ``argparse.SUPPRESS`` defaults: argparse copies a sub-parser's defaults over
    the values already parsed, so a plain default there would undo ``editrl --quiet train ...``. An option a
    command already defines for itself is left to it.
    """
    default_verbosity = NORMAL if top_level else argparse.SUPPRESS
    default_debug = False if top_level else argparse.SUPPRESS
    taken = set(parser._option_string_actions)
    group = parser.add_mutually_exclusive_group()
    if not {"-v", "--verbose"} & taken:
        group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=VERBOSE,
                           default=default_verbosity, help="also say what is decided on the way, with times")
    if not {"-q", "--quiet"} & taken:
        group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=QUIET,
                           default=default_verbosity, help="warnings and errors only: no progress")
    if "--debug" not in taken:
        parser.add_argument("--debug", action="store_true", default=default_debug,
                            help="show the traceback behind an error message")


def progress_enabled(logger: logging.Logger) -> bool:
    """Whether progress is wanted at all: the logger shows INFO (not ``--quiet``, or a host that asked for it)."""
    return logger.isEnabledFor(logging.INFO)


def progress_bar_wanted(logger: logging.Logger) -> bool:
    """Whether to draw a progress bar: progress is wanted and stderr is a terminal. In a log file (a job, CI, a
    redirect) a bar's redraws would be hundreds of lines, so there progress is a line every so often instead."""
    return progress_enabled(logger) and sys.stderr.isatty()


@contextmanager
def library_progress_bars(logger: logging.Logger) -> Iterator[None]:
    """Hugging Face's own tqdm bars (``Writing model shards`` at every policy save) only where editrl would draw a
    bar (:func:`progress_bar_wanted`): off under ``--quiet`` and in log files, then restored."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    if enabled and not progress_bar_wanted(logger):
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
