"""SFT cold start throughput: data generation with 1 vs N worker processes, and SFT steps with 1 vs N torch threads,
side by side in one run.

    python benchmarks/sft_throughput.py [--config imageedit_r1] [--tasks 1000] [--steps 200] [--rounds 2]
                                        [--workers 2] [--threads 2] [--json OUT]

Both halves use what ``editrl sft --config <config>`` uses: its reasoning-trace settings for the targets, the default
batch size and learning rate, the default tiny model. The data half times ``agents.lm.sft.make_tasks`` (generation
and perception of train tasks of the cold start's stream, the part of the cold start before the first step) with one process and with
``--workers``, and checks both give the same tasks and scene text. The SFT half trains the same freshly built model
(same seed, same examples) for ``--steps`` steps with one torch thread and with ``--threads``. The settings alternate
(``--rounds`` times one then many) so that a change in machine load hits both; run it with nothing else on the cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from agents.lm.model import build_model, tiny_causal_lm_config  # noqa: E402
from agents.lm.sft import DEFAULT_STEP_MIX, make_sft_data, make_tasks, sft_train  # noqa: E402
from agents.lm.tokenizer import DEFAULT_VOCAB_SIZE, train_tokenizer  # noqa: E402
from orchestration.config import load_config  # noqa: E402
from orchestration.grpo.config import train_section  # noqa: E402


def time_data(n: int, workers: int, step_mix: dict[int, float]) -> tuple[float, list[Any], list[str]]:
    start = time.perf_counter()
    tasks, scenes = make_tasks(n, seed=0, split="train", step_mix=step_mix, workers=workers)
    return time.perf_counter() - start, tasks, scenes


def time_sft(tokenizer, examples: list[tuple[str, str]], steps: int, threads: int) -> float:
    """Seconds per SFT step of a freshly built model (seed 0) on ``examples`` with ``threads`` torch threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer)), seed=0)
        start = time.perf_counter()
        sft_train(model, tokenizer, examples, steps=steps, seed=0)
        return (time.perf_counter() - start) / steps
    finally:
        torch.set_num_threads(previous)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="imageedit_r1", help="packaged config whose train.sft settings the data uses")
    ap.add_argument("--tasks", type=int, default=1000, help="train tasks generated per data measurement")
    ap.add_argument("--steps", type=int, default=200, help="SFT steps per SFT measurement")
    ap.add_argument("--rounds", type=int, default=2, help="alternations (one, then many)")
    ap.add_argument("--workers", type=int, default=2, help="data processes of the 'many' setting")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the 'many' setting")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()

    sft = train_section(load_config(args.config)).sft
    step_mix = dict(sft.step_mix or DEFAULT_STEP_MIX)  # the cold start's stream: balanced step counts by default
    data: dict[int, list[float]] = {1: [], args.workers: []}
    reference = None
    for _ in range(args.rounds):
        for workers in (1, args.workers):
            seconds, tasks, scenes = time_data(args.tasks, workers, step_mix)
            data[workers].append(seconds)
            got = ([t.task_id for t in tasks], scenes)
            if reference is None:
                reference = got
            elif got != reference:
                raise SystemExit(f"make_tasks with {workers} workers gave other tasks than with 1: a bug, not a timing")
    tasks, scenes = make_tasks(args.tasks, seed=0, split="train", step_mix=step_mix, workers=args.workers)
    examples = make_sft_data(tasks, "decomposer", scenes=scenes, reasoning=sft.reasoning, scan=sft.scan,
                             scan_forms=sft.scan_forms, note_subjects=sft.note_subjects,
                             readable_references=sft.readable_references)
    tokenizer = train_tokenizer((text for pair in examples for text in pair), DEFAULT_VOCAB_SIZE)
    step: dict[int, list[float]] = {1: [], args.threads: []}
    for _ in range(args.rounds):
        for threads in (1, args.threads):
            step[threads].append(time_sft(tokenizer, examples, args.steps, threads))

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    rows = [
        ("data: tasks/s", "1 process", args.tasks / mean(data[1]), f"{args.workers} processes", args.tasks / mean(data[args.workers])),
        ("SFT: steps/s", "1 thread", 1 / mean(step[1]), f"{args.threads} threads", 1 / mean(step[args.threads])),
    ]
    print(f"{args.config}: {args.tasks} tasks per data run, {args.steps} SFT steps per SFT run, {args.rounds} rounds\n")
    print("| measure | one | rate | many | rate | many / one |")
    print("|---|---|---:|---|---:|---:|")
    for name, one, r1, many, rn in rows:
        print(f"| {name} | {one} | {r1:.1f} | {many} | {rn:.1f} | {rn / r1:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "data_s": {str(k): v for k, v in data.items()},
                                               "step_s": {str(k): v for k, v in step.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
