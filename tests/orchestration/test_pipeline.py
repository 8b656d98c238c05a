"""The agent graph running episodes: in-process, as Ray actors, with reflection, with plug-in agents."""

import sys
import textwrap

import pytest
import ray

from agents.base import Agent, Decomposition, EpisodeState, Plan
from envs.canvas.generator import generate_tasks
from envs.editing_env import task_to_state
from envs.task import ComponentSpec
from orchestration.actors import ray_pipeline
from orchestration.config import load_config
from orchestration.evaluate import run_episodes, summarize
from orchestration.pipeline import Pipeline


class EchoThinker(Agent):
    """A plug-in defined in this test: its plan is the instruction, upper-cased, so we can see it ran."""

    role = "thinker"
    backend = "echo"

    def __init__(self, suffix: str = ""):
        self.suffix = suffix

    def act(self, state: EpisodeState) -> Plan:
        return Plan(text=state.instruction.upper() + self.suffix)


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # The plug-in class lives in this test module, which Ray workers cannot import by name: ship it by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def tasks():
    return list(generate_tasks(12, seed=4, split="test"))


def test_local_rule_pipeline_runs_and_times_every_agent(tasks):
    pipeline = Pipeline.local(load_config("canvas_rule"))
    result = pipeline.run(task_to_state(tasks[0]))
    assert result.ok, result.error
    state = result.state
    assert state.plan and state.decomposition and state.subrequests and state.edit and state.verdict
    assert set(result.timings_ms) == {"thinker", "decomposer", "sorter", "editor", "verifier"}
    assert pipeline.describe()["order"] == ["thinker", "decomposer", "sorter", "editor", "verifier"]


def test_reflection_reruns_from_the_target_and_is_bounded(tasks):
    config = load_config("canvas_rule", ["graph.reflection={source: verifier, target: thinker, max_rounds: 2}"])
    pipeline = Pipeline.local(config)
    rows = [pipeline.run(task_to_state(t)) for t in tasks]
    for r in rows:
        assert r.state.round <= 2 and len(r.state.history) == r.state.round
        if r.state.round:
            assert r.state.feedback and not r.state.history[0].verdict.passed
    assert any(r.state.round for r in rows) or all(r.state.verdict.passed for r in rows)


def test_plugin_by_import_path_runs_in_process_and_as_actor(ray_cluster, tasks):
    overrides = [f"thinker.cls={__name__}:EchoThinker", "thinker.options={suffix: '!'}"]
    config = load_config("canvas_rule", overrides)
    local = Pipeline.local(config).run(task_to_state(tasks[0]))
    assert local.state.plan.text == tasks[0].instruction.upper() + "!"
    remote = ray_pipeline(config).run(task_to_state(tasks[0]))
    assert remote.ok and remote.state.plan.text == local.state.plan.text


def test_plugin_by_entry_point(tmp_path, monkeypatch, tasks):
    package = tmp_path / "editrl_echo_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""
        from agents.base import Agent, Plan
        class ShoutThinker(Agent):
            role = "thinker"
            backend = "shout"
            def act(self, state):
                return Plan(text=state.instruction + "!!")
    """))
    dist = tmp_path / "editrl_echo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: editrl-echo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[editrl.agents]\nshout = editrl_echo_plugin:ShoutThinker\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = load_config("canvas_rule", ["thinker.cls=shout"])
    result = Pipeline.local(config).run(task_to_state(tasks[1]))
    assert result.state.plan.text == tasks[1].instruction + "!!"


def test_ray_pipeline_matches_in_process_and_batches(ray_cluster, tasks):
    config = load_config("canvas_rule", ["editor.replicas=2"])
    local_rows = run_episodes(Pipeline.local(config), tasks[:6], workers=1)
    pipeline = ray_pipeline(config)
    remote_rows = run_episodes(pipeline, tasks[:6], workers=4)
    assert [r["edited_png"] for r in remote_rows] == [r["edited_png"] for r in local_rows]
    assert summarize(remote_rows)["overall"]["failed"] == 0
    stats = [ray.get(a.stats.remote()) for a in pipeline.handles["verifier"].actors]
    assert sum(s["requests"] for s in stats) == 6


def test_one_failing_agent_fails_its_episode_only(tasks):
    class Broken(Agent):
        role = "decomposer"

        def act(self, state):
            if "a" in state.task_id[-1:]:
                raise RuntimeError("boom")
            return Decomposition(components=[ComponentSpec(action="remove", subject=["the circle"])])

    config = load_config("canvas_rule")
    pipeline = Pipeline.local(config)
    pipeline.handles["decomposer"].agent = Broken()
    broken = pipeline.run(task_to_state(tasks[0]).model_copy(update={"task_id": "x-a"}))
    assert not broken.ok and broken.failed_node == "decomposer" and "boom" in broken.error
    fine = pipeline.run(task_to_state(tasks[0]))
    assert fine.ok
