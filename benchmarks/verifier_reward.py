"""Edit-R1's downstream use of its reward model on the Canvas world: GRPO of the DDA-Thinker thinker with the
trained reasoning verifier as the *only* reward, against the same GRPO with the rule verifier as the only reward,
for the same wall time.

Both GRPO rows train ``dda_thinker``'s thinker from the same cold start over the same fixed multi-turn Canvas editor,
with one reward: ``checklist``, the share of the pipeline verifier's checklist items that hold on the edited image.
Nothing else that reads the task's labels reaches the learner: no cognitive (``plan_checklist``) reward, no
per-sentence, per-note or per-entry credit (they score against the ground truth), plain GRPO advantages. Only the
verifier node differs:

    (a) LM thinker, SFT          the cold start (``--policy``), not trained further
    (v) GRPO, LM verifier        verifier = the reasoning verifier (``--verifier``: ``editrl sft --config edit_r1``'s or
                                 a GCPO checkpoint's policy), greedy; its checklist is the principles it writes
    (r) GRPO, rule verifier      verifier = the Canvas rule verifier without the reference checklist
                                 (``use_reference: false, derive_from: instruction``): its checklist is derived from
                                 the request by the rule reader, as at serving time
    (f) GRPO, rule verifier,     the same with the full reader (``reader: full``), which resolves every indirect
        full reader              reference; on Canvas its checklist is the judge's (docs/verifier.md), so this row is
                                 the reward-is-the-judge reference, not a label-free contender

Every row is judged on the same held-out test tasks by the project's judge (full success: every item of the task's
reference checklist passes), never by the verifier it trained on. Comparisons: paired bootstrap 95% intervals over
the held-out tasks, overall and per reasoning category, of (v) against (r), and of each GRPO row against (a). The
report also gives, per GRPO row, how often the training reward called an episode a success when the judge did not
(``reward_success - judge_success`` over the run's training episodes): the room a verifier leaves for the policy to
please it instead of the judge.

Usage::

    python benchmarks/verifier_reward.py --policy runs/sft/thinker --verifier runs/sft/verifier \
        --grpo-seconds 600 --eval-tasks 500 --seed 0 --rows avr
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _thinker_runs import add_run_arguments, comparison_lines, grpo_run, open_run, write_results  # noqa: E402
from orchestration.config import load_config  # noqa: E402
from orchestration.grpo.evaluate import evaluate_pipeline, format_category_table, held_out_tasks  # noqa: E402

CONFIG = "dda_thinker"
COLD = "(a) LM thinker, SFT"
LM_REWARD = "(v) GRPO, LM verifier reward"
RULE_REWARD = "(r) GRPO, rule verifier reward"
FULL_REWARD = "(f) GRPO, rule verifier reward, full reader"

#: One reward, the verifier's checklist share on the edited image, and nothing else that reads the task's labels.
VERIFIER_ONLY = [
    "rewards.thinker=[{name: checklist, weight: 1.0}]",
    "train.agents.thinker.advantage=grpo",
    "train.component_credit=0.0",
    "train.trace_credit=0.0",
    "train.scan_credit=0.0",
]


def verifier_override(row: str, verifier: str) -> str:
    """The ``verifier=...`` override of a GRPO row (``v``, ``r`` or ``f``)."""
    if row == "v":
        return f"verifier={{backend: transformers, model: {verifier}, options: {{temperature: 0.0, max_new_tokens: 320}}}}"
    reader = "full" if row == "f" else "rule"
    return f"verifier={{backend: canvas, options: {{use_reference: false, derive_from: instruction, reader: {reader}}}}}"


def reward_vs_judge(run_dir: Path) -> dict[str, float]:
    """Over a run's training iterations (``metrics.parquet``): mean training reward, mean success by the judge on
    the same episodes (``thinker/full_success``) and by the pipeline verifier (``thinker/solved``)."""
    import pandas as pd

    path = run_dir / "metrics.parquet"
    if not path.exists():
        return {}
    frame = pd.read_parquet(path)
    out: dict[str, float] = {}
    for key, column in (("reward", "thinker/reward"), ("judge_success", "thinker/full_success"),
                        ("verifier_success", "thinker/solved")):
        if column in frame:
            values = frame[column].dropna()
            out[key] = round(float(values.mean()), 4)
            out[f"{key}_last10"] = round(float(values.tail(10).mean()), 4)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", default="runs/sft/thinker", help="the thinker's cold start (editrl sft --config dda_thinker)")
    ap.add_argument("--verifier", default="runs/sft/verifier", help="the reasoning verifier (editrl sft --config edit_r1)")
    add_run_arguments(ap, "outputs/verifier_reward", "avr", "which rows to run (subset of avrf)")
    args = ap.parse_args()

    work, report = open_run(args)
    base = load_config(CONFIG, [f"thinker.model={args.policy}"])
    policies: dict[str, str] = {}
    if "a" in args.rows:
        policies[COLD] = args.policy
    for row, name, folder in (("v", LM_REWARD, "grpo_lm_verifier"), ("r", RULE_REWARD, "grpo_rule_verifier"),
                              ("f", FULL_REWARD, "grpo_full_reader")):
        if row not in args.rows:
            continue
        overrides = [f"train.seed={args.seed}", *VERIFIER_ONLY, verifier_override(row, args.verifier), *args.overrides]
        run: dict[str, Any] = grpo_run(row, CONFIG, args.policy, work / folder, args.grpo_seconds, overrides, args.reuse)
        run["reward_vs_judge"] = reward_vs_judge(work / folder)
        report["timings"][name] = run
        policies[name] = run["path"]
        print(f"[{row}] {run['iterations']} iterations; training reward vs judge: {run['reward_vs_judge']}", flush=True)

    tasks = held_out_tasks(args.eval_tasks, args.eval_seed)
    per_task: dict[str, list] = {}
    for name, path in policies.items():
        per_task[name] = evaluate_pipeline(base, tasks, models={"thinker": path})["rows"]
        print(f"{name}: full success {sum(float(r['full_success']) for r in per_task[name]) / len(tasks):.3f}", flush=True)

    pairs = [(LM_REWARD, RULE_REWARD)] if LM_REWARD in policies and RULE_REWARD in policies else []
    pairs += [(LM_REWARD, FULL_REWARD)] if LM_REWARD in policies and FULL_REWARD in policies else []
    pairs += [(name, COLD) for name in (LM_REWARD, RULE_REWARD, FULL_REWARD) if name in policies and COLD in policies]
    lines = comparison_lines(per_task, pairs, report)
    runs = [f"- {name}: {report['timings'][name]['iterations']} iterations; training {report['timings'][name]['reward_vs_judge']}"
            for name in (LM_REWARD, RULE_REWARD, FULL_REWARD) if name in report["timings"]]
    text = (format_category_table(per_task) + "\n\nfull success, paired bootstrap 95% over the held-out tasks:\n"
            + "\n".join(lines) + "\n\nGRPO runs (training episodes, temperature 1):\n" + "\n".join(runs))
    write_results(work, text, report, per_task)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
