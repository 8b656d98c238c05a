"""Reflection examples for an LM thinker: a failed first plan's feedback in the prompt, the right plan as the target.

ThinkRL-Edit's planner re-plans after the verifier names what failed (plan -> edit -> verify -> feedback -> re-plan
-> re-edit). A thinker that never saw a ``feedback:`` line in its prompt has no reason to read one, so its cold
start needs examples of that turn, and the feedback in them must look like what the pipeline's verifier writes
after the thinker's *own* mistakes. :func:`reflection_examples` makes them:

1. the thinker samples first plans for generated train tasks (its own failure modes, not invented ones);
2. the pipeline's editor carries each plan out and the pipeline's verifier checks the edit, as in an episode;
3. every failed plan with feedback gives one example: the prompt of the reflection round (request, scene,
   feedback; :func:`agents.lm.prompts.build_prompt`) and the thinker's SFT target for the task (the right plan).

The verifier should be the one the pipeline reflects with: ``use_reference: false`` derives its checklist from the
request (what serving does). With the task's reference checklist the feedback spells out the answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from agents.base import Agent, EpisodeState

__all__ = ["ReflectionStats", "reflection_examples"]


@dataclass
class ReflectionStats:
    """What making the examples saw: first plans sampled, how many the verifier failed, examples kept."""

    plans: int = 0
    failed: int = 0
    examples: int = 0
    per_category: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"plans": self.plans, "failed": self.failed, "examples": self.examples, "per_category": dict(self.per_category)}


def reflection_examples(model: Any, tokenizer: Any, tasks: Sequence[Any], scenes: Sequence[str], editor: Agent,
                        verifier: Agent, *, samples: int = 2, temperature: float = 1.0, max_new_tokens: int = 192,
                        seed: int = 0, batch_size: int = 64, reasoning: bool = False, scan: bool = False,
                        scan_forms: Mapping[str, float] | None = None, note_subjects: float = 0.0,
                        readable_references: bool = False) -> tuple[list[tuple[str, str]], ReflectionStats]:
    """``(prompt with feedback, right plan)`` pairs from the thinker's own failed first plans (module docstring).

    Args:
        model, tokenizer: the thinker (its first plans are sampled from it).
        tasks, scenes: generated train tasks (with ground truth) and their perceived scene text.
        editor, verifier: the pipeline's editor and verifier agents.
        samples: first plans sampled per task; the same feedback twice for one task gives one example.
        temperature: sampling temperature of the first plans.
        max_new_tokens: room for a plan and its reasoning trace.
        seed: sampling seed.
        batch_size: prompts per generation call.
        reasoning, scan, scan_forms, note_subjects, readable_references: the thinker's target form
            (:func:`agents.lm.prompts.sft_target`).
    """
    from agents.lm.generation import generate
    from agents.lm.policy import parse_plan
    from agents.lm.prompts import build_prompt, sft_target

    stats = ReflectionStats()
    out: list[tuple[str, str]] = []
    rng = random.Random(seed)
    for start in range(0, len(tasks), batch_size):
        chunk, chunk_scenes = tasks[start:start + batch_size], scenes[start:start + batch_size]
        prompts = [build_prompt("thinker", t.instruction, s) for t, s in zip(chunk, chunk_scenes)]
        texts = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature,
                         num_return_sequences=samples, seed=rng.randrange(2**31)).texts
        for k, (task, scene) in enumerate(zip(chunk, chunk_scenes)):
            seen: set[str] = set()
            for text in texts[k * samples:(k + 1) * samples]:
                stats.plans += 1
                state = EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png,
                                     checklist=list(task.checklist), plan=parse_plan(text))
                state = state.model_copy(update={"edit": editor.act(state)})
                verdict = verifier.act(state)
                if verdict.passed:
                    continue
                stats.failed += 1
                if not verdict.feedback or verdict.feedback in seen:
                    continue
                seen.add(verdict.feedback)
                out.append((build_prompt("thinker", task.instruction, scene, feedback=verdict.feedback),
                            sft_target("thinker", task, reasoning=reasoning, scan=scan, scan_forms=scan_forms,
                                       note_subjects=note_subjects, readable_references=readable_references)))
                stats.examples += 1
                stats.per_category[task.category] = stats.per_category.get(task.category, 0) + 1
    return out, stats
