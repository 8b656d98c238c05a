"""Supervised cold start: teach a tiny LM the tagged output format and a first answer before GRPO takes over.

``sft_train`` is next-token cross-entropy on the target tokens (prompt tokens are masked by default; an optional,
small language-modelling loss on the prompt helps a tiny model from scratch learn to copy, see
:data:`DEFAULT_PROMPT_LOSS_WEIGHT`), AdamW with warmup and cosine decay, gradient clipping.
``cold_start`` does everything a fresh project needs: it generates Canvas train tasks, trains the tokenizer on
their text, builds one tiny model per role, runs SFT and saves each policy in Hugging Face format to
``out_dir/<role>/``, where :func:`agents.lm.model.load_policy` (and any ``from_pretrained``) reads it.

The defaults are the recipe of the shipped cold start (``agents/lm/pretrained/``): trained until the decomposer's
held-out curve flattens, so that GRPO starts from a competent policy, as users of the peers start RL from a
pretrained model. Its held-out curve and wall time on 2 CPU cores are in docs/benchmarks/cold_start.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from envs.canvas.generator import BALANCED_STEPS

__all__ = [
    "SFTMetrics",
    "DEFAULT_SFT_STEPS",
    "DEFAULT_LR",
    "DEFAULT_PROMPT_LOSS_WEIGHT",
    "DEFAULT_COLD_START_TASKS",
    "DEFAULT_STEP_MIX",
    "bf16_supported",
    "tokenize_examples",
    "sft_train",
    "make_sft_data",
    "evaluate_decomposer",
    "evaluate_thinker",
    "make_tasks",
    "StepProgress",
    "cold_start",
]

#: SFT steps per role in ``cold_start`` (batch 16). The decomposer's held-out F1 rises until about here and then
#: flattens (the curve is in docs/benchmarks/cold_start.md); the thinker's rough plan similarity needs far fewer.
DEFAULT_SFT_STEPS: dict[str, int] = {"decomposer": 6000, "thinker": 400}

#: Peak learning rate of the cold start. Higher rates (5e-3) learn the format at once but stall on copying subjects
#: and targets from the request; lower ones are slower for no later gain (docs/benchmarks/cold_start.md).
DEFAULT_LR = 1e-3

#: Weight of a language-modelling loss on the prompt tokens during the cold start. Target-only SFT gives a ~25-token
#: target per example; the prompt's ~75 tokens (request and scene repeat object phrases) add signal that helps the
#: model learn to copy phrases, which is what subjects and targets need, at no extra compute.
DEFAULT_PROMPT_LOSS_WEIGHT = 0.25

#: Train-split tasks a cold start generates. Every example is seen a few times over the default steps; with a
#: tenth of this the model memorises its data and held-out F1 stops rising early.
DEFAULT_COLD_START_TASKS = 20000

#: Step counts of the cold start's tasks: as many three- and four-step tasks as one-step ones, because held-out
#: tasks are mostly long while the plain train stream is mostly short.
DEFAULT_STEP_MIX: dict[int, float] = BALANCED_STEPS

#: Most steps between two progress lines of ``cold_start`` in a log file (``progress="lines"``): a line every tenth
#: of a role's steps, and at least every this many, so the 6,000-step decomposer writes one every ~25 s on 2 cores
#: (60 in all) and a 100-step run still writes ten.
PROGRESS_LINE_STEPS = 100


@dataclass
class SFTMetrics:
    """What ``sft_train`` did: loss per logged step, token counts and time."""

    steps: int
    losses: list[tuple[int, float]] = field(default_factory=list)
    first_loss: float = float("nan")
    final_loss: float = float("nan")
    target_tokens: int = 0
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bf16_supported(device: torch.device | str) -> bool:
    """Whether bfloat16 autocast runs natively (fast) on ``device``: CUDA with bf16, or a CPU whose oneDNN build
    has bf16 kernels (AVX512-BF16 / AMX). Elsewhere bf16 is emulated and slower than float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # private probe; absent in some builds
            return False
    return False


