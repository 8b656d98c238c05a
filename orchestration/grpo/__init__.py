"""GRPO for the editing agents on RLlib's new API stack.

One job per module: :mod:`.core` (the math: advantages, clipped surrogate, KL, aggregation, and the registries of
advantage estimators and policy losses), :mod:`.config` (the GRPO settings model, ``GRPOConfig`` and the YAML
``train:`` section), :mod:`.module` (the ``TorchRLModule`` around a transformers LM), :mod:`.learner` (the
``TorchLearner``: only the loss), :mod:`.actors` (policy actors that sample groups and take weight syncs),
:mod:`.pool` (calls to them that survive actor deaths: retry or drop, re-sync), :mod:`.samples` (the typed record of
the sampled groups they return), :mod:`.rollout` (groups, finished episodes, reward terms), :mod:`.algorithm`
(``GRPO`` and its ``training_step``), :mod:`.checkpoint`, :mod:`.metrics`, :mod:`.evaluate`. The entry point is
:mod:`orchestration.train`.
"""
