"""The Canvas verifier: a yes/no checklist about the edited image, answered by perceiving it.

`CanvasVerifier` works in two steps.

1. **Checklist.** The task's reference checklist (`state.checklist`) when there is one. Otherwise it derives one
   from the request: the components (from `state.subrequests.items` in their order, else `state.plan.text`, else
   `state.decomposition` in the sorter's order, else `state.instruction`) are read with the rule reading
   (`agents.thinker.read_steps`: explicit subjects, easy indirect references), simulated on the *perceived* source
   scene, and `envs.canvas.checklist.build_checklist(perceived source, predicted result)` writes the items with
   their machine checks (`present` / `background` / `count`). A request it cannot read or resolve adds an item
   without a check ("Was '<request>' carried out?"), which it cannot answer: "unknown", and unknown fails.
   With `derive_from="instruction"` it reads only the user's instruction, never what the agents upstream wrote:
   the checklist then does not depend on the policy being trained, which is what a label-free RL reward needs (a
   checklist read from the decomposer's own components would reward a decomposer for agreeing with itself).
   `reader` picks how the request is read: "rule" (the default, the rule thinker's reading above, which resolves
   only the easy indirect references on purpose) or "full" (`agents.canvas_reader`: every indirect reference the
   world writes - superlatives, spatial relations, corner counts and colour counts, knowledge items and values,
   logic - resolved by its meaning on the perceived scene of each step). A verifier may be stronger than the policy
   it judges; with the rule reader the derived checklist is unanswerable on most indirect tasks, with the full one
   the target image passes it on nearly every task (docs/benchmarks/verifier.md, "Label-free checklists").
2. **Answers.** The edited image (`state.edit.image_png`) is perceived and every check is evaluated on the perceived
   objects and background (`envs.canvas.checks.evaluate_check`).

The score is `rewards.checklist_reward` (fraction answered as expected; unknown fails); `passed` means every item
passed; `feedback` names each failed item: "Failed: Is the red circle now blue? (expected yes, saw no)".
"""

from __future__ import annotations

from typing import Any

from agents.base import Agent, EpisodeState, Verdict, VerdictItem
from agents.canvas_language import explicit_text, scene_from_perception, simulate, to_explicit_clause
from agents.canvas_paint import perceive_png
from agents.canvas_reader import READERS, read_steps_full
from agents.thinker import read_steps
from envs.canvas.checklist import build_checklist
from envs.canvas.checks import evaluate_check
from envs.canvas.execute import EditError
from envs.canvas.scene import Scene
from rewards.checklist import checklist_reward

__all__ = ["CanvasVerifier", "DERIVE_FROM", "READERS"]

#: What a derived checklist is read from: "pipeline" (the sub-requests, else the plan, else the decomposition, else
#: the instruction: what the pipeline understood) or "instruction" (the user's words only).
DERIVE_FROM = ("pipeline", "instruction")


class CanvasVerifier(Agent):
    """Checklist verifier that answers by perception (module docstring)."""

    role = "verifier"
    backend = "canvas"

    def __init__(self, use_reference: bool = True, derive_from: str = "pipeline", reader: str = "rule") -> None:
        # With use_reference=False the verifier ignores the task's reference checklist and derives its own from the
        # request, as it must at serving time. Evaluate reflection that way: the reference checklist's questions
        # spell out the ideal result, so feedback built from them leaks the answer to the planner.
        if derive_from not in DERIVE_FROM:
            raise ValueError(f"CanvasVerifier derive_from must be one of {', '.join(DERIVE_FROM)}, got {derive_from!r}")
        # reader="rule" keeps the derived checklist as weak as the rule thinker (the historical behaviour, and what
        # earlier results were measured with); "full" is for a label-free reward, which is only as good as its reading.
        if reader not in READERS:
            raise ValueError(f"CanvasVerifier reader must be one of {', '.join(READERS)}, got {reader!r} "
                             "(\"full\" resolves every indirect reference, \"rule\" only the easy ones)")
        self.use_reference = bool(use_reference)
        self.derive_from = derive_from
        self.reader = reader

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "use_reference": self.use_reference, "derive_from": self.derive_from, "reader": self.reader}

    # -- checklist ---------------------------------------------------------------------------------------------
    def _request_text(self, state: EpisodeState) -> str:
        if self.derive_from == "instruction":
            return state.instruction
        if state.subrequests is not None and state.subrequests.items:
            return explicit_text(list(state.subrequests.items))
        if state.plan is not None and state.plan.text.strip():
            return state.plan.text
        if state.decomposition is not None and state.decomposition.components:
            return explicit_text([to_explicit_clause(c) for c in state.decomposition.components])
        return state.instruction

    def derive_checklist(self, state: EpisodeState, source: Scene) -> list[dict[str, Any]]:
        """Checklist items `{question, expected, group, check}` derived from the request (module docstring)."""
        scene = source
        unreadable: list[dict[str, Any]] = []
        read = read_steps_full if self.reader == "full" else read_steps
        for step in read(self._request_text(state), source):
            if step.component is None or not step.resolved:
                unreadable.append({"question": f"Was '{step.clause.text}' carried out?", "expected": "yes", "group": "follow", "check": None})
                continue
            try:
                scene = simulate(scene, step.component)
            except EditError:
                unreadable.append({"question": f"Was '{step.explicit}' carried out?", "expected": "yes", "group": "follow", "check": None})
        return build_checklist(source, scene) + unreadable

    # -- verdict -----------------------------------------------------------------------------------------------
    def act(self, state: EpisodeState) -> Verdict:
        if state.edit is None:
            raise ValueError("the Canvas verifier needs state.edit (an edited image); put an editor before it")
        if state.checklist and self.use_reference:
            items = [{"question": c.question, "expected": c.expected, "group": c.group, "check": c.check} for c in state.checklist]
        else:
            items = self.derive_checklist(state, scene_from_perception(perceive_png(state.source_png)))
        return self.answer(items, perceive_png(state.edit.image_png))

    @staticmethod
    def answer(items: list[dict[str, Any]], seen: Any) -> Verdict:
        """Answer checklist `items` on a perceived edited image (`envs.canvas.perception.Perception`); an item
        without a check, or whose check cannot be evaluated, is "unknown" and fails."""
        verdicts: list[VerdictItem] = []
        for item in items:
            answer = "unknown"
            if item.get("check"):
                try:
                    answer = evaluate_check(item["check"], seen.objects, seen.background)
                except (ValueError, KeyError, TypeError):
                    answer = "unknown"
            verdicts.append(VerdictItem(question=item["question"], answer=answer, expected=item["expected"], group=item.get("group", "follow")))
        if not verdicts:
            return Verdict(items=[], score=0.0, passed=False, feedback="Nothing to check: the request gave no checklist item.")
        score = checklist_reward([v.answer for v in verdicts], [v.expected or "yes" for v in verdicts])
        failed = [v for v in verdicts if not v.passed]
        feedback = "\n".join(
            f"Failed: {v.question} (expected {v.expected or 'yes'}, {'could not tell' if v.answer == 'unknown' else 'saw ' + v.answer})"
            for v in failed
        )
        return Verdict(items=verdicts, score=score, passed=not failed, feedback=feedback)
