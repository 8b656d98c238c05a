"""Shared by the thinker benchmarks (dda_thinker.py, thinkrl_edit.py, two_agents.py): their arguments, run folder
and results, one GRPO run of a pipeline's thinker on a time budget, continued SFT of a thinker for the same wall
time, and the comparison lines they print."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from orchestration.config import load_config
from orchestration.grpo.config import train_section
from orchestration.grpo.evaluate import INDIRECT_CATEGORIES, paired_by_category


def add_run_arguments(ap: argparse.ArgumentParser, work: str, rows: str, rows_help: str) -> None:
    """The arguments every thinker benchmark takes: where its runs go, the GRPO budget and seed, the held-out tasks,
    which trained rows to run (``rows``: their letters), overrides for every GRPO row and ``--reuse``."""
    ap.add_argument("--work", default=work, help="where runs, policies and tables go")
    ap.add_argument("--grpo-seconds", type=float, default=600.0, help="GRPO wall time of each trained row")
    ap.add_argument("--eval-tasks", type=int, default=500)
    ap.add_argument("--eval-seed", type=int, default=0, help="held-out task seed (report 0; choose settings on another)")
    ap.add_argument("--seed", type=int, default=0, help="GRPO seed")
    ap.add_argument("--rows", default=rows, help=rows_help)
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config overrides for every GRPO row")
    ap.add_argument("--reuse", action="store_true", help="rows whose run folder already holds a finished run are read, not trained again")


def open_run(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """Seed torch with ``--seed`` and make ``<work>/seed<S>``; returns it and the report the benchmark fills."""
    torch.manual_seed(args.seed)
    work = Path(args.work) / f"seed{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    return work, {"settings": vars(args), "timings": {}}


def write_results(work: Path, text: str, report: dict[str, Any], per_task: dict[str, list]) -> None:
    """Print the final table and write it to ``work/table.md``, with the report and per-task rows in ``report.json``."""
    print(text)
    (work / "table.md").write_text(text + "\n")
    report["table"] = text
    report["per_task"] = per_task
    (work / "report.json").write_text(json.dumps(report, indent=1, default=str))


def grpo_run(name: str, config_name: str, policy: str, run_dir: Path, seconds: float, overrides: list[str],
             reuse: bool = False) -> dict:
    """One GRPO run of ``config_name``'s thinker from ``policy`` for ``seconds`` (metrics, TensorBoard curves and
    the trained policies in ``run_dir``; ``path`` is the thinker's, ``policies`` every trained agent's). With
    ``reuse``, a run folder that already holds a finished run's summary is read instead of trained again (a
    benchmark that stopped after some rows goes on from there)."""
    from orchestration.run_folder import run_folder_lock
    from orchestration.train import clear_run_dir, run_training

    if reuse and (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
        return {"iterations": summary["iterations"], "grpo_s": summary["grpo_s"], "path": summary["policies"].get("thinker"),
                "policies": summary["policies"], "run_dir": str(run_dir), "reused": True}

    config = load_config(config_name, [f"thinker.model={policy}", *overrides])
    section = train_section(config).model_copy(update={"iterations": 100000, "time_budget_s": seconds,
                                                        "checkpoint_every": 0, "eval_tasks": 0})
    with run_folder_lock(run_dir):  # held from the clearing on: another run on this folder fails at once
        clear_run_dir(run_dir)
        start = time.perf_counter()
        summary = run_training(config, section, run_dir=run_dir, log=lambda m: print(f"[{name}] {m}", flush=True),
                               progress=False)
    return {"iterations": summary["iterations"], "grpo_s": summary["grpo_s"], "wall_s": round(time.perf_counter() - start, 1),
            "path": summary["policies"].get("thinker"), "policies": summary["policies"], "run_dir": str(run_dir)}


def sft_continued(config_name: str, policy: str, out: Path, seconds: float, seed: int, reuse: bool = False) -> dict:
    """Continue the thinker's SFT for ``seconds`` of training on fresh labelled tasks drawn as the cold start drew
    its own (``config_name``'s ``train.sft``: as many tasks, its step mix, every category; targets and lookups as it
    writes them) but with the GRPO stream's data seed, at a tenth of the cold start's peak rate (where its schedule
    ended); stops on the clock. With ``reuse``, a policy already saved in ``out`` is taken as it is.

    Why the cold start's mixture and not the GRPO stream's: a stream that leaves a category out (``dda_thinker``'s
    has no direct request) makes SFT forget it (measured: direct 121 -> 101 of 142 in 600 s), a loss GRPO's small
    steps do not suffer; the baseline is more of the same SFT, at its best."""
    from agents.lm.model import load_policy, save_policy

    if reuse and (out / "config.json").is_file():
        info = out / "sft_continued.json"
        return {**(json.loads(info.read_text()) if info.is_file() else {}), "path": str(out), "reused": True}
    from agents.lm.sft import DEFAULT_LR, DEFAULT_PROMPT_LOSS_WEIGHT, DEFAULT_STEP_MIX, make_sft_data, make_tasks, sft_train

    section = train_section(load_config(config_name, [f"thinker.model={policy}"]))
    sft = section.sft
    tasks, scenes = make_tasks(sft.n_tasks or section.train_tasks, seed=section.data_seed, split="train",
                               step_mix=sft.step_mix or DEFAULT_STEP_MIX, workers=sft.workers)
    data = make_sft_data(tasks, "thinker", scenes=scenes, seed=seed, **sft.data_options())
    model, tokenizer = load_policy(policy)
    torch.set_num_threads(os.cpu_count() or 1)  # SFT runs alone here, as the GRPO rows do
    batch = {"batch_size": sft.batch_size} if sft.batch_size else {}
    metrics = sft_train(model, tokenizer, data, steps=max(100, int(seconds * 20)), seed=seed, time_budget_s=seconds, **batch,
                        lr=(sft.lr or DEFAULT_LR) * 0.1, warmup_steps=0, prompt_loss_weight=DEFAULT_PROMPT_LOSS_WEIGHT)
    save_policy(model, tokenizer, out)
    info = {"steps": metrics.steps, "wall_s": round(metrics.wall_s, 1)}
    (out / "sft_continued.json").write_text(json.dumps(info))
    return {**info, "path": str(out)}


def comparison_lines(per_task: dict[str, list], pairs: list[tuple[str, str]], report: dict[str, Any]) -> list[str]:
    """One line per ``(later, earlier)`` pair: full success later minus earlier, overall and per indirect category
    (paired bootstrap 95%); the intervals also go into ``report["comparisons"]``."""
    lines = []
    for later, earlier in pairs:
        result = paired_by_category(per_task[later], per_task[earlier])
        report.setdefault("comparisons", {})[f"{later} - {earlier}"] = {
            k: {"estimate": iv.estimate, "low": iv.low, "high": iv.high} for k, iv in result.items()}
        lines.append(f"- {later} minus {earlier}: overall {result['overall']}; "
                     + "; ".join(f"{c} {result[c]}" for c in INDIRECT_CATEGORIES if c in result))
    return lines
