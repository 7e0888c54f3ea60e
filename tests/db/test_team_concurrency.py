"""No lost updates when several people decide the same images at once, on a real PostgreSQL
(issue #20): scripts/bench_team.py with fewer processes and seconds than the 8 x 30 s of the
measurement in the README. Before the row lock in `ReviewMixin._decide`, the previous-label chain
broke (two writers both read the same label before either wrote)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_concurrent_deciders_lose_nothing_and_labels_stay_derived(pg_url, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "LAZLABEL_TEAM_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_team.py"), "--url", pg_url,
         "--procs", "3", "--seconds", "2", "--images", "6", "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["sent"] > 0 and report["refused"] == 0, report
    assert report["written"] == report["acknowledged"] == report["sent"], report
    assert report["lost"] == 0 and report["unacknowledged_rows"] == 0
    assert report["wrong_current_label"] == 0 and report["broken_previous_label_chain"] == 0
    assert out.returncode == 0, out.stderr[-2000:]
