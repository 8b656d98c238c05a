"""vLLM generation for the LM and VLM agents, with weight sync from the learner (extra ``vllm``; GPU only).

Config::

    agents:
      decomposer:                # the tagged-format LM policy of agents.lm, sampled by vLLM
        backend: vllm
        model: runs/sft/decomposer
        options: {temperature: 1.0, gpu_memory_utilization: 0.3}
      verifier:                  # any VLM agent: backend vlm, engine vllm
        backend: vlm
        model: Qwen/Qwen2.5-VL-7B-Instruct
        options: {engine: vllm, vllm_options: {gpu_memory_utilization: 0.4, max_model_len: 8192}}

On a machine without vLLM or without a CUDA GPU every entry point raises ``RuntimeError`` with :data:`VLLM_MISSING`
before loading anything, so a CPU run fails fast with the fix in the message (and the CPU test suite skips the GPU
path). ``benchmarks/gpu_smoke.py`` exercises all of it on a GPU.

Design choices:

- **One process.** ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (set unless the caller set it) keeps vLLM's model in the
  actor's process (TRL's "colocate" mode), so a weight update is a direct ``model.load_weights(...)`` on it: no
  NCCL group, no serialization. Where the model is not reachable in-process (multiprocessing forced on), the update
  goes through ``LLM.collective_rpc`` with a function (vLLM then needs ``VLLM_ALLOW_INSECURE_SERIALIZATION=1``).
  After an update the prefix cache is reset: cached keys and values were computed by the old weights.
- **Log-probs.** vLLM returns the log-prob of each sampled token (``logprobs=0``). With ``logprobs_mode =
  processed_logprobs`` (vLLM >= 0.10.2, the oldest accepted) they are of the temperature-scaled distribution, the
  convention of :mod:`agents.lm.generation` when ``top_p`` is 1. They
  come from vLLM's kernels, not the learner's, so GRPO trains a vLLM sampler only with ``train.tis_cap``: the
  learner recomputes the old log-probs with its own weights and weights each token by the truncated ratio of the
  two (:func:`orchestration.grpo.core.truncated_importance_weights`). A LoRA-trained policy reaches the engine as
  base + adapter merged on the learner (:func:`orchestration.grpo.lora.merged_state`).
- **Seeds.** Each prompt gets its own ``SamplingParams`` seed (:func:`prompt_seeds`): vLLM seeds a request's
  completions ``seed, seed + 1, ...``, so a shared seed would give every prompt of a batch the same noise.
- The returned :class:`~agents.lm.generation.GenerationOutput` (LM) or
  :class:`~agents.vlm.generation.VLMGenerationOutput` (VLM) has the same fields, padding and masks as the
  transformers path, so the learner does not care which engine sampled.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from agents.lm.generation import GenerationOutput
from agents.lm.policy import LMDecomposer, LMThinker

__all__ = ["VLLM_MISSING", "VLLMEngine", "VLLMThinker", "VLLMDecomposer", "vllm_available"]

VLLM_MISSING = ("vLLM backend needs the 'vllm' extra and a CUDA GPU: pip install 'editrl[vllm]' on a machine with "
                "an NVIDIA GPU, or use backend 'transformers' (or 'vlm' with engine 'transformers') on a CPU")


#: The oldest vLLM whose ``logprobs_mode = processed_logprobs`` gives log-probs of the temperature-scaled distribution
#: (0.10.1 computed them before the temperature; 0.8 had raw log-probs only), which the learner's ratio compares with.
MIN_VLLM = "0.10.2"


def vllm_available() -> tuple[bool, str]:
    """``(True, "")`` when vLLM (>= :data:`MIN_VLLM`) is installed and a CUDA GPU is visible, else ``(False, why)``.
    Imports nothing heavy."""
    problems = []
    if importlib.util.find_spec("vllm") is None:
        problems.append("the vllm package is not installed")
    else:
        from importlib.metadata import PackageNotFoundError, version

        from packaging.version import Version

        try:
            found = version("vllm")
        except PackageNotFoundError:
            found = None
        if found is not None and Version(found) < Version(MIN_VLLM):
            problems.append(f"vLLM {found} is installed; {MIN_VLLM} or newer is needed (pip install 'vllm>={MIN_VLLM}')")
    if not torch.cuda.is_available():
        problems.append("no CUDA GPU is visible")
    return (not problems, "; ".join(problems))


def _load_weights_on_worker(worker: Any, weights: Mapping[str, torch.Tensor]) -> int:
    """Run inside a vLLM worker by ``collective_rpc``: load ``weights`` into its model."""
    loaded = worker.model_runner.model.load_weights(weights=list(weights.items()))
    return len(loaded) if loaded is not None else len(weights)


class VLLMEngine:
    """A vLLM ``LLM`` with batched sampling (token ids + log-probs) and in-place weight updates.

    Args:
        model: local directory or hub name (HF format: what ``save_pretrained`` writes).
        dtype: ``"auto"``, ``"bfloat16"``, ``"float16"``, ``"float32"``.
        seed: engine seed (each request also carries its own seed).
        gpu_memory_utilization: share of the GPU vLLM may take (weights + KV cache); leave room for a learner on the
            same GPU.
        max_model_len: longest prompt + completion (smaller means a smaller KV cache); None takes the model's own
            (``max_position_embeddings``; vLLM refuses a larger one).
        enforce_eager: skip CUDA-graph capture (faster start, slower decoding); True for tests and small models.
        logprobs_mode: ``"processed_logprobs"``: log-probs of the distribution sampled from (after the temperature),
            the convention of :mod:`agents.lm.generation` (see the module docstring).
        **engine_kwargs: any other ``vllm.LLM`` argument (``tensor_parallel_size``, ``limit_mm_per_prompt``, ...).
    """

    def __init__(self, model: str, *, dtype: str = "auto", seed: int = 0, gpu_memory_utilization: float = 0.3,
                 max_model_len: int | None = None, enforce_eager: bool = True,
                 logprobs_mode: str = "processed_logprobs", **engine_kwargs: Any) -> None:
        self.check_available()
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        import vllm

        kwargs: dict[str, Any] = dict(model=str(model), dtype=_vllm_dtype(dtype), seed=int(seed),
                                      gpu_memory_utilization=float(gpu_memory_utilization),
                                      enforce_eager=bool(enforce_eager), logprobs_mode=logprobs_mode,
                                      load_format="safetensors")  # never unpickle a .bin (agents/weights.py)
        if max_model_len is not None:
            kwargs["max_model_len"] = int(max_model_len)
        kwargs.update(engine_kwargs)
        self.model_name = str(model)
        self.llm = vllm.LLM(**kwargs)
        self.logprobs_mode = logprobs_mode
        self.weight_version = 0

    @staticmethod
    def check_available() -> None:
        """Raise ``RuntimeError`` (:data:`VLLM_MISSING` plus the reason) unless vLLM and a CUDA GPU are present."""
        ok, why = vllm_available()
        if not ok:
            raise RuntimeError(f"{VLLM_MISSING} ({why})")

    # -- sampling -----------------------------------------------------------------------------------------------

    def _sampling_params(self, *, prompts: int, n: int, do_sample: bool, temperature: float, top_p: float,
                         max_new_tokens: int, seed: int | None, stop_token_ids: Sequence[int]) -> list[Any]:
        """One ``SamplingParams`` per prompt, each with its own seeds (:func:`prompt_seeds`); greedy decoding asks
        for one completion (vLLM refuses ``n > 1`` without sampling) that :meth:`_completions` repeats."""
        from vllm import SamplingParams

        seeds = prompt_seeds(seed, prompts, n) if do_sample else [None] * prompts
        return [SamplingParams(n=int(n) if do_sample else 1, temperature=float(temperature) if do_sample else 0.0,
                               top_p=float(top_p) if do_sample else 1.0, max_tokens=int(max_new_tokens), seed=s,
                               logprobs=0, stop_token_ids=list(stop_token_ids), skip_special_tokens=True)
                for s in seeds]

    def _completions(self, requests: list[Any], params: Any, tokenizer: Any, eos: Sequence[int], n: int,
                     device: torch.device) -> dict[str, Any]:
        """Padded completion tensors from vLLM's outputs (rows: prompt-major, ``n`` per prompt)."""
        results = self.llm.generate(requests, params, use_tqdm=False)
        rows = [c for r in results for c in (list(r.outputs[:n]) * n if len(r.outputs) == 1 else r.outputs[:n])]
        if len(rows) != len(requests) * n:
            raise RuntimeError(f"vLLM returned {len(rows)} completions for {len(requests)} prompts x {n}")
        pad_id = int(tokenizer.pad_token_id)
        steps = max(1, max(len(c.token_ids) for c in rows))
        ids = torch.full((len(rows), steps), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), steps), dtype=torch.long)
        logps = torch.zeros((len(rows), steps), dtype=torch.float32)
        finished = torch.zeros(len(rows), dtype=torch.bool)
        texts = []
        eos_set = set(int(e) for e in eos)
        for i, c in enumerate(rows):
            tokens = list(c.token_ids)
            ids[i, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            mask[i, : len(tokens)] = 1
            for t, (token, lp) in enumerate(zip(tokens, c.logprobs or [])):
                entry = lp.get(token) if lp is not None else None
                logps[i, t] = float(entry.logprob) if entry is not None else 0.0
            # "stop": an end token or stop string, the model's generation-config ones included; "length": cut off
            finished[i] = c.finish_reason == "stop" or (bool(tokens) and tokens[-1] in eos_set)
            texts.append(c.text)
        return {"completion_ids": ids.to(device), "completion_mask": mask.to(device), "logprobs": logps.to(device),
                "finished": finished.to(device), "texts": texts}

    def generate_ids(self, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int = 128, do_sample: bool = True,
                     temperature: float = 1.0, top_p: float = 1.0, num_return_sequences: int = 1,
                     seed: int | None = None) -> GenerationOutput:
        """Sample completions of plain-text prompts (the LM agents' prompts), tokenized as
        :func:`agents.lm.generation.generate` tokenizes them (special tokens added, left padding)."""
        from agents.vlm.generation import eos_ids

        side = tokenizer.padding_side
        tokenizer.padding_side = "left"
        try:
            enc = tokenizer(list(prompts), padding=True, return_tensors="pt")
        finally:
            tokenizer.padding_side = side
        requests = [{"prompt_token_ids": row[m.bool()].tolist()} for row, m in zip(enc["input_ids"], enc["attention_mask"])]
        eos = eos_ids(tokenizer)
        params = self._sampling_params(prompts=len(requests), n=num_return_sequences, do_sample=do_sample,
                                       temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed,
                                       stop_token_ids=eos)
        out = self._completions(requests, params, tokenizer, eos, num_return_sequences, torch.device("cpu"))
        rep = num_return_sequences
        return GenerationOutput(prompt_ids=enc["input_ids"].repeat_interleave(rep, 0),
                                prompt_mask=enc["attention_mask"].repeat_interleave(rep, 0),
                                prompt_index=torch.arange(len(prompts)).repeat_interleave(rep), **out)

    def generate_chat(self, processor: Any, prompts: Sequence[str], images: Sequence[Sequence[Any]], *,
                      max_new_tokens: int = 256, do_sample: bool = True, temperature: float = 1.0, top_p: float = 1.0,
                      num_return_sequences: int = 1, seed: int | None = None) -> Any:
        """Sample completions of chat-templated prompts with their images (the VLM agents' inputs); returns a
        :class:`agents.vlm.generation.VLMGenerationOutput` whose prompt ids are the processor's encoding, so the
        learner can teacher-force on them with :func:`agents.vlm.generation.completion_logprobs`."""
        from agents.vlm.generation import VLMGenerationOutput, encode_prompts, eos_ids

        tokenizer = getattr(processor, "tokenizer", None) or processor
        requests: list[Any] = []
        for text, imgs in zip(prompts, images):
            request: dict[str, Any] = {"prompt": strip_added_bos(tokenizer, text)}
            if imgs:
                request["multi_modal_data"] = {"image": imgs[0] if len(imgs) == 1 else list(imgs)}
            requests.append(request)
        eos = eos_ids(tokenizer)
        params = self._sampling_params(prompts=len(requests), n=num_return_sequences, do_sample=do_sample,
                                       temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed,
                                       stop_token_ids=eos)
        out = self._completions(requests, params, tokenizer, eos, num_return_sequences, torch.device("cpu"))
        enc = encode_prompts(processor, prompts, images if any(images) else None, torch.device("cpu"))
        rep = num_return_sequences
        return VLMGenerationOutput(prompt_ids=enc["input_ids"].repeat_interleave(rep, 0),
                                   prompt_mask=enc["attention_mask"].repeat_interleave(rep, 0),
                                   prompt_index=torch.arange(len(prompts)).repeat_interleave(rep),
                                   prompts=list(prompts), images=[list(i) for i in images],
                                   temperature=float(temperature) if do_sample else 1.0, **out)

    # -- weights ------------------------------------------------------------------------------------------------

    def _inprocess_model(self) -> Any:
        """vLLM's ``nn.Module`` when it lives in this process (V1 without multiprocessing, or V0), else None."""
        engine = self.llm.llm_engine
        paths = (
            ("model_executor", "driver_worker", "worker", "model_runner", "model"),  # V1, in-process
            ("model_executor", "driver_worker", "model_runner", "model"),  # V0
            ("engine_core", "engine_core", "model_executor", "driver_worker", "worker", "model_runner", "model"),
        )
        for path in paths:
            obj = engine
            for name in path:
                obj = getattr(obj, name, None)
                if obj is None:
                    break
            if obj is not None and hasattr(obj, "load_weights"):
                return obj
        return None

    def load_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Copy the learner's weights (Hugging Face parameter names, any device) into the running engine."""
        model = self._inprocess_model()
        if model is not None:
            model.load_weights(weights=((name, tensor) for name, tensor in state_dict.items()))
        else:
            cpu = {name: t.detach().to("cpu") for name, t in state_dict.items()}
            self.llm.collective_rpc(_load_weights_on_worker, args=(cpu,))
        # Cached keys and values, and cached image-encoder outputs (shared across requests by image hash), were
        # computed by the old weights.
        for owner, name in ((self.llm, "reset_prefix_cache"), (self.llm.llm_engine, "reset_encoder_cache")):
            reset = getattr(owner, name, None)
            if callable(reset):
                reset()
        self.weight_version += 1

    def close(self) -> None:
        """Shut the engine down and free its GPU memory (an in-process engine core keeps it past ``del`` otherwise)."""
        import gc

        core = getattr(self.llm.llm_engine, "engine_core", None)
        shutdown = getattr(core, "shutdown", None)
        if callable(shutdown):
            shutdown()
        del self.llm
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def prompt_seeds(seed: int | None, prompts: int, n: int) -> list[int | None]:
    """The seed of each prompt's ``SamplingParams``: vLLM seeds completion ``j`` of a request ``seed + j``, so one
    seed for the whole batch would give every prompt the same noise; prompt ``i`` starts at ``seed + i * n``.

    >>> prompt_seeds(7, 3, 2), prompt_seeds(None, 2, 4)
    ([7, 9, 11], [None, None])
    """
    if seed is None:
        return [None] * prompts
    return [int(seed) + i * int(n) for i in range(prompts)]


def strip_added_bos(tokenizer: Any, text: str) -> str:
    """``text`` without a leading bos token when the tokenizer adds one itself (vLLM tokenizes text prompts with
    special tokens, so a chat template that wrote the bos would get two; the learner's encoding has one).

    >>> class T:
    ...     bos_token, bos_token_id = "<s>", 1
    ...     def __call__(self, text, add_special_tokens=True):
    ...         return {"input_ids": [1] if add_special_tokens else []}
    >>> strip_added_bos(T(), "<s>[INST] hi"), strip_added_bos(T(), "[INST] hi")
    ('[INST] hi', '[INST] hi')
    """
    bos = getattr(tokenizer, "bos_token", None)
    if not bos or not text.startswith(bos):
        return text
    adds_bos = tokenizer("", add_special_tokens=True)["input_ids"][:1] == [tokenizer.bos_token_id]
    return text[len(bos):] if adds_bos else text


def _vllm_dtype(dtype: Any) -> str:
    text = str(dtype).replace("torch.", "").lower()
    return {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32"}.get(text, text)


class _VLLMLMPolicy:
    """vLLM generation for the tagged-format LM policies of :mod:`agents.lm.policy` (same prompts and parsing)."""

    backend: ClassVar[str] = "vllm"

    def __init__(self, model: str, temperature: float = 1.0, max_new_tokens: int = 128, seed: int = 0, top_p: float = 1.0,
                 dtype: str = "auto", gpu_memory_utilization: float = 0.3, max_model_len: int | None = None,
                 engine_options: Mapping[str, Any] | None = None) -> None:
        VLLMEngine.check_available()
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model))
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.engine = VLLMEngine(model, dtype=dtype, seed=seed, gpu_memory_utilization=gpu_memory_utilization,
                                 max_model_len=max_model_len, **dict(engine_options or {}))
        self._init(None, tokenizer, str(model), "cuda", temperature, max_new_tokens, seed, top_p)  # type: ignore[attr-defined]

    def sample(self, states: Sequence[Any], num_return_sequences: int = 1, *, temperature: float | None = None,
               max_new_tokens: int | None = None) -> tuple[list[Any], GenerationOutput]:
        if not states:
            raise ValueError("states is empty")
        temp = self.temperature if temperature is None else temperature  # type: ignore[attr-defined]
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))  # type: ignore[attr-defined]
        out = self.engine.generate_ids(self.tokenizer, [self.prompt(s) for s in states],  # type: ignore[attr-defined]
                                       max_new_tokens=max_new_tokens or self.max_new_tokens,  # type: ignore[attr-defined]
                                       do_sample=temp > 0, temperature=temp if temp > 0 else 1.0, top_p=self.top_p,  # type: ignore[attr-defined]
                                       num_return_sequences=num_return_sequences, seed=seed)
        return [self.parse(t) for t in out.texts], out  # type: ignore[attr-defined]

    def get_weights(self) -> dict[str, torch.Tensor]:
        raise RuntimeError("a vLLM agent holds no transformers model; take the weights from the learner")

    def set_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        self.engine.load_weights(state_dict)

    def describe(self) -> dict[str, Any]:
        return {"role": self.role, "backend": self.backend, "class": f"{type(self).__module__}.{type(self).__qualname__}",  # type: ignore[attr-defined]
                "model": self.model_name, "engine": "vllm", "weight_version": self.engine.weight_version,  # type: ignore[attr-defined]
                "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,  # type: ignore[attr-defined]
                "seed": self.seed}  # type: ignore[attr-defined]


class VLLMThinker(_VLLMLMPolicy, LMThinker):
    """:class:`agents.lm.policy.LMThinker` sampled by vLLM."""


class VLLMDecomposer(_VLLMLMPolicy, LMDecomposer):
    """:class:`agents.lm.policy.LMDecomposer` sampled by vLLM."""
