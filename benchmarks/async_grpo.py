"""Asynchronous (one-step off-policy, ``train.max_staleness: 1``) GRPO against synchronous GRPO, side by side in one
run on the same config: iterations/s and completions/s, the time split, and the bound each should reach; optionally
held-out F1 and full success after the same wall time, with paired bootstrap intervals.

    python benchmarks/async_grpo.py [--config imageedit_r1] [--iters 6] [--warmup 1] [--rounds 1]
                                    [--set train.tasks_per_iteration=8 ...] [--learner-threads N]
                                    [--eval-tasks N --seconds S] [--eval-seed 0] [--json OUT]

Both modes build the same pipeline (the packaged config's trained agents, by default the ImageEdit-R1 decomposer
with its shipped policy, whole graph and reward, ``--set`` overrides on top) and differ only in
``train.max_staleness``. They alternate (``--rounds`` times sync then async) so that a change in machine load hits
both; each round discards its first ``--warmup`` iterations (actor start, first sync, and for async the first
iteration, which has nothing sampled ahead).

The bound: with S the sampling phase of an iteration (``generate_s + reward_s``: sampling in the policy actors,
finishing and scoring the episodes in the driver), U the update (``update_s``) and O the rest (weight sync, task
draw, advantages, metrics), synchronous GRPO takes S + U + O per iteration and one-step off-policy GRPO
max(S, U) + O, since the next iteration samples while the learner updates. Both are printed from the synchronous
run's means, next to the pure 1 / (S + U) and 1 / max(S, U) the plain statement names. On one machine both sides
share its cores: the driver's learner and the actors' sampling overlap only as far as cores are free. The table
also has the learner's ``kl_old`` and ``clip_fraction``: with staleness 1 the ratio is to weights one update older,
so both move off their on-policy ~0.

``--eval-tasks N --seconds S``: each mode then trains from the same starting policy for S seconds of wall time
(checked between iterations; setup excluded), and its policy is judged greedily on the same N held-out test tasks
(``orchestration.grpo.evaluate``); async minus sync comes with paired bootstrap 95% intervals over the tasks.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

MODES = {"sync": 0, "async": 1}
SPLIT = ("generate_s", "reward_s", "update_s", "sync_s", "step_s", "wait_s", "overlap_s", "staleness")
DRIFT = ("kl_old", "clip_fraction")


def pipeline(args: argparse.Namespace, max_staleness: int):
    from orchestration.config import load_config

    return load_config(args.config, [*args.set, f"train.max_staleness={max_staleness}", "train.rollout_samples=0"])


def build(args: argparse.Namespace, max_staleness: int):
    from orchestration.grpo.config import build_grpo_config

    return build_grpo_config(pipeline(args, max_staleness)).build_algo()


def completions(algo) -> float:
    """Completions sampled in the last iteration, over every trained agent."""
    m = algo.last_metrics
    return sum(m.get(f"{node}/groups", 0.0) for node in algo.trainable) * algo.config.group_size


def drift(result: dict[str, Any], nodes: list[str]) -> dict[str, float]:
    """The learner's ``kl_old`` and ``clip_fraction``, averaged over the trained agents (NaN without an update):
    what staleness changes in the loss (the ratio is to the weights that sampled)."""
    learners = result.get("learners", {})
    return {k: float(np.mean([learners[n][k] for n in nodes if k in learners.get(n, {})] or [np.nan])) for k in DRIFT}


def throughput(args: argparse.Namespace, max_staleness: int) -> dict[str, Any]:
    """``--iters`` timed iterations after ``--warmup``: wall-clock rates and the mean time split."""
    algo = build(args, max_staleness)
    try:
        for _ in range(args.warmup):
            algo.train()
        rows, done = [], 0.0
        t0 = time.perf_counter()
        for _ in range(args.iters):
            result = algo.train()
            done += completions(algo)
            rows.append({**{k: algo.last_metrics.get(k, 0.0) for k in SPLIT}, **drift(result, list(algo.trainable))})
        wall = time.perf_counter() - t0
    finally:
        algo.stop()
    split = {k: float(np.nanmean([r[k] for r in rows])) for k in (*SPLIT, *DRIFT)}
    return {"iterations": args.iters, "wall_s": wall, "iterations_per_s": args.iters / wall,
            "completions_per_s": done / wall, **split}


def predicted(sync: dict[str, float]) -> dict[str, float]:
    """Iterations/s each mode should reach, from the synchronous split (see the module docstring)."""
    s, u = sync["generate_s"] + sync["reward_s"], sync["update_s"]
    other = max(0.0, sync["step_s"] - s - u)
    return {"sample_s": s, "update_s": u, "other_s": other,
            "sync_bound": 1.0 / (s + u + other), "async_bound": 1.0 / (max(s, u) + other),
            "sync_pure": 1.0 / (s + u), "async_pure": 1.0 / max(s, u)}


def train_for(args: argparse.Namespace, max_staleness: int, out: Path) -> dict[str, Any]:
    """Train for ``--seconds`` of wall time and save the policies; returns iterations done and their folder."""
    from orchestration.grpo.checkpoint import save_policies

    algo = build(args, max_staleness)
    try:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            algo.train()
        wall = time.perf_counter() - t0
        policies = save_policies(algo, out)
        return {"iterations": int(algo.iteration), "wall_s": wall, "policies": policies}
    finally:
        algo.stop()


def quality(args: argparse.Namespace) -> dict[str, Any]:
    """Held-out F1 and full success of each mode's policy after ``--seconds``, and async - sync with intervals."""
    from orchestration.grpo.evaluate import evaluate_pipeline, held_out_tasks
    from orchestration.stats import paired_bootstrap

    tasks = held_out_tasks(args.eval_tasks, args.eval_seed, pipeline(args, 0).image_size)
    result: dict[str, Any] = {"tasks": len(tasks), "seconds": args.seconds}
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, staleness in MODES.items():
            run = train_for(args, staleness, Path(tmp) / mode)
            judged = evaluate_pipeline(pipeline(args, staleness), tasks, models=run["policies"])
            rows[mode] = judged["rows"]
            result[mode] = {"iterations": run["iterations"], "wall_s": run["wall_s"],
                            **{k: judged["summary"][k] for k in ("f1_overall", "full_success", "failed")}}
    for metric in ("f1_overall", "full_success"):
        pairs = [(float(a[metric]), float(s[metric])) for a, s in zip(rows["async"], rows["sync"])
                 if a[metric] is not None and s[metric] is not None]
        if pairs:
            iv = paired_bootstrap([a for a, _ in pairs], [s for _, s in pairs])
            result[f"{metric}_async_minus_sync"] = {"estimate": iv.estimate, "low": iv.low, "high": iv.high,
                                                     "pairs": len(pairs), "text": str(iv)}
    return result


