"""GRPO on RLlib's new API stack for the editing agents: one ``training_step``, readable top to bottom.

Per iteration (``training_step``):

1. draw ``tasks_per_iteration`` train tasks (without replacement; from the curriculum pool when the difficulty
   filter is on);
2. for each trainable agent: sample ``group_size`` completions per task through its policy actors (a
   :class:`~.samples.SampledGroups`), finish every episode through the rest of the graph, score it with the agent's
   reward terms (:mod:`.rollout`);
3. advantages per group from the agent's registered estimator (:func:`.core.get_advantage`, math in :mod:`.core`
   and :mod:`rewards`): GRPO on the weighted sum, DDA-Thinker's dual-atomic (each term in its own group),
   ThinkRL-Edit's UCPG, or a user's own; groups with zero reward variance are counted and left out;
4. ``learner_group.update(batch=...)`` for ``num_epochs`` passes (minibatches of ``minibatch_size``): the
   :class:`~.learner.GRPOTorchLearner` computes the registered policy loss (the clipped surrogate by default, + KL)
   on the :class:`~.module.CausalLMModule`;
5. sync the trained modules' parameters to their policy actors (one ``ray.put`` per module).

With ``max_staleness: 1`` (one-step off-policy, as verl's ``one_step_off_policy``) steps 1-2 of iteration k+1 run in
a sampling thread of the driver while the main thread does steps 3-4 of iteration k; step 5 moves to the moment
iteration k+1's rollouts are in, just before iteration k+2's sampling starts (:meth:`GRPO._sampled_ahead`). Each
batch is then sampled with weights one update older than the ones it trains.

Where this departs from the papers and the peers (TRL ``GRPOTrainer``, verl):

- One group per (task, trained agent); every other agent acts with its own settings (greedy for the packaged LM
  configs). With several trainable agents, each agent's groups are sampled separately on the same tasks, so the
  baseline of a group never mixes two agents' randomness (the papers train one agent at a time).
- Old log-probs are the sampler's (computed from the logits that chose each token, same temperature, no top-p
  truncation), not a recomputation by the learner: with ``num_epochs=1`` the ratio is 1 up to float noise, which the
  learner logs as ``kl_old``. With ``max_staleness: 1`` they are the behaviour policy's, one update behind, so the
  clipped ratio pi_theta / pi_behaviour corrects for the staleness from the first epoch on (verl's PPO trainer, which
  its one-step-off recipe builds on, recomputes old log-probs with the learner by default, so it clips against the
  newer policy and leaves the behaviour policy to its optional rollout correction).
- With ``max_staleness: 1`` the difficulty filter sees an iteration's results one draw later, and the sampling in
  flight at a checkpoint is not part of it: a resumed run skips those tasks and samples afresh.
- Groups with zero reward variance are dropped from the loss (TRL and verl keep them with advantage 0, which only
  dilutes token-mean losses); failed episodes are dropped too, and their group is normalised over the rest.
- Reflection rounds (ThinkRL-Edit) run inside the episode, but only the first-round completion of the trained agent
  is trained; its later rounds use the agent's ordinary (greedy) behaviour.
- The difficulty filter (DDA-Thinker's curriculum) runs online: a task leaves the pool once its solve rate over
  ``min_visits`` groups is <= ``low`` or >= ``high``; "solved" is the pipeline's own verifier passing every item.
- The reference model for the KL term is the starting policy, loaded only when ``kl_coef > 0``.
- Optional per-component credit for a decomposer (``component_credit > 0``): each component line's tokens get the
  line's own score, normalised in its group, on top of the sequence advantage (:func:`.core.component_token_advantages`).
- Optional per-note credit (``trace_credit > 0``): each "<phrase> = <objects>" note of a decomposer's reasoning trace
  gets its score against the task's own trace the same way (:func:`trace_notes`, :mod:`rewards.trace`); and per-entry
  credit (``scan_credit > 0``): each entry of a scan note ("large blue star 0.20 no") gets its own score
  (:func:`scan_entry_tokens`). A group whose rewards are all equal stays in the loss when such token credit differs
  inside it.
- Optional greedy member (``greedy_member``): member 0 of each group is the greedy completion; with ``baseline:
  greedy`` every completion is compared with it (self-critical) instead of the group mean.

Faults: the policy actors are called through a :class:`~.pool.PolicyPool` (a killed actor's tasks are
retried once or dropped; a restarted actor is re-synced before it samples), fixed agents with ``timeout_s`` end a slow
episode with a ``timeout:`` error and no reward; ``faults/*`` metrics count it all, and every iteration checks that
no episode went missing (``<agent>/lost_episodes``) and no group was sampled twice (``<agent>/malformed_groups``).
"""

from __future__ import annotations

import logging

import random
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Sequence, get_args

import numpy as np
import ray
import torch
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import LEARNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from orchestration.graph import build_graph
from orchestration.grpo.accumulate import shards_all_filled, with_loss_total
from orchestration.grpo.actors import learner_payloads, payload_nbytes, sample_groups, start_policy_actors
from orchestration.grpo.config import FailedEpisodes, GRPOConfig, samples_with_vllm
from orchestration.grpo.core import available_advantages, component_token_advantages, get_advantage
from orchestration.grpo.placement import PlacementError, PlacementSettings, actor_resources, learner_nodes, place_policy_actors
from orchestration.grpo.pool import FaultCounters, PolicyPool
from orchestration.grpo.multimodal import select_columns
from orchestration.grpo.rollout import ActorNode, EpisodeRunner, GroupRollouts, LocalNode, collect_groups
from orchestration.grpo.samples import SampledGroups
from orchestration.pipeline import agent_kwargs
from orchestration.scoring import judge_episode
from rewards import component_scores

#: Key of this algorithm's own metrics in the result dict of ``train()``.
GRPO_RESULTS = "grpo"

logger = logging.getLogger(__name__)


def compute_advantages(rollouts: GroupRollouts, mode: str, scale: str, eps: float,
                       greedy: np.ndarray | None = None) -> tuple[np.ndarray, set[str]]:
    """Advantages [N] over the rows that finished, from the estimator registered as ``mode``
    (:func:`.core.register_advantage`), and the ids of the groups without signal for it (zero-variance groups).

    Failed rows get advantage 0 and do not take part in their group's statistics. ``greedy`` ([N] bool, the rows
    that are their group's greedy completion): compare rewards with the greedy row's instead of the group mean
    (``baseline: greedy``; only estimators registered with ``greedy_baseline=True`` take it).
    """
    estimator = get_advantage(mode)
    if greedy is not None and not estimator.greedy_baseline:
        raise ValueError(f"baseline 'greedy' applies to the {_greedy_estimators()} advantage, not {mode!r}; "
                         "use baseline 'group'")
    ok = rollouts.ok
    adv = np.zeros(len(ok))
    if not ok.any():
        return adv, set()
    groups = [g for g, good in zip(rollouts.group_ids, ok) if good]
    matrix = rollouts.reward_matrix[ok]
    zero = estimator.groups_without_signal(matrix, rollouts.reward_weights, groups)
    adv[ok] = estimator.fn(matrix, rollouts.reward_weights, groups, scale=scale, eps=eps,
                           greedy=None if greedy is None else greedy[ok])
    return adv, zero


