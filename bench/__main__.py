"""``python -m bench [NAME ...]`` (or ``make bench``): run the benchmark scripts and print their figures.

Each ``bench/bench_<name>.py`` is a standalone script; with no NAME every one runs in turn. Benchmarks measure
speed and capacity targets (figures for the issue notes); they are not part of the test suite.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def available() -> dict[str, Path]:
    return {path.stem.removeprefix("bench_"): path for path in sorted(BENCH_DIR.glob("bench_*.py"))}


def main(argv: list[str]) -> int:
    scripts = available()
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__.strip() + "\n\navailable: " + ", ".join(scripts))
        return 0
    unknown = [name for name in argv if name not in scripts]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(scripts)}", file=sys.stderr)
        return 2
    worst = 0
    for name in argv or list(scripts):
        print(f"=== bench {name}", flush=True)
        worst = max(worst, subprocess.call([sys.executable, str(scripts[name])], cwd=BENCH_DIR.parent))
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
