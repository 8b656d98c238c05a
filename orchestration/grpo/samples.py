"""What the policy actors hand to the learner: one typed record of sampled groups, one name per field end to end.

A :class:`SampledGroups` is made by each policy actor from its generation call (:meth:`SampledGroups.from_generation`),
joined across actors in the order of the iteration's prompts (:func:`orchestration.grpo.actors.sample_groups`), kept
on the iteration's :class:`orchestration.grpo.rollout.GroupRollouts`, and cut into the learner's batch columns by
:func:`orchestration.grpo.algorithm.module_batch`, where the fields that reach the loss keep their names
(``old_logp`` is the learner's column too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["SampledGroups"]


@dataclass(frozen=True)
class SampledGroups:
    """Completions sampled for a batch of prompts: ``N`` rows, each prompt's group in adjacent rows.

    Attributes:
        prompt_ids: int ``[N, P]``, left-padded (prompts end at the same column).
        prompt_mask: int ``[N, P]``, 1 on real prompt tokens.
        completion_ids: int ``[N, T]``, right-padded (completions start at the same column).
        completion_mask: int ``[N, T]``, 1 on sampled tokens (the eos included).
        old_logp: float32 ``[N, T]``, the sampler's log-prob of each sampled token (0 on padding): the policy that
            sampled them, which the learner's ratio divides by.
        finished: bool ``[N]``, True where the completion ended with eos before ``max_new_tokens``.
        texts: ``N`` decoded completions.
        prompts: one prompt text per sampled prompt, in the order of ``kept``.
        kept: indices (into the states asked for) of the prompts that were sampled, in row order; all of them unless
            an actor's shard was dropped (:class:`orchestration.grpo.pool.PolicyPool`).
        versions: the weights version of each actor call that sampled rows (one per shard).
        tokens: tokens generated.
        image_inputs: a VLM prompt's image inputs as per-row columns (``mm_tok.*``, ``mm.*``, ``mm_len.*``:
            :mod:`orchestration.grpo.multimodal`); empty for a text-only policy.
    """

    prompt_ids: np.ndarray
    prompt_mask: np.ndarray
    completion_ids: np.ndarray
    completion_mask: np.ndarray
    old_logp: np.ndarray
    finished: np.ndarray
    texts: tuple[str, ...]
    prompts: tuple[str, ...]
    kept: tuple[int, ...]
    versions: tuple[int, ...]
    tokens: int
    image_inputs: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Rows that disagree would pair a completion with another row's log-probs in the loss without any error.
        n = len(self.texts)
        shapes = {name: np.shape(getattr(self, name)) for name in
                  ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "old_logp", "finished")}
        if any(len(shape) == 0 or shape[0] != n for shape in shapes.values()):
            raise ValueError(f"SampledGroups: every column needs one row per text ({n}); got shapes {shapes}")
        if not shapes["prompt_ids"] == shapes["prompt_mask"] or not (
                shapes["completion_ids"] == shapes["completion_mask"] == shapes["old_logp"]):
            raise ValueError(f"SampledGroups: ids, masks and old_logp must have matching shapes; got {shapes}")
        if len(self.prompts) != len(self.kept):
            raise ValueError(f"SampledGroups: {len(self.prompts)} prompts for {len(self.kept)} kept states")

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def from_generation(cls, gen: Any, prompts: Sequence[str], version: int = 0,
                        image_inputs: dict[str, np.ndarray] | None = None) -> "SampledGroups":
        """The record of one generation call (:class:`agents.lm.generation.GenerationOutput` or its VLM subclass)
        for ``prompts``, sampled with weights ``version``.

        >>> import torch
        >>> from types import SimpleNamespace
        >>> gen = SimpleNamespace(prompt_ids=torch.tensor([[5], [5]]), prompt_mask=torch.ones(2, 1),
        ...                       completion_ids=torch.tensor([[7], [8]]), completion_mask=torch.ones(2, 1),
        ...                       logprobs=torch.tensor([[-0.5], [-1.0]]), finished=torch.tensor([True, False]),
        ...                       texts=["a", "b"], num_generated_tokens=2)
        >>> record = SampledGroups.from_generation(gen, ["prompt"], version=3)
        >>> len(record), record.old_logp.dtype.name, record.kept, record.versions
        (2, 'float32', (0,), (3,))
        """
        return cls(
            prompt_ids=gen.prompt_ids.cpu().numpy(),
            prompt_mask=gen.prompt_mask.cpu().numpy(),
            completion_ids=gen.completion_ids.cpu().numpy(),
            completion_mask=gen.completion_mask.cpu().numpy(),
            old_logp=gen.logprobs.cpu().numpy().astype(np.float32),
            finished=gen.finished.cpu().numpy(),
            texts=tuple(gen.texts),
            prompts=tuple(prompts),
            kept=tuple(range(len(prompts))),
            versions=(int(version),),
            tokens=int(gen.num_generated_tokens),
            image_inputs=dict(image_inputs or {}),
        )

    @classmethod
    def empty(cls) -> "SampledGroups":
        """No rows: every shard of the iteration was dropped.

        >>> len(SampledGroups.empty()), SampledGroups.empty().versions
        (0, ())
        """
        ids = np.zeros((0, 0), dtype=np.int64)
        return cls(ids, ids, ids, ids, np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=bool), (), (), (), (), 0)
