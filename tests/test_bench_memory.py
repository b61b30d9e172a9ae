"""The bench's memory figure is the job's own (issue #15 item 4).

Why: a bench run that built the data set first printed the district report's RSS as 2,284 MB, a
rerun 231 MB. Linux keeps a process's maximum RSS across fork and exec, so the measuring process,
started by a bench process holding gigabytes, reported the bench's high-water mark. This test
starts the measurement the same way from a process that holds 400 MB and checks that the figure
is the job's: not the 400 MB, but the 64 MB the job allocates on top of a small process.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_BUILDER = textwrap.dedent(r'''
    import json, os, subprocess, sys
    big = bytearray(400 * 2**20)
    big[::4096] = b"\x01" * len(range(0, len(big), 4096))  # 400 MB resident, as a data set build
    measuring = """
    import json, resource
    from hazardhub.devtools.bench import run_in_horse

    def job():
        block = bytearray(64 * 2**20)
        block[::4096] = b"\\x01" * len(range(0, len(block), 4096))

    print(json.dumps({"horse": run_in_horse(job),
                      "inherited_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    """
    proc = subprocess.run([sys.executable, "-c", measuring], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout)
''')


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_a_job_measured_after_a_big_build_reports_its_own_memory():
    proc = subprocess.run([sys.executable, "-c", _BUILDER], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    measured = json.loads(proc.stdout.strip().splitlines()[-1])
    horse = measured["horse"]
    mb = 1024
    # what getrusage/wait4 would have said: the builder's high-water mark, carried over (the bug)
    assert measured["inherited_kb"] >= 380 * mb
    assert horse["rss_source"] == "VmHWM"
    # the horse's peak is a small interpreter plus the job's 64 MB, never the builder's 400 MB
    assert horse["peak_kb"] < 250 * mb, horse
    assert 60 * mb <= horse["own_kb"] < 100 * mb, horse
    assert horse["seconds"] and horse["seconds"][0] > 0
