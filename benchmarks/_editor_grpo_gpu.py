"""The editor-GRPO step of ``benchmarks/gpu_smoke.py``: a few LoRA-GRPO updates of tiny InstructPix2Pix and
FLUX.1-Kontext pipelines (built from configs, saved, loaded back) in bfloat16 on one device.

Checked per pipeline, without Ray (a GPU machine may have no Ray; the learner's RLlib plumbing is tested on the
CPU): the pipeline loaded as every learner loads it (``load_adapted_policy``), the learner's recomputed log-probs
against the sampler's (max gap; bf16 denoiser, float32 step math), float32 adapters on the device, then
``iterations`` updates of the learner's objective (``clipped_step_loss`` over the group's steps, AdamW on the
adapters): a frozen weight unchanged, an adapter weight moved; reported with the seconds per update.

With Ray installed, also the RLlib path: one iteration by ``EditorGRPOTrainer``'s in-process learner and by one
learner actor with a GPU of its own, from the same start; the share of adapter entries on which they agree.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import torch


def editor_grpo_on_device(root: Path, device: str, *, iterations: int = 3, side: int = 128) -> str:
    """Run the check on ``device`` (bfloat16 on CUDA, float32 on a CPU); returns a one-line summary."""
    from PIL import Image

    from agents.diffusers_editor import save_tiny_instruct_pix2pix
    from agents.diffusion.tiny import save_tiny_flux_kontext
    from orchestration.editor_grpo.config import EditorGRPOConfig
    from orchestration.editor_grpo.rewards import EditorTask

    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    task = EditorTask(prompt="make it red", image=Image.new("RGB", (side, side), (128, 128, 128)))
    parts, config = [], None
    for name, build, sampler in (("InstructPix2Pix", save_tiny_instruct_pix2pix, {"guidance_scale": 3.0}),
                                 ("FluxKontext", save_tiny_flux_kontext, {"max_sequence_length": 16})):
        path = build(root / f"editor-grpo-{name}")
        config = EditorGRPOConfig(model=str(path), device=device, dtype=dtype, sampler=sampler, num_steps=6,
                                  group_size=4, groups_per_iteration=1, iterations=iterations, lr=1e-2,
                                  clip_range=0.05, rewards=[{"name": "colour_share"}], target_colour=(255, 0, 0),
                                  soft_colour=True, colour_tolerance=1.0)
        parts.append(f"{name} {dtype} {side}px: " + _updates_on_device(config, task, iterations))
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    if importlib.util.find_spec("ray") is None:
        parts.append("RLlib learners: skipped (Ray is not installed here)")
    else:
        parts.append(_remote_learner_agreement(config.model_copy(update={"iterations": 1}), task))
    return "; ".join(parts)


def _updates_on_device(config, task, iterations: int) -> str:
    """The learner's math without RLlib: sample, recompute, ``iterations`` clipped-objective AdamW steps."""
    import numpy as np

    from agents.diffusion.sampling import sample_group, step_log_prob
    from orchestration.editor_grpo.loss import clipped_step_loss
    from orchestration.editor_grpo.policy import adapter_state, load_adapted_policy
    from orchestration.editor_grpo.rewards import score_image
    from rewards import group_normalize

    _, policy = load_adapted_policy(config)
    denoiser = policy.denoiser
    trainable = [p for p in denoiser.parameters() if p.requires_grad]
    device_type = torch.device(config.device).type
    assert trainable and all(p.dtype == torch.float32 and p.device.type == device_type for p in trainable)
    frozen_name, frozen = next((n, p.detach().clone()) for n, p in denoiser.named_parameters() if "lora" not in n)
    before = adapter_state(denoiser)
    optimizer = torch.optim.AdamW(trainable, lr=config.lr)
    gap, rewards, seconds = 0.0, [], 0.0
    for it in range(iterations):
        trajectory = sample_group(policy, task.prompt, task.image, group_size=config.group_size,
                                  num_steps=config.num_steps, seed=it)
        scores = np.array([score_image(task, image, config) for image in trajectory.images])
        rewards.append(float(scores.mean()))
        advantages = torch.as_tensor(group_normalize(scores), dtype=torch.float32, device=policy.device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        for step in range(trajectory.num_steps):
            log_prob = step_log_prob(policy, trajectory, step)
            gap = max(gap, float((log_prob.detach() - trajectory.log_probs[step]).abs().max())) if it == 0 else gap
            loss, _ = clipped_step_loss(log_prob, trajectory.log_probs[step], advantages, config.clip_range)
            (loss / trajectory.num_steps).backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
        optimizer.step()
        if device_type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
    assert torch.equal(dict(denoiser.named_parameters())[frozen_name].detach(), frozen), "a frozen weight changed"
    after = adapter_state(denoiser)
    assert any(not torch.equal(before[k], after[k]) for k in before), "no adapter weight changed"
    return (f"log-prob gap {gap:.1e}, {seconds / iterations:.2f} s/update, "
            f"reward {rewards[0]:.3f}->{rewards[-1]:.3f}")


def _remote_learner_agreement(config, task) -> str:
    """One iteration by the in-process learner and by one learner actor from the same start: the share of adapter
    entries that agree (AdamW's first step moves each entry by about +-lr; a near-zero gradient whose sign differs
    between the two - attention backward is not deterministic on CUDA - differs by 2 lr, so a max gap would flake)."""
    from orchestration.editor_grpo.trainer import EditorGRPOTrainer

    if config.device.startswith("cuda"):
        import ray

        from orchestration.train import init_ray

        init_ray()
        if ray.cluster_resources().get("GPU", 0) < 1:  # a learner actor asking for one would wait for ever
            return "RLlib learner actor: skipped (Ray sees no GPU)"
    adapters, start = [], None
    for learners in (0, 1):
        trainer = EditorGRPOTrainer(config.model_copy(update={"num_learners": learners}))
        try:
            start = start or trainer.adapter_state()
            trainer.run_iteration([task])
            adapters.append(trainer.adapter_state())
        finally:
            trainer.close()
    moved = max(float((adapters[0][k].float() - start[k].float()).abs().max()) for k in start)
    assert moved > 0, "the in-process learner's step left the adapter as it was: nothing to compare"
    diffs = torch.cat([(adapters[0][k].float() - adapters[1][k].float()).abs().flatten() for k in adapters[0]])
    agree = float((diffs <= 0.5 * moved).float().mean())
    assert agree >= 0.99, f"the learner actor and the in-process learner disagree on {1 - agree:.2%} of the adapter"
    return (f"RLlib learner actor vs in-process: {agree:.2%} of adapter entries agree "
            f"(max gap {float(diffs.max()):.1e}, step {moved:.1e})")
