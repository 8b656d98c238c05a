"""GRPO from Python: two iterations on the ImageEdit-R1 decomposer, with the RLlib Algorithm API.

Shows `build_grpo_config` (a pipeline's `train:` section -> an RLlib `AlgorithmConfig`), `build_algo()`, and
`algo.train()` returning each iteration's metrics (`result["grpo"]`: mean reward of the trained agent, each reward
term, zero-variance groups, timings). It starts from the shipped SFT cold start (agents/lm/pretrained/decomposer,
0.9M parameters), sized down to seconds: 2 tasks x 4 completions of at most 64 tokens per iteration. It starts a
local Ray instance (policy actors sample, the learner updates, weights sync back); about 30 s on 2 cores.

    python examples/grpo_from_python.py [--iterations 2] [--group-size 4] [--tasks 2] [--max-new-tokens 64]

A full run, with checkpoints, metrics.parquet, TensorBoard and a before/after table, is `editrl train --config
imageedit_r1` (or `orchestration.train.run_training` from Python); see docs/training.md.
"""

from __future__ import annotations

import argparse

import ray

from orchestration.config import load_config
from orchestration.grpo.config import build_grpo_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=4, help="completions per task (G)")
    parser.add_argument("--tasks", type=int, default=2, help="tasks per iteration")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="longest completion")
    parser.add_argument("--model", default="agents/lm/pretrained/decomposer", help="the decomposer policy to start from")
    args = parser.parse_args(argv)

    # The packaged pipeline and its train: section, overridden as `editrl train --set` would. step_mix and
    # category_mix null: the plain train stream (mostly short tasks), quickest to generate.
    pipeline = load_config("imageedit_r1", [
        f"decomposer.model={args.model}",
        f"train.group_size={args.group_size}",
        f"train.tasks_per_iteration={args.tasks}",
        f"train.max_new_tokens={args.max_new_tokens}",
        "train.step_mix=null",
        "train.category_mix=null",
        "train.sampler_threads=1",
        "train.seed=0",
    ])
    config = build_grpo_config(pipeline)
    terms = [name for name, _ in config.resolved_trainable()["decomposer"]["rewards"]]
    print(f"training decomposer on {' + '.join(terms)}; {args.tasks} tasks x {args.group_size} completions per iteration")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    algo = config.build_algo()  # starts the policy actors and the learner
    try:
        for _ in range(args.iterations):
            result = algo.train()["grpo"]
            per_term = "  ".join(f"{t}={result[f'decomposer/reward/{t}']:.3f}" for t in terms)
            print(f"iteration {algo.iteration}: reward={result['decomposer/reward']:.3f}  {per_term}  "
                  f"zero_variance_share={result['decomposer/zero_variance_share']:.2f}  step_s={result['step_s']:.1f}")
        sample = algo.last_rollouts[0] if algo.last_rollouts else None
        if sample is not None:
            print(f"a rollout of the last iteration (reward {sample['reward']:.3f}):\n{sample['completion']}")
    finally:
        algo.stop()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
