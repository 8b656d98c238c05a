"""Finding agent classes: built-in backends by (role, backend), plug-ins by import path or entry point.

Plug-in code is imported only when a config names it (never by scanning), so installing a package that declares
an `editrl.agents` entry point runs none of its code until a pipeline asks for it.

Each built-in entry also declares its backend's :class:`Capabilities`, and the orchestration asks them (which agents
need a model folder, take a training checkpoint, batch in Serve, act as RL policies, train with GRPO, get the SFT
cold start) instead of keeping lists of backend names. They live here rather than as class attributes because the
classes are imported lazily: reading a flag must not import torch for a rule-based pipeline. A new built-in backend
is its class plus one line in :data:`BUILTIN`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from importlib.metadata import entry_points
from typing import Any, Mapping

from agents.base import check_agent_class

ENTRY_POINT_GROUP = "editrl.agents"


@dataclass(frozen=True)
class Capabilities:
    """What the orchestration may do with agents of one built-in (role, backend). All off by default: a rule or
    Canvas agent, or a plug-in (`cls:`), gets none of these treatments.

    Attributes:
        needs_model: loads ``agents.<node>.model``; a missing model folder is a config error before any actor starts
            (``orchestration.config.check_model_paths``).
        language_model: a (vision-)language model: a served training checkpoint replaces its ``model``, and its Serve
            deployment batches requests by default (one padded generation serves many).
        text_policy: a text-in, text-out policy; ``EditingEnv`` makes it a learning agent by default
            (``orchestration.env_factory.default_trainable``).
        trainable: GRPO can train it (its class offers what the policy actor calls: ``sample``, ``prompt``,
            ``get_weights`` / ``set_weights``, a seeded ``generator``).
        train_engine: for a class whose ``options.engine`` picks how it generates: the one engine GRPO trains it with,
            and the default. Another engine generates outside the torch model the learner updates.
        cold_start: the SFT cold start (``train.sft``) writes its model; training points it at ``sft.out_dir/<role>``.
        gpu_only: runs only with a CUDA GPU (vLLM); CPU test runs skip it.
    """

    needs_model: bool = False
    language_model: bool = False
    text_policy: bool = False
    trainable: bool = False
    train_engine: str | None = None
    cold_start: bool = False
    gpu_only: bool = False

    def trainable_with(self, options: Mapping[str, Any]) -> bool:
        """Whether GRPO can train an agent of this kind built with these constructor ``options``.

        >>> torch_only = Capabilities(trainable=True, train_engine="torch")
        >>> torch_only.trainable_with({}), torch_only.trainable_with({"engine": "vllm"}), VLM_CHAT.trainable_with({})
        (True, False, False)
        """
        if not self.trainable:
            return False
        return self.train_engine is None or options.get("engine", self.train_engine) == self.train_engine


@dataclass(frozen=True)
class Builtin:
    """One built-in agent: its class as ``'module:Class'`` (imported only when a config uses it) and its capabilities."""

    path: str
    capabilities: Capabilities = Capabilities()


#: The capability sets of the built-in backends, named once so that each registry line reads as a sentence.
PLAIN = Capabilities()
TAGGED_LM = Capabilities(needs_model=True, language_model=True, text_policy=True, trainable=True, cold_start=True)
#: A language-model reward model: cold-started by SFT, trained by GCPO (orchestration.gcpo), never a GRPO policy.
LM_VERIFIER = Capabilities(needs_model=True, language_model=True, cold_start=True)
VLM_POLICY = Capabilities(needs_model=True, language_model=True, trainable=True)
VLM_CHAT = Capabilities(needs_model=True, language_model=True)
VLLM = Capabilities(needs_model=True, language_model=True, text_policy=True, trainable=True, gpu_only=True)
DIFFUSERS = Capabilities(needs_model=True)

#: Built-in agent classes, imported lazily so that a rule-based pipeline never imports torch or transformers.
BUILTIN: dict[tuple[str, str], Builtin] = {
    ("thinker", "rule"): Builtin("agents.thinker:RuleThinker", PLAIN),
    ("decomposer", "rule"): Builtin("agents.decomposer:RuleDecomposer", PLAIN),
    ("sorter", "rule"): Builtin("agents.sorter:RuleSorter", PLAIN),
    ("editor", "canvas"): Builtin("agents.editor:CanvasEditor", PLAIN),
    ("verifier", "canvas"): Builtin("agents.verifier:CanvasVerifier", PLAIN),
    ("thinker", "transformers"): Builtin("agents.lm.policy:LMThinker", TAGGED_LM),
    ("decomposer", "transformers"): Builtin("agents.lm.policy:LMDecomposer", TAGGED_LM),
    ("verifier", "transformers"): Builtin("agents.lm.verifier:LMVerifier", LM_VERIFIER),
    ("thinker", "vlm"): Builtin("agents.vlm.policy:VLMThinker", VLM_POLICY),
    ("decomposer", "vlm"): Builtin("agents.vlm.policy:VLMDecomposer", VLM_POLICY),
    ("sorter", "vlm"): Builtin("agents.vlm.policy:VLMSorter", VLM_CHAT),
    ("verifier", "vlm"): Builtin("agents.vlm.policy:VLMVerifier", VLM_CHAT),
    ("editor", "diffusers"): Builtin("agents.diffusers_editor:DiffusersEditor", DIFFUSERS),
    ("thinker", "vllm"): Builtin("agents.vllm_backend:VLLMThinker", VLLM),
    ("decomposer", "vllm"): Builtin("agents.vllm_backend:VLLMDecomposer", VLLM),
}

CAPABILITY_NAMES = tuple(f.name for f in fields(Capabilities) if f.type in ("bool", bool))


def builtin_capabilities(role: str, backend: str, registry: Mapping[tuple[str, str], Builtin] | None = None) -> Capabilities:
    """The capabilities of the built-in (role, backend); none for a pair the registry does not hold.

    >>> builtin_capabilities("decomposer", "transformers").trainable, builtin_capabilities("decomposer", "rule").needs_model
    (True, False)
    """
    entry = (BUILTIN if registry is None else registry).get((role, backend))
    return entry.capabilities if entry is not None else PLAIN


def backends_with(capability: str, registry: Mapping[tuple[str, str], Builtin] | None = None) -> tuple[str, ...]:
    """The built-in backends with ``capability`` set for at least one role, in registry order, for messages.

    >>> backends_with("needs_model")
    ('transformers', 'vlm', 'diffusers', 'vllm')
    """
    if capability not in CAPABILITY_NAMES:
        raise ValueError(f"unknown capability {capability!r}; use one of {', '.join(CAPABILITY_NAMES)}")
    entries = (BUILTIN if registry is None else registry).items()
    return tuple(dict.fromkeys(backend for (_, backend), entry in entries if getattr(entry.capabilities, capability)))


def trainable_summary(registry: Mapping[tuple[str, str], Builtin] | None = None) -> str:
    """The built-in agents GRPO can train, in words, for error messages.

    >>> trainable_summary()
    "a 'transformers' thinker or decomposer, or a 'vlm' thinker or decomposer, or a 'vllm' thinker or decomposer"
    """
    roles: dict[tuple[str, str | None], list[str]] = {}
    for (role, backend), entry in (BUILTIN if registry is None else registry).items():
        if entry.capabilities.trainable:
            roles.setdefault((backend, entry.capabilities.train_engine), []).append(role)
    parts = [f"a {backend!r} {' or '.join(names)}" + (f" with engine {engine!r}" if engine else "")
             for (backend, engine), names in roles.items()]
    return ", or ".join(parts) if parts else "none"


def import_object(path: str) -> object:
    """Import 'package.module:Name' (or 'package.module.Name')."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"{path!r} is not an import path; write 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import module {module_name!r} for {path!r}: {err}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r} (from {path!r})") from None


def resolve_agent_class(node: str, role: str, backend: str, cls: str | None) -> type:
    """The class for a graph node; raises ValueError naming the node and what to change."""
    if cls:
        if ":" in cls or "." in cls:
            target = import_object(cls)
        else:
            found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == cls]
            if not found:
                raise ValueError(f"agent {node!r}: no entry point {cls!r} in group {ENTRY_POINT_GROUP!r}; install the plug-in or use an import path 'pkg.mod:Class'")
            target = found[0].load()
    else:
        entry = BUILTIN.get((role, backend))
        if entry is None:
            known = sorted(b for r, b in BUILTIN if r == role)
            raise ValueError(f"agent {node!r}: no built-in {role} with backend {backend!r}; use one of {', '.join(known)} or set cls")
        target = import_object(entry.path)
    if not isinstance(target, type):
        raise ValueError(f"agent {node!r}: {cls or backend!r} is not a class")
    check_agent_class(target, node)
    if target.role != role:  # type: ignore[attr-defined]
        raise ValueError(f"agent {node!r}: class {target.__qualname__} has role {target.role!r} but the config says {role!r}")  # type: ignore[attr-defined]
    return target
