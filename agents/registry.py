"""Finding agent classes: built-in backends by (role, backend), plug-ins by import path or entry point.

Plug-in code is imported only when a config names it (never by scanning), so installing a package that declares
an `editrl.agents` entry point runs none of its code until a pipeline asks for it.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from agents.base import check_agent_class

ENTRY_POINT_GROUP = "editrl.agents"

#: Built-in agent classes, imported lazily so that a rule-based pipeline never imports torch or transformers.
BUILTIN: dict[tuple[str, str], str] = {
    ("thinker", "rule"): "agents.thinker:RuleThinker",
    ("decomposer", "rule"): "agents.decomposer:RuleDecomposer",
    ("sorter", "rule"): "agents.sorter:RuleSorter",
    ("editor", "canvas"): "agents.editor:CanvasEditor",
    ("verifier", "canvas"): "agents.verifier:CanvasVerifier",
    ("thinker", "transformers"): "agents.lm.policy:LMThinker",
    ("decomposer", "transformers"): "agents.lm.policy:LMDecomposer",
    ("thinker", "vlm"): "agents.vlm.policy:VLMThinker",
    ("decomposer", "vlm"): "agents.vlm.policy:VLMDecomposer",
    ("sorter", "vlm"): "agents.vlm.policy:VLMSorter",
    ("verifier", "vlm"): "agents.vlm.policy:VLMVerifier",
    ("editor", "diffusers"): "agents.diffusers_editor:DiffusersEditor",
    ("thinker", "vllm"): "agents.vllm_backend:VLLMThinker",
    ("decomposer", "vllm"): "agents.vllm_backend:VLLMDecomposer",
}


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
        path = BUILTIN.get((role, backend))
        if path is None:
            known = sorted(b for r, b in BUILTIN if r == role)
            raise ValueError(f"agent {node!r}: no built-in {role} with backend {backend!r}; use one of {', '.join(known)} or set cls")
        target = import_object(path)
    if not isinstance(target, type):
        raise ValueError(f"agent {node!r}: {cls or backend!r} is not a class")
    check_agent_class(target, node)
    if target.role != role:  # type: ignore[attr-defined]
        raise ValueError(f"agent {node!r}: class {target.__qualname__} has role {target.role!r} but the config says {role!r}")  # type: ignore[attr-defined]
    return target