def _greedy_estimators() -> str:
    return " or ".join(repr(n) for n in available_advantages() if get_advantage(n).greedy_baseline)


def greedy_metrics(node: str, rollouts: GroupRollouts, greedy: np.ndarray) -> dict[str, float]:
    """The greedy members' mean reward and solved rate: how greedy decoding does on this iteration's training tasks."""
    rows = greedy & rollouts.ok
    if not rows.any():
        return {}
    return {f"{node}/greedy_reward": float(rollouts.rewards[rows].mean()),
            f"{node}/greedy_solved": float(rollouts.solved[rows].mean())}


def line_scores(episode: Any, score: str) -> list[float]:
    """Each predicted component's score against the episode's ground truth: ``"f1"`` (the paper's string match,
    :func:`rewards.component_scores`) or ``"grounded"`` (the objects its subject names on the Canvas scene of that
    step, :func:`envs.canvas.grounding.grounded_component_scores`)."""
    predicted = [c.model_dump() for c in episode.state.decomposition.components]
    truth = episode.task.components_as_dicts()
    if score == "grounded":
        from envs.canvas.grounding import grounded_component_scores
        from envs.canvas.scene import Scene

        if not episode.task.source_scene:
            raise ValueError(f"task {episode.task.task_id} has no source scene; component_score 'grounded' needs Canvas tasks")
        return grounded_component_scores(predicted, truth, episode.task.order, Scene.from_json(episode.task.source_scene))
    return component_scores(predicted, truth)


def component_lines(rollouts: GroupRollouts, action_id: int, score: str = "f1") -> tuple[np.ndarray, list[list[float] | None]]:
    """Which component line each completion token belongs to ([N, T], -1 outside lines) and each line's score
    (:func:`line_scores`).

    A line runs from an ``<action>`` tag token to the token before the next one (the last line to the end of the
    completion). A completion's lines get scores only when it is well formed, its task has ground-truth components,
    and it has as many ``<action>`` tags as parsed components (otherwise the lines cannot be told apart: None).
    """
    ids = rollouts.samples.completion_ids
    mask = rollouts.samples.completion_mask.astype(bool)
    token_line = np.full(ids.shape, -1, dtype=np.int64)
    scores: list[list[float] | None] = []
    for row, episode in enumerate(rollouts.episodes):
        starts = np.flatnonzero((ids[row] == action_id) & mask[row])
        decomposition = episode.state.decomposition
        truth = episode.task.components_as_dicts() if episode.task.components else None
        if (episode.error is not None or decomposition is None or not decomposition.well_formed or not truth
                or len(starts) != len(decomposition.components)):
            scores.append(None)
            continue
        ends = list(starts[1:]) + [int(mask[row].sum())]
        for line, (a, b) in enumerate(zip(starts, ends)):
            token_line[row, a:b] = line
        scores.append(line_scores(episode, score))
    return token_line, scores


def plan_sentence_scores(text: str, spans: Sequence[tuple[int, int]], task: Any, score: str = "grounded") -> list[float]:
    """Each sentence of a thinker's plan (``spans``: character spans in ``text``) scored against the task's ground
    truth, read the way the Canvas editor reads the plan: its clauses (:func:`agents.editor.request_texts` of the
    whole text, so "Then" and other joiners read as the editor reads them) are read and carried out one after
    another on the task's source scene (:func:`agents.editor.carry_out`), every readable one becomes a component,
    and the components are matched to the ground truth one to one (``"grounded"``:
    :func:`envs.canvas.grounding.grounded_component_scores`; ``"f1"``: :func:`rewards.component_scores`). A
    sentence scores the mean of the clauses that start in it (an unreadable clause 0; a sentence without one 0)."""
    from agents.editor import carry_out, request_texts
    from envs.canvas.scene import Scene

    if not task.source_scene:
        raise ValueError(f"task {task.task_id} has no source scene; a thinker's clause credit needs Canvas tasks")
    source = Scene.from_json(task.source_scene)
    lowered, cursor = text.lower(), 0
    scene, owners, comps = source, [], []
    clauses_in = [0] * len(spans)
    for clause in request_texts(text):
        found = lowered.find(clause.lower().strip(), cursor)
        owner = next((k for k, (a, b) in enumerate(spans) if a <= found < b), None) if found >= 0 else None
        if found >= 0:
            cursor = found + 1
        if owner is not None:
            clauses_in[owner] += 1
        comp, scene = carry_out(clause, scene)
        if comp is None:
            continue
        owners.append(owner)
        comps.append({"action": comp.action, "subject": list(comp.subject), "target": list(comp.target)})
    truth = task.components_as_dicts()
    if score == "grounded":
        from envs.canvas.grounding import grounded_component_scores

        matched = grounded_component_scores(comps, truth, task.order, source)
    else:
        matched = component_scores(comps, truth)
    totals = [0.0] * len(spans)
    for owner, value in zip(owners, matched):
        if owner is not None:
            totals[owner] += value
    return [total / n if n else 0.0 for total, n in zip(totals, clauses_in)]


def plan_sentences(rollouts: GroupRollouts, pieces: Sequence[str], score: str = "grounded"
                   ) -> tuple[np.ndarray, list[list[float] | None]]:
    """Which plan sentence each completion token of a thinker belongs to ([N, T], -1 outside the plan's sentences)
    and each sentence's score (:func:`plan_sentence_scores`): the thinker's analogue of :func:`component_lines`.

    ``pieces[token id]`` is the token's text; a token belongs to the sentence its first character falls in. A
    sentence is a run of text inside ``<answer>`` up to and including its full stop. A completion gets no scores
    (None) when its task has no ground-truth components or its answer does not close.
    """
    import re

    ids = rollouts.samples.completion_ids
    mask = rollouts.samples.completion_mask.astype(bool)
    token_sentence = np.full(ids.shape, -1, dtype=np.int64)
    scores: list[list[float] | None] = []
    for row, episode in enumerate(rollouts.episodes):
        row_ids = ids[row][mask[row]]
        text = "".join(pieces[int(t)] for t in row_ids)
        start, end = text.find("<answer>"), text.find("</answer>")
        answer = text[start + len("<answer>"):end] if 0 <= start < end else ""
        spans = [(m.start(), m.end()) for m in re.finditer(r"[^.]*\.", answer) if m.group().strip(" .\n")]
        if episode.error is not None or not episode.task.components or not spans:
            scores.append(None)
            continue
        offsets = np.cumsum([0] + [len(pieces[int(t)]) for t in row_ids])[:-1] - (start + len("<answer>"))
        for k, (a, b) in enumerate(spans):
            token_sentence[row, np.flatnonzero((offsets >= a) & (offsets < b))] = k
        scores.append(plan_sentence_scores(answer, spans, episode.task, score))
    return token_sentence, scores


