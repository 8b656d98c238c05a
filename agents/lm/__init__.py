"""Language-model policy backend: a tokenizer trained on the Canvas world's text, tiny causal LMs built from a
config (or any pretrained Hugging Face LM loaded by name or path), batched sampling with log-probs, SFT cold start,
and the thinker / decomposer agents that the graph runs.

Modules, one job each: :mod:`~agents.lm.tokenizer`, :mod:`~agents.lm.prompts`, :mod:`~agents.lm.model`,
:mod:`~agents.lm.generation`, :mod:`~agents.lm.policy`, :mod:`~agents.lm.sft`. Heavy imports (torch, transformers)
happen in those modules, not here.
"""
