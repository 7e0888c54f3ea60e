"""Compositional label spaces: `lazlabel classes compose`, part attributes, pairs in exports read back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cli.main import main
from engine.demo_world import compositional as cw
from engine.demo_world.scenes import render

PAIRS = [cw.Pair("red", "circle"), cw.Pair("dotted", "square"), cw.Pair("striped", "circle")]


@pytest.fixture
def pair_project(tmp_path: Path):
    """A project of 6 small demo images in 3 pairs, all decided by their folder's pair."""
    from db import Project
    from workflows.review import decide
    from workflows.scan import scan_folder

    root = tmp_path / "images"
    for k, pair in enumerate(PAIRS * 2):
        out = root / f"{pair.state}_{pair.object}" / f"img{k}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        render(cw.make_scene(cw.DEMO_SEED_BASE + k, pair, size=96)).save(out)
    proj = Project.create(tmp_path / "p.lazlabel", root)
    for _ in scan_folder(proj):
        pass
    proj.compose_classes(["red", "dotted", "striped"], ["circle", "square"],
                         [(p.state, p.object) for p in PAIRS], who="t")
    names = {n: cid for cid, n in proj.class_names_in_order()}
    for row in proj.images(proj.image_ids()):
        folder = row.rel_path.split("/")[0].replace("_", " ")
        decide(proj, [row.id], "corrected", class_id=names[folder], reviewer="t")
    yield proj
    proj.close()


def test_compose_cli_makes_pairs_links_existing_classes_and_is_idempotent(project, capsys):
    p = project.location
    project.add_class("Ripe Tomato")  # becomes the pair, keeping its id
    cid = project.get_class("ripe tomato").id
    assert main(["-p", p, "classes", "compose", "--states", "ripe", "rotten", "--objects", "tomato", "apple"]) == 0
    out = capsys.readouterr().out
    assert "3 pair classes added; 1 existing classes became pairs" in out
    assert "2 states x 2 objects, 4 allowed pairs" in out
    space = project.label_space()
    assert {(q.state, q.object) for q in space.pairs} == {("ripe", "tomato"), ("ripe", "apple"),
                                                         ("rotten", "tomato"), ("rotten", "apple")}
    assert project.pair_of_classes()[cid] == ("ripe", "tomato")
    # options in any order; a listed pair; re-running changes nothing already there
    assert main(["classes", "compose", "--pairs", "sliced/apple", "--states", "sliced", "-p", p]) == 0
    assert main(["-p", p, "classes", "compose", "--states", "ripe", "--objects", "tomato"]) == 0
    assert "1 already were" in capsys.readouterr().out
    assert len(project.label_space().pairs) == 5
    assert main(["-p", p, "classes", "compose", "--objects", "pear"]) == 0  # with the existing states
    assert {q.name for q in project.label_space().pairs} >= {"ripe pear", "rotten pear", "sliced pear"}
    assert main(["-p", p, "classes", "compose", "--pairs", "burnt toast"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "names no known state and object" in err and "internal" not in err
    assert main(["-p", p, "classes", "compose", "--pairs", "ripe/plum"]) == 1
    assert "no object named 'plum'" in capsys.readouterr().err


def test_part_attributes_are_copied_into_pairs_and_edits_survive(project, tmp_path, capsys):
    p = project.location
    assert main(["-p", p, "classes", "compose", "--states", "dotted", "red", "--objects", "circle"]) == 0
    parts = tmp_path / "parts.json"
    parts.write_text(json.dumps({"states": {"dotted": ["small dots", "a dotted surface"]},
                                 "objects": {"circle": ["a round outline"]}}))
    assert main(["-p", p, "classes", "compose", "--attributes", str(parts)]) == 0
    specs = {name: attrs for _c, name, attrs in project.class_specs()}
    assert specs["dotted circle"] == ("small dots", "a dotted surface", "a round outline")
    assert specs["red circle"] == ("a round outline",)
    from workflows.compose import class_specs

    spec = next(s for s in class_specs(project) if s.name == "dotted circle")
    assert (spec.state, spec.obj) == ("dotted", "circle")
    # a curator edits a copy; then the state's attributes change: the edit is kept as the pair's own
    copy = next(a for a in project.list_attributes("dotted circle") if a.text == "a dotted surface")
    project.edit_attribute(copy.id, "a surface with fine dots", who="curator")
    assert main(["-p", p, "classes", "part-attributes", "--state", "dotted", "tiny dots"]) == 0
    after = {a.text: a.origin for a in project.list_attributes("dotted circle")}
    assert "small dots" not in after and after["tiny dots"] == "compose:state:dotted"
    assert after["a surface with fine dots"] is None  # the curator's edit, now the pair's own
    capsys.readouterr()
    assert main(["-p", p, "classes", "part-attributes", "--state", "dotted"]) == 0
    assert capsys.readouterr().out.split("\n")[0] == "tiny dots"


def test_marginals_method_on_a_flat_project_is_a_user_error(project, capsys):
    from workflows.settings import load_settings, save_settings

    project.add_class("cat")
    s = load_settings(project)
    s.method = "marginals"
    save_settings(project, s)
    assert main(["-p", project.location, "prelabel", "--model", "demo"]) == 1
    err = capsys.readouterr().err
    assert "marginals method scores state-object pairs; not a pair: cat" in err and "internal" not in err


def test_pair_grid_counts_decided_images_per_cell(pair_project, capsys):
    from workflows.compose import pair_grid

    grid = pair_grid(pair_project)
    assert grid.cell("red", "circle").decided == 2 and grid.cell("red", "square").allowed is False
    assert {(c.state, c.object) for c in grid.seen_pairs} == {(p.state, p.object) for p in PAIRS}
    assert main(["-p", pair_project.location, "classes", "pairs", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["states"] == ["red", "dotted", "striped"] and len(data["pairs"]) == 3


def _export(project, fmt: str, out: Path) -> None:
    assert main(["-p", project.location, "export", fmt, str(out)]) == 0


def test_exports_carry_state_and_object_and_read_back(pair_project, tmp_path, capsys):
    _export(pair_project, "csv", tmp_path / "csv")
    rows = list(csv.DictReader((tmp_path / "csv" / "labels.csv").open(encoding="utf-8")))
    assert len(rows) == 6
    for r in rows:
        assert r["label"] == f"{r['state']} {r['object']}" and r["path"].startswith(f"{r['state']}_{r['object']}/")
    _export(pair_project, "jsonl", tmp_path / "jsonl")
    recs = [json.loads(line) for line in (tmp_path / "jsonl" / "labels.jsonl").read_text().splitlines()]
    assert {(r["state"], r["object"]) for r in recs} == {(p.state, p.object) for p in PAIRS}

    from torchvision.datasets import ImageFolder

    _export(pair_project, "imagefolder", tmp_path / "tree")
    ds = ImageFolder(str(tmp_path / "tree" / "train"))
    assert sorted(ds.classes) == sorted(f"{p.state}_{p.object}" for p in PAIRS) and len(ds) == 6

    datasets = pytest.importorskip("datasets")
    _export(pair_project, "hf-imagefolder", tmp_path / "hf")
    hf = datasets.load_dataset(str(tmp_path / "hf"), cache_dir=str(tmp_path / "hf-cache"))["train"]
    names = hf.features["label"].names
    assert {(names[x["label"]], x["state"], x["object"]) for x in hf} == {(p.name, p.state, p.object) for p in PAIRS}
