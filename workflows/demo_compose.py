"""`lazlabel demo --compositional`: a small state-object demo project, built like the flat demo.

The compositional demo world (engine/demo_world/compositional.py: colour and texture states on
shapes, a fixed set of held-out pairs) becomes a project whose classes are the 30 pairs that occur,
with attributes on states and objects. The images of the *seen* pairs are half decided by a
simulated curator (reviewer "demo-curator"), the unseen pairs have none: exactly the situation a
learned compositional model (MSCI) trains from. Everything is then pre-labelled zero-shot and the
summary gives accuracy on images of seen and of unseen pairs.

Layout of the directory (only these names are ever written or removed):

    <dir>/demo.lazlabel, its cache     the project
    <dir>/images/<state>_<object>/*    the scenes, in folders named for their true pair
    <dir>/parts.json                   state and object attributes ({"states": {...}, "objects": {...}})
    <dir>/ground_truth.json            pairs, seen/unseen and part boxes of every scene
    <dir>/demo.json                    manifest: what was built, so a second call reuses it
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from engine.demo_world import compositional as cw
from engine.demo_world.scenes import render
from workflows.demo import MANIFEST, PROJECT_NAME, check_demo_target
from workflows.errors import UserError
from workflows.progress import CancelToken, Progress, check

MANIFEST_VERSION = 1
DEFAULT_IMAGES = 120  # 4 per pair that occurs
DEFAULT_VIEW_MODE = "grid"
DECIDED_FRACTION = 0.5  # of each seen pair's images, decided by the simulated curator
CURATOR = "demo-curator"
_OWNED = ("images", PROJECT_NAME, PROJECT_NAME + ".cache", PROJECT_NAME + "-wal", PROJECT_NAME + "-shm",
          PROJECT_NAME + "-journal", "parts.json", "ground_truth.json", MANIFEST)


@dataclass
class ComposeDemoSummary:
    """What `lazlabel demo --compositional` prints."""

    project_path: Path
    n_images: int = 0
    n_pairs: int = 0
    n_states: int = 0
    n_objects: int = 0
    n_decided: int = 0
    # (pair right, state right, object right, images) over images of seen / unseen pairs
    seen: tuple[int, int, int, int] = (0, 0, 0, 0)
    unseen: tuple[int, int, int, int] = (0, 0, 0, 0)
    seen_pairs: list[str] = field(default_factory=list)
    unseen_pairs: list[str] = field(default_factory=list)

    @staticmethod
    def rate(t: tuple[int, int, int, int], k: int = 0) -> float | None:
        return t[k] / t[3] if t[3] else None


def _manifest(n_images: int) -> dict:
    return {"version": MANIFEST_VERSION, "kind": "compositional", "n_images": n_images,
            "seed_base": cw.DEMO_SEED_BASE, "pairs": [p.name for p in cw.FEASIBLE_PAIRS],
            "unseen": [p.name for p in cw.UNSEEN_PAIRS]}


def part_attributes() -> dict[str, dict[str, list[str]]]:
    """The demo's state and object attributes, in `workflows.compose.import_part_attributes` form."""
    return {"states": {s: cw.state_attributes(s) for s in cw.STATES},
            "objects": {o: cw.object_attributes(o) for o in cw.OBJECTS}}


def _generate(target: Path, n_images: int, cancel: CancelToken | None) -> Generator[Progress, None, list[dict]]:
    records = []
    for i, (pair, scene) in enumerate(cw.iter_scenes("demo", n_images)):
        rel = Path(f"{pair.state}_{pair.object}") / f"scene_{i:04d}.png"
        out = target / "images" / rel
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".part")
            render(scene).save(tmp, format="PNG")
            tmp.replace(out)
        rec = cw.scene_record(pair, scene)
        rec["path"] = rel.as_posix()
        records.append(rec)
        if (i + 1) % 20 == 0 or i + 1 == n_images:
            yield Progress(i + 1, n_images, "generating scenes", stage="generate")
            check(cancel)
    (target / "ground_truth.json").write_text(json.dumps({"images": records}, indent=1))
    return records


def _decide_seen(project, records: list[dict]) -> int:
    """The simulated curator decides the first DECIDED_FRACTION of each seen pair's images."""
    from workflows.review import decide

    ids = {r.rel_path: r.id for r in project.images(project.image_ids())}
    classes = {n: cid for cid, n in project.class_names_in_order()}
    by_pair: dict[str, list[int]] = {}
    for rec in records:
        if rec["seen"] and rec["path"] in ids:
            by_pair.setdefault(rec["class"], []).append(ids[rec["path"]])
    n = 0
    for name, image_ids in by_pair.items():
        chosen = image_ids[: max(1, int(round(DECIDED_FRACTION * len(image_ids))))]
        decide(project, chosen, "corrected", class_id=classes[name], reviewer=CURATOR,
               note="demo: a seen pair, decided by the simulated curator")
        n += len(chosen)
    return n


