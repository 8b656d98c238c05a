"""The user-turn text of each VLM role: pure functions of strings (the images go in separately, placed before the
text by :meth:`agents.vlm.policy.VLMAgent.messages`).

The formats asked for are the ones :mod:`agents.vlm.parsing` reads leniently and :mod:`rewards.parsing` scores:

- thinker: ``<think>…</think><answer>the rewritten instruction</answer>`` (DDA-Thinker; ThinkRL-Edit's
  ``{"Rewrited": …}`` is read too);
- decomposer: ImageEdit-R1's ``<action>…</action><subject>…</subject><target>…</target>`` lines inside ``<answer>``;
- sorter: ``<number>: <request>`` lines, in execution order;
- verifier: yes/no questions one per line; "yes" or "no" per question; ``<dimension>: <1-5>`` lines in score mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "SCORE_DIMENSIONS",
    "thinker_text",
    "decomposer_text",
    "sorter_text",
    "checklist_text",
    "answer_text_prompt",
    "score_text",
    "component_line",
]

#: Score-judge dimensions: name -> (title, what a 5 means, aliases the parser accepts). KRIS-Bench scores visual
#: consistency, visual quality, instruction following and knowledge plausibility; RISEBench instruction reasoning,
#: appearance consistency and visual plausibility; each 1-5.
SCORE_DIMENSIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "instruction": ("Instruction following",
                    "the edited image does everything the instruction asks, including any reasoning or knowledge it needs",
                    ("instruction", "reasoning", "following")),
    "consistency": ("Appearance consistency",
                    "everything the instruction does not ask to change is unchanged",
                    ("consistency", "preservation")),
    "quality": ("Visual quality",
                "the edited image is natural and plausible, free of artifacts and distortions",
                ("quality", "plausibility", "visual")),
    "knowledge": ("Knowledge plausibility",
                  "the result agrees with real-world knowledge (physics, chemistry, common sense) the edit involves",
                  ("knowledge",)),
}


def _feedback_line(feedback: str | None) -> str:
    return f"Feedback on the previous attempt: {' '.join(feedback.split())}\n" if feedback else ""


def thinker_text(instruction: str, feedback: str | None = None) -> str:
    """The thinker's request: rewrite the instruction into an explicit plan an editor can follow."""
    return (
        f"Instruction: {instruction.strip()}\n"
        f"{_feedback_line(feedback)}"
        "Rewrite the instruction so that an image editor can carry it out: name every object explicitly, resolve "
        "anything that needs knowledge or reasoning, and list the steps in the order they must be done. "
        "Answer as <think>your reasoning</think><answer>the rewritten instruction</answer>."
    )


def decomposer_text(instruction: str, plan: str | None = None) -> str:
    """The decomposer's request: list the atomic edits as ImageEdit-R1 components."""
    plan_line = f"Plan: {' '.join(plan.split())}\n" if plan else ""
    return (
        f"Instruction: {instruction.strip()}\n{plan_line}"
        "List the atomic edits as components, one per line: "
        "<action>verb</action><subject>what to edit</subject><target>new value or place</target>. "
        "Subjects and targets may list several items separated by commas; leave <target></target> empty for a removal. "
        "Answer as <think>your reasoning</think><answer>the component lines</answer>."
    )


def component_line(index: int, action: str, subject: Sequence[str], target: Sequence[str]) -> str:
    """One numbered component for the sorter's prompt.

    >>> component_line(0, "recolor", ["the car"], ["blue"])
    '1. recolor | the car | blue'
    """
    return f"{index + 1}. {action} | {', '.join(subject) or '-'} | {', '.join(target) or '-'}"


def sorter_text(instruction: str, components: Sequence[tuple[str, Sequence[str], Sequence[str]]]) -> str:
    """The sorter's request: order the numbered edits and write each as a single-step request."""
    lines = "\n".join(component_line(i, a, s, t) for i, (a, s, t) in enumerate(components))
    return (
        f"Instruction: {instruction.strip()}\n"
        f"Edits (action | subject | target):\n{lines}\n"
        "An image editor will carry these out one request at a time. Put them in the order they must be done and "
        "write each as a short, explicit request. Answer with one line per edit, first edit first, each as the "
        "edit's number, a colon and the request (for example `2: make the red car blue`), inside <answer></answer>."
    )


def checklist_text(instruction: str, plan: str | None, reference: str | None, max_questions: int) -> str:
    """The verifier's request for a checklist of yes/no questions about the edited image (from the source image)."""
    plan_line = f"The planner rewrote it as: {' '.join(plan.split())}\n" if plan and plan.strip() != instruction.strip() else ""
    ref_line = f"The ideal result: {' '.join(reference.split())}\n" if reference else ""
    return (
        f"This image is about to be edited with the instruction: {instruction.strip()}\n{plan_line}{ref_line}"
        f"Write up to {max_questions} yes/no questions that check the edited image, one per line, each phrased so "
        "that 'yes' means the edit is right. Ask about what must change and what must stay the same."
    )


def answer_text_prompt(instruction: str, question: str, with_source: bool) -> str:
    """The verifier's request for one checklist answer."""
    images = ("The first image is the original; the second is the result of editing it with the instruction: "
              if with_source else "This image is the result of an edit with the instruction: ")
    return f"{images}{instruction.strip()}\nQuestion: {question.strip()}\nAnswer yes or no."


def score_text(instruction: str, reference: str | None, dimensions: Sequence[str], with_source: bool,
               table: Mapping[str, tuple[str, str, tuple[str, ...]]] = SCORE_DIMENSIONS) -> str:
    """The score judge's request: 1-5 on each dimension, one ``name: score`` line each."""
    images = ("The first image is the original; the second is the result of editing it with the instruction: "
              if with_source else "This image is the result of an edit with the instruction: ")
    ref_line = f"\nThe ideal result: {' '.join(reference.split())}" if reference else ""
    dims = "\n".join(f"- {table[d][0]}: 5 means {table[d][1]}; 1 means not at all." for d in dimensions)
    example = ", ".join(f"`{table[d][0]}: 4`" for d in dimensions[:2])
    return (
        f"{images}{instruction.strip()}{ref_line}\n"
        f"Rate the edit from 1 to 5 on each dimension:\n{dims}\n"
        f"Answer with one line per dimension, its name, a colon and the score (for example {example})."
    )
