#!/usr/bin/env python
"""Hostile end-to-end checks of the store on the demo project (issue #13): kill -9 at random
moments of long commands, concurrent writers, a full disk. Prints one table:

    scenario | runs | lost or duplicated rows | integrity | equal to uninterrupted

and the concurrency figure (4 processes decide on overlapping images while a pre-label and an
attribute import run: decisions sent vs stored, errors shown to the user).

    .venv/bin/python scripts/torture.py                 # demo project of 32 scenes
    .venv/bin/python scripts/torture.py --images 140 --kills 5 --seed 1

Every command runs as a user runs it (`python -m cli ...` in its own process). A disk-full run
needs a small tmpfs (root and `mount`); without it the scenario is reported as skipped. The fast
subset lives in tests/workflows/test_torture_fast.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT = "demo.lazlabel"


@dataclass
class Row:
    scenario: str
    runs: int = 0
    lost_or_dup: int = 0
    integrity: str = "ok"
    equal: str = "yes"
    notes: list[str] = field(default_factory=list)

    def fail(self, equal: bool, note: str) -> None:
        if not equal:
            self.equal = "NO"
            self.notes.append(note)


# --- running lazlabel ---------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}


def lazlabel(folder: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", "-p", PROJECT, *args], cwd=folder, env=_env(), capture_output=True,
        text=True, timeout=timeout,
    )


def start(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "-p", PROJECT, *args], cwd=folder, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def must(res: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if res.returncode != 0:
        raise SystemExit(f"torture: {what} failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    return res


def kill_at(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL after `delay` s; whether the process was still running."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def user_errors(stderr: str) -> list[str]:
    """Lines lazlabel showed the user as errors (progress bars excluded)."""
    return [ln for ln in stderr.splitlines() if ln.startswith("lazlabel:")]


# --- reading results ------------------------------------------------------------------------------


def _db(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{folder / PROJECT}?mode=ro", uri=True)


def integrity(folder: Path) -> str:
    with _db(folder) as c:
        ok = c.execute("PRAGMA integrity_check").fetchone()[0]
        fk = c.execute("PRAGMA foreign_key_check").fetchall()
    return "ok" if ok == "ok" and not fk else f"BAD ({ok}, {len(fk)} broken references)"


def predictions(folder: Path) -> tuple[dict[str, tuple[str, float]], int]:
    """(rel_path -> (top-1 class, score) of the newest finished pre-label run, lost + duplicated rows)."""
    with _db(folder) as c:
        run = c.execute("SELECT max(id) FROM run WHERE kind = 'prelabel' AND status = 'done'").fetchone()[0]
        if run is None:
            return {}, -1
        rows = c.execute(
            "SELECT i.rel_path, l.name, p.score FROM prediction p JOIN image i ON i.id = p.image_id "
            "LEFT JOIN label_class l ON l.id = p.class_id WHERE p.run_id = ?", (run,)
        ).fetchall()
        dup = c.execute(
            "SELECT count(*) - count(DISTINCT image_id) FROM prediction WHERE run_id = ?", (run,)
        ).fetchone()[0]
        want = {r[0] for r in c.execute("SELECT rel_path FROM image WHERE status = 'ok'")}
        errs = {r[0] for r in c.execute("SELECT rel_path FROM image WHERE status = 'error'")}
    got = {p: (n, round(float(s), 4)) for p, n, s in rows}
    lost = len(want - set(got) - errs)
    return got, lost + dup


def same_predictions(a: dict[str, tuple[str, float]], b: dict[str, tuple[str, float]]) -> bool:
    return a.keys() == b.keys() and all(a[k][0] == b[k][0] and abs(a[k][1] - b[k][1]) < 2e-3 for k in a)


def debris(folder: Path) -> int:
    """Half-written cache files: `.tmp-` files and shard parts without a commit record."""
    root = folder / f"{PROJECT}.cache" / "features"
    if not root.exists():
        return 0
    committed = {p.name[: -len(".hashes")] for p in root.rglob("*.hashes")}
    return sum(
        1 for p in root.rglob("*") if p.is_file()
        and (p.name.startswith(".tmp-") or p.name.split(".", 1)[0] not in committed)
    )


# --- set-up ---------------------------------------------------------------------------------------


def copy_project(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns("holders"))
    return dst


def build_demo(work: Path, n_images: int) -> Path:
    base = work / "base"
    res = subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--dir", str(base), "--images", str(n_images), "--no-prelabel", "-q"],
        cwd=work, env=_env(), capture_output=True, text=True, timeout=600,
    )
    must(res, "building the demo project")
    return base


def descriptor_file(path: Path, n_classes: int, n_attrs: int) -> Path:
    data = {
        f"torture class {i}": [f"attribute {j} of torture class {i}, a visible part" for j in range(n_attrs)]
        for i in range(n_classes)
    }
    path.write_text(json.dumps(data))
    return path


def attribute_count(folder: Path) -> int:
    with _db(folder) as c:
        return int(c.execute("SELECT count(*) FROM attribute").fetchone()[0])


# --- scenarios ------------------------------------------------------------------------------------


def kill_prelabel(work: Path, base: Path, ref: dict, ref_s: float, kills: int, rng: random.Random) -> Row:
    row = Row("kill -9 pre-label, resume")
    for k in range(kills):
        d = copy_project(base, work / f"kp{k}")
        proc = start(d, "prelabel")
        killed = kill_at(proc, rng.uniform(0.15, 0.9) * ref_s)
        row.runs += 1
        must(lazlabel(d, "prelabel"), "resuming pre-label")
        got, bad = predictions(d)
        row.lost_or_dup += bad
        row.integrity = row.integrity if integrity(d) == "ok" else integrity(d)
        row.fail(same_predictions(got, ref), f"run {k} (killed={killed}) differs")
        shutil.rmtree(d)
    return row


def _wait_for_running_run(folder: Path, proc: subprocess.Popen, limit_s: float = 300) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        with _db(folder) as c:
            if c.execute("SELECT count(*) FROM run WHERE status = 'running'").fetchone()[0]:
                return
        time.sleep(0.2)


def two_prelabels(work: Path, base: Path, ref: dict) -> tuple[Row, str]:
    """Two pre-labels started together on one project, and a third with --join: exactly one of
    the first two is refused with who runs the run; the result equals one uninterrupted run."""
    row = Row("2 pre-labels at once + a --join")
    d = copy_project(base, work / "two")
    a, b = start(d, "prelabel"), start(d, "prelabel")
    _wait_for_running_run(d, a)
    joined = lazlabel(d, "prelabel", "--join")
    outs = [p.communicate(timeout=600) for p in (a, b)]
    row.runs = 3
    refused = [user_errors(err) for _out, err in outs if user_errors(err)]
    rcs = sorted(p.returncode for p in (a, b))
    row.fail(rcs == [0, 1] and len(refused) == 1 and "in progress (pid" in refused[0][0],
             f"exit codes {rcs}, shown {refused}")
    row.fail(joined.returncode == 0, f"--join exit {joined.returncode}: {joined.stderr.strip()[-200:]}")
    got, bad = predictions(d)
    row.lost_or_dup = max(bad, 0)
    row.integrity = integrity(d)
    row.fail(same_predictions(got, ref), "the shared run differs from an uninterrupted one")
    said = next((ln for ln in joined.stdout.splitlines() if "run #" in ln), "")
    shutil.rmtree(d)
    return row, (refused[0][0] if refused else "") + (f" / --join: {said}" if said else "")


def kill_import(work: Path, base: Path, big: Path, kills: int, rng: random.Random) -> Row:
    row = Row("kill -9 attribute import, redo")
    ref_dir = copy_project(base, work / "imp-ref")
    before = attribute_count(ref_dir)
    t0 = time.monotonic()
    must(lazlabel(ref_dir, "attributes", "import", str(big)), "reference import")
    dur = time.monotonic() - t0
    after = attribute_count(ref_dir)
    for k in range(kills):
        d = copy_project(base, work / f"ki{k}")
        killed = kill_at(start(d, "attributes", "import", str(big)), rng.uniform(0.2, 1.0) * dur)
        row.runs += 1
        mid = attribute_count(d)
        if mid not in (before, after):  # an import is all or nothing
            row.lost_or_dup += abs(after - mid)
        must(lazlabel(d, "attributes", "import", str(big)), "redoing the import")
        row.integrity = row.integrity if integrity(d) == "ok" else integrity(d)
        row.fail(attribute_count(d) == after, f"run {k} (killed={killed}): {attribute_count(d)} != {after}")
        shutil.rmtree(d)
    shutil.rmtree(ref_dir)
    return row


def kill_export(work: Path, labelled: Path, kills: int, rng: random.Random) -> Row:
    row = Row("kill -9 export, redo")
    ref_out = work / "export-ref"
    t0 = time.monotonic()
    must(lazlabel(labelled, "export", "imagefolder", str(ref_out), "--mode", "copy"), "reference export")
    dur = time.monotonic() - t0
    ref_files = sorted(p.relative_to(ref_out).as_posix() for p in ref_out.rglob("*") if p.is_file())
    for k in range(kills):
        out = work / f"export-{k}"
        killed = kill_at(start(labelled, "export", "imagefolder", str(out), "--mode", "copy"),
                         rng.uniform(0.3, 1.0) * dur)
        row.runs += 1
        if out.exists():  # atomic: absent, or complete
            files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
            if files != ref_files:
                row.lost_or_dup += abs(len(files) - len(ref_files)) or 1
            shutil.rmtree(out)
        must(lazlabel(labelled, "export", "imagefolder", str(out), "--mode", "copy"), "redoing the export")
        files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        row.fail(files == ref_files, f"export {k} (killed={killed}) differs")
        shutil.rmtree(out)
    row.integrity = integrity(labelled)
    shutil.rmtree(ref_out)
    return row


DECIDER = r"""
import contextlib, io, json, random, sys, time
from pathlib import Path
from cli.main import main
path, worker, paths, classes, stop = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), Path(sys.argv[5])
rng = random.Random(worker)
sent = ok = 0
errors = []
while not stop.exists() and sent < 400:
    rel = rng.choice(paths)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["-p", path, "decide", rel, rng.choice(classes), "--reviewer", worker])
    sent += 1
    ok += rc == 0
    errors += [ln for ln in err.getvalue().splitlines() if ln.startswith("lazlabel:")]
    time.sleep(0.02)