def build_compose_demo(target_dir: str | Path, n_images: int = DEFAULT_IMAGES, cancel: CancelToken | None = None,
                       *, rebuild: bool = False, prelabel: bool = True, view_mode: str = DEFAULT_VIEW_MODE
                       ) -> Generator[Progress, None, Path]:
    """Create (or reuse) the compositional demo project in `target_dir` and pre-label it."""
    from db import Project
    from workflows.compose import import_part_attributes
    from workflows.prelabel import run_prelabel
    from workflows.scan import scan_folder
    from workflows.settings import load_settings, save_settings

    if n_images < len(cw.FEASIBLE_PAIRS):
        raise UserError(f"the compositional demo needs at least {len(cw.FEASIBLE_PAIRS)} images "
                        f"(one per pair), not {n_images}")
    target = Path(target_dir).expanduser().resolve()
    reuse = check_demo_target(target, rebuild, _manifest(n_images), _OWNED)
    target.mkdir(parents=True, exist_ok=True)
    proj_path = target / PROJECT_NAME
    if not reuse:
        records = yield from _generate(target, n_images, cancel)
        (target / "parts.json").write_text(json.dumps(part_attributes(), indent=2) + "\n")
        if proj_path.exists():
            proj_path.unlink()
        project = Project.create(proj_path, target / "images")
    else:
        records = json.loads((target / "ground_truth.json").read_text())["images"]
        project = Project.open(proj_path)
    try:
        settings = load_settings(project)
        if not reuse or settings.view_mode != view_mode:
            settings.model = "demo"
            settings.reviewer = settings.reviewer or "demo"
            settings.view_mode = view_mode
            save_settings(project, settings)
        if not reuse:
            yield from scan_folder(project, cancel)
            project.compose_classes(cw.STATES, cw.OBJECTS, [(p.state, p.object) for p in cw.FEASIBLE_PAIRS],
                                    who=CURATOR)
            import_part_attributes(project, target / "parts.json", who=CURATOR)
            _decide_seen(project, records)
            (target / MANIFEST).write_text(json.dumps(_manifest(n_images), indent=2) + "\n")
        if prelabel:
            yield from run_prelabel(project, scope="all", cancel=cancel)
    finally:
        project.close()
    return proj_path


def compose_demo_summary(project_path: str | Path) -> ComposeDemoSummary:
    """Counts of the compositional demo and its latest pre-labels against the generated truth,
    split by images of seen and of unseen pairs (pair, state and object accuracy)."""
    from db import Project

    project_path = Path(project_path)
    try:
        truth = {r["path"]: r for r in json.loads((project_path.parent / "ground_truth.json").read_text())["images"]}
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{project_path.parent} is not a complete compositional demo ({err}); "
                        "rebuild it with --rebuild") from err
    out = ComposeDemoSummary(project_path)
    with Project.open(project_path) as project:
        space = project.label_space()
        parts = {p.class_id: (p.state, p.object) for p in space.pairs}
        rows = project.images(project.image_ids())
    out.n_pairs, out.n_states, out.n_objects = len(space.pairs), len(space.states), len(space.objects)
    out.seen_pairs = [p.name for p in cw.SEEN_PAIRS]
    out.unseen_pairs = [p.name for p in cw.UNSEEN_PAIRS]
    tallies = {True: [0, 0, 0, 0], False: [0, 0, 0, 0]}
    for row in rows:
        rec = truth.get(row.rel_path)
        if rec is None:
            continue
        out.n_images += 1
        out.n_decided += row.review_status in ("accepted", "corrected")
        if row.pred_class_id is None or row.pred_class_id not in parts:
            continue
        st, ob = parts[row.pred_class_id]
        t = tallies[bool(rec["seen"])]
        t[0] += st == rec["state"] and ob == rec["object"]
        t[1] += st == rec["state"]
        t[2] += ob == rec["object"]
        t[3] += 1
    out.seen = tuple(tallies[True])  # type: ignore[assignment]
    out.unseen = tuple(tallies[False])  # type: ignore[assignment]
    return out


def format_compose_summary(s: ComposeDemoSummary) -> str:
    """Plain-text summary for the terminal."""
    lines = [f"compositional demo project: {s.project_path}",
             f"  images: {s.n_images}; label space: {s.n_states} states x {s.n_objects} objects, {s.n_pairs} "
             f"allowed pairs ({len(s.seen_pairs)} seen, {len(s.unseen_pairs)} unseen); "
             f"{s.n_decided} images of seen pairs decided by '{CURATOR}'"]
    for what, t in (("seen", s.seen), ("unseen", s.unseen)):
        if not t[3]:
            lines.append(f"  no pre-labels on images of {what} pairs yet")
            continue
        lines.append(f"  zero-shot pre-labels on images of {what} pairs: pair {100 * t[0] / t[3]:.1f}%, "
                     f"state {100 * t[1] / t[3]:.1f}%, object {100 * t[2] / t[3]:.1f}% ({t[3]} images)")
    lines.append(f"next: cd {s.project_path.parent} && lazlabel classes pairs / lazlabel review "
                 "(or lazlabel-desktop); the decided seen pairs are what `lazlabel learn --method msci` trains on")
    return "\n".join(lines)
