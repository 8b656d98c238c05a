"""Configuration mistakes are one error that names the key and says what to change, before Ray or any agent starts.

Unknown keys, wrong types, missing files and impossible graphs are covered key by key in test_config_graph.py,
serve/test_config.py, serve/test_cli.py and grpo/test_config.py; here: the unknown-key message names the nearest
known key at any depth (pipeline configs and Serve args), and a model folder that does not exist is reported by `editrl edit`, `editrl eval` and the
Serve app builder before `ray.init`, instead of as a loader traceback from inside an actor or a replica. So is an
agent option its class's constructor does not take, on every path that builds agents.
"""

from typing import Any, ClassVar

import pytest
import ray

from agents.base import Agent, EpisodeState, Verdict
from envs.canvas.generator import generate_tasks
from envs.dataset import write_tasks
from orchestration.cli import main
from orchestration.config import ConfigError, PipelineConfig, check_model_paths, load_config


@pytest.mark.parametrize("override, message", [
    ("editor.modee=x", r"agents\.editor\.modee: .*did you mean 'model'\? known keys: role, backend"),
    ("graph.reflection={sourc: verifier}", r"graph\.reflection\.sourc: .*did you mean 'source'\?"),
    ("rewards.editor=[{name: f1, wieght: 2}]", r"rewards\.editor\.0\.wieght: .*did you mean 'weight'\? known keys: name, weight"),
    ("imagesize=64", r"imagesize: .*did you mean 'image_size'\?"),
    ("editor.replicas=many", r"agents\.editor\.replicas: Input should be a valid integer"),
])
def test_unknown_keys_name_the_nearest_known_key_and_wrong_types_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("canvas_rule", [override])


@pytest.mark.parametrize("args, message", [
    ({"limits": {"max_pixelz": 5}}, r"limits\.max_pixelz: .*did you mean 'max_pixels'\? known keys: max_body_bytes"),
    ({"deployments": {"editor": {"num_replica": 2}}}, r"deployments\.editor\.num_replica: .*did you mean 'num_replicas'\?"),
    ({"requst_timeout_s": 3}, r"requst_timeout_s: .*did you mean 'request_timeout_s'\?"),
])
def test_serve_args_name_the_nearest_known_key_too(args, message):
    from orchestration.serve.config import parse_args

    with pytest.raises(ConfigError, match=message):
        parse_args(args)


def test_model_paths_are_checked_without_loading_anything(tmp_path):
    model = tmp_path / "thinker"
    model.mkdir()
    check_model_paths(load_config("thinkrl_edit", [f"thinker.model={model}"]))  # an existing folder
    check_model_paths(load_config("thinkrl_edit", ["thinker.model=org/some-model"]))  # a hub id: the loader's business
    check_model_paths(load_config("thinkrl_edit", ["thinker={backend: rule}"]))  # rule agents have no model
    missing = tmp_path / "runs" / "sft" / "thinker"
    with pytest.raises(ConfigError, match=r"agents\.thinker\.model: folder .*runs/sft/thinker' does not exist .*"
                                          r"editrl sft --config thinkrl_edit.*--set 'thinker=\{backend: rule\}'"):
        check_model_paths(load_config("thinkrl_edit", [f"thinker.model={missing}"]))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"agents\.thinker\.model: .*weights\.bin' is a file; point it at the model's folder"):
        check_model_paths(load_config("thinkrl_edit", [f"thinker.model={tmp_path / 'weights.bin'}"]))
    with pytest.raises(ConfigError, match=r"agents\.thinker\.model is not set, and backend 'transformers' needs one"):
        check_model_paths(load_config("thinkrl_edit", ["thinker.model=null"]))
    # relative paths are read from the working directory, as the loaders read them
    (tmp_path / "a" / "b" / "thinker").mkdir(parents=True)
    check_model_paths(load_config("thinkrl_edit", ["thinker.model=a/b/thinker"]), base=tmp_path)
    with pytest.raises(ConfigError, match=r"folder 'a/b/thinker' does not exist"):
        check_model_paths(load_config("thinkrl_edit", ["thinker.model=a/b/thinker"]), base=tmp_path / "elsewhere")


