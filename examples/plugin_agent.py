"""A plug-in agent: your own verifier class, named by import path in a pipeline config, run on a Canvas task.

Shows how a class with `role` and `act(state)` (here `my_agents.ChangeCheckingVerifier`, next to this script)
replaces a built-in agent: the config names it with `cls: module:Class` and passes its constructor arguments as
`options`; `load_config` imports and checks it before anything runs (a wrong role is one error naming the node);
`Pipeline.local` builds it like any built-in agent. No download, no Ray; a few seconds.

    python examples/plugin_agent.py [--index 5] [--min-changed 0.001]

The same from the command line: `editrl edit in.png "make the star blue" --config canvas_rule --out out.png
--set verifier.cls=my_agents:ChangeCheckingVerifier` (with `my_agents` importable). Under Ray (`--ray`, Serve,
training) the module must be importable on every worker: install your package. docs/extending.md has the details.
"""

from __future__ import annotations

import argparse

import yaml

from agents.base import EpisodeState
from envs.canvas.generator import generate_task
from orchestration.config import ConfigError, load_config
from orchestration.pipeline import Pipeline

# A pipeline in YAML: the packaged rule agents, with the verifier replaced by the plug-in. `my_agents` imports
# because Python puts this script's folder (examples/) on sys.path; a real plug-in lives in an installed package.
PIPELINE = """
name: rule_with_change_check
agents:
  thinker: {backend: rule}
  decomposer: {backend: rule}
  sorter: {backend: rule}
  editor: {backend: canvas, options: {mode: multi_turn}}
  verifier:
    cls: my_agents:ChangeCheckingVerifier
    options: {min_changed: 0.001}
graph:
  nodes: [thinker, decomposer, sorter, editor, verifier]
"""


def show(title: str, pipeline: Pipeline, state: EpisodeState) -> None:
    result = pipeline.run(state)
    if not result.ok:
        raise SystemExit(f"the episode failed: {result.error}")
    verdict = result.state.verdict
    print(f"{title}: {state.instruction!r}")
    print(f"  plan    : {result.state.plan.text or '-'}")
    for item in verdict.items:
        print(f"  check   : [{'pass' if item.passed else 'FAIL'}] {item.question} (saw {item.answer})")
    print(f"  score   : {verdict.score:.3f}   passed: {verdict.passed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=5, help="which task of the Canvas test stream")
    parser.add_argument("--min-changed", type=float, default=0.001, help="the plug-in's option: least share of pixels an edit must change")
    args = parser.parse_args(argv)

    data = yaml.safe_load(PIPELINE)
    config = load_config(data, [f"verifier.options.min_changed={args.min_changed}"])  # --set works on plug-ins too
    pipeline = Pipeline.local(config)
    print(f"verifier agent: {pipeline.describe()['agents']['verifier']}")

    # A generated task, checked against its reference checklist plus the plug-in's own item.
    task = generate_task(args.index, seed=0, split="test")
    show("canvas task", pipeline, EpisodeState(task_id=task.task_id, instruction=task.instruction,
                                               source_png=task.source_png, checklist=list(task.checklist)))
    # A request no agent can carry out: the image comes back unchanged, and the plug-in's item fails.
    show("impossible request", pipeline, EpisodeState(task_id="jig", instruction="Please dance a little jig.",
                                                      source_png=task.source_png))

    # The class is checked when the config loads: a verifier named as the thinker is rejected before any agent runs.
    try:
        load_config(data, ["thinker.cls=my_agents:ChangeCheckingVerifier"])
    except ConfigError as err:
        print(f"config error (as expected): {err}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