print(json.dumps({"sent": sent, "ok": ok, "errors": errors}))
"""


def concurrency(work: Path, labelled: Path, ref: dict, big: Path, n_deciders: int = 4) -> tuple[Row, dict]:
    """4 processes decide on overlapping images while a pre-label (--force: every image again)
    and an attribute import run."""
    row = Row(f"{n_deciders} deciders + pre-label + import")
    d = copy_project(labelled, work / "conc")
    with _db(d) as c:
        paths = [r[0] for r in c.execute("SELECT rel_path FROM image WHERE status = 'ok' ORDER BY id")][:24]
        classes = [r[0] for r in c.execute("SELECT name FROM label_class ORDER BY id")][:5]
    stop = work / "conc.stop"
    stop.unlink(missing_ok=True)
    pre = start(d, "prelabel", "--force")
    _wait_for_running_run(d, pre)  # the run has read its classes: the import's new ones come after
    deciders = [
        subprocess.Popen(
            [sys.executable, "-c", DECIDER, PROJECT, f"worker{w}", json.dumps(paths), json.dumps(classes), str(stop)],
            cwd=d, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for w in range(n_deciders)
    ]
    imp = start(d, "attributes", "import", str(big))
    imp_out, imp_err = imp.communicate(timeout=600)
    pre_out, pre_err = pre.communicate(timeout=600)
    stop.touch()
    results = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in deciders]
    row.runs = 2 + n_deciders
    with _db(d) as c:
        stored = {
            w: int(c.execute("SELECT count(*) FROM decision WHERE reviewer = ?", (f"worker{w}",)).fetchone()[0])
            for w in range(n_deciders)
        }
    sent = sum(r["sent"] for r in results)
    ok = sum(r["ok"] for r in results)
    shown = [e for r in results for e in r["errors"]] + user_errors(pre_err) + user_errors(imp_err)
    total_stored = sum(stored.values())
    row.lost_or_dup = abs(ok - total_stored)
    row.integrity = integrity(d)
    got, bad = predictions(d)
    row.lost_or_dup += max(bad, 0)
    row.fail(pre.returncode == 0 and imp.returncode == 0, f"pre-label rc {pre.returncode}, import rc {imp.returncode}")
    row.fail(same_predictions(got, ref), "pre-label under load differs from the uninterrupted one")
    figure = {
        "decisions_sent": sent, "decisions_accepted": ok, "decisions_stored": total_stored,
        "errors_shown": len(shown), "error_examples": shown[:5],
        "prelabel_rc": pre.returncode, "import_rc": imp.returncode,
    }
    shutil.rmtree(d)
    return row, figure


def disk_full(work: Path, base: Path, ref: dict) -> Row:
    row = Row("disk full (tmpfs) pre-label, resume")
    mnt = work / "small-disk"
    mnt.mkdir(exist_ok=True)
    used = sum(p.stat().st_size for p in base.rglob("*") if p.is_file() and "images" not in p.parts)
    size_kb = (used + 4 * 1024 * 1024) // 1024 // 4 * 4 + 64  # the project fits, the WAL and cache do not
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        row.integrity = row.equal = "skipped (cannot mount a tmpfs here)"
        return row
    try:
        d = mnt / "p"
        d.mkdir()
        shutil.copy(base / PROJECT, d / PROJECT)  # images stay outside; the setting points at them
        filler = mnt / "filler"
        free = shutil.disk_usage(mnt).free
        filler.write_bytes(b"\0" * max(0, free - 160 * 1024))  # leave ~160 KB: a few shards at most
        res = lazlabel(d, "prelabel")
        row.runs += 1
        errs = user_errors(res.stderr)
        if res.returncode == 0:
            row.notes.append("pre-label fitted in the small disk: no disk-full happened")
        elif len(errs) != 1 or "internal error" in errs[0] or "disk full" not in errs[0]:
            row.fail(False, f"disk full shown as: {errs or res.stderr.strip()[-300:]}")
        else:
            row.notes.append(f"shown: {errs[0][:140]}")
        row.integrity = integrity(d)
        filler.unlink()
        subprocess.run(["mount", "-o", "remount,size=512m", str(mnt)], check=True)
        must(lazlabel(d, "prelabel"), "resuming pre-label after freeing space")
        row.runs += 1
        left = debris(d)
        got, bad = predictions(d)
        row.lost_or_dup = max(bad, 0) + left
        row.integrity = row.integrity if integrity(d) == "ok" else integrity(d)
        row.fail(same_predictions(got, ref), "pre-label after disk full differs")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
    return row


# --- main -------------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = ["scenario", "runs", "lost or duplicated rows", "integrity", "equal to uninterrupted"]
    cells = [head] + [[r.scenario, str(r.runs), str(r.lost_or_dup), r.integrity, r.equal] for r in rows]
    w = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (x + 2) for x in w) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=32, help="demo scenes (default 32)")
    ap.add_argument("--kills", type=int, default=2, help="kill -9 runs per scenario (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    t_start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="lazlabel-torture-"))
    try:
        base = build_demo(work, args.images)
        big = descriptor_file(work / "big.json", 1500, 20)
        labelled = copy_project(base, work / "labelled")
        t0 = time.monotonic()
        must(lazlabel(labelled, "prelabel"), "uninterrupted pre-label")
        ref_s = time.monotonic() - t0
        ref, bad = predictions(labelled)
        must(lazlabel(labelled, "review", "--accept-above", "0"), "accepting every prediction")
        two_row, two_msg = two_prelabels(work, base, ref)
        two_row.notes.append(two_msg)
        rows = [
            kill_prelabel(work, base, ref, ref_s, args.kills, rng),
            two_row,
            kill_import(work, base, big, args.kills, rng),
            kill_export(work, labelled, args.kills, rng),
        ]
        conc_row, figure = concurrency(work, labelled, ref, big)
        rows.append(conc_row)
        rows.append(disk_full(work, base, ref))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(table(rows))
    for r in rows:
        for n in r.notes:
            print(f"  {r.scenario}: {n}")
    print(
        f"\nconcurrency: decisions sent {figure['decisions_sent']}, accepted {figure['decisions_accepted']}, "
        f"stored {figure['decisions_stored']}; errors shown to the user: {figure['errors_shown']}"
        + (f" (e.g. {figure['error_examples'][0]})" if figure["error_examples"] else "")
    )
    print(f"uninterrupted pre-label of {args.images} scenes: {ref_s:.0f} s; whole run {time.monotonic() - t_start:.0f} s")
    ok = all(r.equal in ("yes",) or r.equal.startswith("skipped") for r in rows) and all(
        r.lost_or_dup == 0 for r in rows
    ) and figure["decisions_sent"] == figure["decisions_stored"] and figure["errors_shown"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