def print_throughput(rows: dict[str, dict[str, Any]], bound: dict[str, float]) -> None:
    print("| mode | iterations/s | completions/s | generate_s | reward_s | update_s | sync_s | wait_s | overlap_s | staleness "
          "| kl_old | clip_fraction |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode} | {r['iterations_per_s']:.3f} | {r['completions_per_s']:.1f} | {r['generate_s']:.2f} | "
              f"{r['reward_s']:.2f} | {r['update_s']:.2f} | {r['sync_s']:.3f} | {r['wait_s']:.2f} | {r['overlap_s']:.2f} | "
              f"{r['staleness']:.2f} | {r['kl_old']:.2e} | {r['clip_fraction']:.4f} |")
    ratio = rows["async"]["iterations_per_s"] / rows["sync"]["iterations_per_s"]
    print(f"\nsampling phase S = {bound['sample_s']:.2f} s, update U = {bound['update_s']:.2f} s, rest O = "
          f"{bound['other_s']:.2f} s (synchronous means)")
    print(f"predicted iterations/s: sync 1/(S+U+O) = {bound['sync_bound']:.3f}, async 1/(max(S,U)+O) = "
          f"{bound['async_bound']:.3f} (x{bound['async_bound'] / bound['sync_bound']:.2f}); without O: "
          f"1/(S+U) = {bound['sync_pure']:.3f}, 1/max(S,U) = {bound['async_pure']:.3f}")
    print(f"measured async / sync: x{ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="imageedit_r1", help="packaged config name or YAML path")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, as `editrl train --set` (repeatable)")
    parser.add_argument("--iters", type=int, default=6, help="timed iterations per mode and round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--rounds", type=int, default=1, help="sync-then-async rounds (means over rounds)")
    parser.add_argument("--eval-tasks", type=int, default=0, help="held-out tasks for the same-wall-time comparison (0: skip)")
    parser.add_argument("--seconds", type=float, default=300.0, help="wall time each mode trains for, with --eval-tasks")
    parser.add_argument("--eval-seed", type=int, default=0)
    parser.add_argument("--learner-threads", type=int, default=None,
                        help="torch threads of this process, where the learner runs (num_learners 0), in both modes; "
                             "default: torch's own (every core), which the overlapped sampling then competes with")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    if args.iters < 1 or args.rounds < 1:
        parser.error("--iters and --rounds must be >= 1")
    import torch

    if args.learner_threads:
        torch.set_num_threads(args.learner_threads)
    print(f"learner torch threads: {torch.get_num_threads()}")

    import ray

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    try:
        rounds: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        for _ in range(args.rounds):
            for mode, staleness in MODES.items():
                rounds[mode].append(throughput(args, staleness))
        rows = {mode: {k: float(np.nanmean([r[k] for r in rs])) for k in rs[0]} for mode, rs in rounds.items()}
        bound = predicted(rows["sync"])
        print_throughput(rows, bound)
        results: dict[str, Any] = {"config": args.config, "set": args.set, "learner_threads": torch.get_num_threads(),
                                   "throughput": rows, "predicted": bound, "rounds": rounds}
        if args.eval_tasks:
            results["quality"] = quality(args)
            q = results["quality"]
            print(f"\nafter {args.seconds:.0f} s of training each, on {q['tasks']} held-out tasks (greedy):")
            for mode in MODES:
                print(f"  {mode}: {q[mode]['iterations']} iterations, F1 {q[mode]['f1_overall']:.3f}, "
                      f"full success {q[mode]['full_success']:.3f}")
            for metric in ("f1_overall", "full_success"):
                if f"{metric}_async_minus_sync" in q:
                    print(f"  {metric}, async - sync: {q[f'{metric}_async_minus_sync']['text']} (paired bootstrap 95%)")
    finally:
        ray.shutdown()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
