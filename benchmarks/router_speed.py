"""Router predictions per second per core: runs benchmarks/router/bench.py (another engineer's, when present) and
reports its speed figures. Its accuracy figures need the data sets in ../shared/data, which CI does not have, so
the smoke run only checks whether the script is there.
"""

from __future__ import annotations

import ast
import subprocess
import sys

from .common import REPO, Config, Figure, Target

SECTION = "Router (benchmarks/router/bench.py)"
SCRIPT = REPO / "benchmarks" / "router" / "bench.py"


def run(config: Config) -> list[Figure]:
    if config.smoke or not SCRIPT.exists():
        why = "not run in smoke mode" if SCRIPT.exists() else "benchmarks/router/bench.py not present yet"
        return [Figure(SECTION, "predictions per second on one core", "msg/s", [], target=Target(">=", 2000), note=why)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--folds", "2"], cwd=REPO, capture_output=True, text=True, timeout=3600
    )
    speeds: dict[str, float] = {}
    for line in done.stdout.splitlines():  # it prints one dict per result
        if line.startswith("{") and "per_s_" in line:
            speeds.update(ast.literal_eval(line))
    if not speeds:
        note = f"no speed figure in its output (exit {done.returncode}): {done.stderr.strip()[-200:]}"
        return [
            Figure(SECTION, "predictions per second on one core", "msg/s", [], target=Target(">=", 2000), note=note)
        ]
    return [
        Figure(
            SECTION,
            f"predictions per second on one core, {name.removeprefix('per_s_').replace('_', ' ')}",
            "msg/s",
            [float(value)],
            target=Target(">=", 2000),
            note="200-character messages, one run",
        )
        for name, value in speeds.items()
    ]
