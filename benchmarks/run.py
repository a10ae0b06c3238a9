"""`python -m benchmarks.run [--smoke] [--only webhook,e2e,…] [--runs N]`: run the suite, write the report.

The full suite rewrites BENCHMARKS.md; `--smoke` (tiny sizes, one run, for CI) writes var/bench/ instead so a
test run never overwrites the measured figures. Either way the figures also go to var/bench/results*.json, which
`--render` turns back into the report (after editing benchmarks/NOTES.md, or to merge a benchmark re-run alone).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from .common import REPO, Config, Figure, Target

BENCHMARKS = ("webhook", "e2e", "backlog", "reads", "router_speed", "router_service")
NOTES = REPO / "benchmarks" / "NOTES.md"  # hand-written: what was tried and what it changed


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": cpu,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "git commit": (git("rev-parse", "--short", "HEAD") or "unknown") + dirty,
    }


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "–"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"


def table(figures: list[Figure]) -> list[str]:
    by_name = {f.name: f for f in figures}
    lines = [
        "| figure | median | min | max | runs | vs baseline | target | met |",
        "|---|---:|---:|---:|---:|---:|---|:-:|",
    ]
    for f in figures:
        if not f.runs:
            lines.append(f"| {f.name} | – | – | – | 0 | | {f.target or ''} | {f.note} |")
            continue
        base = by_name.get(f.baseline or "")
        ratio = f.median / base.median if base and base.runs and base.median else None
        met = f.target.met(f.median, ratio) if f.target else None
        verdict = {True: "yes", False: "**no**", None: ""}[met]
        vs = f"{ratio:.2f}× {base.name}" if ratio is not None and base else ""
        name = f"{f.name} ({f.unit})" + (f" — {f.note}" if f.note else "")
        lines.append(
            f"| {name} | {_fmt(f.median)} | {_fmt(min(f.runs))} | {_fmt(max(f.runs))} | {len(f.runs)} "
            f"| {vs} | {f.target or ''} | {verdict} |"
        )
    return lines


def report(figures: list[Figure], *, info: dict[str, str], command: str, elapsed: float, failures: list[str]) -> str:
    out = [
        "# Benchmarks",
        "",
        "Written by `benchmarks/run.py` (`make bench`); do not edit by hand — the narrative below the figures comes",
        "from `benchmarks/NOTES.md`. Targets are ../shared/DESIGN.md's. Every figure is the median of the runs, with",
        "min and max; a ratio compares the median to its baseline measured in the same run on the same machine.",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `{command}` ({elapsed / 60:.1f} minutes)",
        *(f"- {k}: {v}" for k, v in info.items()),
        "",
    ]
    if failures:
        out += ["## Benchmarks that failed to run", "", *(f"- {f}" for f in failures), ""]
    sections: dict[str, list[Figure]] = {}
    for f in figures:
        sections.setdefault(f.section, []).append(f)
    for section, items in sections.items():
        out += [f"## {section}", "", *table(items), ""]
    if NOTES.exists():
        out += [NOTES.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run: checks the suite still works")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="comma-separated subset of " + ",".join(BENCHMARKS)
    )
    parser.add_argument("--runs", type=int, default=None, help="repetitions per benchmark (default 3; smoke 1)")
    parser.add_argument(
        "--output", type=Path, default=None, help="report path (default BENCHMARKS.md; smoke var/bench/)"
    )
    parser.add_argument("--json", type=Path, default=None, help="figures as JSON (default var/bench/results*.json)")
    parser.add_argument("--render", type=Path, nargs="+", help="only rewrite the report from these results JSONs")
    args = parser.parse_args(argv)
    output = args.output or (REPO / "var/bench/BENCHMARKS.smoke.md" if args.smoke else REPO / "BENCHMARKS.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    if args.render:  # after editing NOTES.md: the same figures, the new narrative
        parts = [json.loads(path.read_text(encoding="utf-8")) for path in args.render]
        saved = parts[0] | {"failures": [x for p in parts for x in p["failures"]]}
        # Later files replace earlier ones section by section (a benchmark re-run on its own).
        sections = {f["section"]: p["figures"] for p in parts for f in p["figures"]}
        ordered = list(dict.fromkeys(f["section"] for p in parts for f in p["figures"]))
        chosen = [f for section in ordered for f in sections[section] if f["section"] == section]
        rendered = [Figure(**{**f, "target": Target(**f["target"]) if f["target"] else None}) for f in chosen]
        output.write_text(
            report(
                rendered,
                info=saved["machine"],
                command=saved.get("command", "python -m benchmarks.run"),
                elapsed=saved.get("elapsed_s", 0.0),
                failures=saved["failures"],
            ),
            encoding="utf-8",
        )
        return 0
    command = ("python -m benchmarks.run " + shlex.join(argv if argv is not None else sys.argv[1:])).strip()
    info, started = machine(), time.monotonic()
    figures: list[Figure] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="inbox-bench-") as work:
        config = Config(smoke=args.smoke, runs=args.runs or (1 if args.smoke else 3), work=Path(work))
        for name in [n.strip() for n in args.only.split(",") if n.strip()]:
            print(f"== {name}", flush=True)
            t0 = time.monotonic()
            try:
                found = importlib.import_module(f"benchmarks.{name}").run(config)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                traceback.print_exc()
                failures.append(f"{name}: {exc!r}")
                continue
            figures += found
            for f in found:
                print(f"   {f.name}: {_fmt(f.median)} {f.unit} {[round(x, 2) for x in f.runs]}", flush=True)
            print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    elapsed = time.monotonic() - started
    output.write_text(report(figures, info=info, command=command, elapsed=elapsed, failures=failures), encoding="utf-8")
    results = args.json or REPO / "var/bench" / ("results-smoke.json" if args.smoke else "results.json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(
        json.dumps(
            {
                "machine": info,
                "command": command,
                "elapsed_s": elapsed,
                "failures": failures,
                "figures": [asdict(f) for f in figures],
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    print(f"wrote {output} and {results} in {elapsed:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