@pytest.fixture
def no_ray(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ray.init was called before the configuration was checked")
    monkeypatch.setattr(ray, "init", refuse)


def test_edit_and_eval_report_a_missing_model_before_ray_starts(tmp_path, capsys, no_ray):
    task = next(iter(generate_tasks(1, seed=0, split="test")))
    image = tmp_path / "in.png"
    image.write_bytes(task.source_png)
    data = tmp_path / "data.parquet"
    write_tasks([task], data)
    missing = f"thinker.model={tmp_path / 'runs' / 'sft' / 'thinker'}"
    for argv in (["edit", str(image), "make it blue", "--config", "thinkrl_edit", "--set", missing, "--ray", "--out", str(tmp_path / "o.png")],
                 ["eval", "--config", "thinkrl_edit", "--set", missing, "--data", str(data), "--out", str(tmp_path / "r.parquet")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "agents.thinker.model: folder" in err[0] and "does not exist" in err[0], err


def test_serve_reports_a_missing_model_before_any_replica_starts(tmp_path, no_ray):
    from orchestration.serve.app import build_app

    with pytest.raises(ConfigError, match=r"agents\.thinker\.model: folder .* does not exist"):
        build_app({"pipeline": "thinkrl_edit", "overrides": [f"thinker.model={tmp_path / 'runs' / 'sft' / 'thinker'}"]})


class AnyOptionVerifier(Agent):
    """A plug-in whose constructor takes **kwargs: it accepts any option, so none is refused for it."""

    role: ClassVar[str] = "verifier"

    def __init__(self, **options: Any) -> None:
        self.options = options

    def act(self, state: EpisodeState) -> Verdict:
        return Verdict(passed=True, score=1.0)


@pytest.mark.parametrize("name, overrides, message", [
    ("canvas_rule", ["editor.options.mdoe=multi_turn"],
     r"^agents\.editor\.options\.mdoe: CanvasEditor \(backend 'canvas'\) has no option 'mdoe' "
     r"\(did you mean 'mode'\? known options: mode, max_requests_per_call\)$"),
    ("canvas_rule", ["verifier.options={use_referense: false, derive_form: request}"],
     r"options\.use_referense: .*did you mean 'use_reference'\?.*; agents\.verifier\.options\.derive_form: .*did you mean 'derive_from'\?"),
    # A backend switched alone keeps the LM's options and model: both named, with the --set that fixes each.
    ("thinkrl_edit", ["thinker.backend=rule"],
     r"agents\.thinker\.options: RuleThinker \(backend 'rule'\) takes no options, but the config gives temperature; "
     r"clear them \(--set thinker\.options=\{\}\), or replace the whole node: --set 'thinker=\{backend: rule\}'; "
     r"agents\.thinker\.model: RuleThinker \(backend 'rule'\) loads no model; remove it \(--set thinker\.model=null\)"),
    ("imageedit_r1", ["decomposer.options.temprature=0.5"], r"agents\.decomposer\.options\.temprature: .*did you mean 'temperature'\?"),
])
def test_an_option_the_agent_class_does_not_take_fails_at_load_with_the_nearest_name(name, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(name, overrides)


def test_options_are_accepted_as_the_constructor_takes_them():
    load_config("canvas_rule", ["editor.options={mode: multi_turn, max_requests_per_call: 3}"])
    load_config("canvas_rule", [f"verifier.cls={__name__}:AnyOptionVerifier", "verifier.options={anything: 1}"])
    load_config("imageedit_r1", ["decomposer={backend: rule}"])  # the documented way to switch a node's backend


def test_every_path_that_builds_agents_refuses_a_misspelt_option_before_ray_starts(tmp_path, capsys, no_ray):
    from orchestration.actors import ray_pipeline
    from orchestration.pipeline import Pipeline
    from orchestration.serve.app import build_app
    from orchestration.train import main as train_module

    task = next(iter(generate_tasks(1, seed=0, split="test")))
    image = tmp_path / "in.png"
    image.write_bytes(task.source_png)
    data = tmp_path / "data.parquet"
    write_tasks([task], data)
    typo = "editor.options.mdoe=multi_turn"
    for argv in (["edit", str(image), "make it blue", "--config", "canvas_rule", "--set", typo, "--ray", "--out", str(tmp_path / "o.png")],
                 ["eval", "--config", "canvas_rule", "--set", typo, "--data", str(data), "--out", str(tmp_path / "r.parquet")],
                 ["train", "--config", "imageedit_r1", "--set", typo, "--run-dir", str(tmp_path / "run")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "agents.editor.options.mdoe" in err[0] and "did you mean 'mode'?" in err[0], err
    assert train_module(["--config", "imageedit_r1", "--set", typo, "--run-dir", str(tmp_path / "run")]) == 2
    assert "did you mean 'mode'?" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "r.parquet").exists()
    with pytest.raises(ConfigError, match=r"agents\.editor\.options\.mdoe"):
        build_app({"pipeline": "canvas_rule", "overrides": [typo]})
    # A config built in code, not loaded: the pipeline builders check it too, before any agent or actor.
    data = load_config("canvas_rule").model_dump()
    data["agents"]["editor"]["options"] = {"mdoe": "multi_turn"}
    config = PipelineConfig.model_validate(data)
    for build in (Pipeline.local, ray_pipeline):
        with pytest.raises(ConfigError, match=r"agents\.editor\.options\.mdoe: .*did you mean 'mode'\?"):
            build(config)
