"""Configuration mistakes are one error that names the key and says what to change, before Ray or any agent starts.

Unknown keys, wrong types, missing files and impossible graphs are covered key by key in test_config_graph.py,
serve/test_config.py, serve/test_cli.py and grpo/test_config.py; here: the unknown-key message names the nearest
known key at any depth (pipeline configs and Serve args), and a model folder that does not exist is reported by `editrl edit`, `editrl eval` and the
Serve app builder before `ray.init`, instead of as a loader traceback from inside an actor or a replica.
"""

import pytest
import ray

from envs.canvas.generator import generate_tasks
from envs.dataset import write_tasks
from orchestration.cli import main
from orchestration.config import ConfigError, check_model_paths, load_config


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
    check_model_paths(load_config("thinkrl_edit", ["thinker.backend=rule"]))  # rule agents have no model
    missing = tmp_path / "runs" / "sft" / "thinker"
    with pytest.raises(ConfigError, match=r"agents\.thinker\.model: folder .*runs/sft/thinker' does not exist .*"
                                          r"editrl sft --config thinkrl_edit.*--set thinker\.backend=rule"):
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
