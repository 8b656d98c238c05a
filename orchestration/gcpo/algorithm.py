"""GCPO (Edit-R1's Group Contrastive Preference Optimization) of the reasoning verifier, on RLlib: GRPO's
algorithm with a different rollout.

Per iteration (``training_step``):

1. draw ``gcpo.pairs_per_iteration`` preference pairs (:mod:`envs.preferences`);
2. each pair is two episode states - the instruction, the source image and one of the two edits - and the verifier's
   policy actors sample ``group_size`` judgements of each (the same :class:`~orchestration.grpo.actors.PolicyActor`,
   the same prompt the served verifier writes, the sampler's log-probs kept);
3. each judgement is scored by the share of its principles that hold and rewarded by how it ranks against the
   opposite side's judgements (:func:`orchestration.gcpo.core.judgement_rewards`; a malformed one earns 0);
4. advantages within each (pair, side) group (GRPO's :func:`~orchestration.grpo.core.group_advantages`), groups with
   equal rewards left out and counted;
5. ``learner_group.update`` for ``num_epochs`` passes: RLlib's LearnerGroup with the GRPO learner and its registered
   policy loss on the verifier's :class:`~orchestration.grpo.module.CausalLMModule` (LoRA, bf16, several learners and
   placement as for GRPO);
6. the new weights go to the verifier's policy actors.

Everything else is GRPO's (:class:`~orchestration.grpo.algorithm.GRPO`): the learner, the weight sync and its fault
handling, checkpoints (the pair draws' RNG, the samplers' RNGs) and resume, and the run loop of ``editrl train``
(time budget, metrics.parquet, TensorBoard, trackers). A pipeline config turns it on with ``train.gcpo``
(:class:`~orchestration.gcpo.config.GCPOSection`); ``configs/edit_r1.yaml`` is one.

Not supported (refused when the config is validated): one-step off-policy sampling, a greedy group member, token
credit and the difficulty filter, which read episodes a verifier's judgement does not have.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from envs.episode import EditResult, EpisodeState
from envs.preferences import PreferencePair
from orchestration.gcpo.config import GCPOSection
from orchestration.gcpo.core import judgement_rewards
from orchestration.grpo.actors import sample_groups
from orchestration.grpo.algorithm import GRPO, module_batch, trainable_rows
from orchestration.grpo.core import group_advantages, zero_variance_groups

__all__ = ["GCPO", "pair_states"]

SIDES = ("preferred", "rejected")


def pair_states(pair: PreferencePair) -> tuple[EpisodeState, EpisodeState]:
    """The verifier's two episodes of ``pair``: the preferred edit's, then the rejected edit's."""
    task_id = pair.task_id or pair.pair_id
    return tuple(EpisodeState(task_id=task_id, instruction=pair.instruction, source_png=pair.source_png,
                              edit=EditResult(image_png=png)) for png in (pair.preferred_png, pair.rejected_png))


