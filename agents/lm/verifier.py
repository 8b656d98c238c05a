"""The reasoning verifier on a transformers LM (backend ``transformers``, role ``verifier``): Edit-R1's reward model.

It reads the instruction and what perception sees in the source and the edited image
(:func:`agents.lm.verifier_prompts.build_verifier_prompt`), writes one principle per line (keep / follow / quality,
each a yes/no answer with the expected answer and a short reason; :mod:`rewards.principles`), and its score is the
share of principles that hold. The completion becomes the pipeline's usual :class:`Verdict`: one
:class:`VerdictItem` per principle (its ``group`` is the principle's kind, its ``reason`` what the verifier saw), so
reflection feedback, ``editrl edit`` and the Serve page show the checklist with reasons like the Canvas verifier's.

Parsing never raises: a completion with no readable principle is a verdict with no item, score 0 and not passed.
It is cold-started by :mod:`agents.lm.verifier_sft` and trained by GCPO (:mod:`orchestration.gcpo`).
"""

from __future__ import annotations

from typing import ClassVar

from agents.base import EpisodeState, Verdict, VerdictItem
from agents.lm.policy import LMAgent
from agents.lm.verifier_prompts import build_verifier_prompt
from rewards.principles import parse_principles, principle_score

__all__ = ["LMVerifier", "parse_verdict"]


def parse_verdict(text: str) -> Verdict:
    """A :class:`Verdict` from a raw verifier completion; never raises.

    >>> v = parse_verdict("<think>2 principles</think><answer>\\nfollow: Is the star red? saw small blue star; no\\n"
    ...                   "keep: Is the circle unchanged? saw large green circle; yes\\n</answer>")
    >>> v.score, v.passed, [(i.group, i.answer, i.reason) for i in v.items]
    (0.5, False, [('follow', 'no', 'saw small blue star'), ('keep', 'yes', 'saw large green circle')])
    >>> print(v.feedback)
    Failed: Is the star red? (expected yes, saw no: saw small blue star)
    >>> parse_verdict("noise").score
    0.0
    """
    parsed = parse_principles(text)
    items = [VerdictItem(question=p.question, answer=p.answer, expected=p.expected, group=p.kind, reason=p.reason)
             for p in parsed.principles]
    if not items:
        return Verdict(items=[], score=0.0, passed=False,
                       feedback="The verifier's completion listed no principle it could read; nothing was checked.")
    failed = [i for i in items if not i.passed]
    feedback = "\n".join(f"Failed: {i.question} (expected {i.expected}, saw {i.answer}" + (f": {i.reason})" if i.reason else ")")
                         for i in failed)
    return Verdict(items=items, score=principle_score(parsed.principles), passed=not failed, feedback=feedback)


class LMVerifier(LMAgent):
    """Verifier: checks the edited image against principles it writes from the instruction (module docstring).

    Reads the instruction, the perceived source image and the perceived edited image (``state.edit``). Greedy
    decoding (``temperature: 0``) is what serving and benchmarks want; GCPO samples at its own temperature.
    """

    role: ClassVar[str] = "verifier"

    def prompt(self, state: EpisodeState) -> str:
        if state.edit is None:
            raise ValueError("the LM verifier needs state.edit (an edited image); put an editor before it")
        return build_verifier_prompt(state.instruction, self.scene(state), self._scene_of(state.edit.image_png))

    def _scene_of(self, png: bytes) -> str:
        # The same bounded perception cache as the source image's (LMAgent.scene).
        from agents.lm.prompts import scene_text

        if png not in self._scenes:
            self._scenes[png] = scene_text(png)
            if len(self._scenes) > 256:
                self._scenes.popitem(last=False)
        return self._scenes[png]

    def parse(self, text: str) -> Verdict:
        return parse_verdict(text)
