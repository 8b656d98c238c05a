"""LoRA adapters for a trained policy: the setting, the learner's wrapped model, the adapter the actors receive, and
the merge for serving.

With ``train.agents.<name>.lora`` set, the learner wraps the policy in a PEFT ``PeftModel`` whose base weights are
frozen, so the optimizer holds only the adapter (``lora_A``/``lora_B`` of each target module) and:

- each iteration the policy actors receive only the adapter (:class:`AdapterWeights`); an actor injects the same
  adapter layers into its own model once (``peft.inject_adapter_in_model``, the model keeps its class and its
  ``generate``) and loads the new values in place, so the sampler computes exactly what the learner's
  ``PeftModel`` computes (no merge rounding between the sampler's and the learner's log-probs);
- the checkpoint's ``policies/<agent>/`` is a PEFT adapter folder (``adapter_config.json`` +
  ``adapter_model.safetensors`` + tokenizer), which ``PeftModel.from_pretrained(base, folder)`` loads, and the
  RLlib part holds only the adapter and its optimizer state (the base is reloaded from ``agents.<name>.model``);
- the frozen reference of the KL term is the same model with the adapter switched off, not a second copy;
- :func:`merge_adapter` (``editrl merge-lora``) writes base + adapter as one ordinary Hugging Face model for
  serving;
- an actor that samples with vLLM takes full weights, not an adapter: it receives base + adapter merged on the
  learner (:func:`merged_state`) after every update.

peft is imported inside the functions that need it, so importing the config does not import it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Prefix PEFT's ``PeftModel`` puts before the wrapped model's own parameter names.
PEFT_PREFIX = "base_model.model."
#: What PeftModel.save_pretrained writes; every other file of a saved policy folder is its tokenizer or processor.
ADAPTER_FILES = {"adapter_config.json", "adapter_model.safetensors", "README.md"}


class LoraSettings(BaseModel):
    """A LoRA adapter for one trained policy (PEFT's ``LoraConfig``): only the adapter trains, syncs and is saved."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=16, ge=1, le=1024, description=(
        "Rank of each adapter (lora_A is r x in, lora_B is out x r). 16 is the rank TRL's and verl's LoRA GRPO "
        "examples use for 1-8B policies; the adapter's size grows linearly with it."))
    alpha: float = Field(default=32.0, gt=0, description=(
        "Scaling numerator: the adapter's output is multiplied by alpha / r (PEFT's lora_alpha). 2 * r, the usual "
        "choice, keeps the update's scale when r changes together with it."))
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description=(
        "Dropout on the adapter's input (PEFT's lora_dropout), written to adapter_config.json. GRPO's learner computes "
        "log-probs without dropout (the importance ratio must compare like with like), so it does not act in GRPO; "
        "it matters to whoever fine-tunes the saved adapter further."))
    target_modules: list[str] | Literal["all-linear"] | None = Field(default=None, description=(
        "Names (or name suffixes) of the linear layers that get an adapter, e.g. [q_proj, k_proj, v_proj, o_proj]; "
        "'all-linear': every linear layer but the output head; None: PEFT's default for the architecture (q_proj "
        "and v_proj for Llama and Qwen). On a VLM, name the language model's layers: the vision tower's layers share "
        "names like q_proj on some architectures."))

    @field_validator("target_modules")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, list) and (not value or not all(name.strip() for name in value)):
            raise ValueError("give at least one non-empty module name (e.g. [q_proj, v_proj]), 'all-linear', or null "
                             "for PEFT's default")
        return value


def peft_config(settings: LoraSettings | dict[str, Any]) -> Any:
    """PEFT's ``LoraConfig`` for ``settings`` (a causal LM adapter; bias not trained, as in PEFT's default)."""
    from peft import LoraConfig

    s = LoraSettings.model_validate(settings)
    return LoraConfig(r=s.r, lora_alpha=s.alpha, lora_dropout=s.dropout, target_modules=s.target_modules,
                      bias="none", task_type="CAUSAL_LM")


def wrap_for_training(model: torch.nn.Module, settings: LoraSettings | dict[str, Any], where: str = "lora") -> Any:
    """``model`` as a PEFT ``PeftModel`` with a fresh adapter (lora_B zero: the wrapped model starts as ``model``)
    and every base weight frozen. ``where`` names the setting in the error when no target module matches."""
    from peft import get_peft_model

    try:
        return get_peft_model(model, peft_config(settings))
    except ValueError as err:  # PEFT: "Target modules {...} not found in the base model"
        raise ValueError(f"{where}.target_modules: {err}. Name linear layers of this model (e.g. "
                         f"{sorted(linear_layer_names(model))[:6]}), or 'all-linear'") from None


