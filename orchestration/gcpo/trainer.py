"""GCPO training of the reasoning verifier on preference pairs, as one loop readable top to bottom.

Per step: draw ``pairs_per_step`` pairs; for each, sample ``group_size`` judgements of the preferred edit and as
many of the rejected one (one batched generation, with the sampler's log-probs); score each judgement by the share
of its principles that hold; reward it by how it ranks against the opposite side (:mod:`orchestration.gcpo.core`);
advantages within its group (GRPO's :func:`~orchestration.grpo.core.group_advantages`); one clipped policy-gradient
step (:func:`~orchestration.grpo.core.policy_loss`, and :func:`~orchestration.grpo.core.kl_penalty` to the starting
verifier when ``kl_coef`` > 0). Groups whose rewards are all equal are left out of the loss and counted, as GRPO
does.

What this is not (yet): the project's GRPO algorithm on RLlib. That one samples through policy actors that drive
episodes of the agent graph and score them with registered rewards; a verifier is scored per *pair* of episodes,
which neither its rollout (one task -> one group) nor its reward registry (one episode -> one float) expresses. So
this loop reuses GRPO's math (advantages, clipped loss, KL, aggregation) and the policies' sampler, but runs in one
process, without Ray, without learner/sampler separation and with one epoch per batch (the sampler's log-probs are
the old log-probs). ``ray job submit -- python -m orchestration.gcpo train ...`` runs it as a job all the same.
Checkpoints hold the policy (safetensors), the optimizer state and the step, so ``--resume`` continues a run.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envs.preferences import PreferencePair
from orchestration.gcpo.config import GCPOSettings

__all__ = ["train_gcpo", "gcpo_step", "pair_prompts"]

_log = logging.getLogger("editrl.gcpo")


def pair_prompts(pair: PreferencePair, scene: Callable[[bytes], str]) -> tuple[str, str]:
    """The verifier's prompts for the preferred and the rejected edit of ``pair``; ``scene`` perceives a PNG."""
    from agents.lm.verifier_prompts import build_verifier_prompt

    source = scene(pair.source_png)
    return (build_verifier_prompt(pair.instruction, source, scene(pair.preferred_png)),
            build_verifier_prompt(pair.instruction, source, scene(pair.rejected_png)))


def gcpo_step(model: Any, tokenizer: Any, optimizer: torch.optim.Optimizer, prompts: Sequence[tuple[str, str]],
              settings: GCPOSettings, generator: torch.Generator, ref_model: Any | None = None) -> dict[str, float]:
    """One GCPO update on the pairs whose ``(preferred, rejected)`` prompts are given; returns its metrics."""
    from agents.lm.generation import generate, sequence_logprobs
    from orchestration.gcpo.core import gcpo_pair_rewards, pair_group_ids
    from orchestration.grpo.core import group_advantages, kl_penalty, policy_loss, zero_variance_groups
    from rewards.principles import parse_principles, principle_score

    n, g = len(prompts), settings.group_size
    flat = [text for pair in prompts for text in pair]  # [P * 2] prompts; their groups are adjacent rows
    model.eval()
    with torch.no_grad():
        out = generate(model, tokenizer, flat, max_new_tokens=settings.max_new_tokens, do_sample=True,
                       temperature=settings.temperature, num_return_sequences=g, generator=generator)
    parsed = [parse_principles(text) for text in out.texts]
    scores = np.array([principle_score(p.principles) for p in parsed]).reshape(n, 2, g)
    valid = np.array([p.well_formed for p in parsed]).reshape(n, 2, g)
    rewards = gcpo_pair_rewards(scores[:, 0], scores[:, 1], valid[:, 0], valid[:, 1], tie_credit=settings.tie_credit)
    groups = pair_group_ids(n, g)
    flat_rewards = rewards.reshape(-1)
    silent = zero_variance_groups(flat_rewards, groups)
    keep = torch.tensor([grp not in silent for grp in groups])
    metrics = {
        "score_preferred": float(scores[:, 0].mean()), "score_rejected": float(scores[:, 1].mean()),
        "pair_accuracy": float(np.mean(np.sign(scores[:, 0].mean(-1) - scores[:, 1].mean(-1)) * 0.5 + 0.5)),
        "well_formed": float(valid.mean()), "reward_mean": float(flat_rewards.mean()),
        "zero_variance_groups": len(silent) / (2 * n), "completion_tokens": float(out.completion_mask.sum(-1).float().mean()),
        "loss": 0.0,
    }  # fmt: skip
    if not bool(keep.any()):
        return metrics  # no group carries a signal: no update, as GRPO
    adv = torch.tensor(group_advantages(flat_rewards, groups, scale=settings.scale_rewards), dtype=torch.float32)
    rows = keep.nonzero().squeeze(-1)
    model.train()
    logp, mask = sequence_logprobs(model, out.prompt_ids[rows], out.completion_ids[rows], out.prompt_mask[rows],
                                   out.completion_mask[rows], temperature=settings.temperature)
    loss, extra = policy_loss(logp, out.logprobs[rows], adv[rows], mask, settings.clip_low, settings.clip_high,
                              settings.loss_agg, settings.max_new_tokens)
    if ref_model is not None and settings.kl_coef > 0:
        with torch.no_grad():
            ref_logp, _ = sequence_logprobs(ref_model, out.prompt_ids[rows], out.completion_ids[rows],
                                            out.prompt_mask[rows], out.completion_mask[rows], temperature=settings.temperature)
        from orchestration.grpo.core import aggregate

        kl = aggregate(kl_penalty(logp, ref_logp, settings.kl_estimator), mask, settings.loss_agg, settings.max_new_tokens)
        loss = loss + settings.kl_coef * kl
        metrics["kl"] = float(kl.detach())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip))
    optimizer.step()
    model.eval()
    metrics.update(loss=float(loss.detach()), **extra)
    return metrics


