"""The serve config: configs/serve.yaml is a valid Ray Serve config whose args validate; errors name the key."""

from pathlib import Path

import pytest
import yaml

from orchestration.config import ConfigError
from orchestration.serve.config import (
    IMPORT_PATH,
    Limits,
    ServeArgs,
    deployment_settings,
    parse_args,
    read_serve_file,
    resolve_pipeline,
)

ROOT = Path(__file__).resolve().parents[3]
SERVE_YAML = ROOT / "configs" / "serve.yaml"


def test_serve_yaml_is_a_ray_serve_config_and_its_args_validate():
    from ray.serve.schema import ServeDeploySchema

    data = yaml.safe_load(SERVE_YAML.read_text())
    schema = ServeDeploySchema.model_validate(data)  # what `serve run` / `serve deploy` check
    (app,) = schema.applications
    assert app.import_path == IMPORT_PATH and app.route_prefix == "/"
    assert schema.http_options.host == "127.0.0.1"
    args = ServeArgs.model_validate(app.args)
    assert args.pipeline == "canvas_rule" and args.checkpoint is None and args.auth_token_env == "EDITRL_SERVE_TOKEN"
    config = resolve_pipeline(args)
    assert set(args.deployments) == set(config.graph.nodes)


def test_read_serve_file_applies_overrides_and_defaults(tmp_path):
    spec = read_serve_file(SERVE_YAML, ["request_timeout_s=5", "limits.max_pixels=100000", "deployments.editor.num_replicas=2"])
    assert spec.http_options == {"host": "127.0.0.1", "port": 8000}
    assert spec.name == "editrl" and spec.args.request_timeout_s == 5 and spec.args.limits.max_pixels == 100000
    config = resolve_pipeline(spec.args)
    assert deployment_settings(spec.args, config, "editor")["num_replicas"] == 2
    assert deployment_settings(spec.args, config, "thinker")["num_replicas"] == 1


@pytest.mark.parametrize("args, message", [
    ({"limits": {"max_pixelz": 5}}, "limits.max_pixelz"),
    ({"request_timeout_s": 0}, "request_timeout_s"),
    ({"limits": {"formats": ["PNG", "JPG2"]}}, "unknown image format"),
    ({"limits": {"max_body_bytes": 2048, "max_image_bytes": 4096}}, "raise max_body_bytes"),
    ({"deployments": {"editor": {"num_replica": 2}}}, "deployments.editor.num_replica"),
    ({"sample_split": "dev"}, "sample_split"),
    ({"deployments": {"editor": {"placement": "ingress", "num_replicas": 2}}}, "placement 'ingress'.*num_replicas cannot be set"),
    ({"deployments": {"editor": {"placement": "ingress", "health_check_period_s": 2}}}, "placement 'ingress'.*health_check_period_s cannot"),
    ({"deployments": {"editor": {"health_check_period_s": 0}}}, "health_check_period_s"),
    ({"deployments": {"editor": {"placement": "nearby"}}}, "deployments.editor.placement"),
])
def test_bad_args_are_rejected_with_their_path(args, message):
    with pytest.raises(ConfigError, match=message):
        parse_args(args)


def test_deployments_must_name_graph_nodes_and_the_pipeline_needs_an_editor():
    with pytest.raises(ConfigError, match="'editr' not in pipeline 'canvas_rule'.*thinker, decomposer"):
        resolve_pipeline(parse_args({"deployments": {"editr": {"num_replicas": 2}}}))
    with pytest.raises(ConfigError, match="no editor"):
        resolve_pipeline(parse_args({"overrides": ["graph.nodes=[thinker]"]}))
    with pytest.raises(ConfigError, match="not found"):
        resolve_pipeline(parse_args({"pipeline": "no_such_pipeline"}))


def test_checkpoint_points_lm_agents_at_their_model_folders(tmp_path):
    (tmp_path / "thinker").mkdir()
    args = parse_args({"pipeline": "thinkrl_edit", "checkpoint": str(tmp_path)})
    config = resolve_pipeline(args)
    assert config.agents["thinker"].model == str(tmp_path / "thinker")
    assert deployment_settings(args, config, "thinker")["batching"] is True  # LM agents batch
    assert deployment_settings(args, config, "editor")["batching"] is False
    single = tmp_path / "single"
    single.mkdir()
    (single / "config.json").write_text("{}")
    assert resolve_pipeline(parse_args({"pipeline": "thinkrl_edit", "checkpoint": str(single)})).agents["thinker"].model == str(single)
    run = tmp_path / "run"  # the GRPO trainer's layout: <run>/checkpoints/latest -> iter_N/policies/<node>
    (run / "checkpoints" / "iter_000040" / "policies" / "thinker").mkdir(parents=True)
    (run / "checkpoints" / "latest").write_text("iter_000040")
    expected = str(run / "checkpoints" / "iter_000040" / "policies" / "thinker")
    assert resolve_pipeline(parse_args({"pipeline": "thinkrl_edit", "checkpoint": str(run)})).agents["thinker"].model == expected
    assert resolve_pipeline(parse_args({"pipeline": "thinkrl_edit", "checkpoint": str(run / "checkpoints" / "iter_000040")})).agents["thinker"].model == expected
    with pytest.raises(ConfigError, match="no model for agent 'thinker'"):
        resolve_pipeline(parse_args({"pipeline": "thinkrl_edit", "checkpoint": str(tmp_path / "thinker")}))
    with pytest.raises(ConfigError, match="no language-model agent"):
        resolve_pipeline(parse_args({"pipeline": "canvas_rule", "checkpoint": str(tmp_path)}))
    with pytest.raises(ConfigError, match="not a directory"):
        resolve_pipeline(parse_args({"pipeline": "thinkrl_edit", "checkpoint": str(tmp_path / "missing")}))


def test_token_from_config_or_environment(monkeypatch):
    monkeypatch.delenv("EDITRL_SERVE_TOKEN", raising=False)
    assert ServeArgs().token() is None
    monkeypatch.setenv("EDITRL_SERVE_TOKEN", "from-env")
    assert ServeArgs().token() == "from-env"
    assert ServeArgs(auth_token="from-config").token() == "from-config"
    assert ServeArgs(auth_token_env=None).token() is None


def test_every_field_is_documented():
    from orchestration.serve.config import DeploymentSettings, IngressSettings

    for model in (ServeArgs, Limits, DeploymentSettings, IngressSettings):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_bad_serve_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("applications: [{name: x, import_path: other:app}]")
    with pytest.raises(ConfigError, match="no application with import_path"):
        read_serve_file(bad)
    bad.write_text("just text")
    with pytest.raises(ConfigError, match="applications"):
        read_serve_file(bad)
    with pytest.raises(ConfigError, match="not found"):
        read_serve_file(tmp_path / "missing.yaml")


def test_an_agent_that_wants_a_gpu_cannot_be_placed_in_the_ingress():
    from orchestration.serve.app import build_app

    with pytest.raises(ConfigError, match="deployments.editor.placement.*num_gpus=1"):
        build_app({"overrides": ["editor.num_gpus=1"], "deployments": {"editor": {"placement": "ingress"}}})