def linear_layer_names(model: torch.nn.Module) -> set[str]:
    """The last name of every ``nn.Linear`` in ``model`` (what ``target_modules`` can list)."""
    return {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def adapter_state(model: Any) -> dict[str, torch.Tensor]:
    """The adapter's weights of a ``PeftModel`` as CPU tensors, named as in the wrapped model (the prefix
    ``base_model.model.`` removed), which is how :func:`load_adapter` finds them in an actor's plain model."""
    from peft import get_peft_model_state_dict

    state = get_peft_model_state_dict(model)
    return {k[len(PEFT_PREFIX):] if k.startswith(PEFT_PREFIX) else k: v.detach().to("cpu", copy=True)
            for k, v in state.items()}


def merged_state(model: Any) -> dict[str, torch.Tensor]:
    """Base + adapter as one ordinary state dict (CPU tensors, the wrapped model's own parameter names), computed
    without touching ``model``: what an engine that takes full weights but no adapter loads (a vLLM policy actor).

    Each adapted layer's weight is its frozen base weight plus PEFT's own ``get_delta_weight`` (B @ A * alpha / r);
    merging in place and unmerging would leave rounding in the frozen base after every sync.
    """
    from peft.tuners.lora import LoraLayer

    inner = model.base_model.model
    state = {k.replace(".base_layer.", "."): v.detach().to("cpu", copy=True)
             for k, v in inner.state_dict().items() if "lora_" not in k}
    adapter = model.active_adapter
    for name, module in inner.named_modules():
        if isinstance(module, LoraLayer) and adapter in getattr(module, "lora_A", {}):
            key = f"{name}.weight"
            delta = module.get_delta_weight(adapter).detach().to("cpu")
            state[key] = state[key] + delta.to(state[key].dtype)
    return state


@dataclass(frozen=True)
class AdapterWeights:
    """What a LoRA-trained module sends to its policy actors: the adapter's settings and its current weights."""

    settings: dict[str, Any]
    state: dict[str, torch.Tensor]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.state.values())


def load_adapter(model: torch.nn.Module, weights: AdapterWeights) -> torch.nn.Module:
    """Put ``weights`` into ``model`` (an actor's plain transformers model), injecting the adapter layers the first
    time; returns the model (the same object). Every adapter weight must land (a partial sync is a bug)."""
    from peft import inject_adapter_in_model, set_peft_model_state_dict

    if not getattr(model, "peft_config", None):
        config = peft_config(weights.settings)
        config.inference_mode = True  # the actor never trains it
        model = inject_adapter_in_model(config, model)
    device = next(model.parameters()).device
    result = set_peft_model_state_dict(model, {k: v.to(device) for k, v in weights.state.items()})
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise ValueError(f"adapter weights do not match the actor's model: {unexpected[:3]} ...")
    model.eval()
    return model


def trainable_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, base: str | None = None) -> Path:
    """Write ``adapter_dir`` (a checkpoint's ``policies/<agent>/`` of a LoRA run) merged into its base model as one
    ordinary Hugging Face model folder (safetensors + tokenizer or processor), for serving and for ``vlm`` /
    ``transformers`` agents that load full models. ``base``: the base model's path or hub name when it is no longer
    where ``adapter_config.json`` says (``base_model_name_or_path``)."""
    import json

    from peft import PeftModel

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{adapter_dir} holds no adapter_config.json: point at policies/<agent>/ of a "
                                "checkpoint trained with train.agents.<agent>.lora")
    base = base or json.loads(config_file.read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{config_file} does not name its base model; pass base=")
    model = _load_base(base)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out_dir))
    # The tokenizer or processor saved beside the adapter is the one the policy was trained with: copy it as is.
    for path in adapter_dir.iterdir():
        if path.is_file() and path.name not in ADAPTER_FILES:
            shutil.copy2(path, out_dir / path.name)
    return out_dir


def _load_base(base: str) -> torch.nn.Module:
    """The base model in float32 on the CPU (a merge in bf16 would round the merged weights)."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    from agents.vlm.model import is_vlm_checkpoint
    from agents.weights import require_safetensors

    require_safetensors(base)  # never unpickle a .bin (agents/weights.py)
    auto = AutoModelForImageTextToText if is_vlm_checkpoint(base) else AutoModelForCausalLM
    return auto.from_pretrained(str(base), dtype=torch.float32, use_safetensors=True)
