"""The editor-GRPO step of ``benchmarks/gpu_smoke.py``: a few LoRA-GRPO iterations of tiny InstructPix2Pix and
FLUX.1-Kontext pipelines (built from configs, saved, loaded back) in bfloat16 on one device.

Checked per pipeline: the learner's recomputed log-probs against the sampler's (max gap; bf16 denoiser, float32 step
math), the adapters are float32 and on the device, a frozen weight is unchanged and an adapter weight moved after
the iterations; reported with the seconds per iteration. Then one RLlib learner actor (``num_learners: 1``, a GPU of
its own on CUDA) takes one iteration's step and is compared with the in-process learner's (max adapter gap).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch


def editor_grpo_on_device(root: Path, device: str, *, iterations: int = 3, side: int = 128) -> str:
    """Run the check on ``device`` (bfloat16 on CUDA, float32 on a CPU); returns a one-line summary."""
    from PIL import Image

    from agents.diffusers_editor import save_tiny_instruct_pix2pix
    from agents.diffusion.sampling import step_log_prob
    from agents.diffusion.tiny import save_tiny_flux_kontext
    from orchestration.editor_grpo.config import EditorGRPOConfig
    from orchestration.editor_grpo.rewards import EditorTask
    from orchestration.editor_grpo.trainer import EditorGRPOTrainer

    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    task = EditorTask(prompt="make it red", image=Image.new("RGB", (side, side), (128, 128, 128)))
    parts = []
    for name, build, sampler in (("InstructPix2Pix", save_tiny_instruct_pix2pix, {"guidance_scale": 3.0}),
                                 ("FluxKontext", save_tiny_flux_kontext, {"max_sequence_length": 16})):
        path = build(root / f"editor-grpo-{name}")
        config = EditorGRPOConfig(model=str(path), device=device, dtype=dtype, sampler=sampler, num_steps=6,
                                  group_size=4, groups_per_iteration=1, iterations=iterations, lr=1e-2,
                                  clip_range=0.05, rewards=[{"name": "colour_share"}], target_colour=(255, 0, 0),
                                  soft_colour=True, colour_tolerance=1.0)
        trainer = EditorGRPOTrainer(config)
        denoiser = trainer.policy.denoiser
        frozen_name, frozen = next((n, p.detach().clone()) for n, p in denoiser.named_parameters() if "lora" not in n)
        before = trainer.adapter_state()
        assert all(p.dtype == torch.float32 and p.device.type == torch.device(device).type for p in trainer.trainable)
        trajectories, _ = trainer.sample([task])
        with torch.no_grad():
            gap = max(float((step_log_prob(trainer.policy, trajectories[0], s) - trajectories[0].log_probs[s]).abs().max())
                      for s in range(config.num_steps))
        start = time.perf_counter()
        rewards = [trainer.run_iteration([task])["reward_mean"] for _ in range(iterations)]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        per_iteration = (time.perf_counter() - start) / iterations
        assert torch.equal(dict(denoiser.named_parameters())[frozen_name].detach(), frozen), "a frozen weight changed"
        after = trainer.adapter_state()
        assert any(not torch.equal(before[k], after[k]) for k in before), "no adapter weight changed"
        parts.append(f"{name} {dtype} {side}px: log-prob gap {gap:.1e}, {per_iteration:.2f} s/iteration, "
                     f"reward {rewards[0]:.3f}->{rewards[-1]:.3f}")
        trainer.close()
        del trainer
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    parts.append(_remote_learner_gap(config.model_copy(update={"iterations": 1}), task))
    return "; ".join(parts)


def _remote_learner_gap(config, task) -> str:
    """One iteration by the in-process learner and by one learner actor from the same start: the adapters' gap."""
    from orchestration.editor_grpo.trainer import EditorGRPOTrainer

    adapters, start = [], None
    for learners in (0, 1):
        trainer = EditorGRPOTrainer(config.model_copy(update={"num_learners": learners}))
        try:
            start = start or trainer.adapter_state()
            trainer.run_iteration([task])
            adapters.append(trainer.adapter_state())
        finally:
            trainer.close()
    gap = max(float((adapters[0][k].float() - adapters[1][k].float()).abs().max()) for k in adapters[0])
    moved = max(float((adapters[0][k].float() - start[k].float()).abs().max()) for k in start)
    assert moved > 0, "the in-process learner's step left the adapter as it was: nothing to compare"
    assert gap < 1e-2, f"the learner actor's step differs from the in-process learner's by {gap}"
    return f"one learner actor vs in-process: adapter gap {gap:.1e} (the step moved it {moved:.1e})"