def _traced_output(episode: Any, role: str) -> Any:
    """The output whose think holds the reasoning trace of the trained ``role``: a thinker's plan, else the
    decomposition (None when the agent produced none). With reflection the trained completion is the first
    round's, so a thinker's plan is that round's (archived in ``history``), not the re-plan."""
    if role != "thinker":
        return episode.state.decomposition
    history = episode.state.history
    return history[0].plan if history else episode.state.plan


def trace_notes(rollouts: GroupRollouts, think_id: int, end_think_id: int, separator_id: int, role: str = "decomposer"
                ) -> tuple[np.ndarray, list[list[float] | None]]:
    """Which reasoning-trace note each completion token belongs to ([N, T], -1 outside notes) and each note's score
    (:func:`rewards.trace.trace_scores` against the task's own trace).

    A note runs from a separator token inside the think (``;``) to the token before the next separator or
    ``</think>``; the edit count before the first separator is not a note. A completion's notes get scores only when
    its task has ground-truth components, its think closes, and the separators in its tokens match those
    in its parsed think (otherwise the notes cannot be told apart: None). ``role``: the trained agent's role (a
    reasoning thinker writes the same think as a decomposer).
    """
    from rewards.trace import THINK_SEPARATOR, trace_scores

    ids = rollouts.samples.completion_ids
    mask = rollouts.samples.completion_mask.astype(bool)
    token_note = np.full(ids.shape, -1, dtype=np.int64)
    scores: list[list[float] | None] = []
    for row, episode in enumerate(rollouts.episodes):
        output = _traced_output(episode, role)
        opens = np.flatnonzero((ids[row] == think_id) & mask[row])
        closes = np.flatnonzero((ids[row] == end_think_id) & mask[row])
        if (episode.error is not None or output is None or not episode.task.components
                or len(opens) == 0 or len(closes) == 0 or closes[0] < opens[0]):
            scores.append(None)
            continue
        start, end = int(opens[0]), int(closes[0])
        separators = [int(k) for k in np.flatnonzero(ids[row, start:end] == separator_id) + start]
        if len(separators) != output.think.count(THINK_SEPARATOR):
            scores.append(None)
            continue
        for note, (a, b) in enumerate(zip(separators, separators[1:] + [end])):
            token_note[row, a:b] = note
        scores.append(trace_scores(output.think, episode.task.reasoning))
    return token_note, scores


def scan_entry_tokens(rollouts: GroupRollouts, token_note: np.ndarray, start_id: int, end_id: int, separator_id: int,
                      role: str = "decomposer") -> tuple[np.ndarray, list[list[float] | None]]:
    """Which scan entry each completion token belongs to ([N, T], numbered across the completion's notes, -1
    elsewhere) and each entry's score (:func:`rewards.trace.scan_scores`, flattened in the same order).

    ``token_note`` is :func:`trace_notes`'s. In a note, the entries are the tokens between its first ``start_id``
    (":") and the first ``end_id`` (" =") after it, split at ``separator_id`` (","; the separators themselves belong
    to no entry). A note whose entry tokens do not match its parsed entries, or that the truth has no scan for,
    gets no entry scores; a completion with none gets None.
    """
    from rewards.trace import scan_entries, scan_scores, split_think

    ids = rollouts.samples.completion_ids
    token_entry = np.full(ids.shape, -1, dtype=np.int64)
    scores: list[list[float] | None] = []
    for row, episode in enumerate(rollouts.episodes):
        output = _traced_output(episode, role)
        if not (token_note[row] >= 0).any() or output is None or not episode.task.reasoning_scans:
            scores.append(None)
            continue
        parts = split_think(output.think)[1:]
        per_note = scan_scores(output.think, episode.task.reasoning, episode.task.reasoning_scans,
                               episode.task.reasoning_running_scans, episode.task.reasoning_order_scans,
                               episode.task.reasoning_compare_scans)
        flat: list[float] = []
        for note, (part, note_scores) in enumerate(zip(parts, per_note)):
            parsed = scan_entries(part)
            if note_scores is None or parsed is None:
                continue
            span = np.flatnonzero(token_note[row] == note)
            starts = span[ids[row, span] == start_id]
            if len(starts) == 0:
                continue
            ends = span[(ids[row, span] == end_id) & (span > starts[0])]
            if len(ends) == 0:
                continue
            a, b = int(starts[0]) + 1, int(ends[0])
            cuts = [a - 1, *[int(k) for k in np.flatnonzero(ids[row, a:b] == separator_id) + a], b]
            if len(cuts) - 1 != len(parsed[1]):
                continue
            for k, (lo, hi) in enumerate(zip(cuts, cuts[1:])):
                token_entry[row, lo + 1:hi] = len(flat) + k
            flat.extend(note_scores)
        scores.append(flat or None)
    return token_entry, scores


def accounting(node: str, rollouts: GroupRollouts, n_tasks: int, group_size: int) -> dict[str, float]:
    """Where every one of the iteration's ``n_tasks * group_size`` episodes went, and two invariants.

    ``lost_episodes`` (episodes neither finished, failed, nor dropped with their task: must be 0) and
    ``malformed_groups`` (groups without exactly ``group_size`` rows, as a shard sampled twice would make: must be
    0) are computed every iteration, so a fault that broke either promise shows up in a real run's metrics.
    """
    sizes = Counter(rollouts.group_ids)
    accounted = len(rollouts.episodes) + (rollouts.failed_tasks + rollouts.dropped_tasks) * group_size
    versions = rollouts.samples.versions or [np.nan]
    return {
        f"{node}/dropped_tasks": float(rollouts.dropped_tasks),
        f"{node}/lost_episodes": float(n_tasks * group_size - accounted),
        f"{node}/malformed_groups": float(sum(size != group_size for size in sizes.values())),
        f"{node}/sampled_weights_version": float(min(versions)),  # the oldest weights any shard sampled with
    }


