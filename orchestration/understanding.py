"""Whether a pipeline read any edit into the instruction, and the score to report when it read none.

An instruction the decomposer or thinker cannot parse ("the red star has to go" to the rule pipeline) yields no
components; the editor then changes nothing, and the verifier's checklist of an unchanged image is mostly
"is X unchanged? yes": a score near 0.9 for an edit that never happened. Results say so instead.
"""

from __future__ import annotations

from agents.base import EpisodeState
from agents.editor import NOT_UNDERSTOOD as EDITOR_NOT_UNDERSTOOD

NOT_UNDERSTOOD = ("no edit understood: the pipeline found nothing to change in the instruction, so the image is "
                  "unchanged; rephrase it, e.g. \"remove the red star\"")

# the editor's reason for a request it could not read at all, as opposed to one it read but could not carry out on
# this image ("'the red star' matches 0 objects"); skipped entries read "<request> (<reason>)"
_EDITOR_NOT_UNDERSTOOD = f"({EDITOR_NOT_UNDERSTOOD}:"


def edit_understood(state: EpisodeState) -> bool:
    """False when the episode ran an editor and no agent read an edit into the instruction: no components, no
    sub-requests, or an editor that applied nothing and read none of its requests."""
    edit = state.edit
    if edit is None:
        return True  # no editor (e.g. a decomposer-only pipeline): nothing to report about an image
    if edit.applied:
        return True
    if state.decomposition is not None and not state.decomposition.components:
        return False
    if state.subrequests is not None and not state.subrequests.items:
        return False
    return bool(edit.skipped) and not all(_EDITOR_NOT_UNDERSTOOD in reason for reason in edit.skipped)


def reported_score(state: EpisodeState) -> float | None:
    """The verifier's score, or 0.0 when no edit was understood (its "unchanged? yes" answers are no success)."""
    if state.verdict is None:
        return None
    return state.verdict.score if edit_understood(state) else 0.0
