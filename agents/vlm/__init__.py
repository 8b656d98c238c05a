"""Chat-model agents (backend ``vlm``): any image-text-to-text model with its processor and chat template, or any
causal LM with a chat template, as the thinker, decomposer, sorter or verifier.

Modules, one job each: :mod:`~agents.vlm.model` (loading), :mod:`~agents.vlm.prompts` (the text of each role's
request), :mod:`~agents.vlm.generation` (sampling with log-probs, teacher forcing), :mod:`~agents.vlm.parsing`
(lenient parsers of free text), :mod:`~agents.vlm.policy` (the agents), :mod:`~agents.vlm.tiny` (tiny models built
from configs, for tests). Heavy imports (torch, transformers) happen in those modules, not here.
"""
