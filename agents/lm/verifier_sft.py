"""Supervised cold start of the reasoning verifier on reward trajectories the Canvas world writes from ground truth.

For each generated train task, :func:`agents.lm.verifier_data.candidate_edits` makes edited images, correct and
incorrect (the ideal result, nothing done, dropped or mistargeted components, the Canvas editor's own work), and the
SFT target of each is the reward trajectory: the task's reference checklist answered on the perceived edited image,
with what perception saw as reasons (:mod:`agents.lm.verifier_prompts`). The verifier thereby learns to write the
principles of an instruction from the instruction and the source scene, and to check each against the edited scene.

The training itself is :func:`agents.lm.sft.sft_train`; the verifier gets its own tokenizer, trained on its own text
(the principles' words are not the decomposer's), and is saved like every policy to ``out_dir/verifier/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

__all__ = ["DEFAULT_VERIFIER_STEPS", "DEFAULT_VERIFIER_TASKS", "DEFAULT_VERIFIER_BATCH", "verifier_sft_data", "verifier_cold_start"]

#: SFT steps of the verifier's cold start (batch :data:`DEFAULT_VERIFIER_BATCH`). An example is ~300 tokens
#: (prompt and a ~150-token trajectory of mostly copied phrases); on 2 CPU cores the tiny default model takes
#: ~0.2 s a step, so this is about 7 minutes. 400 steps taught the format but left the verifier at chance on
#: held-out pairs; 2,000 rank them (docs/benchmarks/verifier.md).
DEFAULT_VERIFIER_STEPS = 2000

#: Train tasks the verifier's data is made from; each gives ~6 candidates, so ~3,700 trajectories: each is seen
#: about four times in the default steps.
DEFAULT_VERIFIER_TASKS = 600

#: Examples per step: half the policies' 16, because an example is ~3x longer than a decomposer's.
DEFAULT_VERIFIER_BATCH = 8


def verifier_sft_data(tasks: Sequence[Any], scenes: Sequence[str] | None = None, *, seed: int = 0,
                      kinds: Sequence[str] | None = None) -> tuple[list[tuple[str, str]], dict[str, float]]:
    """``(prompt, trajectory)`` examples for every candidate of every task, and a summary of the data (examples,
    share of candidates the judge passes, mean judge score), so a run says how balanced its data was."""
    from agents.lm.verifier_data import CANDIDATE_KINDS, candidate_edits, sft_examples

    examples: list[tuple[str, str]] = []
    judges: list[float] = []
    for k, task in enumerate(tasks):
        candidates = candidate_edits(task, seed=seed, kinds=tuple(kinds) if kinds else CANDIDATE_KINDS)
        unique = list({c.png: c for c in candidates}.values())  # the same image twice teaches nothing new
        examples += sft_examples(task, unique, source_scene=scenes[k] if scenes is not None else None)
        judges += [c.judge for c in unique]
    summary = {"examples": float(len(examples)), "full_success_share": sum(j == 1.0 for j in judges) / max(1, len(judges)),
               "mean_judge": sum(judges) / max(1, len(judges))}
    return examples, summary


def verifier_cold_start(
    out_dir: str | Path,
    n_tasks: int = DEFAULT_VERIFIER_TASKS,
    steps: int = DEFAULT_VERIFIER_STEPS,
    seed: int = 0,
    *,
    batch_size: int = DEFAULT_VERIFIER_BATCH,
    lr: float | None = None,
    prompt_loss_weight: float | None = None,
    vocab_size: int | None = None,
    model_overrides: Mapping[str, Any] | None = None,
    step_mix: Mapping[int, float] | None = None,
    workers: int | None = None,
    num_threads: int | None = 1,
    kinds: Sequence[str] | None = None,
    init_from: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    progress: Literal["bar", "lines"] | None = None,
) -> dict[str, Any]:
    """Make the verifier's SFT data, train its tokenizer and a tiny LM, and save it to ``out_dir/verifier/``.

    Args:
        out_dir: where ``verifier/`` and ``verifier_cold_start.json`` (the report) are written.
        n_tasks: generated train-split tasks (seed ``seed``).
        steps: SFT steps.
        seed: data, initialisation and shuffling seed.
        batch_size: examples per step.
        lr: peak learning rate; None: :data:`agents.lm.sft.DEFAULT_LR` (the tiny models' rate).
        prompt_loss_weight: None: :data:`agents.lm.sft.DEFAULT_PROMPT_LOSS_WEIGHT` (learning to copy phrases from
            the prompt is what the principles need too).
        vocab_size: tokenizer size; None: :data:`agents.lm.tokenizer.DEFAULT_VOCAB_SIZE`.
        model_overrides: ``LlamaConfig`` fields over the tiny default (two model sizes are two of these).
        step_mix: step counts of the tasks; None: :data:`agents.lm.sft.DEFAULT_STEP_MIX`.
        workers: processes generating and perceiving the tasks (:func:`agents.lm.sft.make_tasks`).
        num_threads: torch threads while training (restored afterwards).
        kinds: candidate kinds (:data:`agents.lm.verifier_data.CANDIDATE_KINDS`; None: all).
        init_from: start from this policy folder (its weights and tokenizer) instead of a fresh tiny model and a
            tokenizer trained on the verifier's text: a model that already reads Canvas prompts (the shipped
            decomposer) has learnt to copy scene phrases, which the principles are made of.
        log: progress messages; default silent.
        progress: ``"bar"``, ``"lines"`` or None, as :func:`agents.lm.sft.cold_start`'s.

    Returns:
        The report, ``{"roles": {"verifier": {...}}, ...}`` in :func:`~agents.lm.sft.cold_start`'s shape.
    """
    from agents.lm.model import build_model, count_parameters, save_policy, tiny_causal_lm_config
    from agents.lm.sft import (DEFAULT_LR, DEFAULT_PROMPT_LOSS_WEIGHT, DEFAULT_STEP_MIX, StepProgress, _torch_threads,
                               make_tasks, sft_train)
    from agents.lm.tokenizer import DEFAULT_VOCAB_SIZE, train_tokenizer

    if n_tasks < 1 or steps < 1:
        raise ValueError(f"n_tasks and steps must be >= 1, got n_tasks={n_tasks}, steps={steps}")
    say = log or (lambda _msg: None)
    lr = DEFAULT_LR if lr is None else lr
    prompt_loss_weight = DEFAULT_PROMPT_LOSS_WEIGHT if prompt_loss_weight is None else prompt_loss_weight
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _torch_threads(num_threads):
        t0 = time.perf_counter()
        tasks, scenes = make_tasks(n_tasks, seed=seed, split="train",
                                   step_mix=DEFAULT_STEP_MIX if step_mix is None else step_mix, workers=workers)
        examples, summary = verifier_sft_data(tasks, scenes, seed=seed, kinds=kinds)
        data_s = round(time.perf_counter() - t0, 2)
        say(f"verifier: {len(examples)} reward trajectories from {n_tasks} tasks in {data_s} s "
            f"(judge passes {summary['full_success_share']:.0%} of candidates)")
        if init_from is not None:
            if model_overrides:
                raise ValueError("model overrides change a fresh model's architecture; drop them or init_from")
            from agents.lm.model import load_policy

            model, tokenizer = load_policy(init_from)
            longest = max(len(tokenizer(p + t)["input_ids"]) for p, t in examples[:2000]) + 1
        else:
            tokenizer = train_tokenizer((text for pair in examples for text in pair), vocab_size or DEFAULT_VOCAB_SIZE)
            config = tiny_causal_lm_config(len(tokenizer), **dict(model_overrides or {}))
            longest = max(len(tokenizer(p + t)["input_ids"]) for p, t in examples[:2000]) + 1
            if longest > config.max_position_embeddings:
                config.max_position_embeddings = 1 << (longest - 1).bit_length()  # room for the longest example
            model = build_model(tokenizer, config, seed=seed)
        say(f"verifier: {count_parameters(model):,} parameters, {steps} steps")
        steps_progress = StepProgress("verifier", steps, progress, say) if progress else None
        try:
            metrics = sft_train(model, tokenizer, examples, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                prompt_loss_weight=prompt_loss_weight, on_step=steps_progress)
        finally:
            if steps_progress is not None:
                steps_progress.close()
        path = save_policy(model, tokenizer, out / "verifier")
        entry = {"path": str(path), "parameters": count_parameters(model), "first_loss": round(metrics.first_loss, 4),
                 "final_loss": round(metrics.final_loss, 4), "sft_s": round(metrics.wall_s, 2)}
        report: dict[str, Any] = {
            "n_tasks": n_tasks, "seed": seed, "steps": steps, "batch_size": batch_size, "lr": lr,
            "prompt_loss_weight": prompt_loss_weight, "model_overrides": dict(model_overrides or {}),
            "init_from": str(init_from) if init_from is not None else None,
            "data": {k: round(v, 4) for k, v in summary.items()}, "data_s": data_s, "vocab_size": len(tokenizer),
            "max_length": longest, "roles": {"verifier": entry}, "total_s": round(time.perf_counter() - t0, 2),
        }  # fmt: skip
        say(f"verifier: loss {entry['first_loss']} -> {entry['final_loss']} in {entry['sft_s']} s")
        (out / "verifier_cold_start.json").write_text(json.dumps(report, indent=2))
        return report
