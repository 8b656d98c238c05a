"""Rule-based decomposer: ImageEdit-R1's (action, subject, target) components, read from the text by rule.

`RuleDecomposer` reads `state.plan.text` when a thinker ran, else `state.instruction`, and returns one
`ComponentSpec` per clause, in the order written. It shares the rule thinker's reading (`agents.thinker.read_steps`)
and its limits: subjects are explicit descriptions, as `envs.canvas.refer` writes them ("the red circle"; plural
subjects as lists), when the text gives them or the easy indirect references resolve on the perceived source image
(largest / smallest, a few knowledge items); other indirect references are kept verbatim as one subject, so
F1 is high on direct requests and lower on indirect ones. Targets are canonical values ("top left", "medium",
"hexagon"), relative sizes are resolved from the perceived size, unknown knowledge values stay as written.
A clause that does not parse is left out (the rest still come through); `well_formed` is False then.
"""

from __future__ import annotations


from agents.base import Agent, Decomposition, EpisodeState
from agents.canvas_language import scene_from_perception
from agents.canvas_paint import perceive_png
from agents.thinker import read_steps
from envs.task import ComponentSpec

__all__ = ["RuleDecomposer"]


class RuleDecomposer(Agent):
    """Components in written order from the plan or the instruction (module docstring)."""

    role = "decomposer"
    backend = "rule"

    def act(self, state: EpisodeState) -> Decomposition:
        text = state.plan.text if state.plan is not None and state.plan.text.strip() else state.instruction
        scene = scene_from_perception(perceive_png(state.source_png))
        steps = sorted(read_steps(text, scene), key=lambda s: s.written)
        components = [
            ComponentSpec(action=s.component.action, subject=list(s.component.subject), target=list(s.component.target))
            for s in steps
            if s.component is not None
        ]
        notes = [f"{s.clause.text!r}: {s.note}" for s in steps if s.note]
        return Decomposition(components=components, think="\n".join(notes),
                             well_formed=bool(steps) and all(s.component is not None for s in steps))
