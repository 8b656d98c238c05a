"""Rollout throughput, episodes/s on the same pipeline and tasks: every agent in-process in one loop (the limit of
one core) vs agents in Ray actors - rollout workers (each a process holding the whole graph, one Ray call per
chunk of episodes; 1 and 2 workers) and, for reference, the per-node actor pools of ``editrl eval --ray``.

    python benchmarks/rollout_throughput.py [--config lm|canvas_rule] [--n 192] [--chunk 16] [--repeats 2] [--json OUT]

``--config lm`` is ImageEdit-R1's graph (decomposer -> sorter -> editor -> verifier) with a tiny LM decomposer
(the default ~0.9M-parameter Llama, untrained, built from a config here; greedy, ``--max-new-tokens`` tokens);
``canvas_rule`` is the rule-based pipeline (thinker, decomposer, sorter, Canvas editor, Canvas verifier). Every
row runs the same generated test tasks and judges every episode (perceives the edited image, answers the
reference checklist); every process uses one torch thread. Rows alternate for ``--repeats`` rounds and the
table reports each row's best round (the machine is shared), plus every round in the JSON. Each round has its own
tasks (seed = round + 1; the warm-up uses seed 0): agents remember perceptions by image content
(``agents.canvas_paint.perceive_png``), so a row that met the same images in an earlier round - in-process always,
a worker only when it happens to get the same chunk - would skip work the others do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def make_config(name: str, policy: Path | None, max_new_tokens: int, replicas: int = 1):
    from orchestration.config import load_config

    sets = []
    if name == "lm":
        name = "imageedit_r1"
        sets = [f"agents.decomposer.model={policy}",
                f"agents.decomposer.options={{temperature: 0.0, max_new_tokens: {max_new_tokens}}}"]
    if replicas > 1:
        sets += [f"agents.{n}.replicas={replicas}" for n in load_config(name, sets).agents]
    return load_config(name, sets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="lm", help="lm (ImageEdit-R1 graph, tiny LM decomposer) or a packaged rule config")
    parser.add_argument("--n", type=int, default=192, help="episodes per row")
    parser.add_argument("--chunk", type=int, default=16, help="episodes per batched call (in-process loop and workers)")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--pools", action="store_true", help="also run the per-node actor pools (editrl eval --ray)")
    parser.add_argument("--in-flight", type=int, default=16, help="episodes in flight for the per-node pools")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import ray

    from envs.canvas.generator import generate_tasks
    from orchestration.rollout_workers import build_runner, run_distributed, run_local, start_workers

    torch.set_num_threads(1)
    policy = None
    if args.config == "lm":
        from _tiny_policy import build_policy

        policy = build_policy(Path(tempfile.mkdtemp(prefix="rollout_bench_")))
    config = make_config(args.config, policy, args.max_new_tokens)
    tasks = list(generate_tasks(args.n, seed=0, split="test"))  # warm-up only
    load_before = os.getloadavg()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    runner = build_runner(config)
    run_local(runner, tasks[: args.chunk], args.chunk)  # warm-up (first forward, caches)
    both = start_workers(config, 2)  # 1 CPU each: the 1-worker row uses the first, the 2-worker row both
    workers = {1: both[:1], 2: both}
    for k, ws in workers.items():
        run_distributed(ws, tasks[: args.chunk * k], args.chunk)
    pools = {}
    if args.pools:
        from orchestration.actors import ray_pipeline
        from orchestration.evaluate import run_episodes

        for r in (1, 2):
            pools[r] = ray_pipeline(make_config(args.config, policy, args.max_new_tokens, replicas=r))
            run_episodes(pools[r], tasks[: args.in_flight], workers=args.in_flight)

    def timed(fn) -> tuple[float, list]:
        t0 = time.perf_counter()
        rows = fn()
        return time.perf_counter() - t0, rows

    rows_def = [("in-process, one loop (1 core)", lambda tasks: run_local(runner, tasks, args.chunk)),
                ("Ray, 1 rollout worker", lambda tasks: run_distributed(workers[1], tasks, args.chunk)),
                ("Ray, 2 rollout workers", lambda tasks: run_distributed(workers[2], tasks, args.chunk))]
    if args.pools:
        from orchestration.evaluate import run_episodes

        for r in (1, 2):
            rows_def.append((f"Ray, per-node actor pools x{r}, {args.in_flight} episodes in flight",
                             lambda tasks, r=r: run_episodes(pools[r], tasks, workers=args.in_flight)))
    rounds: dict[str, list[float]] = {label: [] for label, _ in rows_def}
    check: dict[str, float] = {}
    for round_index in range(args.repeats):
        round_tasks = list(generate_tasks(args.n, seed=round_index + 1, split="test"))
        for label, fn in rows_def:
            seconds, rows = timed(lambda: fn(round_tasks))
            rounds[label].append(len(round_tasks) / seconds)
            ok = [r for r in rows if r["ok"]]
            check[label] = sum(float(r["checklist_pass"] or 0) for r in ok) / max(1, len(ok))
    load_after = os.getloadavg()
    ray.shutdown()

    base = max(rounds[rows_def[0][0]])
    print(f"\n{args.config}: {args.n} episodes, chunk {args.chunk}; load average before "
          f"{load_before[0]:.2f}/{load_before[1]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}\n")
    print("| rollout | episodes/s, best round | every round | best vs in-process best | per round vs in-process | checklist pass, last round (same work) |")
    print("|---|---|---|---|---|---|")
    first = rounds[rows_def[0][0]]
    for label, _ in rows_def:
        best = max(rounds[label])
        every = ", ".join(f"{v:.1f}" for v in rounds[label])
        per_round = ", ".join(f"{a / b:.2f}" for a, b in zip(rounds[label], first))
        print(f"| {label} | {best:.1f} | {every} | {best / base:.2f}x | {per_round} | {check[label]:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "load_before": load_before, "load_after": load_after,
                                               "episodes_per_s": rounds, "checklist_pass": check}, indent=1))


if __name__ == "__main__":
    main()
