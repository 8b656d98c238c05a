"""Policies load from safetensors only: a folder holding only a pickled ``pytorch_model.bin`` is refused with an
error that says so, and the pickle is never opened (a booby-trapped one would leave a mark if it were)."""

from __future__ import annotations

import os
import pickle
import shutil

import pytest
from transformers import AutoModelForCausalLM

from agents.lm.model import load_policy, save_policy
from agents.weights import require_safetensors


class _Trap:
    """Unpickling this object runs ``open(path, "w")``: the file appears only if something unpickles the weights."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_weights_are_refused_and_never_unpickled(tokenizer, tiny_model, tmp_path):
    safe = save_policy(tiny_model, tokenizer, tmp_path / "safe")
    load_policy(safe)  # the normal case: model.safetensors

    unsafe = tmp_path / "unsafe"
    shutil.copytree(safe, unsafe)
    (unsafe / "model.safetensors").unlink()
    mark = tmp_path / "unpickled"
    with open(unsafe / "pytorch_model.bin", "wb") as f:
        pickle.dump({"model.embed_tokens.weight": _Trap(str(mark))}, f)

    with pytest.raises(ValueError, match=r"no safetensors weights; it holds pytorch_model\.bin: pickle files"):
        load_policy(unsafe)
    with pytest.raises(ValueError, match="pickle"):
        require_safetensors(unsafe)
    # transformers itself, asked for safetensors only, refuses too instead of falling back to the .bin
    with pytest.raises(OSError, match="model.safetensors"):
        AutoModelForCausalLM.from_pretrained(str(unsafe), use_safetensors=True)
    assert not mark.exists() and not os.path.exists(mark)


def test_a_folder_without_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="holds no weights"):
        require_safetensors(tmp_path)
    require_safetensors("some-org/some-hub-model")  # a hub name: left to from_pretrained(use_safetensors=True)
