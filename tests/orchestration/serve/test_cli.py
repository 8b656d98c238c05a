"""`editrl serve`: reads the Serve config file, builds the same app, starts Serve with the file's http_options
(overridden by --host/--port/--set), blocks until Ctrl-C and shuts down. Ray and Serve are stubbed here; the real
start-up is exercised with Ray's own `serve run` in test_served_subprocess.py."""

from pathlib import Path

import pytest
import ray
from ray import serve
from ray.serve import Application

import orchestration.commands.serve as serve_command
import orchestration.serve.app as serve_app
from orchestration.cli import main

SERVE_YAML = str(Path(__file__).resolve().parents[3] / "configs" / "serve.yaml")


@pytest.fixture
def stubbed(monkeypatch):
    calls: dict = {"built": [], "shutdown": 0}
    real_build = serve_app.build_app

    def build(args):
        calls["built"].append(args)
        return real_build(args)

    class Clock:
        @staticmethod
        def sleep(_):
            raise KeyboardInterrupt  # the user presses Ctrl-C while the server runs

    monkeypatch.setattr(serve_app, "build_app", build)
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
    assert stubbed["start"]["http_options"] == {"host": "0.0.0.0", "port": 8765}
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
