"""A custom reward: register it by name, score completions and finished episodes with it, use it in a GRPO config.

Shows `rewards.register_reward` and `RewardContext` (a reward is `fn(ctx) -> float`, looked up by the name configs
use), `get_reward` for the built-in rewards next to it, `envs.editing_env.reward_context` (what the trainer fills in
for a finished episode), and `build_grpo_config(...).validate()` accepting the new name in a pipeline's reward terms
(and naming the problem when a name is not registered). No download, no Ray; a few seconds.

    python examples/custom_reward.py [--episodes 2]

To train with it, import the module that registers it and then call `orchestration.train.main` (docs/extending.md,
"Add a reward"): `editrl train` itself imports no user module.
"""

from __future__ import annotations

import argparse

from rewards import RewardContext, format_components, format_tagged, get_reward, parse_tagged, register_reward


@register_reward("step_count")
def step_count(ctx: RewardContext) -> float:
    """Credit for finding every edit: 1 - |predicted - true number of components| / true number, floored at 0.

    Dense where F1 is not: a decomposition with the right number of steps but a wrong subject still earns it.
    """
    truth = ctx.require("truth_components", "step_count")  # ValueError naming the field when it is missing
    if ctx.predicted_components is not None:
        predicted = list(ctx.predicted_components)
    else:
        predicted = list(parse_tagged(ctx.require("completion", "step_count")).components)
    return max(0.0, 1.0 - abs(len(predicted) - len(truth)) / max(len(truth), 1))


def score_line(label: str, ctx: RewardContext, names: list[str]) -> str:
    return f"{label:30}" + "  ".join(f"{name}={get_reward(name)(ctx):.3f}" for name in names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2, help="rule-pipeline episodes to score")
    args = parser.parse_args(argv)

    from envs.canvas.generator import generate_task

    # 1. Completions, as a decomposer policy writes them: the ground truth, one step missing, and no tags at all.
    task = generate_task(0, seed=0, split="test")
    truth = task.components_as_dicts()
    print(f"task: {task.instruction!r} ({len(truth)} components)")
    completions = {
        "completion: all steps": format_tagged("", format_components(truth)),
        "completion: one step missing": format_tagged("", format_components(truth[:-1])),
        "completion: untagged": "recolor the circle",
    }
    for label, text in completions.items():
        ctx = RewardContext(completion=text, kind="components", truth_components=truth)
        print(score_line(label, ctx, ["step_count", "f1", "format"]))

    # 2. Finished episodes of the rule pipeline, with the context the trainer builds for a trained agent's turn.
    from agents.base import EpisodeState
    from envs.editing_env import reward_context
    from orchestration.config import load_config
    from orchestration.pipeline import Pipeline

    pipeline = Pipeline.local(load_config("canvas_rule"))
    for index in range(args.episodes):
        task = generate_task(index, seed=0, split="test")
        state = EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png,
                             checklist=list(task.checklist))
        result = pipeline.run(state)
        ctx = reward_context(task, result.state, completion=None, kind="components")
        print(score_line(f"episode {task.task_id[-3:]} ({task.n_steps} steps)", ctx, ["step_count", "grounded_f1", "checklist", "success"]))

    # 3. The name in a GRPO config: ImageEdit-R1's decomposer trained on grounded F1 plus the new reward.
    from orchestration.grpo.config import build_grpo_config

    terms = "rewards.decomposer=[{name: grounded_f1, weight: 1.0}, {name: step_count, weight: 0.5}]"
    config = build_grpo_config(load_config("imageedit_r1", [terms]))
    config.validate()  # raises ValueError naming the field when something is wrong
    print(f"GRPO config valid: decomposer rewards {config.resolved_trainable()['decomposer']['rewards']}")
    typo = build_grpo_config(load_config("imageedit_r1", [terms.replace("step_count", "step_cnt")]))
    print("with a typo: " + "; ".join(e for e in typo.grpo_errors() if "step_cnt" in e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
