"""Peak memory of a command and every process it starts (Ray workers included), sampled over the process tree.

    python benchmarks/peak_memory.py [--interval 0.2] [--json OUT] [--label NAME] -- COMMAND [ARGS ...]

Every ``--interval`` seconds the sampler sums the resident set size (RSS) of the command's process and all its
descendants, and also of the processes of any Ray cluster the command started (Ray's ``raylet``, ``gcs_server``
and workers are re-parented away from the driver; they are recognised by having started after the command and
having a Ray session directory on their command line). Sums of RSS count shared pages once per process, so the
figure is an upper bound of the memory the job needs (PSS would be lower). It prints the peak total, the peak of
the largest process, the process count at the peak, wall time and the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

GiB = 1024 ** 3


def tree(root: psutil.Process, sessions: set[str]) -> list[psutil.Process]:
    """The root, its descendants, and any process whose command line names one of ``sessions`` (the Ray session
    directories seen on the descendants' command lines: Ray workers that were re-parented away from the driver)."""
    procs = {root.pid: root}
    try:
        for child in root.children(recursive=True):
            procs[child.pid] = child
    except psutil.Error:
        pass
    for proc in list(procs.values())[1:]:
        try:
            for part in proc.cmdline():
                if "/tmp/ray/session_" in part:
                    sessions.add("session_" + part.split("/tmp/ray/session_")[1].split("/")[0])
        except psutil.Error:
            continue
    if sessions:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if proc.pid not in procs and any(s in " ".join(proc.info["cmdline"] or []) for s in sessions):
                    procs[proc.pid] = proc
            except psutil.Error:
                continue
    return list(procs.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--label", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command and args.command[0] == "--" else args.command
    if not command:
        parser.error("give the command after --")

    start = time.time()
    child = subprocess.Popen(command)
    root = psutil.Process(child.pid)
    peak_total, peak_single, peak_count, samples = 0, 0, 0, 0
    sessions: set[str] = set()
    timeline: list[tuple[float, float, float, str]] = []  # (seconds, total GiB, largest GiB, largest's command)
    peak_top = ""
    while child.poll() is None:
        procs = tree(root, sessions)
        total, single, top = 0, 0, ""
        for p in procs:
            try:
                rss = p.memory_info().rss
                if rss > single:
                    single, top = rss, " ".join(p.cmdline())[:80]
            except psutil.Error:
                continue
            total += rss
        if samples % max(1, int(1 / args.interval)) == 0:  # about one timeline point a second
            timeline.append((round(time.time() - start, 1), round(total / GiB, 3), round(single / GiB, 3), top))
        if single > peak_single:
            peak_top = top
        if total > peak_total:
            peak_total, peak_count = total, len(procs)
        peak_single = max(peak_single, single)
        samples += 1
        time.sleep(args.interval)
    wall = time.time() - start
    result = {"label": args.label or " ".join(command), "command": command, "exit_status": child.returncode,
              "wall_s": round(wall, 1), "peak_rss_total_gib": round(peak_total / GiB, 3),
              "peak_rss_single_gib": round(peak_single / GiB, 3), "largest_process": peak_top,
              "processes_at_peak": peak_count, "samples": samples, "timeline": timeline,
              "load_average_end": os.getloadavg()}
    print("\n| job | peak RSS, process tree | largest process | processes at peak | wall s | exit |")
    print("|---|---|---|---|---|---|")
    print(f"| {result['label']} | {result['peak_rss_total_gib']:.2f} GiB | {result['peak_rss_single_gib']:.2f} GiB | "
          f"{peak_count} | {result['wall_s']} | {child.returncode} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
