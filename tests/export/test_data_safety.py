"""Issue #13 data-safety defects of exports and imports, each reproduced through the real CLI or use case.

1: `export --overwrite` deleted files it never wrote. 4: CSV formula injection. 12: bad import
input shown as internal errors. 15: temporary folders of killed exports left behind elsewhere.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from cli.main import main
from plugins.csv_cells import neutralise, restore
from tests.export.conftest import walk_files
from tests.export.helpers import manifest, run_export
from workflows.errors import UserError

HOSTILE_CELLS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tlead", "\rcr", "'=quoted", "''", "'tis"]


# --- 1: overwrite replaces only what the earlier export wrote --------------------------------


def test_overwrite_refuses_and_names_files_the_export_did_not_write(world, tmp_path, capsys):
    proj, out = world.project.location, tmp_path / "OUT"
    assert main(["-p", proj, "export", "csv", str(out)]) == 0
    (out / "runs").mkdir()
    (out / "runs" / "ckpt.pt").write_text("w", encoding="utf-8")
    (out / "NOTES.md").write_text("n", encoding="utf-8")
    capsys.readouterr()
    assert main(["-p", proj, "export", "csv", str(out), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NOTES.md" in err and "runs/ckpt.pt" in err
    assert (out / "runs" / "ckpt.pt").read_text(encoding="utf-8") == "w"
    assert (out / "NOTES.md").read_text(encoding="utf-8") == "n"
    assert (out / "labels.csv").is_file()  # the earlier export is untouched too
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".OUT")]


def test_overwrite_replaces_an_export_with_only_its_own_files(world, tmp_path):
    out = tmp_path / "out"
    run_export(world.project, "imagefolder", out, splits={"train": 0.5, "val": 0.5}, include_unsure_set=True)
    before = walk_files(out)
    assert any(p.startswith("unsure/") for p in before)
    run_export(world.project, "fiftyone", out, overwrite=True)
    assert manifest(out)["format"] == "fiftyone" and not (out / "train").exists()
    run_export(world.project, "fiftyone", out, overwrite=True)  # an export of its own kind too
    (out / "data" / "mine.txt").write_text("x", encoding="utf-8")  # a stray file deep inside
    with pytest.raises(UserError, match=r"data/mine\.txt"):
        run_export(world.project, "csv", out, overwrite=True)
    (out / "data" / "mine.txt").unlink()
    (out / "empty-dir").mkdir()
    with pytest.raises(UserError, match="empty-dir"):
        run_export(world.project, "csv", out, overwrite=True)


# --- 4: CSV formula injection ---------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE_CELLS + ["plain", "", "-", "=", "'"])
def test_guard_is_exactly_undone(value):
    assert restore(neutralise(value)) == value
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        assert neutralise(value).startswith("'")
    assert neutralise(-0.5) == -0.5  # numbers are not text cells


def test_labels_csv_and_file_map_are_neutralised_and_read_back_exactly(project, tmp_path):
    from tests.export.conftest import build_world

    classes = ["=cmd|' /C calc'!A0", "+plus", "@at", "-minus", "'=already"]
    w = build_world(project, classes, per_class=2)
    names = [c.name for c in project.list_classes()]
    assert names == classes  # the project keeps them as typed
    run_export(project, "csv", tmp_path / "c")
    run_export(project, "imagefolder", tmp_path / "t")
    for f in (tmp_path / "c" / "labels.csv", tmp_path / "t" / "lazlabel-files.csv"):
        with open(f, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:
            for v in r.values():  # no cell a spreadsheet would evaluate
                assert v[:1] not in ("=", "+", "-", "@", "\t", "\r"), (f.name, v)
        assert {restore(r["label"]) for r in rows} <= set(classes)
    for fmt, path in (("csv", tmp_path / "c" / "labels.csv"), ("folder", tmp_path / "t")):
        r = _import(project, fmt, path)
        assert r.n_imported == len(w.expected) and not r.unmatched and not r.created_classes
    got = {row.rel_path: _imported_name(project, row.imported_class_id) for row in project.page_images(limit=500)}
    assert {k: v for k, v in got.items() if k in w.expected} == w.expected


def test_attribute_csv_is_neutralised_and_round_trips(project, tmp_path):
    from workflows.attributes import export_attributes, import_attributes

    f = tmp_path / "attrs.csv"
    f.write_text(
        'class,attribute\n"\'=evil",=1+2\n"\'=evil",-has a dash\nplain,@mention\nplain,\'tis round\n',
        encoding="utf-8",
    )
    import_attributes(project, f)
    specs = {name: list(attrs) for _cid, name, attrs in project.class_specs()}
    assert specs == {"=evil": ["=1+2", "-has a dash"], "plain": ["@mention", "'tis round"]}
    out = tmp_path / "out.csv"
    export_attributes(project, out)
    with open(out, encoding="utf-8", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert all(c[:1] not in ("=", "+", "-", "@") for c in cells)
    import_attributes(project, out, mode="replace")
    assert {name: list(attrs) for _cid, name, attrs in project.class_specs()} == specs


def _import(project, fmt, path):
    from workflows.import_labels import import_labels

    return import_labels(project, fmt, path, create_classes=False)


def _imported_name(project, class_id):
    return {c.id: c.name for c in project.list_classes()}.get(class_id)


# --- 12: bad input is the user's problem -----------------------------------------------------


def _deep(n: int = 100_000) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize(
    ("cmd", "name", "content", "message"),
    [
        (["import-labels", "csv"], "latin1.csv", "path,label\nimg.png,caf\xe9\n".encode("latin-1"), "not UTF-8"),
        (["import-labels", "jsonl"], "l.jsonl", b'{"path": "a.png", "label": "caf\xe9"}\n', "not UTF-8"),
        (["import-labels", "labelstudio"], "deep.json", _deep().encode(), "nested too deeply"),
        (["import-labels", "fiftyone"], "labels.json", _deep().encode(), "nested too deeply"),
        (["import-labels", "jsonl"], "deep.jsonl", _deep().encode() + b"\n", "nested too deeply"),
        (["import-labels", "labelstudio"], "latin1.json", '[{"data": {"image": "caf\xe9"}}]'.encode("latin-1"), "not UTF-8"),
        (["attributes", "import"], "deep.json", _deep().encode(), "nested too deeply"),
        (["attributes", "import"], "latin1.csv", "class,attribute\ncaf\xe9,x\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_import_files_are_one_line_errors_naming_the_file(project, tmp_path, capsys, cmd, name, content, message):
    f = tmp_path / name
    f.write_bytes(content)
    assert main(["-p", project.location, *cmd, str(f)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err, err
    assert message in err and name in err


# --- 15: leftovers of killed exports are cleaned at the next export anywhere ------------------


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)


def test_killed_export_leftovers_are_cleaned_by_an_export_elsewhere(world, tmp_path):
    """A real export process killed mid-way leaves `.OUT.tmp-*`; the next export to another folder removes it."""
    first = tmp_path / "first"
    first.mkdir()
    script = (
        "import os, sys\n"
        "from db import Project\n"
        "from workflows.export import export\n"
        "p = Project.open(sys.argv[1])\n"
        "g = export(p, 'imagefolder', sys.argv[2], chunk_size=1)\n"
        "next(g); next(g)\n"
        "os._exit(9)  # killed mid-way: no clean-up runs\n"
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", script, world.project.location, str(first / "OUT")], env=env, check=False)
    left = [n for n in os.listdir(first) if n.startswith(".OUT.tmp-")]
    assert left and walk_files(first / left[0])  # the reproduction: a half-written export is left
    elsewhere = tmp_path / "elsewhere" / "other"
    run_export(world.project, "csv", elsewhere)
    assert os.listdir(first) == []


def test_clean_stale_exports_keeps_live_ones_and_forgets_gone_ones(tmp_path):
    from workflows.export_target import _registry, clean_stale_exports

    reg = _registry()
    reg.mkdir(parents=True)
    dead = tmp_path / f".x.tmp-{_dead_pid()}-ab12"
    live = tmp_path / f".y.tmp-{os.getppid()}-cd34"
    for i, d in enumerate((dead, live)):
        (d / "sub").mkdir(parents=True)
        (reg / f"{i}.json").write_text(json.dumps({"tmp": str(d)}), encoding="utf-8")
    (reg / "broken.json").write_text("{", encoding="utf-8")
    assert clean_stale_exports() == 1
    assert not dead.exists() and live.exists()
    assert sorted(p.name for p in reg.iterdir()) == ["1.json"]