def tokenize_examples(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[tuple[str, str]]
) -> list[tuple[list[int], list[int]]]:
    """``(prompt_ids, target_ids)`` per example: the prompt with the tokenizer's special tokens (as in
    :func:`agents.lm.generation.generate`), the target without them and ending with eos (the policy learns to stop)."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no eos token; SFT targets must end with one so that the policy learns to stop")
    prompts = tokenizer([p for p, _ in examples], add_special_tokens=True)["input_ids"]
    targets = tokenizer([t for _, t in examples], add_special_tokens=False)["input_ids"]
    return [(list(p), list(t) + [tokenizer.eos_token_id]) for p, t in zip(prompts, targets)]


def _batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """One epoch of index batches of similar lengths: shuffle, sort within windows of 16 batches, shuffle batches.

    Sorting only inside windows keeps batches random enough while cutting most of the padding (prompt lengths
    vary by about 2x with the number of objects in the scene)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 16
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _collate(items: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` ``[B, L]``, ``labels`` ``[B, L]`` (-100 on prompt and padding) and
    ``prompt_labels`` ``[B, L]`` (the prompt tokens, -100 elsewhere; used only with a prompt loss weight)."""
    length = max(len(p) + len(t) for p, t in items)
    input_ids = torch.full((len(items), length), pad_id, dtype=torch.long)
    labels = torch.full((len(items), length), -100, dtype=torch.long)
    prompt_labels = torch.full((len(items), length), -100, dtype=torch.long)
    for row, (p, t) in enumerate(items):
        input_ids[row, : len(p) + len(t)] = torch.tensor(p + t)
        labels[row, len(p) : len(p) + len(t)] = torch.tensor(t)
        prompt_labels[row, : len(p)] = torch.tensor(p)
    return input_ids, labels, prompt_labels


def _token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the positions whose label is not -100 (0 when there are none)."""
    shift_logits, shift_labels = logits[:, :-1, :].float(), labels[:, 1:]
    count = (shift_labels != -100).sum()
    total = torch.nn.functional.cross_entropy(shift_logits.flatten(0, 1), shift_labels.flatten(), ignore_index=-100, reduction="sum")
    return total / count.clamp(min=1)


def sft_train(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[tuple[str, str]],
    steps: int = 1000,
    batch_size: int = 16,
    lr: float = DEFAULT_LR,
    seed: int = 0,
    *,
    weight_decay: float = 0.01,
    warmup_steps: int | None = None,
    max_grad_norm: float = 1.0,
    log_every: int = 10,
    prompt_loss_weight: float = 0.0,
    bf16: bool | None = None,
    callback: Callable[[int, PreTrainedModel], None] | None = None,
    callback_every: int = 0,
    time_budget_s: float | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> SFTMetrics:
    """Fine-tune ``model`` on ``(prompt, target)`` pairs with the loss on target tokens only.

    Args:
        model: a causal LM (trained in place; left in eval mode).
        tokenizer: its tokenizer.
        examples: ``(prompt, target)`` texts; the target is what the model should write after the prompt.
        steps: optimizer steps.
        batch_size: examples per step.
        lr: peak learning rate (:data:`DEFAULT_LR` suits the tiny default model; use ~1e-5 for a pretrained one).
        seed: shuffling seed (the global RNG is not touched).
        weight_decay: AdamW weight decay (norms and biases included; harmless at this scale).
        warmup_steps: linear warmup; default 5% of ``steps``. Then cosine decay to 10% of ``lr``.
        max_grad_norm: gradient clipping norm.
        log_every: record the mean loss every this many steps.
        prompt_loss_weight: weight of an extra language-modelling loss on the prompt tokens (0 = target tokens
            only, the usual SFT). See :data:`DEFAULT_PROMPT_LOSS_WEIGHT` for why ``cold_start`` uses a small one.
        bf16: run forward and backward under bfloat16 autocast (weights and optimizer stay float32). ``None``:
            when the device supports bf16 natively (CUDA with bf16, or a CPU with oneDNN bf16 kernels), where it
            measured ~1.7x faster per step on the tiny default model with the same loss curve.
        callback: called as ``callback(step, model)`` every ``callback_every`` steps (e.g. to evaluate); the model
            is in eval mode during the call.
        callback_every: 0 disables the callback.
        time_budget_s: stop after the step that crosses this many seconds of training (``steps`` is then an upper
            bound, and the schedule is still laid out over ``steps``): for equal-wall-time comparisons, where a
            step count estimated up front is wrong whenever the machine's load changes.
        on_step: called as ``on_step(step, target_loss)`` after every optimizer step (progress, e.g.
            :class:`StepProgress`).

    Returns:
        :class:`SFTMetrics`.
    """
    if not examples:
        raise ValueError("examples is empty; pass (prompt, target) pairs")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got steps={steps}, batch_size={batch_size}")
    if time_budget_s is not None and time_budget_s <= 0:
        raise ValueError(f"time_budget_s must be > 0 (or None for no limit), got {time_budget_s}")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    data = tokenize_examples(tokenizer, examples)
    lengths = [len(p) + len(t) for p, t in data]
    rng = random.Random(seed)
    device = next(model.parameters()).device

    warmup = max(1, int(0.05 * steps)) if warmup_steps is None else warmup_steps
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    use_bf16 = bf16_supported(device) if bf16 is None else bf16
    metrics = SFTMetrics(steps=steps)
    start = time.perf_counter()
    batches: list[list[int]] = []
    window: list[float] = []
    model.train()
    for step in range(steps):
        if not batches:
            batches = _batches(lengths, batch_size, rng)
        input_ids, labels, prompt_labels = (x.to(device) for x in _collate([data[i] for i in batches.pop()], pad_id))
        # No attention mask: padding is on the right, after every real token, so causal attention never sees it,
        # and the mask-free path lets SDPA use its fast causal kernel. Padding carries label -100.
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(input_ids=input_ids).logits
        target_loss = _token_losses(logits, labels)
        loss = target_loss + prompt_loss_weight * _token_losses(logits, prompt_labels) if prompt_loss_weight else target_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        value = float(target_loss.detach())  # reported: the target loss alone, comparable across weights
        metrics.target_tokens += int((labels != -100).sum())
        if step == 0:
            metrics.first_loss = value
        if on_step is not None:
            on_step(step + 1, value)
        window.append(value)
        if (step + 1) % log_every == 0 or step == steps - 1:
            metrics.losses.append((step + 1, sum(window) / len(window)))
            window = []
        if callback is not None and callback_every and (step + 1) % callback_every == 0:
            model.eval()
            callback(step + 1, model)
            model.train()
        if time_budget_s is not None and time.perf_counter() - start >= time_budget_s:
            if window:  # the steps since the last logged one
                metrics.losses.append((step + 1, sum(window) / len(window)))
            metrics.steps = step + 1
            break
    model.eval()
    metrics.final_loss = metrics.losses[-1][1]
    metrics.wall_s = time.perf_counter() - start
    return metrics


def make_sft_data(
    tasks: Sequence[Any], role: str, *, scenes: Sequence[str] | None = None, plan_fraction: float = 0.0, seed: int = 0,
    reasoning: bool = False, scan: bool = False, note_subjects: float = 0.0, scan_forms: Mapping[str, float] | None = None,
    rewordings: float = 0.0, readable_references: bool = False, centre_lookups: float = 0.0,
) -> list[tuple[str, str]]:
    """``(prompt, target)`` pairs for ``role`` from generated tasks.

    Args:
        tasks: ``EditTask`` objects with ground truth.
        role: ``"thinker"`` or ``"decomposer"``.
        scenes: the perceived scene text per task, when already computed (perception dominates the cost).
        plan_fraction: for the decomposer, the fraction of prompts that carry the ground-truth explicit instruction
            as the thinker's plan (a decomposer placed after a thinker then knows what a plan is for).
        seed: picks which prompts carry a plan.
        reasoning: decomposer targets write a reasoning trace (:func:`agents.lm.prompts.sft_target`).
        scan: with ``reasoning``, each note walks the scene object by object first.
        scan_forms: with ``scan``, the weights of the forms a note's working takes (:func:`agents.lm.prompts.note_scans`).
        note_subjects: with ``reasoning``, the share of subjects an indirect reference names that are written as the
            think's note lists them (:func:`agents.lm.prompts.sft_target`).
        readable_references: with ``note_subjects``, a reference the editor reads as written stays as written.
        rewordings: the share of one-step direct tasks that get a second example, their request written in a
            train-only sentence shape (:func:`envs.canvas.rewording.reword`), drawn per task from its id; same target.
        centre_lookups: auxiliary examples per task that read its source scene: some objects' coordinates, a
            comparison of values, or the objects in order (:func:`agents.lm.lookups.scene_lookup_example`): the
            whole part of the number for every task, the fraction as a chance drawn per task from its id.
    """
    from agents.lm.lookups import scene_lookup_example
    from agents.lm.prompts import scene_text, sft_example
    from envs.canvas.rewording import reworded_task

    if centre_lookups < 0:
        raise ValueError(f"centre_lookups must be >= 0 (auxiliary examples per task), got {centre_lookups}")

    rng = random.Random(seed)
    out = []
    for k, task in enumerate(tasks):
        scene = scenes[k] if scenes is not None else scene_text(task.source_png)
        with_plan = role == "decomposer" and rng.random() < plan_fraction
        reworded = reworded_task(task, rewordings)
        # A reworded request is a second example beside the generator's wording, not instead of it: replacing it
        # thinned the generator's own sentence shapes, which the held-out split is made of, and cost held-out F1.
        for each in (task, reworded) if reworded is not None else (task,):
            out.append(sft_example(role, each, with_plan=with_plan, scene=scene, reasoning=reasoning, scan=scan,
                                   scan_forms=scan_forms, note_subjects=note_subjects,
                                   readable_references=readable_references))
        if centre_lookups:
            draw = random.Random(f"{task.task_id}:centre-lookups")
            count = int(centre_lookups) + (draw.random() < centre_lookups % 1)
            lookups = (scene_lookup_example(role, scene, draw) for _ in range(count))
            out.extend(example for example in lookups if example is not None)
    return out


def evaluate_decomposer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    tasks: Sequence[Any],
    *,
    scenes: Sequence[str] | None = None,
    batch_size: int = 50,
    max_new_tokens: int = 96,
) -> dict[str, float]:
    """Greedy decoding on ``tasks``; mean structured F1 (pooled, :func:`rewards.structured_f1`) against the ground
    truth, per field and overall, and the fraction of well-formed outputs."""
    from agents.lm.generation import generate
    from agents.lm.prompts import build_prompt, scene_text
    from rewards import parse_tagged, structured_f1

    scenes = list(scenes) if scenes is not None else [scene_text(t.source_png) for t in tasks]
    totals = {"action": 0.0, "subject": 0.0, "target": 0.0, "overall": 0.0, "well_formed": 0.0}
    for start in range(0, len(tasks), batch_size):
        chunk = tasks[start : start + batch_size]
        prompts = [build_prompt("decomposer", t.instruction, s) for t, s in zip(chunk, scenes[start : start + batch_size])]
        out = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, do_sample=False)
        for task, text in zip(chunk, out.texts):
            parsed = parse_tagged(text)
            f1 = structured_f1(parsed.components, [c.model_dump() for c in task.components])
            for key, value in f1.as_dict().items():
                totals[key] += value
            totals["well_formed"] += float(parsed.components_well_formed)
    return {key: value / len(tasks) for key, value in totals.items()}


def evaluate_thinker(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    tasks: Sequence[Any],
    *,
    scenes: Sequence[str] | None = None,
    batch_size: int = 50,
    max_new_tokens: int = 96,
) -> dict[str, float]:
    """Greedy decoding on ``tasks``: how close the plan is to the explicit instruction (mean word-set F1 of the
    normalised plan vs ``task.explicit_instruction``, and exact match), and the fraction of well-formed outputs.
    A rough number for cold-start reports; the thinker's real rewards are checklists."""
    from agents.lm.generation import generate
    from agents.lm.prompts import build_prompt, scene_text
    from rewards import parse_tagged, set_f1

    def words(text: str) -> list[str]:
        return [w.strip(".,;:!?").lower() for w in text.split() if w.strip(".,;:!?")]

    scenes = list(scenes) if scenes is not None else [scene_text(t.source_png) for t in tasks]
    totals = {"word_f1": 0.0, "exact": 0.0, "well_formed": 0.0}
    for start in range(0, len(tasks), batch_size):
        chunk = tasks[start : start + batch_size]
        prompts = [build_prompt("thinker", t.instruction, s) for t, s in zip(chunk, scenes[start : start + batch_size])]
        for task, text in zip(chunk, generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, do_sample=False).texts):
            parsed = parse_tagged(text)
            plan, truth = words(parsed.answer or ""), words(task.explicit_instruction or "")
            totals["word_f1"] += set_f1(plan, truth)
            totals["exact"] += float(plan == truth)
            totals["well_formed"] += float(parsed.well_formed)
    return {key: value / len(tasks) for key, value in totals.items()}


def _task_chunk(start: int, count: int, seed: int, split: str, step_mix: dict[int, float] | None,
                category_mix: dict[str, float] | None = None) -> list[tuple[Any, str]]:
    """Tasks ``start .. start + count - 1`` with their perceived scene text (one worker's share of :func:`make_tasks`)."""
    from agents.lm.prompts import scene_text
    from envs.canvas.generator import generate_stream_task

    tasks = (generate_stream_task(i, seed, split, step_mix, category_mix) for i in range(start, start + count))
    return [(task, scene_text(task.source_png)) for task in tasks]


#: Tasks per data process below which another process costs more than it saves (measured on 2 cores,
#: benchmarks/sft_throughput.py: 300 plain-stream tasks 168 tasks/s in one process, 47 in two; 3,000 tasks of the cold
#: start's stream 43 in one, 71 in two).
TASKS_PER_DEFAULT_WORKER = 1000


def make_tasks(n: int, seed: int = 0, split: str = "train", *, step_mix: Mapping[int, float] | None = None,
               workers: int | None = None, category_mix: Mapping[str, float] | None = None) -> tuple[list[Any], list[str]]:
    """``n`` generated tasks and their perceived scene text, made by ``workers`` processes.

    Args:
        n: number of tasks.
        seed, split: the generator stream (:func:`envs.canvas.generator.generate_tasks`).
        step_mix: ``None`` for the plain stream; else a mixture of step counts
            (:func:`envs.canvas.generator.generate_mixed_tasks`).
        category_mix: weights of reasoning categories (a mixed stream; :func:`~envs.canvas.generator.generate_mixed_task`).
        workers: processes (at most one per 100 tasks). Generation and perception are pure Python and NumPy under
            the GIL, so threads would not help. Default: every core, but one process per
            :data:`TASKS_PER_DEFAULT_WORKER` tasks at most, since a spawned process needs seconds to start and import.

    The result is the same whatever ``workers`` is (each task depends only on its index).
    """
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    mix = dict(step_mix) if step_mix is not None else None
    categories = dict(category_mix) if category_mix is not None else None
    if workers is None:
        workers = min(os.cpu_count() or 1, n // TASKS_PER_DEFAULT_WORKER or 1)
    workers = max(1, min(workers, n // 100 or 1))
    if workers == 1:
        pairs = _task_chunk(0, n, seed, split, mix, categories)
    else:
        chunk = -(-n // (workers * 4))
        starts = list(range(0, n, chunk))
        # spawn, not fork: the parent may hold torch's thread pool, which a forked child can deadlock on.
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            parts = pool.map(_task_chunk, starts, [min(chunk, n - s) for s in starts], [seed] * len(starts),
                             [split] * len(starts), [mix] * len(starts), [categories] * len(starts))
            pairs = [pair for part in parts for pair in part]
    return [task for task, _ in pairs], [scene for _, scene in pairs]


class StepProgress:
    """Progress of one role's SFT steps, called as ``on_step(step, loss)`` by :func:`sft_train`.

    ``mode="bar"`` (stderr is a terminal): a tqdm bar on stderr, its postfix the mean loss since the last refresh;
    the ``editrl`` logger's console lines are written above the bar meanwhile, not through it.
    ``mode="lines"`` (a log file: a job, CI, a redirect): ``say("decomposer: step 600/6000, loss 0.8123, 4.1 steps/s")``
    every ``every`` steps (default: a tenth of ``total``, at most :data:`PROGRESS_LINE_STEPS`) and at the last step,
    never a bar's redraws.

    >>> lines = []
    >>> progress = StepProgress("decomposer", 20, "lines", lines.append)
    >>> for step in range(1, 21):
    ...     progress(step, 1.0)
    >>> progress.close()
    >>> len(lines), lines[-1].startswith("decomposer: step 20/20, loss 1.0000, ")
    (10, True)
    """

    def __init__(self, role: str, total: int, mode: Literal["bar", "lines"], say: Callable[[str], None],
                 every: int | None = None) -> None:
        self.role, self.total, self.mode, self.say = role, total, mode, say
        self.every = every or max(1, min(PROGRESS_LINE_STEPS, total // 10))
        self.window: list[float] = []
        self.start = time.perf_counter()
        self.bar = None
        self._redirect = contextlib.ExitStack()
        if mode == "bar":
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self.bar = tqdm(total=total, desc=f"sft {role}", unit="step", file=sys.stderr, dynamic_ncols=True,
                            mininterval=0.5)
            self._redirect.enter_context(logging_redirect_tqdm(loggers=[logging.getLogger("editrl")]))

    def __call__(self, step: int, loss: float) -> None:
        self.window.append(loss)
        if self.bar is not None:
            self.bar.update(1)
            if step % 10 == 0 or step == self.total:
                self.bar.set_postfix(loss=f"{sum(self.window) / len(self.window):.4f}", refresh=False)
                self.window = []
        elif step % self.every == 0 or step == self.total:
            rate = step / max(time.perf_counter() - self.start, 1e-9)
            self.say(f"{self.role}: step {step}/{self.total}, loss {sum(self.window) / len(self.window):.4f}, "
                     f"{rate:.1f} steps/s")
            self.window = []

    def close(self) -> None:
        self._redirect.close()
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (``None``: unchanged), then restore the previous count."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _reflection_stage(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, plain: Sequence[tuple[str, str]],
                      reflection: Mapping[str, Any], *, seed: int, step_mix: Mapping[int, float] | None, workers: int | None,
                      batch_size: int, lr: float, prompt_loss_weight: float, reasoning: bool, scan: bool,
                      scan_forms: Mapping[str, float] | None, note_subjects: float, readable_references: bool,
                      say: Callable[[str], None]) -> dict[str, Any]:
    """The thinker's reflection stage of :func:`cold_start` (its ``reflection`` argument); trains ``model`` in place."""
    from agents.lm.reflection import reflection_examples

    began = time.perf_counter()
    tasks, scenes = make_tasks(int(reflection["tasks"]), seed=seed + 1, split="train", step_mix=step_mix, workers=workers)
    examples, stats = reflection_examples(model, tokenizer, tasks, scenes, reflection["editor"], reflection["verifier"],
                                          samples=int(reflection["samples"]), seed=seed, reasoning=reasoning, scan=scan,
                                          scan_forms=scan_forms, note_subjects=note_subjects,
                                          readable_references=readable_references)
    data_s = time.perf_counter() - began
    say(f"thinker: reflection: {stats.failed} of {stats.plans} sampled first plans failed; {stats.examples} examples "
        f"with feedback in {data_s:.0f} s")
    if not examples:
        raise ValueError("the reflection stage found no failed first plan with feedback; the thinker already passes "
                         "the verifier on every sampled plan, or the verifier gives no feedback")
    mixed = list(examples) + random.Random(seed).sample(list(plain), min(len(plain), len(examples)))
    metrics = sft_train(model, tokenizer, mixed, steps=int(reflection["steps"]), batch_size=batch_size, lr=lr * 0.1,
                        warmup_steps=0, seed=seed, prompt_loss_weight=prompt_loss_weight)
    return {**stats.as_dict(), "steps": int(reflection["steps"]), "data_s": round(data_s, 2),
            "sft_s": round(metrics.wall_s, 2), "final_loss": round(metrics.final_loss, 4)}


def cold_start(
    out_dir: str | Path,
    n_tasks: int = DEFAULT_COLD_START_TASKS,
    roles: Sequence[str] = ("decomposer", "thinker"),
    steps: int | Mapping[str, int] | None = None,
    seed: int = 0,
    *,
    batch_size: int = 16,
    lr: float = DEFAULT_LR,
    prompt_loss_weight: float = DEFAULT_PROMPT_LOSS_WEIGHT,
    vocab_size: int | None = None,
    model_overrides: dict[str, Any] | None = None,
    plan_fraction: float = 0.1,
    eval_tasks: int = 0,
    eval_every: int = 0,
    eval_seed: int = 0,
    step_mix: Mapping[int, float] | None = DEFAULT_STEP_MIX,
    workers: int | None = None,
    num_threads: int | None = 1,
    reasoning: bool = False,
    scan: bool = False,
    note_subjects: float = 0.0,
    readable_references: bool = False,
    rewordings: float = 0.0,
    centre_lookups: float = 0.0,
    lookup_steps: int = 0,
    scan_forms: Mapping[str, float] | None = None,
    init: Mapping[str, str | Path] | None = None,
    reflection: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    progress: Literal["bar", "lines"] | None = None,
) -> dict[str, Any]:
    """Generate Canvas data, train the tokenizer, SFT one tiny model per role and save each to ``out_dir/<role>/``.

    Args:
        out_dir: where to write ``<role>/`` (model, config, tokenizer) and ``cold_start.json`` (the metrics).
        n_tasks: train-split tasks to generate (seed ``seed``); every role trains on the same tasks.
        roles: the roles to train.
        steps: SFT steps, one number for every role or a ``{role: steps}`` mapping; default
            :data:`DEFAULT_SFT_STEPS`.
        seed: data, initialisation and shuffling seed.
        batch_size: SFT batch size.
        lr: SFT peak learning rate.
        prompt_loss_weight: see :data:`DEFAULT_PROMPT_LOSS_WEIGHT` (0 for target-only SFT).
        vocab_size: tokenizer size (default :data:`agents.lm.tokenizer.DEFAULT_VOCAB_SIZE`).
        model_overrides: ``LlamaConfig`` fields over :func:`agents.lm.model.tiny_causal_lm_config`'s defaults.
        plan_fraction: see :func:`make_sft_data`.
        eval_tasks: if > 0, evaluate each trained policy on this many test-split tasks (seed 0): the decomposer's
            structured F1 (:func:`evaluate_decomposer`), the thinker's plan similarity (:func:`evaluate_thinker`).
        eval_every: if > 0 (and ``eval_tasks`` > 0), also evaluate every this many steps and record the curve
            (step, training seconds so far, metrics); evaluation time is not counted as training time.
        eval_seed: seed of the test-split evaluation tasks (choose settings on a seed other than the one results
            are reported on).
        step_mix: mixture of step counts of the training tasks (:func:`envs.canvas.generator.generate_mixed_tasks`);
            ``None`` for the plain train stream, which is mostly one- and two-step tasks.
        workers: processes that generate and perceive the data (:func:`make_tasks`; default every core).
        num_threads: torch intra-op threads while the cold start runs (restored afterwards); ``None`` keeps the
            current setting. Default 1: the tiny model's matrices are too small to gain much from a second thread,
            and when anything else runs on a 2-core machine (Ray actors, a test suite) two threads measured 3-6x
            *slower* per step than one.
        reasoning: the decomposer's targets write a reasoning trace: after the number of edits, what each indirect
            reference or knowledge phrase of the request names ("the lowest shape = medium purple hexagon").
        scan: with ``reasoning``, each note first walks the scene object by object ("the lowest shape: large red
            star 0.20 no, medium purple hexagon 0.81 yes = medium purple hexagon").
        note_subjects: with ``reasoning``, the share of subjects an indirect reference names that the answer writes
            as the note lists them ("the medium purple hexagon") rather than by the shortest unique description.
        readable_references: with ``note_subjects``, a reference the editor reads as written on the scene of its
            step (a region phrase) keeps the request's words (:func:`envs.canvas.grounding.note_subjects`).
        scan_forms: with ``scan``, the weights of the forms a note's working takes (verdicts, a superlative's running
            best, none; :func:`agents.lm.prompts.note_scans`); None: verdicts for every note.
        rewordings: the share of one-step direct train tasks that get a second example in a train-only sentence
            shape (:func:`make_sft_data`); the held-out evaluation tasks are never reworded.
        centre_lookups: auxiliary examples per train task that read its scene: coordinates, comparisons, the
            objects in order (:func:`make_sft_data`).
        lookup_steps: SFT steps on such lookups alone (two per train task) before each role's SFT: the lookup is
            learned in a sudden drop of its loss, which a mixture where lookups were a third of the examples did not
            reach in 3,000 steps.
        init: ``{role: policy folder}``: those roles start from that policy's weights and tokenizer (e.g. a thinker
            with ``reasoning`` from a decomposer that already writes the same think); ``model_overrides`` do not
            apply to them. The tokenizer is trained only when some role starts fresh.
        reflection: for the thinker, a second stage after its SFT (``orchestration.grpo.config.ReflectionSFT``):
            ``{"tasks", "samples", "steps", "editor", "verifier"}`` (the last two: agents). Its own failed first plans
            on ``tasks`` fresh train tasks (seed ``seed + 1``), carried out and checked by those agents, give
            examples with the verifier's feedback in the prompt (:func:`agents.lm.reflection.reflection_examples`);
            with as many plain examples they continue its SFT for ``steps`` steps at a tenth of ``lr``.
        log: progress messages go here (e.g. ``print``); default silent.
        progress: progress of the SFT steps of each role (:class:`StepProgress`): ``"bar"`` (a tqdm bar on stderr,
            for a terminal), ``"lines"`` (a line to ``log`` every few steps, for a log file) or None (none).

    Returns:
        The metrics that are also written to ``out_dir/cold_start.json``.
    """
    from agents.lm.model import build_model, count_parameters, load_policy, save_policy, tiny_causal_lm_config
    from agents.lm.prompts import LM_ROLES
    from agents.lm.tokenizer import DEFAULT_VOCAB_SIZE, train_tokenizer

    for role in roles:
        if role not in LM_ROLES:
            raise ValueError(f"cold_start cannot train role {role!r}; choose from {', '.join(LM_ROLES)}")
    init = {role: Path(path) for role, path in (init or {}).items()}
    for role, path in init.items():
        if role not in roles:
            raise ValueError(f"init names role {role!r}, which this cold start does not train ({', '.join(roles)})")
        if not (path / "config.json").is_file():
            raise ValueError(f"init for {role}: {str(path)!r} is not a policy folder (no config.json); give a folder "
                             "that editrl sft or editrl train saved")
    with _torch_threads(num_threads):
        steps = DEFAULT_SFT_STEPS if steps is None else steps
        role_steps = {role: int(steps[role] if isinstance(steps, Mapping) else steps) for role in roles}
        evaluators = {"decomposer": evaluate_decomposer, "thinker": evaluate_thinker}
        say = log or (lambda _msg: None)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        tasks, scenes = make_tasks(n_tasks, seed=seed, split="train", step_mix=step_mix, workers=workers)
        data = {role: make_sft_data(tasks, role, scenes=scenes, plan_fraction=plan_fraction, seed=seed, reasoning=reasoning,
                                    scan=scan, note_subjects=note_subjects, scan_forms=scan_forms, rewordings=rewordings,
                                    readable_references=readable_references, centre_lookups=centre_lookups)
                for role in roles}
        report: dict[str, Any] = {
            "n_tasks": n_tasks, "seed": seed, "steps": role_steps, "batch_size": batch_size, "lr": lr,
            "prompt_loss_weight": prompt_loss_weight, "torch_threads": torch.get_num_threads(),
            "step_mix": {str(k): v for k, v in step_mix.items()} if step_mix is not None else None,
            "model_overrides": model_overrides or {}, "eval_seed": eval_seed, "reasoning": reasoning,
            "scan": scan, "note_subjects": note_subjects, "readable_references": readable_references, "scan_forms": dict(scan_forms) if scan_forms else None,
            "rewordings": rewordings, "centre_lookups": centre_lookups, "lookup_steps": lookup_steps,
        }  # fmt: skip
        report["data_s"] = round(time.perf_counter() - t0, 2)
        say(f"generated {n_tasks} tasks in {report['data_s']} s")

        t1 = time.perf_counter()
        fresh = [role for role in roles if role not in init]
        tokenizer = train_tokenizer((text for role in fresh for pair in data[role] for text in pair),
                                    vocab_size or DEFAULT_VOCAB_SIZE) if fresh else None
        report["tokenizer_s"] = round(time.perf_counter() - t1, 2)
        report["vocab_size"] = len(tokenizer) if tokenizer is not None else None
        report["init"] = {role: str(path) for role, path in init.items()}

        test_tasks: list[Any] = []
        test_scenes: list[str] = []
        if eval_tasks > 0:
            test_tasks, test_scenes = make_tasks(eval_tasks, seed=eval_seed, split="test", workers=workers)

        report["roles"] = {}
        for k, role in enumerate(roles):
            if role in init:
                model, role_tokenizer = load_policy(init[role])
            else:
                role_tokenizer = tokenizer
                model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), **(model_overrides or {})), seed=seed + k)
            say(f"{role}: {count_parameters(model):,} parameters, {len(data[role])} examples, {role_steps[role]} steps")
            curve: list[dict[str, Any]] = []
            clock = {"eval": 0.0, "start": time.perf_counter()}

            def evaluate_now(step: int, m: PreTrainedModel, role: str = role, curve: list = curve, clock: dict = clock) -> None:
                began = time.perf_counter()
                # A reasoning trace lengthens the completion: room for a four-step answer after it.
                metrics = evaluators[role](m, role_tokenizer, test_tasks, scenes=test_scenes, max_new_tokens=(256 if scan else 144) if reasoning else 96)
                curve.append({"step": step, "train_s": round(began - clock["start"] - clock["eval"], 1), **{key: round(v, 4) for key, v in metrics.items()}})
                clock["eval"] += time.perf_counter() - began
                say(f"{role}: step {step}: {curve[-1]}")

            if lookup_steps:
                from agents.lm.lookups import lookup_examples

                lookups = lookup_examples(role, scenes, per_scene=2, seed=seed)
                looked = sft_train(model, role_tokenizer, lookups, steps=lookup_steps, batch_size=batch_size, lr=lr,
                                   seed=seed + k, prompt_loss_weight=prompt_loss_weight)
                say(f"{role}: {lookup_steps} lookup steps on {len(lookups)} examples, loss {looked.first_loss:.4f} -> "
                    f"{looked.final_loss:.4f} in {looked.wall_s:.0f} s")
            steps_progress = StepProgress(role, role_steps[role], progress, say) if progress else None
            try:
                metrics = sft_train(
                    model, role_tokenizer, data[role], steps=role_steps[role], batch_size=batch_size, lr=lr, seed=seed + k,
                    prompt_loss_weight=prompt_loss_weight,
                    callback=evaluate_now if (test_tasks and eval_every) else None, callback_every=eval_every,
                    on_step=steps_progress,
                )  # fmt: skip
            finally:
                if steps_progress is not None:
                    steps_progress.close()
            stage = None
            if reflection is not None and role == "thinker":
                stage = _reflection_stage(model, role_tokenizer, data[role], reflection, seed=seed, step_mix=step_mix,
                                          workers=workers, batch_size=batch_size, lr=lr, prompt_loss_weight=prompt_loss_weight,
                                          reasoning=reasoning, scan=scan, scan_forms=scan_forms,
                                          note_subjects=note_subjects, readable_references=readable_references, say=say)
            path = save_policy(model, role_tokenizer, out / role)
            entry: dict[str, Any] = {
                "path": str(path),
                "parameters": count_parameters(model),
                "first_loss": round(metrics.first_loss, 4),
                "final_loss": round(metrics.final_loss, 4),
                "sft_s": round(metrics.wall_s - clock["eval"], 2),
            }
            if stage is not None:
                entry["reflection"] = stage
            if test_tasks:
                if not curve or curve[-1]["step"] != role_steps[role] or stage is not None:
                    evaluate_now(role_steps[role], model)
                entry["test"] = {key: v for key, v in curve[-1].items() if key not in ("step", "train_s")}
                entry["curve"] = curve
            say(f"{role}: loss {entry['first_loss']} -> {entry['final_loss']} in {entry['sft_s']} s" + (f", test {entry['test']}" if test_tasks else ""))
            report["roles"][role] = entry
        report["total_s"] = round(time.perf_counter() - t0, 2)
        (out / "cold_start.json").write_text(json.dumps(report, indent=2))
        return report