def trainable_rows(ok: np.ndarray, group_ids: list[str], zero: set[str], failed_episodes: str) -> np.ndarray:
    """[N] bool: the rows that go into the loss.

    Failed rows never do (they have no reward); zero-variance groups ``zero`` are left out; with
    ``failed_episodes="drop_group"`` so is every group that lost an episode.

    >>> trainable_rows(np.array([True, True, True, False]), ["a", "a", "b", "b"], set(), "drop_episode").tolist()
    [True, True, True, False]
    >>> trainable_rows(np.array([True, True, True, False]), ["a", "a", "b", "b"], set(), "drop_group").tolist()
    [True, True, False, False]
    >>> trainable_rows(np.array([True, True, True, True]), ["a", "a", "b", "b"], {"a"}, "drop_episode").tolist()
    [False, False, True, True]
    """
    if failed_episodes not in get_args(FailedEpisodes):
        raise ValueError(f"failed_episodes={failed_episodes!r}: use one of {', '.join(get_args(FailedEpisodes))}")
    lost = {g for g, good in zip(group_ids, ok) if not good} if failed_episodes == "drop_group" else set()
    return ok & np.array([g not in zero and g not in lost for g in group_ids], dtype=bool)


def module_batch(samples: SampledGroups, advantages: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The learner's columns for ``rows`` of ``samples``, with all-padding columns trimmed (prompts left, completions
    right); each column is named as its :class:`~.samples.SampledGroups` field, plus ``advantages``."""
    s = samples
    prompt_mask = s.prompt_mask[rows]
    completion_mask = s.completion_mask[rows]
    first = int(np.argmax(prompt_mask.any(axis=0)))
    last = int(completion_mask.any(axis=0).nonzero()[0].max()) + 1 if completion_mask.any() else 1
    return {
        **select_columns(s.image_inputs, rows, first),  # a VLM policy's image inputs (.multimodal); none for an LM
        "prompt_ids": s.prompt_ids[rows, first:].astype(np.int64),
        "prompt_mask": prompt_mask[:, first:].astype(np.int64),
        "completion_ids": s.completion_ids[rows, :last].astype(np.int64),
        "completion_mask": completion_mask[:, :last].astype(np.int64),
        "old_logp": s.old_logp[rows, :last].astype(np.float32),
        "advantages": (advantages[rows] if advantages.ndim == 1 else advantages[rows, :last]).astype(np.float32),
    }


@dataclass
class SampledIteration:
    """One iteration's sampling: its task indices, every trained agent's rollouts, the wall time it took, and (when
    it ran in the sampling thread) the pools' fault counts taken as it ended."""

    tasks: list[int]
    rollouts: dict[str, GroupRollouts]
    wall_s: float = 0.0
    faults: dict[str, float] | None = field(default=None)

    def staleness(self, learner_version: int) -> float:
        """Updates between the oldest weights any shard sampled with and ``learner_version`` (the weights the
        learner is about to update), 0.0 when nothing was sampled.

        >>> from dataclasses import replace
        >>> from orchestration.grpo.samples import SampledGroups
        >>> def sampled_with(*versions):
        ...     samples = replace(SampledGroups.empty(), versions=versions)
        ...     return GroupRollouts("decomposer", [], [], [], np.zeros(0), np.zeros((0, 0)), samples)
        >>> SampledIteration([0, 1], {"decomposer": sampled_with(2, 3)}).staleness(3)
        1.0
        >>> SampledIteration([], {"decomposer": sampled_with()}).staleness(3)
        0.0
        """
        versions = [v for r in self.rollouts.values() for v in r.samples.versions]
        return float(learner_version - min(versions)) if versions else 0.0


class TaskPool:
    """Train tasks by index: a loaded list, or Canvas tasks generated on first use (generation is deterministic per
    index, so a run of 40 iterations generates the few hundred tasks it draws, not the whole pool)."""

    def __init__(self, tasks: list[Any] | None, n: int = 0, seed: int = 0, size: int = 128,
                 step_mix: dict[int, float] | None = None, category_mix: dict[str, float] | None = None,
                 rewordings: float = 0.0) -> None:
        self._tasks = tasks
        self._n = len(tasks) if tasks is not None else n
        self._seed, self._size, self._step_mix, self._category_mix = seed, size, step_mix, category_mix
        self._rewordings = rewordings
        self._cache: dict[int, Any] = {}
        if self._n < 1:
            raise ValueError("no train tasks: set train_tasks >= 1 or point train_data at a non-empty file")

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> Any:
        if self._tasks is not None:
            return self._tasks[index]
        if index not in self._cache:
            from envs.canvas.generator import generate_stream_task
            from envs.canvas.rewording import reworded_task

            task = generate_stream_task(index, self._seed, "train", self._step_mix, self._category_mix, self._size)
            self._cache[index] = reworded_task(task, self._rewordings) or task
        return self._cache[index]


