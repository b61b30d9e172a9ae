"""The benchmark, as a thin pytest entry: ``pytest -m bench`` (never part of the default run).

It runs ``flask --app wsgi bench --scale district --json`` against the PostgreSQL database named
by ``HAZARDHUB_BENCH_DATABASE_URL`` (default: ``hazardhub_bench`` on 127.0.0.1; the data set is
built there on the first run and reused afterwards) and checks that every figure the issue asks
for is printed, in the JSON shape it specifies. It asserts no timing: performance is a benchmark,
not a timed unit test (README "Performance" has the figures and the targets).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# deselected unless the marker expression asks for benchmarks (``-m bench``, see tests/conftest.py)
pytestmark = pytest.mark.bench


def test_bench_prints_every_figure():
    url = os.environ.get("HAZARDHUB_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/hazardhub_bench")
    env = {**os.environ, "HAZARDHUB_DATABASE_URL": url}
    env.pop("HAZARDHUB_REDIS_URL", None)
    seconds = os.environ.get("HAZARDHUB_BENCH_SECONDS", "5")
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "bench", "--scale", "district", "--json",
         "--seconds", seconds],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    by_name = {obj["name"]: obj for obj in lines}
    for page in ("floor_healthz", "ledger", "hazard_detail", "hazard_history", "compliance_matrix"):
        obj = by_name[page]
        assert {"p50_ms", "p95_ms", "ratio_to_floor"} <= set(obj)
        assert obj["p50_ms"] > 0 and obj["p95_ms"] >= obj["p50_ms"]
        assert obj["requests"] > 0 and obj["errors"] == 0
    assert by_name["floor_healthz"]["ratio_to_floor"] == 1.0
    assert by_name["versioned_write"]["ratio"] > 0
    for pdf in ("directive_pdf", "district_phase_report_pdf"):
        assert by_name[pdf]["seconds"] > 0 and by_name[pdf]["rss_mb"] > 0
