"""Tiny causal LMs built from a config, and one loader for any Hugging Face causal LM (tiny, local or from the hub).

The default policy is a Llama-architecture decoder of about a million parameters: small enough that SFT and GRPO
run on a 2-core CPU in minutes, big enough to learn the Canvas decomposition and rewriting tasks. Llama because it
is the most widely supported architecture (SDPA attention, KV cache, RoPE, every inference engine), so a checkpoint
trained here loads anywhere a Llama loads.

``load_policy`` is the one code path for every model: the tiny checkpoint written by ``save_policy`` and a user's
pretrained model are both loaded with ``AutoModelForCausalLM`` / ``AutoTokenizer`` from a name or a directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from agents.weights import require_safetensors

__all__ = ["tiny_causal_lm_config", "build_model", "load_policy", "save_policy", "count_parameters"]


def tiny_causal_lm_config(vocab_size: int, **overrides: Any) -> LlamaConfig:
    """A tiny Llama decoder config (~0.9M parameters with the default 1024-token vocabulary).

    Defaults, and why:

    - ``hidden_size=128``, ``num_hidden_layers=3``, ``num_attention_heads=4`` (head dim 32): measured on the Canvas
      decomposer (SFT on 2 CPU cores, test-split F1 per minute of training), depth matters more than width: 3
      layers of 128 learn to copy subjects and targets from the request sooner than 2 layers of 128 or 192, and
      3 layers of 192 are twice as slow per step for no gain per step.
    - ``intermediate_size=4 * hidden``: the usual MLP ratio.
    - ``max_position_embeddings=512``: prompts are ~80 tokens (at most ~130) and completions under ~70.
    - ``tie_word_embeddings=True``: the embedding is a large share of a tiny model; tying halves it and helps
      a small vocabulary train faster.
    - ``attention_dropout=0``: SFT runs for a few hundred steps, far from overfitting; GRPO needs deterministic
      log-probs (train-mode dropout would make the policy ratio noisy).

    Args:
        vocab_size: the tokenizer's full size (``len(tokenizer)``, counting added tokens).
        **overrides: any ``LlamaConfig`` field (e.g. ``hidden_size=256``, ``num_hidden_layers=4``).

    >>> cfg = tiny_causal_lm_config(1024, hidden_size=64)
    >>> cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, cfg.tie_word_embeddings
    (64, 256, 3, True)
    """
    hidden = int(overrides.pop("hidden_size", 128))
    fields: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": 4 * hidden,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "max_position_embeddings": 512,
        "tie_word_embeddings": True,
        "attention_dropout": 0.0,
        "rms_norm_eps": 1e-6,
    }
    fields.update(overrides)
    return LlamaConfig(**fields)


def build_model(tokenizer: PreTrainedTokenizerBase, config: LlamaConfig | None = None, *, seed: int = 0) -> PreTrainedModel:
    """A freshly initialised causal LM whose vocabulary and special-token ids match ``tokenizer``.

    Args:
        tokenizer: the policy's tokenizer (e.g. from :func:`agents.lm.tokenizer.train_tokenizer`).
        config: the architecture; default :func:`tiny_causal_lm_config` for ``len(tokenizer)``. Its vocabulary size
            and pad/bos/eos ids are set from the tokenizer (a mismatch would index past the embedding).
        seed: initialisation seed; the global RNG state is left as it was.
    """
    config = config if config is not None else tiny_causal_lm_config(len(tokenizer))
    config.vocab_size = len(tokenizer)
    config.pad_token_id = tokenizer.pad_token_id
    config.bos_token_id = tokenizer.bos_token_id
    config.eos_token_id = tokenizer.eos_token_id
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    _sync_generation_config(model, tokenizer)
    return model


def _sync_generation_config(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    # `model.generate` reads pad/eos from the generation config; keep them in step with the tokenizer.
    gen = getattr(model, "generation_config", None)
    if gen is not None:
        gen.pad_token_id = tokenizer.pad_token_id
        gen.eos_token_id = tokenizer.eos_token_id
        gen.bos_token_id = tokenizer.bos_token_id


def load_policy(
    path_or_name: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | str = torch.float32,
    **model_kwargs: Any,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load any causal LM and its tokenizer, by hub name or local directory, ready for batched generation.

    Args:
        path_or_name: a directory written by :func:`save_policy` (or any ``save_pretrained``), or a hub name.
        device: where to put the model.
        dtype: parameter dtype; float32 by default because the default device is a CPU and the learner needs
            exact log-probs (pass ``"auto"`` to keep a checkpoint's own dtype, e.g. bf16 on a GPU).
        **model_kwargs: passed to ``AutoModelForCausalLM.from_pretrained`` (e.g. ``attn_implementation``).

    Returns:
        ``(model, tokenizer)``: the model in eval mode; the tokenizer padding on the left (prompts in a batch must
        end at the same position) with a pad token (the eos token when the checkpoint defines none).
    """
    require_safetensors(path_or_name)  # never unpickle a .bin (agents/weights.py)
    tokenizer = AutoTokenizer.from_pretrained(str(path_or_name))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer of {path_or_name} has neither a pad nor an eos token; set tokenizer.pad_token before batching")
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(path_or_name), dtype=dtype, **{**model_kwargs, "use_safetensors": True})
    model.to(device)
    model.eval()
    _sync_generation_config(model, tokenizer)
    return model, tokenizer


def save_policy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: str | Path) -> Path:
    """Write model (safetensors), config and tokenizer to ``path`` in Hugging Face format; returns the path.

    ``load_policy(path)`` and ``AutoModelForCausalLM.from_pretrained(path)`` read it back.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)  # safetensors is the default (and only) format in transformers 5
    tokenizer.save_pretrained(path)
    return path


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
