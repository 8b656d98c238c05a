"""The serve config: configs/serve.yaml is a valid Ray Serve config whose args validate; errors name the key."""

from pathlib import Path

import pytest
import yaml

from orchestration.config import ConfigError
from orchestration.serve.config import (
    IMPORT_PATH,
    INGRESS,
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
    ({"deployments": {"editor": {"num_replicas": "many"}}}, "deployments.editor.num_replicas.*'many' is neither a number of replicas"),
    ({"ingress": {"num_replicas": 0}}, "ingress.num_replicas.*0 is neither"),
    ({"deployments": {"editor": {"num_replicas": 2, "autoscaling_config": {"max_replicas": 3}}}},
     "deployments.editor.*num_replicas is not allowed when autoscaling_config.*set num_replicas to auto or leave it out"),
    ({"deployments": {"editor": {"autoscaling_config": {"max_replica": 3}}}},
     r"deployments.editor.autoscaling_config.*max_replica: unknown key \(did you mean 'max_replicas'"),
    ({"deployments": {"editor": {"autoscaling_config": {"max_replicas": 0}}}}, "deployments.editor.autoscaling_config.*max_replicas"),
    ({"deployments": {"editor": {"placement": "ingress", "autoscaling_config": {"max_replicas": 2}}}},
     "placement 'ingress'.*autoscaling_config cannot be set"),
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


# -- Serve's own keys in the file: honoured as `serve run` honours them, or refused by name ----------------------------


def _serve_file(tmp_path, app: dict | None = None, **top) -> Path:
    """configs/serve.yaml with keys of the editrl application and of the file's top level replaced."""
    data = yaml.safe_load(SERVE_YAML.read_text())
    data["applications"][0].update(app or {})
    data.update(top)
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _built(app) -> dict:
    """The deployments of a bound app as `serve.run` finalises them, by name (nothing is started)."""
    from ray.serve._private.build_app import build_app as finalise

    return {d.name: d for d in finalise(app, name="editrl").deployments}


def test_per_agent_autoscaling_and_serve_deployment_entries_reach_the_deployments(tmp_path):
    from ray.serve.schema import ServeDeploySchema

    from orchestration.serve.app import EditService, bind_app, build_app

    assert EditService.name == INGRESS
    args = yaml.safe_load(SERVE_YAML.read_text())["applications"][0]["args"]
    args["deployments"]["editor"] = {"num_replicas": "auto", "autoscaling_config": {"max_replicas": 3, "target_ongoing_requests": 4}}
    args["deployments"]["thinker"] = {"autoscaling_config": {"min_replicas": 1, "max_replicas": 2}}
    path = _serve_file(tmp_path, {
        "args": args,
        "runtime_env": {"env_vars": {"EDITRL_X": "app"}},
        "logging_config": {"log_level": "DEBUG"},
        # Serve's own per-deployment settings, applied over the args' as Serve applies them under `serve run`
        "deployments": [
            {"name": "verifier", "num_replicas": "auto", "autoscaling_config": {"max_replicas": 2}},
            {"name": "sorter", "num_replicas": 2, "ray_actor_options": {"num_cpus": 0, "runtime_env": {"env_vars": {"EDITRL_Y": "own"}}}},
            {"name": "EditService", "max_ongoing_requests": 16, "health_check_period_s": 3},
        ],
    }, proxy_location="HeadOnly", logging_config={"log_level": "WARNING"})
    ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))  # the same file is valid for `serve run`
    spec = read_serve_file(path)
    assert spec.start_options == {"proxy_location": "HeadOnly", "logging_config": {"log_level": "WARNING"}}
    assert spec.run_options == {"logging_config": {"log_level": "DEBUG"}}

    built = _built(bind_app(spec.args, spec.deployments, spec.runtime_env))
    scaling = {name: d._deployment_config.autoscaling_config for name, d in built.items()}
    editor, thinker, verifier = scaling["editor"], scaling["thinker"], scaling["verifier"]
    assert (editor.min_replicas, editor.max_replicas, editor.target_ongoing_requests) == (1, 3, 4)  # `auto`'s min 1
    assert (thinker.min_replicas, thinker.max_replicas) == (1, 2)
    assert (verifier.min_replicas, verifier.max_replicas) == (1, 2)
    assert scaling["decomposer"] is None and built["decomposer"].num_replicas == 1
    assert scaling["sorter"] is None and built["sorter"].num_replicas == 2
    assert built["EditService"].max_ongoing_requests == 16 and built["EditService"]._deployment_config.health_check_period_s == 3
    # the application's runtime_env under each replica's own, env_vars merged (Serve's merge)
    assert built["decomposer"].ray_actor_options["runtime_env"] == {"env_vars": {"EDITRL_X": "app"}}
    assert built["sorter"].ray_actor_options["runtime_env"] == {"env_vars": {"EDITRL_X": "app", "EDITRL_Y": "own"}}

    # `serve run` calls the builder with the args alone; the args' autoscaling is the same there
    from_args = _built(build_app(spec.args.model_dump()))
    assert from_args["editor"]._deployment_config.autoscaling_config == editor
    assert from_args["verifier"]._deployment_config.autoscaling_config is None  # Serve's controller applies that entry
    ingress = _built(build_app({"ingress": {"num_replicas": "auto", "autoscaling_config": {"max_replicas": 2}}}))["EditService"]
    assert ingress._deployment_config.autoscaling_config.max_replicas == 2