class GCPO(GRPO):
    """GCPO of the pipeline's LM verifier on preference pairs (see the module docstring)."""

    def setup(self, config: Any) -> None:
        from envs.preferences import read_pairs

        # The pairs first: a missing or empty file is one message before any actor or learner starts.
        self.gcpo_settings = GCPOSection.model_validate(config.gcpo)
        path = Path(self.gcpo_settings.pairs)
        if not path.is_file():
            raise ValueError(f"train.gcpo.pairs: {path} is not a file; write Canvas pairs with `python -m "
                             f"orchestration.gcpo pairs --out {path}` or point it at your own (envs.preferences format)")
        self.pairs: list[PreferencePair] = list(read_pairs(path))
        if not self.pairs:
            raise ValueError(f"train.gcpo.pairs: {path} holds no preference pair")
        super().setup(config)  # learners, the verifier's policy actors, the task pool GRPO would draw from (unused)
        (self.verifier_node,) = self.trainable
        # What iterations draw from are the pairs: GRPO's draw and its checkpointed pool of indices serve as they are.
        self.tasks = self.pairs
        self.pool = list(range(len(self.pairs)))

    def _per_iteration(self) -> int:
        return self.gcpo_settings.pairs_per_iteration

    def training_step(self) -> None:
        cfg, node, g = self.config, self.verifier_node, self.config.group_size
        timings = {"generate_s": 0.0, "reward_s": 0.0, "update_s": 0.0, "sync_s": 0.0, "start_sync_s": 0.0}
        start = time.perf_counter()
        if not self._actors_synced:
            timings["start_sync_s"] = self._sync_weights()

        drawn = self._draw_tasks()
        pairs = [self.pairs[i] for i in drawn]
        states = [state for pair in pairs for state in pair_states(pair)]
        t0 = time.perf_counter()
        _, samples = sample_groups(self.pools[node], states, g, cfg.temperature, cfg.top_p, cfg.max_new_tokens)
        timings["generate_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        # A dropped shard (an actor that died twice) loses some states; only pairs with both sides judged train.
        kept = set(samples.kept)
        whole = [p for p in range(len(pairs)) if 2 * p in kept and 2 * p + 1 in kept]
        position = {state: k for k, state in enumerate(samples.kept)}
        rows = np.array([position[2 * p + side] * g + j for p in whole for side in (0, 1) for j in range(g)], dtype=np.int64)
        texts = [samples.texts[r] for r in rows]
        scores, valid, rewards = judgement_rewards(texts, len(whole), g, tie_credit=self.gcpo_settings.tie_credit)
        groups = [f"{pairs[p].pair_id}/{side}" for p in whole for side in SIDES for _ in range(g)]
        flat = rewards.reshape(-1)
        zero = zero_variance_groups(flat, groups) if len(flat) else set()
        adv = group_advantages(flat, groups, scale=cfg.scale_rewards, eps=cfg.adv_eps) if len(flat) else np.zeros(0)
        dropped = zero if cfg.drop_zero_variance_groups else set()
        keep = trainable_rows(np.ones(len(flat), dtype=bool), groups, dropped, cfg.failed_episodes)
        full_adv = np.zeros(len(samples.texts))
        full_adv[rows] = adv
        timings["reward_s"] = time.perf_counter() - t0
        self.last_batch_rows = {node: [(groups[k], k % g) for k in np.flatnonzero(keep)]}

        correction: dict[str, float] = {}  # the rollout correction's metrics, with train.tis_cap
        if keep.any():
            t0 = time.perf_counter()
            correction = self._update({node: module_batch(samples, full_adv, rows[keep])})
            timings["update_s"] = time.perf_counter() - t0
            timings["sync_s"] = self._sync_weights()
        timings["step_s"] = time.perf_counter() - start

        metrics = self._judgement_metrics(node, scores, valid, flat, adv, keep, zero, len(groups) // max(g, 1))
        metrics.update(correction)
        metrics[f"{node}/dropped_pairs"] = float(len(pairs) - len(whole))
        mask = samples.completion_mask
        metrics[f"{node}/completion_tokens"] = float(mask.sum(axis=1).mean()) if len(mask) else 0.0
        metrics[f"{node}/truncated_share"] = float(1.0 - np.mean(samples.finished)) if len(mask) else 0.0
        self.last_rollouts = self._judgement_samples(node, pairs, whole, texts, flat, adv, samples.prompts, samples.kept)
        self._log_iteration(metrics, timings, samples.tokens)

    @staticmethod
    def _judgement_metrics(node: str, scores: np.ndarray, valid: np.ndarray, rewards: np.ndarray, adv: np.ndarray,
                           keep: np.ndarray, zero: set, n_groups: int) -> dict[str, float]:
        """What the iteration's judgements say: rewards and how the groups trained (named as GRPO's), the mean score
        of each side, the share of pairs whose preferred edit scored higher on average (ties half), well-formedness."""
        if not len(rewards):
            return {f"{node}/groups": 0.0, f"{node}/trained_completions": 0.0}
        margin = scores[:, 0].mean(-1) - scores[:, 1].mean(-1)
        return {
            f"{node}/reward": float(rewards.mean()),
            f"{node}/reward_std": float(rewards.std()),
            f"{node}/groups": float(n_groups),
            f"{node}/zero_variance_share": len(zero) / max(1, n_groups),
            f"{node}/trained_completions": float(keep.sum()),
            f"{node}/adv_abs_mean": float(np.abs(adv[keep]).mean()) if keep.any() else 0.0,
            f"{node}/score_preferred": float(scores[:, 0].mean()),
            f"{node}/score_rejected": float(scores[:, 1].mean()),
            f"{node}/pair_accuracy": float(np.mean(np.sign(margin) * 0.5 + 0.5)),
            f"{node}/well_formed": float(valid.mean()),
        }

    def _judgement_samples(self, node: str, pairs: list[PreferencePair], whole: list[int], texts: list[str],
                           rewards: np.ndarray, adv: np.ndarray, prompts: tuple[str, ...], kept: tuple[int, ...]
                           ) -> list[dict[str, Any]]:
        """The first ``rollout_samples`` judgements, in the rows rollouts.parquet keeps for GRPO."""
        g = self.config.group_size
        prompt_of = dict(zip(kept, prompts))
        out = []
        for k in range(min(self.config.rollout_samples, len(texts))):
            p, side = whole[k // (2 * g)], (k // g) % 2
            out.append({"iteration": int(self.iteration) + 1, "agent": node, "task_id": pairs[p].task_id or pairs[p].pair_id,
                        "group": f"{pairs[p].pair_id}/{SIDES[side]}", "sample": int(k % g),
                        "prompt": prompt_of[2 * p + side], "completion": texts[k], "reward": float(rewards[k]),
                        "rewards": {"gcpo": float(rewards[k])}, "advantage": float(adv[k]), "error": None})
        return out
