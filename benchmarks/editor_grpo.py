"""Editor GRPO on a cheap image reward: does the reward of a tiny editing pipeline rise with LoRA-GRPO?

A tiny pipeline built from configs (nothing downloaded: ``--pipeline pix2pix`` is the tiny InstructPix2Pix of
:func:`agents.diffusers_editor.save_tiny_instruct_pix2pix`, ``kontext`` the tiny FLUX.1-Kontext of
:func:`agents.diffusion.tiny.save_tiny_flux_kontext`), saved and loaded back with ``from_pretrained``, is trained by
:class:`orchestration.editor_grpo.trainer.EditorGRPOTrainer` on one prompt and a grey source image. The reward is
``colour_share`` in its soft form (mean over pixels of ``max(0, 1 - d / tolerance)``, ``d`` the distance in unit RGB
to the target colour): an untrained model's edits differ in it a little, so GRPO has a signal from the start.

Reported: the training reward per iteration (TensorBoard scalars ``editor_grpo/*`` under ``--logdir``) and the
evaluation reward, the mean over ``--eval-groups`` groups of fixed seeds never used in training, before training and
every ``--eval-every`` iterations (scalar ``eval/reward_mean``).

Usage::

    python benchmarks/editor_grpo.py --pipeline pix2pix --iterations 30 --logdir runs/editor_grpo --json out.json
    python benchmarks/editor_grpo.py --pipeline kontext --num-learners 2 --json out.json   # two learner actors, DDP
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def evaluate(trainer, task, groups: int) -> float:
    """Mean reward over ``groups`` groups of ``task`` sampled with fixed seeds outside the training seeds."""
    return trainer.evaluate([task] * groups, 10_000_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", choices=("pix2pix", "kontext"), default="pix2pix")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--num-steps", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-2)
    parser.add_argument("--clip-range", type=float, default=0.05)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--eval-groups", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kl-coef", type=float, default=0.0, help="KL to the frozen model's steps (Flow-GRPO: 0.04)")
    parser.add_argument("--num-learners", type=int, default=0,
                        help="RLlib learners (0: one in this process; K >= 1: K learner actors under RLlib's DDP)")
    parser.add_argument("--logdir", default=None, help="TensorBoard folder (tensorboardX)")
    parser.add_argument("--json", default=None, help="write the curve and summary here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from PIL import Image

    from orchestration.editor_grpo.config import EditorGRPOConfig
    from orchestration.editor_grpo.rewards import EditorTask
    from orchestration.editor_grpo.trainer import EditorGRPOTrainer

    with tempfile.TemporaryDirectory() as tmp:
        if args.pipeline == "pix2pix":
            from agents.diffusers_editor import save_tiny_instruct_pix2pix

            path, sampler = save_tiny_instruct_pix2pix(Path(tmp) / "p"), {"guidance_scale": 3.0, "eta": 1.0}
            targets = ["to_q", "to_k", "to_v", "to_out.0", "conv_out"]
        else:
            from agents.diffusion.tiny import save_tiny_flux_kontext

            path, sampler = save_tiny_flux_kontext(Path(tmp) / "k"), {"max_sequence_length": 16, "noise_level": 0.7}
            targets = ["to_q", "to_k", "to_v", "to_out.0", "proj_out"]
        config = EditorGRPOConfig(
            model=str(path), sampler=sampler, num_steps=args.num_steps, group_size=args.group_size,
            groups_per_iteration=1, iterations=args.iterations, lr=args.lr, clip_range=args.clip_range,
            lora_targets=targets, rewards=[{"name": "colour_share"}], target_colour=(255, 0, 0), soft_colour=True,
            colour_tolerance=1.0, seed=args.seed, num_learners=args.num_learners, kl_coef=args.kl_coef)
        trainer = EditorGRPOTrainer(config)
        task = EditorTask(prompt="make it red", image=Image.new("RGB", (32, 32), (128, 128, 128)))
        writer = None
        if args.logdir:
            from tensorboardX import SummaryWriter

            writer = SummaryWriter(args.logdir)
        start = time.perf_counter()
        curve, evals = [], [(0, evaluate(trainer, task, args.eval_groups))]
        print(f"eval 0: {evals[-1][1]:.4f}", flush=True)
        if writer:
            writer.add_scalar("eval/reward_mean", evals[-1][1], 0)
        for it in range(1, args.iterations + 1):
            metrics = trainer.run_iteration([task])
            curve.append(metrics)
            if writer:
                for key, value in metrics.items():
                    writer.add_scalar(f"editor_grpo/{key}", value, it)
            print(f"iter {it}: reward {metrics['reward_mean']:.4f} (std {metrics['reward_std']:.4f}) "
                  f"clip {metrics['clip_frac']:.2f} kl {metrics['approx_kl']:.2e}", flush=True)
            if it % args.eval_every == 0 or it == args.iterations:
                evals.append((it, evaluate(trainer, task, args.eval_groups)))
                print(f"eval {it}: {evals[-1][1]:.4f}", flush=True)
                if writer:
                    writer.add_scalar("eval/reward_mean", evals[-1][1], it)
        if writer:
            writer.close()
        summary = {"pipeline": args.pipeline, "args": vars(args), "describe": trainer.describe(),
                   "eval": evals, "train_reward": [m["reward_mean"] for m in curve],
                   "seconds": round(time.perf_counter() - start, 1)}
        trainer.close()
    print(json.dumps({k: summary[k] for k in ("pipeline", "eval", "seconds")}))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
