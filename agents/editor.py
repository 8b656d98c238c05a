"""The Canvas editor: a pixel editor that understands simple, single-step requests.

`CanvasEditor` plays the part a diffusion editor plays in the papers: good at atomic requests ("make the red circle
blue"), poor at long, ordered or indirect ones. What it does with a request:

1. **Requests.** The most refined input an upstream agent provided: `state.subrequests.items` when a sorter ran,
   else `state.plan.text` when a thinker ran, else (the editor alone) `state.instruction`. An upstream output that
   is present but empty means "nothing to do": falling back to the raw instruction there would let a decomposer that
   says nothing be rewarded for the editor's own reading of the request (GRPO learns exactly that). Texts are
   cut into clauses with `agents.canvas_language` and kept *in the order written*: the editor does not reason about
   order words ("B after you A" runs B first).
2. **Reading.** Each clause is read with the clause grammar (`parse_clause`). Only explicit subjects ("the small red
   circle", lists of them) and named values are understood; an indirect reference ("the largest shape") or a
   knowledge value ("the colour of grass") is skipped with the reason. Relative sizes ("make the star bigger") are
   read from the perceived size, as any editor sees how big a thing is.
3. **Seeing.** The image it is given is perceived (`envs.canvas.perception.perceive`); each subject must match
   exactly one perceived object, else the request is skipped.
4. **Editing.** The change is checked with the world's semantics on the perceived scene (`canvas_language.simulate`:
   a move or add needs room) and painted onto the pixels with `agents.canvas_paint`: the old object is erased to
   the background colour, the new one drawn anti-aliased; a background change re-blends the background and the
   object edges. Nothing is re-rendered from a scene, and the task's ground truth is never read.

Modes:
- `single_pass` (default): one call (`calls=1`) follows at most `max_requests_per_call` requests, in the order
  written, each on the result of the previous one within the call; later requests are dropped and listed in
  `skipped` with the reason, like a diffusion editor that loses the tail of a long prompt.
- `multi_turn`: one call per request (`calls=n`), each call perceiving the previous call's output image.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from agents.base import Agent, EditResult, EpisodeState
from agents.canvas_language import ParsedClause, parse_clause, parse_text, relative_size, scene_from_perception, simulate
from agents.canvas_paint import apply_scene_change, to_array, to_image
from envs.canvas.execute import EditError
from envs.canvas.refer import BACKGROUND_SUBJECT, parse_description, resolve
from envs.canvas.scene import Scene
from envs.image_io import encode_png, load_image
from rewards.types import Component

__all__ = ["CanvasEditor", "MODES", "request_texts", "read_request", "carry_out", "plan_outcome"]

MODES = ("single_pass", "multi_turn")


#: How a skipped request's reason starts when the editor could not read it at all (not: read, but not doable here).
NOT_UNDERSTOOD = "not understood"

class CanvasEditor(Agent):
    """Pixel editor for simple single-step requests (module docstring).

    Args:
        mode: "single_pass" (all requests in one call, at most `max_requests_per_call` of them carried out) or
            "multi_turn" (one call per request, each on the previous output).
        max_requests_per_call: how many requests one call follows; 2 by default, like diffusion editors that follow
            a couple of instructions per prompt and drop the rest.
    """

    role = "editor"
    backend = "canvas"

    def __init__(self, mode: Literal["single_pass", "multi_turn"] = "single_pass", max_requests_per_call: int = 2) -> None:
        if mode not in MODES:
            raise ValueError(f"CanvasEditor mode must be one of {', '.join(MODES)}, got {mode!r}")
        if int(max_requests_per_call) < 1:
            raise ValueError(f"max_requests_per_call must be at least 1, got {max_requests_per_call}")
        self.mode = mode
        self.max_requests_per_call = int(max_requests_per_call)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "mode": self.mode, "max_requests_per_call": self.max_requests_per_call}

    # -- requests ----------------------------------------------------------------------------------------------
    @staticmethod
    def requests(state: EpisodeState) -> list[str]:
        """The requests the editor will try, in the order written (module docstring, step 1)."""
        if state.subrequests is not None:
            texts = list(state.subrequests.items)
        elif state.plan is not None:
            texts = [state.plan.text]
        else:
            texts = [state.instruction]
        return [request for text in texts for request in request_texts(text)]

    # -- one editor call ---------------------------------------------------------------------------------------
    def _call(self, pixels: np.ndarray, requests: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
        """One editor call: perceive `pixels` once, then carry out `requests` in order. Returns (pixels, applied,
        skipped-with-reasons)."""
        from envs.canvas.perception import perceive

        scene = scene_from_perception(perceive(to_image(pixels)))
        applied: list[str] = []
        skipped: list[str] = []
        for request in requests:
            component = read_request(request, scene)
            if isinstance(component, str):
                skipped.append(f"{request} ({component})")
                continue
            try:
                after = simulate(scene, component)
            except EditError as err:
                skipped.append(f"{request} (cannot be done on this image: {err})")
                continue
            pixels = apply_scene_change(pixels, scene, after)
            scene = after
            applied.append(request)
        return pixels, applied, skipped

    def act(self, state: EpisodeState) -> EditResult:
        pixels = to_array(load_image(state.source_png))
        requests = self.requests(state)
        applied: list[str] = []
        skipped: list[str] = []
        if self.mode == "single_pass":
            cap = self.max_requests_per_call
            pixels, applied, skipped = self._call(pixels, requests[:cap])
            skipped += [f"{r} (dropped: a single pass follows at most {cap} request{'s' if cap != 1 else ''})" for r in requests[cap:]]
            calls = 1
        else:
            for request in requests:
                pixels, done, failed = self._call(pixels, [request])
                applied += done
                skipped += failed
            calls = len(requests)
        if not applied:
            # Nothing changed: hand back the source bytes untouched (no re-encoding).
            return EditResult(image_png=state.source_png, applied=[], skipped=skipped, calls=calls)
        return EditResult(image_png=encode_png(to_image(pixels)), applied=applied, skipped=skipped, calls=calls)


def request_texts(text: str) -> list[str]:
    """The requests the editor reads in one upstream text, in the order written: its clauses, or the whole text as
    one (unreadable) request when no clause parses; none for a blank text."""
    if not text.strip():
        return []
    clauses = parse_text(text).written
    if not clauses or not any(c.parsed for c in clauses):
        return [text.strip()]
    return [c.text for c in clauses]


def read_request(request: str, scene: Scene) -> Component | str:
    """The component the editor makes of `request` on `scene`, or the reason it cannot be carried out."""
    parsed: ParsedClause | None = parse_clause(request)
    if parsed is None:
        return f"{NOT_UNDERSTOOD}: no edit the editor knows"
    action = parsed.action
    if action not in ("add", "background"):
        objects = []
        for subject in parsed.subjects:
            if parse_description(subject) is None:
                return f"does not know which object {subject!r} is"
            found = resolve(subject, scene.objects)
            if len(found) != 1:
                return f"{subject!r} matches {len(found)} objects in the image, not exactly one"
            objects.append(found[0])
    if action == "remove":
        return Component(action, parsed.subjects, ())
    target = parsed.target
    if parsed.relative:
        sizes = {o.size for o in objects}
        target = relative_size(next(iter(sizes)), parsed.target) if len(sizes) == 1 else None  # type: ignore[arg-type]
        if target is None:
            return f"cannot make {parsed.subject!r} {parsed.target}"
    if target is None:
        return f"does not know the value {parsed.target_text!r}"
    subjects = (BACKGROUND_SUBJECT,) if action == "background" else parsed.subjects
    return Component(action, subjects, (target,))


def carry_out(request: str, scene: Scene) -> tuple[Component | None, Scene]:
    """The component the editor carries out for `request` on `scene` and the scene after it; ``(None, scene)``
    when the request cannot be read or done there (no pixels: the world's semantics only)."""
    component = read_request(request, scene)
    if isinstance(component, str):
        return None, scene
    try:
        return component, simulate(scene, component)
    except EditError:
        return None, scene


def plan_outcome(plan: str, scene: Scene) -> Scene:
    """The scene a plan describes when its requests are read the editor's way and carried out one by one on
    `scene` (multi-turn, no pixels): what a plan asks for, judged before any pixel is touched. A request the
    editor cannot read or carry out changes nothing, as in :meth:`CanvasEditor.act`."""
    for request in request_texts(plan):
        _, scene = carry_out(request, scene)
    return scene
