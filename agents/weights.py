"""Model weights load from safetensors only.

``pytorch_model.bin``, ``*.pt``, ``*.pth`` and ``*.ckpt`` files are Python pickles, and unpickling a file can run any
code its author chose; a policy folder or a downloaded model is not trusted input. Every loader in editrl passes
``use_safetensors=True`` to ``from_pretrained`` (which then never falls back to a pickle) and checks local folders
first with :func:`require_safetensors`, whose error says what was found and how to convert it.
"""

from __future__ import annotations

from pathlib import Path

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def require_safetensors(path_or_name: str | Path) -> None:
    """Raise ``ValueError`` if ``path_or_name`` is a local folder without safetensors weights.

    A hub name is left to ``from_pretrained(..., use_safetensors=True)``, which refuses pickled weights itself.
    Folders that hold no weights at all (a diffusers pipeline keeps them in sub-folders) are searched recursively.
    """
    path = Path(path_or_name)
    if not path.is_dir():
        return
    if any(path.rglob("*.safetensors")):
        return
    pickles = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.suffix in PICKLE_SUFFIXES)
    found = (f"it holds {', '.join(pickles)}: pickle files, which editrl never loads (unpickling can run arbitrary "
             "code)" if pickles else "it holds no weights")
    raise ValueError(f"{path}: no safetensors weights; {found}. Convert a checkpoint you trust with "
                     "`AutoModel.from_pretrained(path, use_safetensors=False).save_pretrained(path)` (safetensors is "
                     "the default format) in a separate, sandboxed step")