def _latest(out: Path) -> Path | None:
    pointer = out / "checkpoints" / "latest"
    return out / "checkpoints" / pointer.read_text().strip() if pointer.exists() else None


def _save(out: Path, step: int, model: Any, tokenizer: Any, optimizer: torch.optim.Optimizer, rng: random.Random,
          generator: torch.Generator, settings: GCPOSettings) -> Path:
    from agents.lm.model import save_policy

    name = f"step_{step:06d}"
    folder = out / "checkpoints" / name
    save_policy(model, tokenizer, folder / "policy")
    torch.save({"optimizer": optimizer.state_dict(), "generator": generator.get_state()}, folder / "trainer_state.pt")
    (folder / "meta.json").write_text(json.dumps({"step": step, "rng": repr(rng.getstate()),
                                                  "settings": settings.model_dump()}))
    tmp = out / "checkpoints" / "latest.tmp"
    tmp.write_text(name)
    tmp.replace(out / "checkpoints" / "latest")  # the pointer moves only once the checkpoint is whole
    return folder


def train_gcpo(settings: GCPOSettings, *, resume: bool = False, pairs: Sequence[PreferencePair] | None = None,
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the verifier of ``settings.model`` with GCPO on ``settings.pairs`` (or ``pairs``); returns the summary
    also written to ``out_dir/summary.json``. With ``resume`` it continues from ``out_dir/checkpoints/latest``
    (same settings but ``steps``, which may grow)."""
    import ast

    from agents.lm.model import load_policy
    from agents.lm.prompts import scene_text
    from agents.lm.sft import _torch_threads
    from envs.preferences import read_pairs

    say = log or _log.info
    out = Path(settings.out_dir)
    data = list(pairs) if pairs is not None else list(read_pairs(settings.pairs))
    if not data:
        raise ValueError(f"no preference pairs in {settings.pairs}; make some with `python -m orchestration.gcpo pairs`")
    with _torch_threads(settings.num_threads):
        start_step, rng, generator = 0, random.Random(settings.seed), torch.Generator().manual_seed(settings.seed)
        latest = _latest(out) if resume else None
        if resume and latest is None:
            raise ValueError(f"--resume: {out} has no checkpoint; start without --resume")
        if not resume and _latest(out) is not None:
            raise ValueError(f"{out} already holds a GCPO run; pass --resume to continue it or choose another out_dir")
        model, tokenizer = load_policy(latest / "policy" if latest else settings.model)
        ref_model = copy.deepcopy(model).eval() if settings.kl_coef > 0 else None
        if ref_model is not None and latest is not None:
            ref_model, _ = load_policy(settings.model)  # the KL anchor is the starting verifier, not the checkpoint
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, betas=(0.9, 0.95), weight_decay=0.0)
        if latest is not None:
            meta = json.loads((latest / "meta.json").read_text())
            state = torch.load(latest / "trainer_state.pt", weights_only=True)
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            rng.setstate(ast.literal_eval(meta["rng"]))
            start_step = int(meta["step"])
            say(f"gcpo: resumed from {latest.name}")
        scenes: dict[bytes, str] = {}

        def scene(png: bytes) -> str:
            if png not in scenes:
                scenes[png] = scene_text(png)
            return scenes[png]

        out.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        history: list[dict[str, float]] = []
        for step in range(start_step, settings.steps):
            batch = rng.sample(data, min(settings.pairs_per_step, len(data)))
            t0 = time.perf_counter()
            metrics = gcpo_step(model, tokenizer, optimizer, [pair_prompts(p, scene) for p in batch], settings, generator,
                                ref_model)
            metrics = {"step": step + 1, **{k: round(v, 4) for k, v in metrics.items()}, "step_s": round(time.perf_counter() - t0, 2)}
            history.append(metrics)
            with (out / "metrics.jsonl").open("a") as f:
                f.write(json.dumps(metrics) + "\n")
            say(f"gcpo: step {step + 1}/{settings.steps}: pref {metrics['score_preferred']:.3f} rej "
                f"{metrics['score_rejected']:.3f} acc {metrics['pair_accuracy']:.2f} reward {metrics['reward_mean']:.3f} "
                f"zero-var {metrics['zero_variance_groups']:.2f} loss {metrics['loss']:.4f} ({metrics['step_s']} s)")
            if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.steps:
                latest = _save(out, step + 1, model, tokenizer, optimizer, rng, generator, settings)
        summary = {"steps": settings.steps, "started_at_step": start_step, "wall_s": round(time.perf_counter() - began, 1),
                   "policy": str((_latest(out) or out) / "policy"), "last": history[-1] if history else None,
                   "settings": settings.model_dump()}
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        return summary
