"""Edit one image from Python: a generated Canvas task through the rule-based pipeline, in this process.

Shows the core objects without the command line: `load_config` (a packaged pipeline by name), `Pipeline.local`
(the agent graph with every agent in-process), `generate_task` (one task of the embedded Canvas world),
the `EpisodeState` an episode starts from, and the finished state every agent wrote into (plan, components,
sub-requests, edited image, checklist verdicts). No download, no GPU, no Ray; a few seconds.

    python examples/edit_image.py [--index 5] [--config canvas_rule] [--set editor.options.mode=multi_turn] [--out edited.png]

`editrl edit IMAGE "INSTRUCTION" --config canvas_rule --out OUT.png` does the same for an image of your own.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from agents.base import EpisodeState
from envs.canvas.generator import generate_task
from orchestration.config import load_config
from orchestration.pipeline import Pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="canvas_rule", help="a packaged pipeline (canvas_rule, editor_only) or a YAML path")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, as `editrl edit --set` does (repeatable)")
    parser.add_argument("--index", type=int, default=5, help="which task of the Canvas test stream")
    parser.add_argument("--out", type=Path, default=None, help="where to write the edited PNG (default: a temp dir)")
    args = parser.parse_args(argv)

    # A pipeline is a validated config; Pipeline.local builds every agent once, in this process.
    config = load_config(args.config, args.overrides)
    pipeline = Pipeline.local(config)
    print(f"pipeline    : {config.name}: {' -> '.join(pipeline.graph.order)}")

    # One generated task: a source image, an instruction, and ground truth (components, a reference checklist).
    task = generate_task(args.index, seed=0, split="test")
    print(f"task        : {task.task_id} ({task.category}, {task.n_steps} step(s))")
    print(f"instruction : {task.instruction}")

    # The state an episode starts from: what a user gives (instruction, image) plus, for the verifier, the task's
    # reference checklist (`envs.editing_env.task_to_state` builds the same). Without a checklist the Canvas
    # verifier derives one from the request, as it must when serving.
    state = EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png,
                         reference=task.reference, checklist=list(task.checklist))

    # One episode: the state flows through the graph; each agent adds its output. A failing agent ends the
    # episode with `result.error` instead of raising.
    result = pipeline.run(state)
    if not result.ok:
        raise SystemExit(f"the episode failed: {result.error}")
    state = result.state

    if state.plan is not None:
        print(f"plan        : {state.plan.text}")
    for c in state.decomposition.components if state.decomposition else []:
        print(f"component   : {c.action} | {', '.join(c.subject)} | {', '.join(c.target) or '-'}")
    for i, item in enumerate(state.subrequests.items if state.subrequests else []):
        print(f"subrequest {i}: {item}")
    # The verifier answered the task's reference checklist by perceiving the edited image.
    for v in state.verdict.items:
        print(f"check       : [{'pass' if v.passed else 'FAIL'}] {v.question} (expected {v.expected}, saw {v.answer})")
    print(f"score       : {state.verdict.score:.3f}   passed: {state.verdict.passed}")
    print("timings ms  : " + ", ".join(f"{node} {ms:.1f}" for node, ms in result.timings_ms.items()))

    out = args.out or Path(tempfile.mkdtemp(prefix="editrl-example-")) / "edited.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(state.edit.image_png)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
