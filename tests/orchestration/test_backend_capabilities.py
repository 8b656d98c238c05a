"""A new built-in backend is its class plus one registry line: every place that treats backends differently (model
paths, Serve checkpoints and batching, EditingEnv policies, GRPO, the SFT cold start) follows its declared
capabilities, and a backend that declares none gets none of those treatments."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from agents.base import Agent, Decomposition, EpisodeState
from agents.registry import BUILTIN, PLAIN, Builtin, Capabilities, trainable_summary
from orchestration.config import ConfigError, PipelineConfig, check_model_paths, load_config
from orchestration.env_factory import default_trainable as env_default_trainable
from orchestration.grpo.config import build_grpo_config, train_section
from orchestration.serve.config import ServeArgs, _apply_checkpoint, deployment_settings
from orchestration.train import use_sft_policies


class EchoDecomposer(Agent):
    """A stand-in model backend: never built here, only resolved by the graph."""

    role: ClassVar[str] = "decomposer"
    backend: ClassVar[str] = "echo"

    def __init__(self, model: str | None = None, engine: str = "torch") -> None:
        self.model = model

    def act(self, state: EpisodeState) -> Decomposition:
        return Decomposition()


ECHO_LM = Capabilities(needs_model=True, language_model=True, text_policy=True, trainable=True, cold_start=True)


def _pipeline(model: str | None, **decomposer: object) -> PipelineConfig:
    return load_config({
        "name": "echo",
        "agents": {"decomposer": {"backend": "echo", "model": model, **decomposer}, "sorter": {"backend": "rule"},
                   "editor": {"backend": "canvas"}, "verifier": {"backend": "canvas"}},
        "graph": {"nodes": ["decomposer", "sorter", "editor", "verifier"]},
        "rewards": {"decomposer": [{"name": "f1", "weight": 1.0}]},
        "train": {"group_size": 4, "tasks_per_iteration": 2},
    })


@pytest.fixture
def register(monkeypatch):
    """``register(capabilities)``: the one registry line of the echo backend, undone after the test."""

    def add(capabilities: Capabilities) -> None:
        monkeypatch.setitem(BUILTIN, ("decomposer", "echo"), Builtin(f"{__name__}:EchoDecomposer", capabilities))

    return add


def test_a_registered_model_backend_is_treated_as_its_capabilities_say(register, tmp_path):
    register(ECHO_LM)
    model = tmp_path / "echo"
    model.mkdir()
    config = _pipeline(str(model))
    assert config.agents["decomposer"].capabilities == ECHO_LM

    check_model_paths(config)  # the folder exists
    with pytest.raises(ConfigError, match=r"agents\.decomposer\.model is not set, and backend 'echo' needs one"):
        check_model_paths(_pipeline(None))

    (tmp_path / "ckpt" / "decomposer").mkdir(parents=True)
    served = _apply_checkpoint(config, str(tmp_path / "ckpt"))
    assert served.agents["decomposer"].model == str(tmp_path / "ckpt" / "decomposer")
    assert deployment_settings(ServeArgs(), config, "decomposer")["batching"] is True

    assert env_default_trainable(config) == ["decomposer"]

    grpo = build_grpo_config(config)
    assert list(grpo.resolved_trainable()) == ["decomposer"] and grpo.grpo_errors() == []
    assert "'echo' decomposer" in trainable_summary()

    section = train_section(config)
    assert use_sft_policies(config, section).agents["decomposer"].model == str(Path(section.sft.out_dir) / "decomposer")


def test_an_engine_other_than_the_train_engine_is_not_trained(register, tmp_path):
    register(Capabilities(needs_model=True, trainable=True, train_engine="torch"))
    config = _pipeline(str(tmp_path), options={"engine": "remote"})
    errors = build_grpo_config(config).grpo_errors()
    assert any("no agent to train" in e for e in errors), errors


def test_a_backend_that_declares_nothing_gets_nothing(register, tmp_path):
    register(PLAIN)
    config = _pipeline(None)
    check_model_paths(config)  # no model to check
    assert deployment_settings(ServeArgs(), config, "decomposer")["batching"] is False
    assert env_default_trainable(config) == []
    with pytest.raises(ConfigError, match="no language-model agent"):
        _apply_checkpoint(config, str(tmp_path))
    errors = build_grpo_config(config).editing(trainable_agents={"decomposer": {"rewards": [["f1", 1.0]]}}).grpo_errors()
    assert any("agent 'decomposer' (backend 'echo') cannot be trained; train a 'transformers' thinker" in e for e in errors), errors