class GRPO(Algorithm):
    """Group Relative Policy Optimization for the LM agents of an editing pipeline (see the module docstring)."""

    config: GRPOConfig

    @classmethod
    def get_default_config(cls) -> GRPOConfig:
        return GRPOConfig()

    # -- setup -----------------------------------------------------------------------------------------------------

    def setup(self, config: GRPOConfig) -> None:
        super().setup(config)  # the learner group (one CausalLMModule per trained agent) and the local EnvRunner
        cfg = self.config
        self.pipeline = cfg.pipeline()
        self.graph = build_graph(self.pipeline)
        self.trainable = cfg.resolved_trainable()
        seed = int(cfg.seed or 0)
        self.tasks = self._load_tasks()
        self.task_rng = np.random.default_rng(seed)
        self.pool = list(range(len(self.tasks)))
        self.task_stats: dict[int, list[float]] = {}  # task index -> [solved, tries, groups]
        self.weights_version = 0
        self._actors_synced = False
        # max_staleness 1: the next iteration's sampling in flight, the thread it runs in, and whether the learner
        # has updated since the actors' weights were taken.
        self._ahead: Future | None = None
        self._sampler: ThreadPoolExecutor | None = None
        self._learner_ahead = False
        self.last_rollouts: list[dict[str, Any]] = []
        self.last_metrics: dict[str, float] = {}

        self.policy_actors: dict[str, list[Any]] = {}
        self.pools: dict[str, PolicyPool] = {}  # the same actors, called through retries and weight re-syncs
        # train.placement: the policy actors' placement group, reserved after the learners (colocate needs their
        # nodes) and before any actor starts; removed in cleanup.
        self.placement_group = None
        scheduling: dict[str, list[Any]] = {}
        if cfg.placement is not None:
            trained = actor_resources(self.pipeline.agents, [n for n in self.graph.order if n in self.trainable])
            try:
                self.placement_group, scheduling = place_policy_actors(
                    PlacementSettings.model_validate(cfg.placement), trained, learner_nodes(self.learner_group))
            except PlacementError:
                self.learner_group.shutdown()  # RLlib does not clean up after a failed setup: free the learners now
                raise
        handles: dict[str, Any] = {}
        for k, node in enumerate(self.graph.order):
            agent = self.pipeline.agents[node]
            kwargs = agent_kwargs(agent, self.pipeline)
            if node in self.trainable:
                actors = start_policy_actors(self.graph.classes[node], kwargs, agent.replicas, num_cpus=agent.num_cpus,
                                             num_gpus=agent.num_gpus, seed=seed * 1000 + 100 * k, threads=cfg.sampler_threads,
                                             max_restarts=agent.max_restarts, scheduling=scheduling.get(node))
                self.policy_actors[node] = actors
                self.pools[node] = PolicyPool(actors, timeout_s=cfg.sample_timeout_s)
                handles[node] = ActorNode(self.pools[node])
            else:  # fixed nodes run in this process: no serialisation of images on a small machine
                handles[node] = LocalNode(self.graph.classes[node](**kwargs), timeout_s=agent.timeout_s)
        self.runner = EpisodeRunner(self.graph, handles)
        # Per-component credit finds a decomposer's lines by the id of its one-token <action> tag.
        self.action_ids: dict[str, int] = {}
        # ... and a thinker's plan sentences by the text of its tokens.
        self.plan_pieces: dict[str, list[str]] = {}
        # Per-note credit finds a decomposer's (or reasoning thinker's) notes by its <think>, </think> and separator ids.
        self.trace_ids: dict[str, tuple[int, int, int]] = {}
        # Scan credit finds a scan note's entries by its ":", " =" and "," token ids.
        self.scan_ids: dict[str, tuple[int, int, int]] = {}
        if cfg.component_credit > 0 or cfg.trace_credit > 0 or cfg.scan_credit > 0:
            from transformers import AutoTokenizer

            from rewards.trace import SCAN_END, SCAN_SEPARATOR, SCAN_START, THINK_SEPARATOR

            for node in self.trainable:
                agent = self.pipeline.agents[node]
                # A thinker with a reasoning trace writes the decomposer's think, so its notes and scan entries get
                # the same credit; only a decomposer has component lines.
                role = agent.role or node
                if role in ("decomposer", "thinker") and agent.backend == "transformers":
                    tokenizer = AutoTokenizer.from_pretrained(str(agent.model))
                    tag = tokenizer.convert_tokens_to_ids("<action>")
                    if role == "decomposer" and cfg.component_credit > 0 and isinstance(tag, int) and tag >= 0:
                        self.action_ids[node] = tag
                    if role == "thinker" and cfg.component_credit > 0:
                        # A thinker's "component lines" are its plan's sentences, found by the text of each token.
                        self.plan_pieces[node] = [tokenizer.decode([i], clean_up_tokenization_spaces=False)
                                                  for i in range(len(tokenizer))]
                    trace = [tokenizer.convert_tokens_to_ids("<think>"), tokenizer.convert_tokens_to_ids("</think>")]
                    separator = tokenizer(THINK_SEPARATOR, add_special_tokens=False)["input_ids"]
                    if (cfg.trace_credit > 0 or cfg.scan_credit > 0) and len(separator) == 1 and all(isinstance(t, int) and t >= 0 for t in trace):
                        self.trace_ids[node] = (trace[0], trace[1], separator[0])
                    scan = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in (SCAN_START, SCAN_END, SCAN_SEPARATOR)]
                    if cfg.scan_credit > 0:
                        if node in self.trace_ids and all(len(t) == 1 for t in scan):
                            self.scan_ids[node] = (scan[0][0], scan[1][0], scan[2][0])
                        else:  # like per-note credit: a policy whose tokens cannot be split trains without it, said once
                            logger.warning("train.scan_credit is off for %r: its tokenizer (%s) does not write %r, %r, %r "
                                           "and %r as one token each", node, agent.model, THINK_SEPARATOR, SCAN_START,
                                           SCAN_END, SCAN_SEPARATOR)

    def _load_tasks(self) -> "TaskPool":
        cfg = self.config
        if cfg.train_data:
            from envs.dataset import read_tasks

            return TaskPool(list(read_tasks(cfg.train_data)))
        return TaskPool(None, n=cfg.train_tasks, seed=cfg.data_seed, size=self.pipeline.image_size, step_mix=cfg.step_mix,
                        category_mix=cfg.category_mix, rewordings=cfg.rewordings)

    # -- one iteration ---------------------------------------------------------------------------------------------

    def training_step(self) -> None:
        cfg = self.config
        metrics: dict[str, float] = {}
        timings = {"generate_s": 0.0, "reward_s": 0.0, "update_s": 0.0, "sync_s": 0.0, "start_sync_s": 0.0}
        start = time.perf_counter()
        if not self._actors_synced:  # first step after setup or restore: the actors still hold the starting weights
            # Kept apart from sync_s: this one also waits for the policy actors to start (seconds, not milliseconds).
            timings["start_sync_s"] = self._sync_weights()

        if cfg.max_staleness > 0:
            sampled = self._sampled_ahead(timings)
        else:
            tasks = self._draw_tasks()
            sampled = self._sample(tasks, [self.tasks[i] for i in tasks], tag=f"{self.iteration}/")
        tasks = sampled.tasks
        batches: dict[str, dict[str, np.ndarray]] = {}
        tokens = 0
        self.last_rollouts = []
        self.last_batch_rows: dict[str, list[tuple[str, int]]] = {}  # (group id, sample index) of every trained row
        metrics["staleness"] = sampled.staleness(self.weights_version)
        for node, rollouts in sampled.rollouts.items():
            spec = self.trainable[node]
            timings["generate_s"] += rollouts.timings["generate_s"]
            timings["reward_s"] += rollouts.timings["upstream_s"] + rollouts.timings["finish_s"] + rollouts.timings["reward_s"]
            tokens += int(rollouts.samples.tokens)

            metrics.update(accounting(node, rollouts, len(tasks), cfg.group_size))
            if not rollouts.episodes:  # every shard's actor failed twice: nothing to learn from this agent now
                metrics[f"{node}/groups"] = 0.0
                continue
            greedy = (np.arange(len(rollouts.episodes)) % cfg.group_size == 0) if cfg.greedy_member else None
            if greedy is not None:
                metrics.update(greedy_metrics(node, rollouts, greedy))
            adv, zero = compute_advantages(rollouts, spec["advantage"], cfg.scale_rewards, cfg.adv_eps,
                                           greedy if cfg.baseline == "greedy" else None)
            seq_adv = adv
            if cfg.component_credit > 0 and node in self.action_ids:
                token_line, scores = component_lines(rollouts, self.action_ids[node], cfg.component_score)
                adv = component_token_advantages(adv, token_line, scores, rollouts.group_ids, cfg.component_credit, cfg.adv_eps)
                metrics[f"{node}/component_aligned"] = float(np.mean([x is not None for x in scores]))
            elif cfg.component_credit > 0 and node in self.plan_pieces:
                token_line, scores = plan_sentences(rollouts, self.plan_pieces[node], cfg.component_score)
                adv = component_token_advantages(adv, token_line, scores, rollouts.group_ids, cfg.component_credit, cfg.adv_eps)
                metrics[f"{node}/component_aligned"] = float(np.mean([x is not None for x in scores]))
            if (cfg.trace_credit > 0 or cfg.scan_credit > 0) and node in self.trace_ids:
                role = self.pipeline.agents[node].role or node
                token_note, note_scores = trace_notes(rollouts, *self.trace_ids[node], role=role)
                note_adv = component_token_advantages(np.zeros(len(seq_adv)), token_note, note_scores, rollouts.group_ids,
                                                      cfg.trace_credit, cfg.adv_eps)
                adv = (adv if adv.ndim == 2 else adv[:, None]) + note_adv
                if cfg.scan_credit > 0 and node in self.scan_ids:
                    token_entry, entry_scores = scan_entry_tokens(rollouts, token_note, *self.scan_ids[node], role=role)
                    adv = adv + component_token_advantages(np.zeros(len(seq_adv)), token_entry, entry_scores,
                                                           rollouts.group_ids, cfg.scan_credit, cfg.adv_eps)
                    scored_entries = [x for row in entry_scores if row for x in row]
                    metrics[f"{node}/scan_aligned"] = float(np.mean([x is not None for x in entry_scores]))
                    if scored_entries:
                        metrics[f"{node}/scan_entry_score"] = float(np.mean(scored_entries))
                metrics[f"{node}/trace_aligned"] = float(np.mean([x is not None for x in note_scores]))
                scored = [x for row in note_scores if row for x in row]
                if scored:
                    metrics[f"{node}/trace_note_score"] = float(np.mean(scored))
            dropped = zero if cfg.drop_zero_variance_groups else set()
            if adv.ndim == 2 and dropped:
                # A group whose rewards are all equal still teaches where its token-level credit differs (a note
                # or scan entry right in one completion and wrong in another): only groups without any is dropped.
                dropped = dropped - {g for g, row in zip(rollouts.group_ids, adv) if np.any(row != 0)}
            keep = trainable_rows(rollouts.ok, rollouts.group_ids, dropped, cfg.failed_episodes)
            self.last_batch_rows[node] = [(rollouts.group_ids[r], int(r % cfg.group_size)) for r in np.flatnonzero(keep)]
            if keep.any():
                batches[node] = module_batch(rollouts.samples, adv, np.flatnonzero(keep))
            metrics.update(self._rollout_metrics(node, rollouts, seq_adv, zero, keep))
            self._update_difficulty(tasks, rollouts)
            self.last_rollouts.extend(self._rollout_samples(node, rollouts, seq_adv))

        if batches:
            t0 = time.perf_counter()
            metrics.update(self._update(batches))
            timings["update_s"] += time.perf_counter() - t0
            if cfg.max_staleness > 0:  # the actors are sampling: they get these weights once that sampling ends
                self._learner_ahead = True
            else:
                timings["sync_s"] += self._sync_weights()
        timings["step_s"] = time.perf_counter() - start
        self._log_iteration(metrics, timings, tokens, sampled.faults)

    def _log_iteration(self, metrics: dict[str, float], timings: dict[str, float], tokens: int,
                       pool_counts: dict[str, float] | None = None) -> None:
        """Add the iteration's timings, faults, throughput and weight sync to ``metrics``, keep them as
        ``last_metrics`` and log them under :data:`GRPO_RESULTS`."""
        metrics.update(timings)
        metrics.update(self._fault_metrics(metrics, pool_counts))
        metrics["tokens_per_s"] = tokens / timings["generate_s"] if timings["generate_s"] > 0 else 0.0
        metrics["generated_tokens"] = float(tokens)
        metrics["pool_size"] = float(len(self.pool))
        metrics["weights_version"] = float(self.weights_version)
        metrics["sync_bytes"] = float(getattr(self, "last_sync_bytes", 0))
        self.last_metrics = metrics
        for key, value in metrics.items():
            self.metrics.log_value((GRPO_RESULTS, key), float(value), window=1)

    # -- sampling, in turn or one iteration ahead ------------------------------------------------------------------

    def _sample(self, tasks: list[int], chosen: list[Any], tag: str) -> "SampledIteration":
        """Every trained agent's groups on ``chosen`` (the tasks of indices ``tasks``), finished and scored."""
        cfg = self.config
        t0 = time.perf_counter()
        rollouts = {}
        for node, spec in self.trainable.items():
            sampler = partial(sample_groups, self.pools[node], temperature=cfg.temperature, top_p=cfg.top_p,
                              max_new_tokens=cfg.max_new_tokens, greedy_per_prompt=int(cfg.greedy_member))
            rollouts[node] = collect_groups(self.runner, node, chosen, sampler, cfg.group_size, spec["rewards"], tag=tag)
        return SampledIteration(tasks, rollouts, wall_s=time.perf_counter() - t0)

    def _sample_counted(self, tasks: list[int], chosen: list[Any], tag: str) -> "SampledIteration":
        """:meth:`_sample` in the sampling thread, with the pools' fault counts taken when it ends: nothing else calls
        the pools while it runs, so every count belongs to these rollouts (and none is reset under it)."""
        sampled = self._sample(tasks, chosen, tag)
        sampled.faults = self._take_pool_counts()
        return sampled

    def _launch(self, iteration: int) -> Future:
        """Draw the tasks of (0-based) ``iteration`` here, in the driver's thread, and sample them in the sampling
        thread. Task draws and minibatch shuffles stay in this thread, so a seed still fixes their order."""
        if self._sampler is None:
            self._sampler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grpo-sampling")
        tasks = self._draw_tasks()
        chosen = [self.tasks[i] for i in tasks]  # generated in this thread: the sampling thread never fills TaskPool's cache
        return self._sampler.submit(self._sample_counted, tasks, chosen, f"{iteration}/")

    def _sampled_ahead(self, timings: dict[str, float]) -> "SampledIteration":
        """With ``max_staleness: 1``: this iteration's rollouts, sampled while the previous update ran.

        Once they are in, the learner's newest weights go to the actors and the next iteration's sampling starts,
        before this iteration's update: sampling stops only for the copy. ``wait_s`` is the sampling the update did
        not hide, ``overlap_s`` the part it did.
        """
        if self._ahead is None:  # first step, or just restored: nothing was sampled ahead
            self._ahead = self._launch(self.iteration)
        t0 = time.perf_counter()
        sampled = self._ahead.result()  # an error in the sampling thread (no actor left, ...) is raised here
        self._ahead = None
        timings["wait_s"] = time.perf_counter() - t0
        timings["overlap_s"] = max(0.0, sampled.wall_s - timings["wait_s"])
        if self._learner_ahead:
            timings["sync_s"] += self._sync_weights()
        self._ahead = self._launch(self.iteration + 1)
        return sampled

    def _drop_ahead(self) -> None:
        """Wait for the sampling in flight, if any, and discard it: those rollouts are never trained on."""
        ahead, self._ahead = getattr(self, "_ahead", None), None
        if ahead is None:
            return
        try:
            ahead.result()
        except Exception as err:  # it is discarded either way; its error must not hide why we are stopping
            logger.warning("the sampling in flight failed while it was discarded: %s", err)

    def _draw_tasks(self) -> list[int]:
        if len(self.pool) == 0:  # the curriculum removed everything: start over rather than stop
            self.pool = list(range(len(self.tasks)))
        n = min(self._per_iteration(), len(self.pool))
        return [int(i) for i in self.task_rng.choice(self.pool, size=n, replace=False)]

    def _per_iteration(self) -> int:
        """How many of ``self.tasks`` an iteration draws."""
        return self.config.tasks_per_iteration

    def _update(self, batches: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
        """``num_epochs`` passes over the batch, in minibatches of ``minibatch_size`` rows per module, after the
        rollout correction when ``tis_cap`` is set; returns the correction's metrics (none without it)."""
        cfg = self.config
        metrics: dict[str, float] = {}
        if cfg.tis_cap is not None:
            batches, metrics = self._correct_rollouts(batches)
        for _ in range(cfg.num_epochs):
            chunks: dict[str, list[np.ndarray]] = {}
            for node, cols in batches.items():
                n = len(cols["advantages"])
                size = cfg.minibatch_size or n
                order = self.task_rng.permutation(n) if size < n else np.arange(n)
                chunks[node] = [order[i:i + size] for i in range(0, n, size)]
            for step in range(max(len(c) for c in chunks.values())):
                policy_batches = {node: SampleBatch({k: v[chunks[node][step]] for k, v in batches[node].items()})
                                  for node in batches if step < len(chunks[node])}
                if cfg.num_learners > 1:  # each learner weighs its shard by the minibatch's total (.accumulate)
                    policy_batches = {node: SampleBatch(with_loss_total(dict(b), cfg.loss_agg))
                                      for node, b in policy_batches.items()
                                      if shards_all_filled(len(b), cfg.num_learners)}
                    if not policy_batches:  # too few rows to give every learner one: DDP would wait forever
                        continue
                rows = sum(len(b) for b in policy_batches.values())
                results = self.learner_group.update(
                    batch=MultiAgentBatch(policy_batches, env_steps=rows),
                    timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: self.iteration},
                )
                self.metrics.aggregate(results, key=LEARNER_RESULTS)
        return metrics

    def _correct_rollouts(self, batches: dict[str, dict[str, np.ndarray]]
                          ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, float]]:
        """Truncated importance sampling (``tis_cap``): the learner's own log-probs of the sampled tokens become the
        old log-probs of the clipped ratio, and each token's advantage is weighted by min(pi_learner / pi_sampler,
        cap) (:func:`.core.truncated_importance_weights`)."""
        from orchestration.grpo.actors import learner_logprobs
        from orchestration.grpo.core import truncated_importance_weights

        columns = {node: {k: v for k, v in cols.items() if k != "advantages"} for node, cols in batches.items()}
        logps = learner_logprobs(self.learner_group, columns, (self.config.learner or {}).get("micro_batch_size"))
        corrected, metrics = {}, {}
        for node, cols in batches.items():
            weights, stats = truncated_importance_weights(logps[node], cols["old_logp"], cols["completion_mask"],
                                                          self.config.tis_cap)
            adv = cols["advantages"]
            adv = (adv[:, None] if adv.ndim == 1 else adv) * weights
            corrected[node] = {**cols, "old_logp": logps[node].astype(np.float32), "advantages": adv.astype(np.float32)}
            metrics.update({f"{node}/tis_{name}": value for name, value in stats.items()})
        return corrected, metrics

    def _fault_metrics(self, metrics: dict[str, float], pool_counts: dict[str, float] | None = None) -> dict[str, float]:
        """``faults/*``: the pools' counts for this iteration (actor errors, restarts, retried and dropped tasks;
        ``pool_counts`` when they were taken as its sampling ended), plus the episodes that timed out, those dropped
        with their tasks (``group_size`` each), and those that went missing without being counted
        (``lost_episodes``: 0 unless a promise is broken)."""
        totals = dict(pool_counts) if pool_counts is not None else self._take_pool_counts()
        nodes = list(self.trainable)
        totals["faults/timeout_episodes"] = sum(metrics.get(f"{n}/timeout_episodes", 0.0) for n in nodes)
        totals["faults/dropped_episodes"] = sum(metrics.get(f"{n}/dropped_tasks", 0.0) for n in nodes) * self.config.group_size
        totals["faults/lost_episodes"] = sum(metrics.get(f"{n}/lost_episodes", 0.0) for n in nodes)  # must be 0
        return totals

    def _take_pool_counts(self) -> dict[str, float]:
        """The pools' fault counts since the last take, summed over the trained agents, and reset."""
        totals = FaultCounters().take()
        for pool in self.pools.values():
            for key, value in pool.counters.take().items():
                totals[key] += value
        return totals

    def _sync_weights(self) -> float:
        """Learner -> policy actors: the trained modules' parameters (only the adapter with LoRA), one ``ray.put``
        each. Returns seconds taken; the bytes sent are kept for the ``sync_bytes`` metric."""
        t0 = time.perf_counter()
        self.weights_version += 1
        # An actor that samples with vLLM takes full weights: with LoRA it gets base + adapter merged on the learner.
        merged = [node for node in self.pools if samples_with_vllm(self.pipeline.agents[node])
                  and self.trainable[node].get("lora") is not None]
        payloads = learner_payloads(self.learner_group, list(self.pools), merged)
        self.last_sync_bytes = 0
        for node, pool in self.pools.items():
            self.last_sync_bytes += payload_nbytes(payloads[node])
            # The pool keeps the reference: an actor that Ray restarts later gets these weights before it samples.
            pool.sync(ray.put(payloads[node]), self.weights_version)
        self._actors_synced = True
        self._learner_ahead = False
        return time.perf_counter() - t0

    # -- metrics and curriculum ------------------------------------------------------------------------------------

    def _rollout_metrics(self, node: str, rollouts: GroupRollouts, adv: np.ndarray, zero: set[str], keep: np.ndarray) -> dict[str, float]:
        ok = rollouts.ok
        groups = set(rollouts.group_ids)
        out = {
            f"{node}/reward": float(np.mean(rollouts.rewards[ok])) if ok.any() else float("nan"),
            f"{node}/reward_std": float(np.std(rollouts.rewards[ok])) if ok.any() else float("nan"),
            f"{node}/groups": float(len(groups)),
            f"{node}/zero_variance_share": len(zero) / max(1, len(groups)),
            f"{node}/failed_episodes": float((~ok).sum()),
            f"{node}/timeout_episodes": float(sum(e.timed_out for e in rollouts.episodes)),
            f"{node}/trained_completions": float(keep.sum()),
            f"{node}/adv_abs_mean": float(np.abs(adv[keep]).mean()) if keep.any() else 0.0,
            f"{node}/solved": float(rollouts.solved.mean()),
        }
        for j, name in enumerate(rollouts.reward_names):
            out[f"{node}/reward/{name}"] = float(np.mean(rollouts.reward_matrix[ok, j])) if ok.any() else float("nan")
        if self.trainable[node]["advantage"] == "ucpg" and ok.any():
            # How often the reward terms disagree on a pair of completions, so that UCPG keeps a smaller subset.
            from rewards import ucpg_subset_sizes

            sizes = ucpg_subset_sizes(rollouts.reward_matrix[ok], [g for g, good in zip(rollouts.group_ids, ok) if good])
            out[f"{node}/ucpg_subset_smaller_share"] = float(np.mean([kept < size for kept, size in sizes]))
            out[f"{node}/ucpg_kept_share"] = float(sum(kept for kept, _ in sizes) / sum(size for _, size in sizes))
        mask = rollouts.samples.completion_mask
        out[f"{node}/completion_tokens"] = float(mask.sum(axis=1).mean())
        out[f"{node}/truncated_share"] = float(1.0 - np.mean(rollouts.samples.finished))
        judged = [judge_episode(e.task, e.state) for e in rollouts.episodes if e.error is None]
        for key in ("f1_overall", "checklist_pass", "full_success"):
            values = [float(j[key]) for j in judged if j[key] is not None]
            out[f"{node}/{key}"] = float(np.mean(values)) if values else float("nan")
        return out

    def _rollout_samples(self, node: str, rollouts: GroupRollouts, adv: np.ndarray) -> list[dict[str, Any]]:
        n = min(self.config.rollout_samples, len(rollouts.episodes))
        rows = []
        for row in range(n):
            task_pos = row // self.config.group_size
            rows.append({
                "iteration": int(self.iteration) + 1,
                "agent": node,
                "task_id": rollouts.episodes[row].task.task_id,
                "group": rollouts.group_ids[row],
                "sample": int(row % self.config.group_size),
                "prompt": rollouts.samples.prompts[task_pos],
                "completion": rollouts.samples.texts[row],
                "reward": float(rollouts.rewards[row]),
                "rewards": {name: float(rollouts.reward_matrix[row, j]) for j, name in enumerate(rollouts.reward_names)},
                "advantage": float(adv[row]),
                "error": rollouts.episodes[row].error,
            })
        return rows

    def _update_difficulty(self, tasks: list[int], rollouts: GroupRollouts) -> None:
        spec = self.config.difficulty_filter
        if spec is None:
            return
        index_of = {self.tasks[i].task_id: i for i in tasks}
        per_task: dict[int, list[bool]] = {}
        for episode, solved in zip(rollouts.episodes, rollouts.solved):
            if episode.error is None:
                per_task.setdefault(index_of[episode.task.task_id], []).append(bool(solved))
        for index, values in per_task.items():
            stats = self.task_stats.setdefault(index, [0.0, 0.0, 0.0])
            stats[0] += sum(values)
            stats[1] += len(values)
            stats[2] += 1
            rate = stats[0] / stats[1]
            if stats[2] >= spec.get("min_visits", 1) and (rate <= spec.get("low", 0.0) or rate >= spec.get("high", 1.0)):
                if index in self.pool:
                    self.pool.remove(index)

    # -- checkpoint state ------------------------------------------------------------------------------------------

    def get_state(self, components=None, *, not_components=None, **kwargs) -> dict[str, Any]:
        state = super().get_state(components, not_components=not_components, **kwargs)
        state[GRPO_RESULTS] = {
            "task_rng": self.task_rng.bit_generator.state,
            "pool": list(self.pool),
            "task_stats": {k: list(v) for k, v in self.task_stats.items()},
            "weights_version": self.weights_version,
            "sampler_rng": {node: _rng_states(actors) for node, actors in self.policy_actors.items()},
            "python_rng": random.getstate(),
            "numpy_rng": np.random.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        self._drop_ahead()  # sampled with weights and task draws that the restored state replaces
        super().set_state(state)
        extra = state.get(GRPO_RESULTS)
        if extra is None:
            return
        self.task_rng.bit_generator.state = extra["task_rng"]
        self.pool = list(extra["pool"])
        self.task_stats = {int(k): list(v) for k, v in extra["task_stats"].items()}
        self.weights_version = int(extra["weights_version"])
        for node, rng_states in extra["sampler_rng"].items():
            actors = self.policy_actors.get(node, [])
            ray.get([a.set_rng_state.remote(s) for a, s in zip(actors, rng_states) if s is not None])
        random.setstate(extra["python_rng"])
        np.random.set_state(extra["numpy_rng"])
        torch.set_rng_state(extra["torch_rng"])
        self._actors_synced = False  # the restored weights reach the actors at the next step

    def cleanup(self) -> None:
        self._drop_ahead()  # before the actors go: the sampling thread would otherwise wait on dead actors
        if getattr(self, "_sampler", None) is not None:
            self._sampler.shutdown(wait=True)
        for actors in getattr(self, "policy_actors", {}).values():
            for actor in actors:
                ray.kill(actor)
        if getattr(self, "placement_group", None) is not None:  # after its actors (RLlib removes the learners' group)
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.placement_group)
            self.placement_group = None
        super().cleanup()


def _rng_states(actors: list[Any]) -> list[Any]:
    """Each actor's sampler RNG state; None for an actor that is dead (a checkpoint must not fail because of it)."""
    states = []
    for actor in actors:
        try:
            states.append(ray.get(actor.get_rng_state.remote()))
        except ray.exceptions.RayActorError:
            states.append(None)
    return states
