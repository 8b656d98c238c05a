"""editrl rewards: the pure-math layer. Text, numbers and arrays in, floats out; no Ray, no models, no I/O, no torch.

>>> from rewards import structured_f1, checklist_reward, ucpg_advantages
>>> structured_f1([{"action": "recolor", "subject": "the circle", "target": "blue"}],
...               [{"action": "recolor", "subject": "circles", "target": "Blue"}]).overall
1.0

Modules, one job each: :mod:`~rewards.types` (``Component``), :mod:`~rewards.text` (normalisation),
:mod:`~rewards.parsing` (tagged LM output), :mod:`~rewards.formatting` (format reward), :mod:`~rewards.f1`,
:mod:`~rewards.checklist`, :mod:`~rewards.image` (preservation), :mod:`~rewards.image_edit` (colour share and
verified edit, for training an editor), :mod:`~rewards.advantages` (group math and
combiners), :mod:`~rewards.registry` / :mod:`~rewards.builtin` (rewards by name).

Where the definitions depart from, or fill gaps in, the papers (our sources are summaries, some second-hand):

1. **Format** (ImageEdit-R1, DDA-Thinker, ThinkRL-Edit): no paper specifies the check. Ours: exactly one
   ``<think>`` and one ``<answer>`` block, nothing else outside them; components are
   ``<action>…</action><subject>…</subject><target>…</target>`` with comma-separated set members; binary by
   default, optional partial credit = valid components / (components + malformed chunks). ThinkRL-Edit's planner
   writes JSON (``{"Rewrited": ...}``); here every planner uses the ``plan`` kind of the tagged format instead.
2. **Structured F1** (ImageEdit-R1): the paper says "set-based F1 per field" without saying how components combine.
   Default ``pooled``: each field's members are pooled over components and compared as sets; ``overall`` is the mean
   of the three field F1s (the paper sums format, action, subject and target rewards; weight them with
   :func:`weighted_sum` if needed). A stricter ``matched`` mode pairs components one-to-one (Hungarian) and penalises
   missing or duplicated components. Normalisation (case, articles, whitespace, naive plurals, synonyms) and edge
   cases (both empty = 1, one empty = 0) are ours.
3. **Checklist** (DDA-Thinker, ThinkRL-Edit, Edit-R1): the papers count "yes" answers; we compare with an expected
   answer per item (reducing to theirs when all expect "yes"), add an explicit policy for questions the verifier
   could not answer (default: they fail), and Edit-R1-style groups (keep / follow / quality) with weights,
   renormalised over the groups present.
4. **Preservation**: the papers use judges (0-10) or "keep" principles; in the Canvas world the expected change
   region is known, so we measure ``1 - mean |source - edited|`` outside it; an all-True mask scores 1.0.
5. **GRPO normalisation**: sample std (``ddof=1``) like TRL and verl, ``eps=1e-6`` like verl; groups of one or with
   all-equal rewards get advantage exactly 0 (verl passes a singleton's raw reward through).
6. **Dual-atomic** (DDA-Thinker, second-hand): each atomic reward is normalised in its own group, then advantages
   are combined with weights (default equal, ``1/K``, which keeps the scale of a single reward).
7. **UCPG** (ThinkRL-Edit: "update only from chains that form a consistent total order"): made precise as the
   largest subset in which no pair of chains is ordered oppositely by two reward dimensions (ties never conflict).
   Compatibility is weak dominance, which is transitive, so the subset is a longest chain of a preorder and is
   found exactly in ``O(G^2 K)`` by dynamic programming (not by an exponential clique search). Ties between largest
   subsets: highest total rank, then smallest indices. Advantages are standardised ranks (by the sum of
   per-dimension average ranks) inside the subset and 0 outside it; the paper gives no formula for them.
8. **GCPO** (Edit-R1, second-hand): "reward = fraction of opposite-side candidates it beats"; for the rejected side
   "beats" means scoring lower than a preferred candidate; ties earn 0.5 (configurable).
"""

from __future__ import annotations

from rewards import builtin as _builtin  # noqa: F401  (registers the built-in rewards)
from rewards import image_edit as _image_edit  # noqa: F401  (registers colour_share and verified_edit)
from rewards.advantages import (
    GCPORewards,
    average_ranks,
    dual_atomic_advantages,
    gcpo_rewards,
    group_normalize,
    ucpg_advantages,
    ucpg_subset,
    ucpg_subset_sizes,
    weighted_sum,
)
from rewards.checklist import checklist_reward
from rewards.f1 import F1Result, component_scores, set_f1, structured_f1
from rewards.formatting import format_reward
from rewards.image import preservation_reward
from rewards.parsing import (
    ParsedComponents,
    ParsedOutput,
    format_components,
    format_tagged,
    parse_components,
    parse_tagged,
)
from rewards.registry import RewardContext, available_rewards, get_reward, register_reward
from rewards.text import normalize_phrase
from rewards.types import Component, as_component

__all__ = [
    # types and parsing
    "Component",
    "as_component",
    "ParsedOutput",
    "ParsedComponents",
    "parse_tagged",
    "parse_components",
    "format_components",
    "format_tagged",
    "normalize_phrase",
    # rewards
    "format_reward",
    "structured_f1",
    "component_scores",
    "F1Result",
    "set_f1",
    "checklist_reward",
    "preservation_reward",
    # group math and combiners
    "group_normalize",
    "weighted_sum",
    "dual_atomic_advantages",
    "average_ranks",
    "ucpg_subset",
    "ucpg_subset_sizes",
    "ucpg_advantages",
    "gcpo_rewards",
    "GCPORewards",
    # registry
    "RewardContext",
    "register_reward",
    "get_reward",
    "available_rewards",
]
