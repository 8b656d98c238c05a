"""LoRA vs full fine-tuning of the GRPO learner, side by side in one run: trainable parameters, bytes sent to the
policy actors per weight sync, and the time of one learner update, on the tiny policies.

    python benchmarks/lora_vs_full.py [--groups 8] [--group-size 8] [--prompt-len 96] [--completion-len 64]
                                      [--repeats 3] [--threads 2] [--json OUT]

Policies: the shipped cold-start decomposer (``agents/lm/pretrained/decomposer``, 0.92M parameters) and a wider
tiny Llama built here from a config (hidden 512, 8 layers, untrained; nothing is downloaded), to show how the
figures scale with the model. Variants per policy: full fine-tuning; LoRA r=16 on PEFT's default modules (q_proj,
v_proj); LoRA r=16 on every linear layer ('all-linear').

Each variant is the real learner (``GRPOConfig.build_learner``: the RLlib ``TorchLearner`` with the GRPO loss and
AdamW) updating on the same GRPO-shaped batch (``groups`` prompts x ``group_size`` completions; random token ids,
advantages of both signs; the cost of an update does not depend on what the tokens say). "update s" is the median
over ``--repeats`` updates after one warm-up update; variants alternate update by update, so a change in machine
load hits all of them. "sync bytes" is what ``CausalLMModule.sync_payload`` hands to ``ray.put`` for the actors
(every weight, or the adapter alone); "payload s" the time to gather it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "agents" / "lm" / "pretrained" / "decomposer"
VARIANTS: dict[str, dict[str, Any] | None] = {
    "full": None,
    "lora r=16 (q,v)": {"r": 16, "alpha": 32},
    "lora r=16 all-linear": {"r": 16, "alpha": 32, "target_modules": "all-linear"},
}


def wide_policy(root: Path) -> Path:
    """A wider tiny Llama on the shipped decomposer's tokenizer (untrained: only its size matters here)."""
    from transformers import AutoTokenizer

    from agents.lm.model import build_model, save_policy, tiny_causal_lm_config

    tokenizer = AutoTokenizer.from_pretrained(str(SHIPPED))
    config = tiny_causal_lm_config(len(tokenizer), hidden_size=512, num_hidden_layers=8, num_attention_heads=8)
    return save_policy(build_model(tokenizer, config, seed=0), tokenizer, root / "wide")


def learner_for(policy: Path, lora: dict[str, Any] | None) -> Any:
    from orchestration.config import load_config
    from orchestration.grpo.config import build_grpo_config
    from orchestration.grpo.module import PLACEHOLDER_SPACE

    agents = {"decomposer": {"lora": lora}} if lora else {"decomposer": {}}
    pipeline = load_config("imageedit_r1", [f"agents.decomposer.model={policy}", "train.lr=1e-5"])
    pipeline = pipeline.model_copy(update={"train": {**(pipeline.train or {}), "agents": agents}})
    config = build_grpo_config(pipeline)
    config.validate()
    return config.build_learner(env=None, spaces={"decomposer": (PLACEHOLDER_SPACE, PLACEHOLDER_SPACE)})


def grpo_batch(vocab: int, groups: int, group_size: int, prompt_len: int, completion_len: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = groups * group_size
    prompts = rng.integers(5, vocab, (groups, prompt_len))[np.arange(n) // group_size]
    lengths = rng.integers(completion_len // 2, completion_len + 1, n)
    mask = (np.arange(completion_len)[None, :] < lengths[:, None]).astype(np.int64)
    return {"prompt_ids": prompts, "prompt_mask": np.ones_like(prompts),
            "completion_ids": rng.integers(5, vocab, (n, completion_len)) * mask, "completion_mask": mask,
            "old_logp": (-rng.uniform(2, 7, (n, completion_len)) * mask).astype(np.float32),
            "advantages": rng.normal(size=n).astype(np.float32)}


def measure(policies: dict[str, Path], args: argparse.Namespace) -> list[dict[str, Any]]:
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    from orchestration.grpo.actors import payload_nbytes
    from orchestration.grpo.lora import trainable_parameters

    rows = []
    for name, policy in policies.items():
        learners = {variant: learner_for(policy, lora) for variant, lora in VARIANTS.items()}
        module = learners["full"].module["decomposer"]
        cols = grpo_batch(len(module.tokenizer), args.groups, args.group_size, args.prompt_len, args.completion_len)
        batch = MultiAgentBatch({"decomposer": SampleBatch(cols)}, env_steps=len(cols["advantages"]))
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for step in range(args.repeats + 1):  # update 0 of each variant is the warm-up
            for variant, learner in learners.items():
                t0 = time.perf_counter()
                learner.update(batch=batch)
                if step:
                    times[variant].append(time.perf_counter() - t0)
        total = sum(p.numel() for p in {id(p): p for p in module.model.parameters()}.values())
        for variant, learner in learners.items():
            m = learner.module["decomposer"]
            t0 = time.perf_counter()
            payload = m.sync_payload()
            payload_s = time.perf_counter() - t0
            rows.append({"policy": name, "parameters": total, "variant": variant,
                         "trainable": trainable_parameters(m.model), "sync_bytes": payload_nbytes(payload),
                         "payload_s": payload_s, "update_s": statistics.median(times[variant]),
                         "update_s_all": times[variant]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--prompt-len", type=int, default=96)
    parser.add_argument("--completion-len", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        policies = {"shipped decomposer": SHIPPED, "wide tiny (512 x 8)": wide_policy(Path(tmp))}
        rows = measure(policies, args)
    load_after = os.getloadavg()[0]
    print(f"load average (1 min): {load_before:.1f} before, {load_after:.1f} after; "
          f"batch {args.groups} x {args.group_size} completions, prompt {args.prompt_len}, completion <= {args.completion_len} tokens\n")
    print("| policy (parameters) | variant | trainable parameters | sync bytes per iteration | payload s | update s (median) | vs full |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        full = next(r for r in rows if r["policy"] == row["policy"] and r["variant"] == "full")
        print(f"| {row['policy']} ({row['parameters'] / 1e6:.2f}M) | {row['variant']} | {row['trainable']:,} "
              f"({100 * row['trainable'] / row['parameters']:.2f}%) | {row['sync_bytes']:,} "
              f"({row['sync_bytes'] / full['sync_bytes']:.3f}x) | {row['payload_s']:.4f} | {row['update_s']:.3f} "
              f"| {row['update_s'] / full['update_s']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "load": [load_before, load_after], "args": vars(args)},
                                        indent=1, default=str))


if __name__ == "__main__":
    main()
