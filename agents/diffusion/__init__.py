"""Diffusion and flow-matching editing pipelines as stochastic policies that a GRPO learner can train.

Modules, one job each: :mod:`~agents.diffusion.logprob` (the Gaussian transition math, pure), :mod:`~.policy` (what
a pipeline must provide), :mod:`~.pix2pix` and :mod:`~.kontext` (the two supported families), :mod:`~.support`
(what is supported; ``policy_for``), :mod:`~.sampling` (a group's trajectory with per-step log-probs; recomputing
one step), :mod:`~.tiny` (a tiny Kontext pipeline for tests). Heavy imports (diffusers) happen inside functions.
"""
