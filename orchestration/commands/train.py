"""`editrl train --config CFG [...]` (GRPO, same as `python -m orchestration.train`) and `editrl sft --config CFG`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from orchestration.train import add_arguments, add_sft_arguments

    t = sub.add_parser("train", help="train the pipeline's LM agents with GRPO (optionally after the SFT cold start)")
    add_arguments(t)
    t.set_defaults(handler=_train)

    s = sub.add_parser("sft", help="SFT cold start: train the tokenizer and the small LM policies from generated Canvas data")
    add_sft_arguments(s)
    s.set_defaults(handler=_sft)


def _train(args: argparse.Namespace) -> int:
    from orchestration.train import train_command

    return train_command(args)


def _sft(args: argparse.Namespace) -> int:
    from orchestration.train import sft_command

    return sft_command(args)
