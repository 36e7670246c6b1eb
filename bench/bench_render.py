"""Offline `xagent render`: one XR's wall time, and many XRs in one process.

The baseline, measured in the same run, is the interpreter starting and exiting
(`python -c 0`). Many: COUNT copies of examples/full/xr.yaml, each with its own name, in
one directory, rendered by one `xagent render DIR`.

    python bench/bench_render.py [--count 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(args: list[str], runs: int) -> float:
    """Median wall seconds of a command."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    xagent = [sys.executable, "-m", "function", "render"]
    source = (ROOT / "examples/full/xr.yaml").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.count):
            text = source.replace("\n  name: ", f"\n  name: a{i}-", 1)
            (Path(tmp) / f"xr-{i:05d}.yaml").write_text(text)
        startup = wall([sys.executable, "-c", "0"], args.runs)
        one = wall([*xagent, "examples/minimal/xr.yaml"], args.runs)
        many = wall([*xagent, tmp], 1)
    print(f"machine: {os.cpu_count()} cpu, Python {sys.version.split()[0]}")
    print(f"{'python_startup_s':26} {startup:8.3f}")
    print(f"{'render_one_s':26} {one:8.3f}")
    print(f"{f'render_{args.count}_in_one_process_s':26} {many:8.3f}")
    print(f"{'per_xr_ms':26} {(many - one) / max(args.count - 1, 1) * 1e3:8.3f}")


if __name__ == "__main__":
    main()
