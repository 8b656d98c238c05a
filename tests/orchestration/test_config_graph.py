"""Config validation and the agent graph: errors name the key or node and say what to change."""

import pytest

from orchestration.config import ConfigError, available_configs, load_config
from orchestration.graph import build_graph

BASE = {
    "name": "t",
    "agents": {"thinker": {"backend": "rule"}, "decomposer": {"backend": "rule"}, "sorter": {"backend": "rule"},
               "editor": {"backend": "canvas"}, "verifier": {"backend": "canvas"}},
    "graph": {"nodes": ["thinker", "decomposer", "sorter", "editor", "verifier"]},
}


def cfg(**changes):
    import copy

    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        node = data
        parts = key.split("__")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = value
    return data


def test_packaged_configs_load():
    names = available_configs()
    assert {"editor_only", "canvas_rule", "imageedit_r1", "dda_thinker", "thinkrl_edit"} <= set(names)
    for name in ("editor_only", "canvas_rule"):
        assert load_config(name).name == name


def test_unknown_key_is_rejected_with_its_path():
    with pytest.raises(ConfigError, match=r"agents\.editor\.modee: Extra inputs are not permitted"):
        load_config(cfg(agents__editor__modee="x"), check_graph=False)


def test_wrong_type_names_the_field():
    with pytest.raises(ConfigError, match=r"agents\.editor\.replicas"):
        load_config(cfg(agents__editor__replicas="many"), check_graph=False)


def test_overrides_are_typed_and_support_the_agent_shorthand():
    c = load_config("canvas_rule", ["editor.options.mode=multi_turn", "agents.editor.replicas=2", "seed=7"])
    assert c.agents["editor"].options["mode"] == "multi_turn" and c.agents["editor"].replicas == 2 and c.seed == 7


@pytest.mark.parametrize("override, message", [
    ("nokey", "must look like dotted.key=value"),
    ("=3", "empty key"),
    ("agents.editor.nope=1", r"agents\.editor\.nope"),
])
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("canvas_rule", [override])


def test_missing_config_file_lists_the_packaged_ones():
    with pytest.raises(ConfigError, match="not found.*canvas_rule"):
        load_config("does/not/exist.yaml")


def test_unknown_agent_in_graph_is_named():
    with pytest.raises(ConfigError, match="unknown agent 'painter'"):
        load_config(cfg(graph={"nodes": ["thinker", "painter"]}))


def test_cycle_is_named():
    data = cfg(graph={"nodes": ["editor", "verifier"], "edges": [["editor", "verifier"], ["verifier", "editor"]]})
    with pytest.raises(ConfigError, match="cycle editor -> verifier -> editor"):
        load_config(data)


def test_unmet_input_names_the_node_and_the_fix():
    with pytest.raises(ConfigError, match="agent 'sorter' \\(sorter\\) needs decomposition.*add a decomposer before it"):
        load_config(cfg(graph={"nodes": ["sorter", "editor", "verifier"]}))


def test_reflection_must_point_upstream_from_a_verifier():
    with pytest.raises(ConfigError, match="reflection starts from a verifier"):
        load_config(cfg(graph={**BASE["graph"], "reflection": {"source": "editor", "target": "thinker"}}))
    with pytest.raises(ConfigError, match="must come before 'verifier'"):
        load_config(cfg(graph={"nodes": ["editor", "verifier", "thinker"], "edges": [["editor", "verifier"]],
                               "reflection": {"source": "verifier", "target": "thinker"}}))
    ok = load_config(cfg(graph={**BASE["graph"], "reflection": {"source": "verifier", "target": "thinker", "max_rounds": 2}}))
    graph = build_graph(ok)
    assert graph.max_rounds == 2 and graph.nodes_from("thinker")[0] == "thinker"


def test_unknown_backend_and_bad_plugin_are_named():
    with pytest.raises(ConfigError, match="agents.editor: .*no built-in editor with backend 'magic'"):
        load_config(cfg(agents__editor__backend="magic"))
    with pytest.raises(ConfigError, match="cannot import module 'no_such_pkg.mod'"):
        load_config(cfg(agents__editor__cls="no_such_pkg.mod:Editor"))
    with pytest.raises(ConfigError, match="no entry point 'ghost'"):
        load_config(cfg(agents__editor__cls="ghost"))


def test_a_node_name_that_is_not_a_role_needs_a_role():
    data = cfg()
    data["agents"]["critic"] = {"backend": "canvas"}
    with pytest.raises(ConfigError, match="agents.critic.role is missing"):
        load_config(data, check_graph=False)
