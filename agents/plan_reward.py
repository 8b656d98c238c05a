"""DDA-Thinker's cognitive-atomic reward on the Canvas world: the reference checklist answered on the plan text.

DDA-Thinker judges a thinker's plan twice: once before any pixel is touched (the *cognitive* reward: does the
rewritten instruction say what the request means?) and once on the edited image (the *visual* reward: did the
edit come out right?), each normalised in its own GRPO group (``advantage: dual_atomic``). In the paper the
cognitive judge is a model answering a checklist about the plan, grounded in a rational reference description of
the intended result. Here the same three parts are exact:

- the **plan** is read the way the Canvas editor reads requests (:func:`agents.editor.plan_outcome`): each
  clause parsed, its subjects looked up, its change carried out on the task's source scene, one after another;
- the **reference** is the task's target scene, which :attr:`envs.task.EditTask.reference` describes in words;
- the **checklist** is the task's reference checklist (``envs.canvas.checks``), whose expected answers were
  computed on that target scene; the reward is the share of its items the plan's scene answers as expected.

So a plan scores 1.0 exactly when carrying it out as written would pass every item, whatever the editor then
does with the pixels; the visual reward (``checklist``/``success`` on the edited image) is the other half.
"""

from __future__ import annotations

from agents.editor import plan_outcome
from envs.canvas.checks import evaluate_check
from envs.canvas.scene import Scene
from rewards.parsing import parse_tagged
from rewards.registry import RewardContext, register_reward

__all__ = ["plan_checklist_score", "plan_checklist_from_context"]


def plan_checklist_score(plan: str, source: Scene, checks: list[dict], expected: list[str]) -> float:
    """Share of the checklist items (``checks`` with their ``expected`` answers) that the scene ``plan`` describes
    on ``source`` answers as expected; 0.0 for an empty checklist."""
    if not checks:
        return 0.0
    outcome = plan_outcome(plan, source)
    answers = [evaluate_check(check, outcome.objects, outcome.background) for check in checks]
    return sum(a == e for a, e in zip(answers, expected)) / len(checks)


@register_reward("plan_checklist")
def plan_checklist_from_context(ctx: RewardContext) -> float:
    """The cognitive-atomic reward (module docstring): the reference checklist answered on the scene the plan in
    ``completion``'s answer describes on ``source_scene``. Needs ``completion``, ``source_scene`` and
    ``reference_checks``; a completion without an answer scores 0.

    >>> scene = '{"background": "white", "objects": [{"id": 0, "shape": "circle", "color": "green", "size": "small", "x": 0.2, "y": 0.2}]}'
    >>> checks = [{"check": {"kind": "background", "value": "white"}, "expected": "no"}]
    >>> plan_checklist_from_context(RewardContext(completion="<think>1 edit</think><answer>Change the background to cream.</answer>",
    ...     source_scene=scene, reference_checks=checks))
    1.0
    """
    completion = ctx.require("completion", "plan_checklist")
    items = list(ctx.require("reference_checks", "plan_checklist"))
    source = Scene.from_json(ctx.require("source_scene", "plan_checklist"))
    plan = parse_tagged(completion).answer or ""
    return plan_checklist_score(plan, source, [i["check"] for i in items], [i["expected"] for i in items])
