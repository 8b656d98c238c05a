"""Two LM agents of one pipeline trained at once, each on its own reward, against training only one of them for the
same wall time.

The pipeline is ``dda_thinker``'s with a decomposer between the thinker and the editor: the LM thinker writes a
plan, the LM decomposer reads the request and that plan and writes the components, the rule sorter orders them and
the multi-turn Canvas editor carries them out. Each agent keeps the reward its own recipe gives it: the thinker
``dda_thinker``'s (``plan_checklist``, the plan judged before any pixel, and ``checklist`` on the edited image,
dual-atomic), the decomposer ``imageedit_r1``'s (``grounded_f1`` + ``success`` + ``format``). Rows, each judged on
the same held-out test tasks by the project's judge (full success: every item of the task's reference checklist
passes on the edited image):

    (a) cold starts           the thinker ``--thinker`` (``editrl sft --config dda_thinker``) and the shipped
                              decomposer ``--decomposer``, untrained
    (b) thinker trained       GRPO on the thinker alone for ``--grpo-seconds``; the decomposer stays (a)'s
    (c) decomposer trained    GRPO on the decomposer alone for the same wall time; the thinker stays (a)'s
    (d) both trained          GRPO on both at once (two learners, one rollout) for the same wall time

Comparisons: paired bootstrap 95% intervals over the held-out tasks, overall and per reasoning category, of (d)
against (b) and (c) (the question: is one run that trains both better than spending the time on one of them?) and
of each trained row against (a). One command per GRPO seed; each run folder (``<work>/seed<S>/<row>``) holds the
metrics (per agent: ``thinker/...``, ``decomposer/...``), TensorBoard curves and checkpoints, and
``<work>/seed<S>/table.md`` the final table.

Usage::

    python benchmarks/two_agents.py --thinker runs/sft/thinker --grpo-seconds 600 --eval-tasks 500 --seed 0
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _thinker_runs import add_run_arguments, comparison_lines, grpo_run, open_run, write_results  # noqa: E402
from orchestration.config import load_config  # noqa: E402
from orchestration.grpo.evaluate import evaluate_pipeline, format_category_table, held_out_tasks  # noqa: E402

CONFIG = "dda_thinker"
COLD = "(a) cold starts"
THINKER = "(b) thinker trained"
DECOMPOSER = "(c) decomposer trained"
BOTH = "(d) both trained"
#: The thinker's advantage as dda_thinker trains it; the decomposer's as imageedit_r1 trains it.
TRAINED = {THINKER: "{thinker: {advantage: dual_atomic}}",
           DECOMPOSER: "{decomposer: {advantage: grpo}}",
           BOTH: "{thinker: {advantage: dual_atomic}, decomposer: {advantage: grpo}}"}
RUN_DIRS = {THINKER: "thinker_trained", DECOMPOSER: "decomposer_trained", BOTH: "both_trained"}


def pipeline_overrides(decomposer: str) -> list[str]:
    """``dda_thinker`` with the decomposer ``decomposer`` (and the rule sorter) between thinker and editor, the
    decomposer rewarded as ``imageedit_r1`` rewards it."""
    recipe = load_config("imageedit_r1")
    rewards = ", ".join(f"{{name: {t.name}, weight: {t.weight}}}" for t in recipe.rewards["decomposer"])
    options = recipe.agents["decomposer"].options
    return [f"agents.decomposer={{backend: transformers, model: {decomposer}, options: {{temperature: 0.0, "
            f"max_new_tokens: {options.get('max_new_tokens', 256)}}}}}",
            "agents.sorter={backend: rule}",
            "graph.nodes=[thinker, decomposer, sorter, editor, verifier]",
            f"rewards.decomposer=[{rewards}]"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--thinker", default="runs/sft/thinker", help="the thinker's cold start (editrl sft --config dda_thinker)")
    ap.add_argument("--decomposer", default="agents/lm/pretrained/decomposer", help="the decomposer's cold start")
    add_run_arguments(ap, "outputs/two_agents", "bcd", "which trained rows to run (subset of bcd; the cold starts always run)")
    args = ap.parse_args()

    work, report = open_run(args)
    pipeline = pipeline_overrides(args.decomposer)
    base = load_config(CONFIG, [f"thinker.model={args.thinker}", *pipeline])
    cold = {"thinker": args.thinker, "decomposer": args.decomposer}
    policies = {COLD: cold}
    for letter, row in zip("bcd", (THINKER, DECOMPOSER, BOTH)):
        if letter not in args.rows:
            continue
        run = grpo_run(letter, CONFIG, args.thinker, work / RUN_DIRS[row], args.grpo_seconds,
                       [*pipeline, f"train.agents={TRAINED[row]}", f"train.seed={args.seed}", *args.overrides], args.reuse)
        report["timings"][row] = run
        policies[row] = {**cold, **run["policies"]}

    tasks = held_out_tasks(args.eval_tasks, args.eval_seed)
    per_task = {}
    for name, models in policies.items():
        per_task[name] = evaluate_pipeline(base, tasks, models=models)["rows"]
        print(f"{name}: full success {sum(float(r['full_success']) for r in per_task[name]) / len(tasks):.3f}", flush=True)

    pairs = [(BOTH, one) for one in (THINKER, DECOMPOSER) if BOTH in policies and one in policies]
    pairs += [(row, COLD) for row in (THINKER, DECOMPOSER, BOTH) if row in policies]
    lines = comparison_lines(per_task, pairs, report)
    iterations = "; ".join(f"{row}: {info['iterations']} iterations in {info['grpo_s']:.0f} s"
                           for row, info in report["timings"].items())
    text = (format_category_table(per_task) + f"\n\nGRPO: {iterations}\n\nfull success, paired bootstrap 95% over the "
            "held-out tasks:\n" + "\n".join(lines))
    write_results(work, text, report, per_task)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
