"""`editrl serve`: reads the Serve config file, builds the same app, starts Serve with the file's http_options
(overridden by --host/--port/--set) and its other Serve keys as `serve run` applies them, blocks until Ctrl-C and
shuts down. Ray and Serve are stubbed here; the real
start-up is exercised with Ray's own `serve run` in test_served_subprocess.py."""

import os
from pathlib import Path

import pytest
import ray
import yaml
from ray import serve
from ray.serve import Application

import orchestration.commands.serve as serve_command
import orchestration.serve.app as serve_app
from orchestration.cli import main

SERVE_YAML = str(Path(__file__).resolve().parents[3] / "configs" / "serve.yaml")


@pytest.fixture
def stubbed(monkeypatch):
    calls: dict = {"built": [], "shutdown": 0}
    real_bind = serve_app.bind_app

    def bind(settings, deployments=None, runtime_env=None):
        calls["built"].append(settings.model_dump())
        calls["bound"] = {"deployments": deployments, "runtime_env": runtime_env, "token": settings.token()}
        return real_bind(settings, deployments, runtime_env)

    class Clock:
        @staticmethod
        def sleep(_):
            raise KeyboardInterrupt  # the user presses Ctrl-C while the server runs

    monkeypatch.setattr(serve_app, "bind_app", bind)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.setdefault("init", kw))
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(serve, "start", lambda **kw: calls.setdefault("start", kw))
    monkeypatch.setattr(serve, "run", lambda app, **kw: calls.setdefault("run", (app, kw)))
    monkeypatch.setattr(serve, "shutdown", lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1))
    monkeypatch.setattr(serve_command, "time", Clock)
    monkeypatch.delenv("EDITRL_SERVE_TOKEN", raising=False)
    return calls


def test_serve_starts_the_app_of_the_config_file_and_stops_on_ctrl_c(stubbed, capsys):
    code = main(["serve", "--config", SERVE_YAML, "--host", "0.0.0.0", "--port", "8765", "--set", "request_timeout_s=7",
                 "--pipeline-set", "editor.options.mode=multi_turn"])
    assert code == 0
    assert stubbed["start"] == {"http_options": {"host": "0.0.0.0", "port": 8765}, "proxy_location": "HeadOnly"}
    app, kw = stubbed["run"]
    assert isinstance(app, Application) and kw == {"name": "editrl", "route_prefix": "/"}
    (args,) = stubbed["built"]
    assert args["request_timeout_s"] == 7 and args["overrides"] == ["editor.options.mode=multi_turn"]
    assert args["pipeline"] == "canvas_rule" and stubbed["shutdown"] == 1
    assert "canvas_rule at http://0.0.0.0:8765/" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--set", "limits.max_pixelz=1"], "limits.max_pixelz"),
    (["--set", "pipeline=no_such_pipeline"], "no_such_pipeline"),
    (["--pipeline-set", "editor.modee=x"], "agents.editor.modee"),
    (["--port", "70000"], "not a TCP port"),
    (["--config", "missing.yaml"], "not found"),
])
def test_bad_configuration_fails_before_ray_starts(stubbed, capsys, argv, message):
    assert main(["serve", "--config", SERVE_YAML, *argv]) == 2
    assert message in capsys.readouterr().err
    assert "init" not in stubbed


def test_serve_applies_the_files_own_serve_keys_as_serve_run_does(stubbed, capsys, tmp_path):
    data = yaml.safe_load(Path(SERVE_YAML).read_text())
    data.update(proxy_location="EveryNode", logging_config={"log_level": "WARNING"}, grpc_options={"port": 9123},
                tracing_config={"enabled": False}, controller_options={"runtime_env": {"env_vars": {"RAY_SERVE_X": "1"}}})
    data["applications"][0].update(
        runtime_env={"env_vars": {"EDITRL_SERVE_TOKEN": "from-runtime-env"}},  # `serve run` builds the app with it
        logging_config={"log_level": "DEBUG", "enable_access_log": False},
        deployments=[{"name": "editor", "num_replicas": "auto", "autoscaling_config": {"max_replicas": 2}}])
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["serve", "--config", str(path)]) == 0
    assert stubbed["start"] == {"http_options": {"host": "127.0.0.1", "port": 8000}, "proxy_location": "EveryNode",
                                "logging_config": {"log_level": "WARNING"}, "grpc_options": {"port": 9123},
                                "tracing_config": {"enabled": False},
                                "controller_options": {"runtime_env": {"env_vars": {"RAY_SERVE_X": "1"}}}}
    app, kw = stubbed["run"]
    assert kw == {"name": "editrl", "route_prefix": "/", "logging_config": {"log_level": "DEBUG", "enable_access_log": False}}
    bound = stubbed["bound"]
    assert bound["deployments"] == {"editor": {"num_replicas": "auto", "autoscaling_config": {"max_replicas": 2}}}
    assert bound["runtime_env"] == {"env_vars": {"EDITRL_SERVE_TOKEN": "from-runtime-env"}}
    assert bound["token"] == "from-runtime-env" and "bearer token required" in capsys.readouterr().err
    assert "EDITRL_SERVE_TOKEN" not in os.environ  # set only while the app was built


def test_serve_keys_it_cannot_honour_fail_before_ray_starts(stubbed, capsys, tmp_path):
    data = yaml.safe_load(Path(SERVE_YAML).read_text())
    data["target_capacity"] = 50
    data["applications"][0]["deployments"] = [{"name": "editor", "user_config": {"a": 1}}]
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "target_capacity: " in err and "deployments[editor].user_config: " in err
    assert "init" not in stubbed
