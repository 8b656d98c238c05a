"""A plug-in agent module, as your own package would hold it (imported by examples/plugin_agent.py, not run alone).

`ChangeCheckingVerifier` is a verifier backend built on the packaged one: it answers the Canvas verifier's checklist
and adds one item of its own - did the edit change enough of the image at all? - so an editor that returns the
source image unchanged can never pass. A pipeline names it by import path: `cls: my_agents:ChangeCheckingVerifier`.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from agents.base import Agent, EpisodeState, Verdict, VerdictItem
from agents.verifier import CanvasVerifier


def changed_share(before_png: bytes, after_png: bytes) -> float:
    """The share of pixels that differ between two PNG images (1.0 when their sizes differ)."""
    before = np.asarray(Image.open(io.BytesIO(before_png)).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(after_png)).convert("RGB"))
    if before.shape != after.shape:
        return 1.0
    return float(np.any(before != after, axis=-1).mean())


class ChangeCheckingVerifier(Agent):
    """The Canvas verifier's checklist plus "did the edit change at least `min_changed` of the pixels?"."""

    role = "verifier"             # which field it fills: state.verdict
    backend = "change_checking"   # shown by pipeline.describe(), `editrl edit` and GET /v1/agents

    def __init__(self, min_changed: float = 0.001, use_reference: bool = True):  # config `options` arrive here
        self.min_changed = min_changed
        self.inner = CanvasVerifier(use_reference=use_reference)

    def act(self, state: EpisodeState) -> Verdict:
        verdict = self.inner.act(state)
        share = changed_share(state.source_png, state.edit.image_png)
        own = VerdictItem(question=f"Did the edit change at least {self.min_changed:.1%} of the image?",
                          answer="yes" if share >= self.min_changed else "no", expected="yes")
        items = [*verdict.items, own]
        failed = [i for i in items if not i.passed]
        feedback = "\n".join(f"Failed: {i.question} (expected {i.expected}, saw {i.answer})" for i in failed)
        return Verdict(items=items, score=1 - len(failed) / len(items), passed=not failed, feedback=feedback)

    def describe(self) -> dict:
        return {**super().describe(), "min_changed": self.min_changed}