@pytest.mark.parametrize("app, top, message", [
    ({}, {"target_capacity": 50}, "target_capacity: .*remove it, or deploy the file with `serve deploy"),
    ({}, {"proxy_locaton": "HeadOnly"}, r"proxy_locaton: unknown key \(did you mean 'proxy_location'.*correct or remove it"),
    ({"deployments": [{"name": "editor", "autoscaling_config": {"min_replica": 1}}]}, {},
     r"applications\[editrl\].deployments\[editor\].autoscaling_config.min_replica: unknown key \(did you mean 'min_replicas'"),
    ({"deployments": [{"name": "editor", "autoscaling_config": {"max_replicas": 0}}]}, {},
     r"deployments\[editor\].autoscaling_config: max_replicas: Input should be greater than 0"),
    ({"deployments": [{"name": "editor", "num_replicas": 2, "autoscaling_config": {"max_replicas": 3}}]}, {},
     "not a valid Serve config.*num_replicas is not allowed when autoscaling_config"),
    ({"deployments": [{"name": "editor", "user_config": {"mode": "x"}}]}, {},
     r"deployments\[editor\].user_config: the editrl deployments have no reconfigure\(\).*args.overrides"),
    ({"deployments": [{"name": "editor", "rolling_update_percentage": 0.5}]}, {},
     r"deployments\[editor\].rolling_update_percentage: Serve applies it only when its controller deploys.*`serve run "),
    ({"deployments": [{"name": "editor", "num_replicas": 2}, {"name": "editor", "num_replicas": 3}]}, {}, r"deployments\[editor\]: listed twice"),
    ({"autoscaling_policy": {"policy_function": "x:y"}}, {}, "autoscaling_policy: .*args.deployments.<node>.autoscaling_config"),
    ({"route_prefix": None}, {}, "route_prefix: null serves no HTTP"),
])
def test_serve_keys_editrl_serve_cannot_honour_are_refused_by_name(tmp_path, app, top, message):
    with pytest.raises(ConfigError, match=message):
        read_serve_file(_serve_file(tmp_path, app, **top))


def test_other_applications_in_the_file_need_app_to_pick_one(tmp_path):
    path = _serve_file(tmp_path, applications=[*yaml.safe_load(SERVE_YAML.read_text())["applications"],
                                               {"name": "other", "import_path": "other.module:app", "route_prefix": "/other"}])
    with pytest.raises(ConfigError, match=r"2 applications \(editrl, other\).*--app editrl.*`serve run"):
        read_serve_file(path)
    assert read_serve_file(path, app_name="editrl").name == "editrl"


def test_serve_deployment_entries_must_name_a_deployment_of_the_app(tmp_path):
    from orchestration.serve.app import bind_app

    args = parse_args({"deployments": {"sorter": {"placement": "ingress"}}})
    with pytest.raises(ConfigError, match=r"deployments\[editr\]: no deployment 'editr'.*thinker, decomposer, editor, verifier, EditService"):
        bind_app(args, {"editr": {"num_replicas": 2}})
    with pytest.raises(ConfigError, match=r"deployments\[sorter\]: agent 'sorter' runs inside the ingress"):
        bind_app(args, {"sorter": {"num_replicas": 2}})
