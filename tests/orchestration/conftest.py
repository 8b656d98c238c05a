"""`editrl train` without Ray, RLlib's algorithm or models: the fakes the run-folder, logging and tracker tests drive
the real `orchestration.train.main` with. A checkpoint holds what resume reads, the algorithm config state pickled in
`rllib/class_and_ctor_args.pkl` exactly as RLlib pickles it."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


class FakeAlgo:
    """What run_training asks of the algorithm: its config state, the iteration counter, train() and stop()."""

    trainable = ("decomposer",)

    def __init__(self, state: dict, iteration: int = 0, result: dict | None = None) -> None:
        self.state, self.iteration, self.last_rollouts = state, iteration, []
        self.result = {} if result is None else result

    def train(self) -> dict:
        self.iteration += 1
        return self.result

    def stop(self) -> None:
        pass


@pytest.fixture
def train_result() -> dict:
    """What each fake `algo.train()` returns (empty: no metrics); a test fills it to get metrics logged."""
    return {}


@pytest.fixture
def fake_training(monkeypatch, train_result):
    """run_training without Ray, RLlib's algorithm or models. Returns the number of times training started."""
    import orchestration.grpo.algorithm as algorithm
    import orchestration.grpo.checkpoint as checkpoint
    import orchestration.grpo.evaluate as evaluate
    import orchestration.train as train
    from orchestration.grpo.config import GRPOConfig  # here: RLlib is a slow import for the tests that need none

    def save_checkpoint(algo, run_dir, keep=2, metrics=None):
        final = checkpoint.checkpoint_root(run_dir) / f"iter_{algo.iteration:06d}"
        (final / "rllib").mkdir(parents=True, exist_ok=True)
        (final / "policies").mkdir(exist_ok=True)
        with open(final / "rllib" / "class_and_ctor_args.pkl", "wb") as f:  # as Checkpointable.save_to_path does
            pickle.dump({"class": None, "ctor_args_and_kwargs": ((algo.state,), {})}, f)
        (final / "meta.json").write_text(json.dumps({"iteration": algo.iteration}))
        (final.parent / "latest").write_text(final.name)
        return final

    def from_checkpoint(path):
        folder = Path(path).parent
        iteration = json.loads((folder / "meta.json").read_text())["iteration"]
        return FakeAlgo(checkpoint.algorithm_config(folder), iteration, train_result)

    def evaluate_pipeline(pipeline, tasks, models=None, chunk=100):
        scores = {metric: 0.5 for metric in evaluate.METRICS}
        rows = [{"task_id": t.task_id, "category": t.category, "n_steps": t.n_steps, "error": None, **scores} for t in tasks]
        return {"summary": {"episodes": len(rows), "failed": 0, **scores, "wall_s": 0.0}, "rows": rows}

    started = []
    monkeypatch.chdir(REPO)  # the packaged config's model path is relative to the repository
    monkeypatch.setattr(checkpoint, "save_checkpoint", save_checkpoint)
    monkeypatch.setattr(algorithm.GRPO, "from_checkpoint", staticmethod(from_checkpoint))
    monkeypatch.setattr(GRPOConfig, "build_algo", lambda self: FakeAlgo(self.get_state(), result=train_result))
    monkeypatch.setattr(evaluate, "evaluate_pipeline", evaluate_pipeline)
    monkeypatch.setattr(train, "init_ray", lambda: started.append(1))
    return started
