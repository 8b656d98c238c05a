"""Load test of the served Canvas pipeline: errors, latency and throughput over HTTP, against the same pipeline
in-process, and with 1 and 2 replicas of the busiest agent deployment.

    python benchmarks/serve_load.py [--n 500] [--concurrency 32] [--pipeline canvas_rule] [--json outputs/serve_load.json]

Steps (one local Ray instance, Serve on 127.0.0.1, the app built by `orchestration.serve.app:build_app`):
1. served: `--n` `POST /v1/edit` requests (JSON, one per generated held-out task) at `--concurrency`, after a
   warm-up; every non-200 response or transport error counts as an error.
2.-3. paired, one at a time: for each of `--serial` tasks, `Pipeline.local` in this process and then the
   same request served, alternating, so both see the same machine (the in-process time of one run moves 10-17 ms
   with the load of a shared 2-core machine; measured apart, the overhead moved with it). The overhead is the
   median of the per-task differences (served - in-process), and p50 served / p50 in-process.
4. the busiest deployment (largest mean agent time in step 1's `timings_ms`) redeployed with 1 and then 2 replicas,
   `--n` requests at `--concurrency` each: throughput.
5. with `--all-replicas`, every agent deployment with 2 replicas (against step 4's x1 run, where each has 1).
6. with `--in-ingress`, every agent placed inside the ingress (`placement: ingress`, no agent deployments): paired
   one at a time as in step 2, and at `--concurrency`.
Every run (and every warm-up) gets its own generated tasks (a seed per run): agents remember perceptions by image
content (`agents.canvas_paint.perceive_png`), so a run that met the same images earlier - in a long-lived process,
the benchmark's own included - would skip work the others do.
The machine's load average is recorded: on a shared 2-core machine other work moves every number.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import time
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def fire(url: str, bodies: list[dict[str, Any]], concurrency: int, time_limit_s: float) -> dict[str, Any]:
    """Send every body once, `concurrency` at a time; latencies of successes, errors by kind, wall time."""
    import httpx

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    timings: dict[str, list[float]] = {}
    deadline = time.perf_counter() + time_limit_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                try:
                    r = await client.post("/v1/edit", json=bodies[i])
                    if r.status_code == 200:
                        latencies.append(time.perf_counter() - start)
                        for node, ms in r.json()["timings_ms"].items():
                            timings.setdefault(node, []).append(ms)
                    else:
                        key = f"HTTP {r.status_code}"
                        errors[key] = errors.get(key, 0) + 1
                except Exception as err:  # noqa: BLE001 - a transport failure is an error of the run, not a crash
                    errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    not_sent = queue.qsize()
    if not_sent:
        errors["not sent (time limit)"] = not_sent
    return {
        "requests": len(bodies), "ok": len(latencies), "errors": sum(errors.values()), "error_kinds": errors,
        "concurrency": concurrency, "wall_s": wall, "throughput_rps": len(latencies) / wall if wall else 0.0,
        "p50_ms": _pct(latencies, 50) * 1000, "p99_ms": _pct(latencies, 99) * 1000,
        "mean_agent_ms": {node: statistics.fmean(v) for node, v in timings.items()},
    }


def paired(url: str, tasks: list[Any], bodies: list[dict[str, Any]], pipeline: Any) -> dict[str, Any]:
    """Each task in-process, then served (module docstring, step 2): latencies of both and the per-task overhead."""
    import httpx

    from agents.base import EpisodeState

    local, served, overhead = [], [], []
    errors = 0
    with httpx.Client(base_url=url, timeout=120) as client:
        for task, body in zip(tasks, bodies):
            start = time.perf_counter()
            result = pipeline.run(EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=task.source_png))
            mid = time.perf_counter()
            response = client.post("/v1/edit", json=body)
            end = time.perf_counter()
            assert result.ok, result.error
            if response.status_code != 200:
                errors += 1
                continue
            local.append(mid - start)
            served.append(end - mid)
            overhead.append((end - mid) - (mid - start))
    wall = sum(served)

    def stats(latencies: list[float], errs: int) -> dict[str, Any]:
        return {"requests": len(tasks), "ok": len(latencies), "errors": errs, "concurrency": 1,
                "throughput_rps": len(latencies) / sum(latencies) if latencies else 0.0,
                "p50_ms": _pct(latencies, 50) * 1000, "p99_ms": _pct(latencies, 99) * 1000}

    return {"served": {**stats(served, errors), "wall_s": wall}, "in_process": stats(local, 0),
            "overhead_ms_p50": statistics.median(overhead) * 1000 if overhead else float("nan")}


def deploy(pipeline: str, overrides: list[str], replicas: dict[str, int], in_ingress: list[str] = ()) -> None:
    from ray import serve

    from orchestration.serve.app import build_app

    deployments: dict[str, dict[str, Any]] = {node: {"num_replicas": n} for node, n in replicas.items()}
    deployments.update({node: {"placement": "ingress"} for node in in_ingress})
    args = {"pipeline": pipeline, "overrides": overrides, "auth_token_env": None, "request_timeout_s": 120,
            "deployments": deployments}
    serve.run(build_app(args), name="editrl", route_prefix="/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="requests per load run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--serial", type=int, default=100, help="requests for the one-at-a-time served run")
    parser.add_argument("--pipeline", default="canvas_rule")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count())
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per load run before it stops sending")
    parser.add_argument("--all-replicas", action="store_true", help="also run every agent deployment with 2 replicas")
    parser.add_argument("--in-ingress", action="store_true", help="also run with every agent inside the ingress (placement: ingress)")
    parser.add_argument("--json", default="outputs/serve_load.json")
    args = parser.parse_args()

    import ray
    from ray import serve

    from agents.base import EpisodeState
    from envs.canvas.generator import generate_tasks
    from orchestration.config import load_config
    from orchestration.pipeline import Pipeline

    seeds = iter(range(1000, 2000))

    def fresh(n: int) -> tuple[list[Any], list[dict[str, Any]]]:
        """n tasks no earlier run has seen, and their request bodies."""
        tasks = list(generate_tasks(n, seed=next(seeds), split="test"))
        return tasks, [{"image_base64": base64.b64encode(t.source_png).decode(), "instruction": t.instruction} for t in tasks]

    def bodies(n: int) -> list[dict[str, Any]]:
        return fresh(n)[1]
    load_before = os.getloadavg()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {"n": args.n, "concurrency": args.concurrency, "pipeline": args.pipeline, "overrides": args.overrides,
                               "cpus": os.cpu_count(), "loadavg_before": load_before}

    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        deploy(args.pipeline, args.overrides, {})
        asyncio.run(fire(url, bodies(2 * args.concurrency), args.concurrency, 120))  # warm-up: every replica, imports
        print("served, concurrency", args.concurrency, flush=True)
        served = asyncio.run(fire(url, bodies(args.n), args.concurrency, args.time_limit))
        print("paired: in-process, then served, one at a time", flush=True)
        pipeline = Pipeline.local(load_config(args.pipeline, args.overrides))
        for t in fresh(5)[0]:  # the in-process agents' first calls (imports) are not what is measured
            pipeline.run(EpisodeState(task_id=t.task_id, instruction=t.instruction, source_png=t.source_png))
        pair = paired(url, *fresh(args.serial), pipeline)
        results.update(served=served, served_serial=pair["served"], in_process=pair["in_process"],
                       overhead_ms_p50=pair["overhead_ms_p50"])

        busiest = max(served["mean_agent_ms"], key=served["mean_agent_ms"].get)
        results["busiest"] = busiest
        results["replicas"] = {}
        for n in (1, 2):
            print(f"{busiest} x{n}", flush=True)
            deploy(args.pipeline, args.overrides, {busiest: n})
            asyncio.run(fire(url, bodies(2 * args.concurrency), args.concurrency, 120))
            results["replicas"][n] = asyncio.run(fire(url, bodies(args.n), args.concurrency, args.time_limit))
        if args.all_replicas:
            # Every agent deployment with 2 replicas (the 1-replica baseline is step 1's run).
            nodes = list(load_config(args.pipeline, args.overrides).agents)
            print(f"every deployment x2 ({', '.join(nodes)})", flush=True)
            deploy(args.pipeline, args.overrides, {node: 2 for node in nodes})
            asyncio.run(fire(url, bodies(2 * args.concurrency), args.concurrency, 120))
            results["all_x2"] = asyncio.run(fire(url, bodies(args.n), args.concurrency, args.time_limit))
        if args.in_ingress:
            nodes = list(load_config(args.pipeline, args.overrides).agents)
            print(f"every agent in the ingress ({', '.join(nodes)})", flush=True)
            deploy(args.pipeline, args.overrides, {}, in_ingress=nodes)
            asyncio.run(fire(url, bodies(2 * args.concurrency), args.concurrency, 120))
            pair = paired(url, *fresh(args.serial), pipeline)
            results.update(in_ingress_serial=pair["served"], in_ingress_in_process=pair["in_process"],
                           in_ingress_overhead_ms_p50=pair["overhead_ms_p50"])
            results["in_ingress"] = asyncio.run(fire(url, bodies(args.n), args.concurrency, args.time_limit))
    finally:
        serve.shutdown()
        ray.shutdown()
    results["loadavg_after"] = os.getloadavg()

    s, q, local = results["served"], results["served_serial"], results["in_process"]
    r1, r2 = results["replicas"][1], results["replicas"][2]
    rows = [
        (f"served, {args.n} requests at concurrency {args.concurrency}", s["errors"], s["p50_ms"], s["p99_ms"], s["throughput_rps"]),
        (f"served, {args.serial} requests one at a time (paired)", q["errors"], q["p50_ms"], q["p99_ms"], q["throughput_rps"]),
        (f"in-process `Pipeline.local`, the same {args.serial} tasks (paired)", 0, local["p50_ms"], local["p99_ms"], local["throughput_rps"]),
        (f"served, {busiest} x1 replica, concurrency {args.concurrency}", r1["errors"], r1["p50_ms"], r1["p99_ms"], r1["throughput_rps"]),
        (f"served, {busiest} x2 replicas, concurrency {args.concurrency}", r2["errors"], r2["p50_ms"], r2["p99_ms"], r2["throughput_rps"]),
    ]
    if "all_x2" in results:
        a2 = results["all_x2"]
        rows.append((f"served, every deployment x2 replicas, concurrency {args.concurrency}", a2["errors"], a2["p50_ms"],
                     a2["p99_ms"], a2["throughput_rps"]))
        results["all_replicas_speedup"] = a2["throughput_rps"] / r1["throughput_rps"]  # r1: every deployment x1, just before
    if "in_ingress" in results:
        iq, il, ilocal = results["in_ingress_serial"], results["in_ingress"], results["in_ingress_in_process"]
        rows.append((f"served, every agent in the ingress, {args.serial} requests one at a time (paired)", iq["errors"], iq["p50_ms"],
                     iq["p99_ms"], iq["throughput_rps"]))
        rows.append(("in-process `Pipeline.local`, paired with the row above", 0, ilocal["p50_ms"], ilocal["p99_ms"],
                     ilocal["throughput_rps"]))
        rows.append((f"served, every agent in the ingress, concurrency {args.concurrency}", il["errors"], il["p50_ms"],
                     il["p99_ms"], il["throughput_rps"]))
    print("\n| run | errors | p50 ms | p99 ms | throughput req/s |")
    print("|---|---|---|---|---|")
    for label, errors, p50, p99, rps in rows:
        print(f"| {label} | {errors} | {p50:.1f} | {p99:.1f} | {rps:.1f} |")
    results["overhead_ratio_p50"] = q["p50_ms"] / local["p50_ms"]
    results["loaded_ratio_p50"] = s["p50_ms"] / local["p50_ms"]
    results["replica_speedup"] = r2["throughput_rps"] / r1["throughput_rps"]
    print(f"\noverhead, median over tasks of (served - in-process), one at a time: {results['overhead_ms_p50']:.1f} ms (target <= 15 ms)")
    if "in_ingress_overhead_ms_p50" in results:
        print(f"overhead with every agent in the ingress, the same way: {results['in_ingress_overhead_ms_p50']:.1f} ms (target <= 15 ms)")
    print(f"overhead ratio, p50 served one at a time / p50 in-process: {results['overhead_ratio_p50']:.2f}")
    print(f"p50 served at concurrency {args.concurrency} / p50 in-process: {results['loaded_ratio_p50']:.2f} (queueing included)")
    print(f"busiest deployment: {busiest} (mean agent ms at concurrency {args.concurrency}: "
          + ", ".join(f"{k} {v:.1f}" for k, v in s["mean_agent_ms"].items()) + ")")
    print(f"throughput {busiest} x2 / x1: {results['replica_speedup']:.2f}")
    if "all_replicas_speedup" in results:
        print(f"throughput every deployment x2 / every deployment x1 (the {busiest} x1 run): {results['all_replicas_speedup']:.2f}")
    print(f"load average before / after: {load_before[0]:.1f} / {results['loadavg_after'][0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
