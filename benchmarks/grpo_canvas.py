"""GRPO on the Canvas ImageEdit-R1 pipeline: does RL beat more SFT for the same time, and does it work label-free?

Rows, each judged on the same held-out test tasks (``generate_tasks(n, seed=eval_seed, split="test")``) with the
pipeline of ``imageedit_r1`` (LM decomposer -> rule sorter -> Canvas editor -> verifier; ``--set`` overrides apply to
every row, e.g. the editor's execution mode) and the project's judge (:func:`orchestration.scoring.judge_episode`:
decomposition F1 vs the ground-truth components; full success = every item of the task's reference checklist passes
on the edited image):

    (a) the cold start (the shipped policy, or ``--policy``);
    (b) SFT continued for the same wall time as one GRPO run, at the learning rate the cold start ended with, on
        fresh labelled train tasks from GRPO's data stream (data seed, step mix and category mix; targets with the
        cold start's reasoning trace when ``train.sft.reasoning`` is set);
    (c) GRPO with the pipeline's configured reward (``rewards.decomposer`` of ``imageedit_r1``);
    (d) label-free GRPO: the reward is ``success`` as answered by the pipeline's verifier with a checklist it derives
        from the user's instruction (``use_reference: false``, ``derive_from: instruction``, ``reader: full``):
        no ground-truth components and no reference checklist reach the learner.

Every comparison is a paired bootstrap 95% interval over the held-out tasks (:mod:`orchestration.stats`). With
``--set 'train.select_best={tasks: 200, seed: 1, every: 20}'`` rows (c) and (d) hand on the checkpoint that scored
best on validation tasks of another seed than ``--eval-seed`` (the starting policy included), not the last one.

Usage::

    python benchmarks/grpo_canvas.py --grpo-seconds 600 --eval-tasks 500 --seed 0 --out grpo_canvas_seed0.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from orchestration.config import load_config  # noqa: E402
from orchestration.grpo.config import train_section  # noqa: E402
from orchestration.grpo.evaluate import evaluate_pipeline, format_table, held_out_tasks  # noqa: E402
from orchestration.stats import paired_bootstrap  # noqa: E402

SHIPPED = "agents/lm/pretrained/decomposer"
# component_credit scores lines against the ground-truth components: off, or labels would reach the learner.
# The verifier reads the request with the full reader (every indirect reference family, on the perceived scene of
# each step): with the rule thinker's reader most indirect requests get an item it cannot answer, so their groups
# carry no signal. format needs no labels either.
LABEL_FREE = ["rewards.decomposer=[{name: success, weight: 1.0}, {name: format, weight: 1.0}]",
              "verifier.options.use_reference=false", "verifier.options.derive_from=instruction",
              "verifier.options.reader=full", "train.component_credit=0", "train.trace_credit=0", "train.scan_credit=0"]


def sft_continued(policy: str, out: Path, seconds: float, data_seed: int, n_tasks: int, step_mix: dict | None,
                  lr: float, seed: int, category_mix: dict | None = None, reasoning: bool = False, scan: bool = False,
                  note_subjects: float = 0.0, scan_forms: dict | None = None, readable_references: bool = False) -> dict:
    """Continue SFT of the decomposer for ``seconds`` of training (data preparation excluded).

    The run stops on the clock (``sft_train(time_budget_s=...)``), not on a step count estimated up front: on a
    shared machine an estimate from the first steps is wrong as soon as the load changes.
    """
    from agents.lm.model import load_policy, save_policy
    from agents.lm.sft import DEFAULT_PROMPT_LOSS_WEIGHT, make_sft_data, make_tasks, sft_train

    tasks, scenes = make_tasks(n_tasks, seed=data_seed, split="train", step_mix=step_mix, category_mix=category_mix)
    data = make_sft_data(tasks, "decomposer", scenes=scenes, plan_fraction=0.1, seed=seed, reasoning=reasoning, scan=scan,
                         note_subjects=note_subjects, scan_forms=scan_forms, readable_references=readable_references)
    model, tokenizer = load_policy(policy)
    # An upper bound on the steps (the cosine schedule is laid out over it; the run stops on the clock well before).
    max_steps = max(100, int(seconds * 20))
    kwargs = {"lr": lr, "warmup_steps": 0, "prompt_loss_weight": DEFAULT_PROMPT_LOSS_WEIGHT}  # as the cold start
    torch.set_num_threads(os.cpu_count() or 1)  # SFT runs alone here, as the GRPO rows do
    metrics = sft_train(model, tokenizer, data, steps=max_steps, seed=seed, time_budget_s=seconds, **kwargs)
    save_policy(model, tokenizer, out)
    return {"steps": metrics.steps, "wall_s": round(metrics.wall_s, 1), "final_loss": round(metrics.final_loss, 4), "path": str(out)}


def grpo_run(name: str, policy: str, run_dir: Path, seconds: float, overrides: list[str], curve_every: int = 0,
             curve_tasks: int = 200, curve_seed: int = 1) -> dict:
    """One GRPO run of ``seconds``; with ``curve_every``, its held-out curve on ``curve_tasks`` test tasks of
    ``curve_seed`` every that many iterations (time not counted in ``seconds``; another task set than the rows')."""
    from orchestration.run_folder import run_folder_lock
    from orchestration.train import clear_run_dir, run_training

    config = load_config("imageedit_r1", [f"decomposer.model={policy}", *overrides])
    curve = {"eval_tasks": curve_tasks, "eval_seed": curve_seed, "eval_every": curve_every} if curve_every else {"eval_tasks": 0}
    section = train_section(config).model_copy(update={"iterations": 100000, "time_budget_s": seconds,
                                                        "checkpoint_every": 0, **curve})
    with run_folder_lock(run_dir):  # held from the clearing on: another run on this folder fails at once
        clear_run_dir(run_dir)
        start = time.perf_counter()
        summary = run_training(config, section, run_dir=run_dir, log=lambda m: print(f"[{name}] {m}", flush=True),
                               progress=False)
    return {"iterations": summary["iterations"], "grpo_s": summary["grpo_s"], "wall_s": round(time.perf_counter() - start, 1),
            "path": summary["policies"]["decomposer"], "final_metrics": summary["final_metrics"],
            "curve": summary.get("eval", {}).get("curve", []), "curve_before": summary.get("eval", {}).get("before"),
            "selection": summary.get("selection"), "selected": summary.get("selected")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", default=SHIPPED, help="the cold start (a decomposer folder); default: the shipped one")
    ap.add_argument("--work", default="outputs/grpo_canvas", help="where runs and policies go")
    ap.add_argument("--grpo-seconds", type=float, default=600.0, help="GRPO wall time per run (and SFT-continued time)")
    ap.add_argument("--eval-tasks", type=int, default=500)
    ap.add_argument("--eval-seed", type=int, default=0, help="held-out task seed (report 0; choose settings on another)")
    ap.add_argument("--seed", type=int, default=0, help="GRPO / continued-SFT seed")
    ap.add_argument("--rows", default="abcd", help="which rows to run (subset of abcd)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config overrides for every row")
    ap.add_argument("--curve-every", type=int, default=0,
                    help="judge GRPO's policy every this many iterations on --curve-tasks test tasks of --curve-seed "
                         "(a held-out curve on another task set than the rows'; 0: none)")
    ap.add_argument("--curve-tasks", type=int, default=200)
    ap.add_argument("--curve-seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON report")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    work = Path(args.work) / f"seed{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"settings": vars(args), "rows": {}, "timings": {}, "comparisons": {}}
    base = load_config("imageedit_r1", [f"decomposer.model={args.policy}", *args.overrides])
    section = train_section(base)
    if section.select_best is not None and section.select_best.seed == args.eval_seed:
        ap.error(f"train.select_best.seed is --eval-seed ({args.eval_seed}): the rows would be judged on the tasks that "
                 "chose the policy; give select_best another seed")
    policies = {"(a) cold start": args.policy}
    seeded = [f"train.seed={args.seed}", *args.overrides]

    if "b" in args.rows:
        from agents.lm.sft import DEFAULT_LR

        info = sft_continued(args.policy, work / "sft_continued", args.grpo_seconds, data_seed=section.data_seed,
                             n_tasks=section.train_tasks, step_mix=section.step_mix, lr=(section.sft.lr or DEFAULT_LR) * 0.1,
                             seed=args.seed, category_mix=section.category_mix, reasoning=section.sft.reasoning, scan=section.sft.scan,
                             note_subjects=section.sft.note_subjects, scan_forms=section.sft.scan_forms,
                             readable_references=section.sft.readable_references)
        report["timings"]["(b)"] = info
        policies["(b) SFT continued, same wall time"] = info["path"]
    if "c" in args.rows:
        info = grpo_run("c", args.policy, work / "grpo", args.grpo_seconds, seeded, args.curve_every, args.curve_tasks,
                        args.curve_seed)
        report["timings"]["(c)"] = info
        policies["(c) GRPO, configured reward"] = info["path"]
    if "d" in args.rows:
        info = grpo_run("d", args.policy, work / "grpo_label_free", args.grpo_seconds, [*seeded, *LABEL_FREE],
                        args.curve_every, args.curve_tasks, args.curve_seed)
        report["timings"]["(d)"] = info
        policies["(d) GRPO, label-free verifier reward"] = info["path"]

    tasks = held_out_tasks(args.eval_tasks, args.eval_seed)
    per_task = {}
    for name, path in policies.items():
        result = evaluate_pipeline(base, tasks, models={"decomposer": path})
        report["rows"][name] = result["summary"]
        per_task[name] = result["rows"]
        print(f"{name}: {json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result['summary'].items()})}", flush=True)

    names = list(policies)
    lines = []
    for later in names[1:]:
        for earlier in [n for n in names if n < later and not (later.startswith("(d)") and n.startswith("(c)"))]:
            for metric in ("full_success", "f1_overall"):
                iv = paired_bootstrap([float(r[metric]) for r in per_task[later]], [float(r[metric]) for r in per_task[earlier]])
                report["comparisons"][f"{metric}: {later} - {earlier}"] = {"estimate": iv.estimate, "low": iv.low, "high": iv.high}
                lines.append(f"- {metric}, {later} minus {earlier}: {iv}")
    table = format_table(report["rows"])
    print(table)
    print("\n".join(lines))
    report["table"] = table
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
