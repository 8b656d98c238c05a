"""Checkpoints of a GRPO run: the RLlib checkpoint plus each trained policy in Hugging Face format, written atomically.

Layout under ``<run_dir>/checkpoints/``::

    iter_000020/
        rllib/                    Algorithm.save_to_path: learner (modules + optimizer state), iteration counter,
                                  the GRPO state (task sampler, curriculum, python/numpy/torch and sampler RNGs)
        policies/<agent>/         save_pretrained (safetensors) + tokenizer: AutoModelForCausalLM.from_pretrained
                                  and agents.lm.model.load_policy read it; with train.agents.<agent>.lora the PEFT
                                  adapter (adapter_config.json + adapter_model.safetensors) + tokenizer, which
                                  PeftModel.from_pretrained(base, folder) loads and `editrl merge-lora` merges
        meta.json                 iteration, time, metrics of that iteration
    latest                        the name of the newest complete checkpoint (written last, atomically)

A checkpoint is written to a hidden temporary folder (``.tmp_*``), flushed to disk (fsync) and renamed into place,
so a crash mid-write never leaves a half checkpoint that ``latest`` points to; old checkpoints are renamed to
``.trash_*`` before they are deleted, so a crash mid-delete never leaves a half ``iter_*`` folder either. Every
visible ``iter_*`` folder is therefore complete. Hidden leftovers of a killed process are removed by the next save
(one process writes a run folder at a time: :func:`orchestration.run_folder.run_folder_lock`) and ignored by
readers. ``tests/orchestration/grpo/test_kill_resume.py`` SIGKILLs a training
process at random points and checks this.

With ``train.max_staleness: 1`` the next iteration's sampling is usually in flight when a checkpoint is written; its
rollouts are not saved and never trained on: the resumed run has already drawn past their tasks and samples afresh
with the restored weights (the saved sampler RNG state is the actors' when the checkpoint asked for it, which may be
after that sampling).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import time
from pathlib import Path
from typing import Any

from orchestration.run_folder import fsync_dir, fsync_tree, remove_paths, write_text_atomic

LATEST = "latest"


def checkpoint_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(algo: Any, run_dir: str | Path, keep: int = 2, metrics: dict[str, Any] | None = None) -> Path:
    """Write the checkpoint of ``algo``'s current iteration; returns its folder. Keeps the newest ``keep``."""
    root = checkpoint_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    remove_leftovers(root)
    iteration = int(algo.iteration)
    name = f"iter_{iteration:06d}"
    final = root / name
    tmp = root / f".tmp_{name}_{os.getpid()}"
    tmp.mkdir(parents=True)
    algo.save_to_path(str((tmp / "rllib").resolve()))
    save_policies(algo, tmp / "policies")
    meta = {"iteration": iteration, "saved_at": time.time(), "agents": list(algo.policy_actors), "metrics": metrics or {}}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=float))
    fsync_tree(tmp)  # on disk before the rename makes it visible: a power cut must not leave a whole-looking, empty one
    if final.exists():  # re-saving the same iteration: move the old one aside first (a rename, so it stays whole)
        _discard(final)
    # Between these two renames `latest` may name a missing folder; latest_checkpoint then takes the newest whole one.
    os.replace(tmp, final)
    fsync_dir(root)
    write_text_atomic(root / LATEST, name)
    _prune(root, keep)
    remove_leftovers(root)
    return final


def save_policies(algo: Any, out_dir: str | Path) -> dict[str, str]:
    """Each trained module's model (or LoRA adapter) and tokenizer in Hugging Face format, saved where the learner
    holds them."""
    out_dir = Path(out_dir).resolve()
    paths = {}
    for node in algo.policy_actors:
        path = out_dir / node

        def save(learner: Any, node: str = node, path: Path = path) -> str | None:
            from orchestration.grpo.actors import first_learner

            if not first_learner():
                return None  # the learners hold the same weights: one writes them
            module = learner.module[node]
            module = module.unwrapped() if hasattr(module, "unwrapped") else module  # under DDP, the module inside
            module.model.save_pretrained(str(path))  # a PeftModel (LoRA) writes only its adapter, in PEFT's format
            module.tokenizer.save_pretrained(str(path))
            return str(path)

        algo.learner_group.foreach_learner(save)
        paths[node] = str(path)
    return paths


def is_complete(path: Path) -> bool:
    """A checkpoint folder with every part (meta.json is written last, before the rename)."""
    return (path / "rllib").is_dir() and (path / "policies").is_dir() and (path / "meta.json").is_file()


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None.

    The one ``latest`` names; if a kill fell between a re-save's two renames (``latest`` names a folder that is not
    there), the newest complete ``iter_*`` folder instead.
    """
    root = checkpoint_root(run_dir)
    pointer = root / LATEST
    if pointer.is_file():
        path = root / pointer.read_text().strip()
        if path.name.startswith("iter_") and is_complete(path):
            return path
    done = sorted(p for p in root.glob("iter_*") if is_complete(p))
    return done[-1] if done else None


def remove_leftovers(root: Path) -> list[str]:
    """Delete what a killed save or prune left behind (``.tmp_*`` folders and the temporary ``latest`` files of
    :func:`orchestration.run_folder.write_text_atomic`, ``.trash_*`` folders); returns their names."""
    return remove_paths([*root.glob(".tmp_*"), *root.glob(".trash_*")])


def algorithm_config(checkpoint: str | Path) -> dict[str, Any] | None:
    """The algorithm config state a checkpoint restores (``GRPOConfig.get_state()``: every GRPO and RLlib field, the
    pipeline as ``pipeline_config``), as RLlib pickled it in ``rllib/class_and_ctor_args.pkl``; None if unreadable.

    ``GRPO.from_checkpoint`` rebuilds the algorithm from this, not from the config given on the command line, so it
    is what a resumed run trains with. Unpickling runs code: a run folder is trusted like code (docs/reliability.md).
    """
    try:
        with open(Path(checkpoint) / "rllib" / "class_and_ctor_args.pkl", "rb") as f:
            state = pickle.load(f)["ctor_args_and_kwargs"][0][0]
    except Exception:  # missing, from another RLlib layout, or classes that no longer import: the caller falls back
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pipeline_config"), dict) else None


def _discard(path: Path) -> None:
    """Rename to a hidden ``.trash_*`` name (atomic), then delete: an ``iter_*`` folder is never half deleted."""
    trash = path.with_name(f".trash_{path.name}_{os.getpid()}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _prune(root: Path, keep: int) -> None:
    done = sorted(p for p in root.glob("iter_*") if p.is_dir())
    for old in done[:-keep]:
        _discard(old)
