"""Plug-in agents are imported only when a config names them: loading and building a pipeline without one reads no
entry point and imports no plug-in module, so an installed package cannot run code in a process that did not ask
for it."""

import sys
import textwrap

import pytest

import agents.registry as registry
from envs.canvas.generator import generate_task
from orchestration.config import ConfigError, available_configs, load_config
from orchestration.pipeline import Pipeline

PLUGIN = "editrl_probe_plugin"


class FakeEntryPoint:
    """An installed plug-in as importlib.metadata lists it; `load` is what would import its code."""

    def __init__(self, name: str, loaded: list[str]):
        self.name = name
        self.loaded = loaded

    def load(self):
        self.loaded.append(self.name)
        from agents.editor import CanvasEditor

        return CanvasEditor


@pytest.fixture
def installed(monkeypatch):
    """An installed entry point 'probe-editor' in editrl.agents; records every scan of the group and every load."""
    record = {"scans": [], "loaded": []}

    def entry_points(**kwargs):
        record["scans"].append(kwargs)
        return [FakeEntryPoint("probe-editor", record["loaded"])]

    monkeypatch.setattr(registry, "entry_points", entry_points)
    return record


def test_configs_without_plugins_read_no_entry_points(installed):
    for name in available_configs():
        if name != "serve":  # a Serve config file, not a pipeline
            load_config(name)  # validates and resolves every agent class of the graph
    pipeline = Pipeline.local(load_config("canvas_rule"))
    task = generate_task(1, seed=0, split="test")
    from envs.editing_env import task_to_state

    assert pipeline.run(task_to_state(task)).ok
    assert installed == {"scans": [], "loaded": []}


def test_an_entry_point_is_loaded_when_a_config_names_it(installed):
    config = load_config("canvas_rule", ["editor.cls=probe-editor"])
    assert installed["loaded"] == ["probe-editor"] and installed["scans"] == [{"group": registry.ENTRY_POINT_GROUP}]
    assert config.agents["editor"].cls == "probe-editor"
    with pytest.raises(ConfigError, match=r"agents\.editor: .*no entry point 'not-installed' in group 'editrl.agents'"):
        load_config("canvas_rule", ["editor.cls=not-installed"])


def test_an_import_path_plugin_module_is_imported_only_when_named(tmp_path, monkeypatch):
    (tmp_path / f"{PLUGIN}.py").write_text(textwrap.dedent("""
        from agents.editor import CanvasEditor

        class ProbeEditor(CanvasEditor):
            backend = "probe"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, PLUGIN, raising=False)
    load_config("canvas_rule")
    assert PLUGIN not in sys.modules
    load_config("canvas_rule", [f"editor.cls={PLUGIN}:ProbeEditor"])
    assert PLUGIN in sys.modules
    monkeypatch.delitem(sys.modules, PLUGIN)
