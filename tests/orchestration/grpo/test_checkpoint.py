"""save_checkpoint puts a checkpoint on disk before making it visible: every file fsynced before the folder's rename,
the folder fsynced after it, and `latest` replaced by an fsynced rename from a temporary name of its own."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

from orchestration.grpo.checkpoint import checkpoint_root, latest_checkpoint, save_checkpoint


class _Saves:
    def save_pretrained(self, path: str) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / f"{type(self).__name__}.safetensors").write_bytes(b"weights")


class _Algo:
    """What save_checkpoint asks of the algorithm: the counter, save_to_path, and one trained module's model and
    tokenizer on its learner."""

    iteration = 3
    policy_actors = {"decomposer": None}
    learner_group = SimpleNamespace(foreach_learner=lambda save: [save(SimpleNamespace(
        module={"decomposer": SimpleNamespace(model=_Saves(), tokenizer=_Saves())}))])

    def save_to_path(self, path: str) -> None:
        Path(path).mkdir(parents=True)
        (Path(path) / "learner_state.pkl").write_bytes(b"weights")


def test_a_checkpoint_is_fsynced_before_its_rename_and_latest_after_it(tmp_path, monkeypatch):
    events: list[tuple[str, str, str]] = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"), "")), fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda src, dst: (events.append(("replace", str(src), str(dst))), replace(src, dst))[1])
    final = save_checkpoint(_Algo(), tmp_path)
    root = checkpoint_root(tmp_path)

    def renamed_to(target: Path) -> int:
        return next(i for i, (kind, _src, dst) in enumerate(events) if kind == "replace" and dst == str(target))

    folder, latest = renamed_to(final), renamed_to(root / "latest")
    tmp = os.path.realpath(events[folder][1])
    synced = {path for kind, path, _ in events[:folder] if kind == "fsync"}
    for part in ("rllib/learner_state.pkl", "meta.json", "policies/decomposer/_Saves.safetensors", ""):
        assert os.path.normpath(os.path.join(tmp, part)) in synced, part
    assert folder < latest and ("fsync", os.path.realpath(root), "") in events[folder + 1:latest]
    assert Path(events[latest][1]).name.startswith(".tmp_latest_")
    assert latest_checkpoint(tmp_path) == final
    assert sorted(p.name for p in root.iterdir()) == ["iter_000003", "latest"]
