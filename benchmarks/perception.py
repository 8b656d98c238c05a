"""Perception accuracy and speed on random Canvas scenes.

    python benchmarks/perception.py [--n 2000] [--sizes 128 256] [--jpeg 95] [--json OUT]

For each image size, scene `i` is `random_scene(random.Random(i))` rendered at that size; perception sees only the
pixels and is then scored with `compare_to_scene`: true and perceived objects are paired by centre distance, and an
object counts as matched when shape, colour and size agree and the centre is within 3% of the width. `spurious` are
perceived objects paired with no true object, `missed` true objects paired with none, `rejected` the blobs that
perception itself dropped as noise. Time is perception alone (not rendering), after one warm-up image per size that
fills the template cache: wall-clock mean and 95th percentile, and process CPU time (steadier on a shared machine). `--jpeg Q` adds rows for the same images after a JPEG round trip at quality Q.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from envs.canvas.perception import compare_to_scene, perceive  # noqa: E402
from envs.canvas.render import render  # noqa: E402
from envs.canvas.scene import random_scene  # noqa: E402

COLUMNS = (
    ("size", "size", "{}"),
    ("variant", "input", "{}"),
    ("scenes", "scenes", "{}"),
    ("objects", "objects", "{}"),
    ("matched_pct", "matched %", "{:.2f}"),
    ("shape_errors", "shape err", "{}"),
    ("color_errors", "colour err", "{}"),
    ("size_errors", "size err", "{}"),
    ("centre_errors", "centre err", "{}"),
    ("spurious", "spurious", "{}"),
    ("missed", "missed", "{}"),
    ("background_errors", "bg err", "{}"),
    ("rejected", "rejected", "{}"),
    ("max_centre_error_pct", "max ctr err %", "{:.2f}"),
    ("ms_per_image", "ms/img", "{:.2f}"),
    ("ms_p95", "ms p95", "{:.2f}"),
    ("cpu_ms_per_image", "cpu ms/img", "{:.2f}"),
)


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def evaluate(n: int, size: int, jpeg_quality: int | None = None) -> dict[str, Any]:
    """Accuracy and timing over scenes 0..n-1 at `size` px (optionally after a JPEG round trip)."""
    images = []
    scenes = []
    for seed in range(n):
        scene = random_scene(random.Random(seed))
        img = render(scene, size)
        images.append(_jpeg(img, jpeg_quality) if jpeg_quality else img)
        scenes.append(scene)
    perceive(images[0])  # warm-up: builds this width's template cache
    times = []
    cpu = 0.0
    scores = []
    for img, scene in zip(images, scenes):
        start, start_cpu = time.perf_counter(), time.process_time()
        perception = perceive(img)
        times.append(time.perf_counter() - start)
        cpu += time.process_time() - start_cpu
        scores.append(compare_to_scene(perception, scene))
    objects = sum(s.objects for s in scores)
    matched = sum(s.matched for s in scores)
    ms = np.array(times) * 1000
    return {
        "size": size,
        "variant": f"jpeg q{jpeg_quality}" if jpeg_quality else "png",
        "scenes": n,
        "objects": objects,
        "matched": matched,
        "matched_pct": 100.0 * matched / max(objects, 1),
        "shape_errors": sum(s.shape_errors for s in scores),
        "color_errors": sum(s.color_errors for s in scores),
        "size_errors": sum(s.size_errors for s in scores),
        "centre_errors": sum(s.centre_errors for s in scores),
        "spurious": sum(s.spurious for s in scores),
        "missed": sum(s.missed for s in scores),
        "background_errors": sum(not s.background_ok for s in scores),
        "rejected": sum(s.rejected for s in scores),
        "max_centre_error_pct": 100.0 * max((s.max_centre_error for s in scores), default=0.0),
        "ms_per_image": float(ms.mean()),
        "ms_p95": float(np.percentile(ms, 95)),
        "cpu_ms_per_image": 1000 * cpu / n,
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    header = [title for _, title, _ in COLUMNS]
    body = [[fmt.format(row[key]) for key, _, fmt in COLUMNS] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    lines = [" | ".join(h.rjust(w) for h, w in zip(header, widths)), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.rjust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="scenes per size (seeds 0..n-1)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="image sizes in px")
    parser.add_argument("--jpeg", type=int, nargs="*", default=[], help="also score after JPEG at these qualities")
    parser.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    if any(s < 16 for s in args.sizes):
        parser.error("--sizes must be at least 16 px")

    rows = []
    for size in args.sizes:
        for quality in [None, *args.jpeg]:
            rows.append(evaluate(args.n, size, quality))
            print(f"done: {size} px {rows[-1]['variant']}", file=sys.stderr)
    print(format_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {"n": args.n, "python": platform.python_version(), "machine": platform.machine(), "cpu": platform.processor()}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
