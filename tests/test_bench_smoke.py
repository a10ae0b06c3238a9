"""The benchmark suite cannot rot: its smoke mode (tiny sizes, one run) runs every benchmark end to end and
must produce figures. It asserts that figures exist, never what they are — CI machines vary too much."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench_smoke

REPO = Path(__file__).resolve().parent.parent


def _postgres_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    return True


def test_every_benchmark_produces_figures(tmp_path: Path) -> None:
    if not _postgres_reachable() and os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        pytest.skip("the read and drain benchmarks need PostgreSQL at 127.0.0.1:5432 (required when CI=true)")
    report, results = tmp_path / "BENCHMARKS.md", tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--output", str(report), "--json", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    # When figures are missing, the benchmarks have said why on stderr (service logs included).
    why = done.stderr[-12000:]
    result = json.loads(results.read_text(encoding="utf-8"))
    assert result["failures"] == [], why
    figures = result["figures"]
    sections = {f["section"].split(" (")[0] for f in figures}
    assert {"Webhook ingest", "End to end", "Backlog drain", "Reads", "Router service"} <= sections
    measured = [f for f in figures if f["runs"]]
    assert [f["name"] for f in measured if not all(math.isfinite(v) for v in f["runs"])] == [], why
    # Nothing a platform delivered may be lost, even in a smoke run.
    lost = {f["name"]: f["runs"] for f in measured if "errors" in f["name"] and any(f["runs"])}
    assert lost == {}, why
    assert "| figure | median |" in report.read_text(encoding="utf-8")
