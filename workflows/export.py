"""Export use case: stream audited labels into a format plugin, atomically.

The export is written into a hidden temporary sibling of the target (`.<name>.tmp-XXXX`) and
renamed into place only when complete, so a failure, a cancel or a kill never leaves a partial
export under the target's name (`workflows.export_target`); a failure or cancel closes the
exporter's files (it is a context manager) and then removes the temporary directory. Rows stream
from the store in chunks (no ORM objects), splits are seeded and stratified by label with every
class in every split when it has enough images (`workflows.export_splits`), and every export
records what its exporter declares (classes, folders, files) and each file's source in a
manifest, so imports can map exported files back to the project's images.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import math
import os
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from db.store_labels import LABELLED_STATUSES, UNSURE_STATUSES, ExportRow
from engine.evidence import PresenceCalibration, read_evidence
from plugins import registry
from plugins.csv_cells import neutralise_row
from plugins.exporters.base import (
    FILE_MAP_NAME,
    MANIFEST_NAME,
    MODES,
    UNSURE_SET,
    ExportAttribute,
    Exporter,
    ExportError,
    ExportSample,
    ExportSummary,
    MissingSourceError,
    check_component,
    resolve_options,
    safe_class_names,
    wants_attributes,
)
from workflows.errors import UserError
from workflows.export_splits import assign_splits
from workflows.export_target import ExportTarget, clean_stale_exports
from workflows.progress import Cancelled, CancelToken, Progress, check

__all__ = ["assign_splits", "clean_stale_exports", "export", "list_formats", "parse_splits", "top_attributes"]

DEFAULT_SPLIT = "train"  # the one split of an export without --split
TOP_ATTRIBUTES = 5  # attributes per sample carried into exports (by share of transported mass)
CLASSES_TXT = "classes.txt"  # canonical class index, written when a split lacks a class


def list_formats() -> dict[str, str]:
    """Export format name -> one-line description, from the installed plugins."""
    out = {}
    for name in registry.available(registry.EXPORTERS):
        try:
            out[name] = getattr(registry.load(registry.EXPORTERS, name), "description", "")
        except registry.PluginError as err:
            out[name] = f"(unavailable: {err})"
    return out


def format_name(fmt: str) -> str:
    """The registered export format `fmt` means (case, '-' and '_' ignored), or `fmt` itself."""
    return registry.resolve(registry.EXPORTERS, fmt) or fmt


def load_exporter(fmt: str) -> Exporter:
    try:
        cls = registry.load(registry.EXPORTERS, fmt)
    except registry.PluginError as err:
        raise UserError(str(err)) from err
    return cls()


def parse_splits(text: str) -> dict[str, float]:
    """`train=0.8,val=0.1,test=0.1` -> {"train": 0.8, ...} (fractions or percentages)."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise UserError(f"bad split '{part}': write NAME=FRACTION, e.g. train=0.8,val=0.2")
        try:
            out[name.strip()] = float(value.rstrip("%")) / (100.0 if value.endswith("%") else 1.0)
        except ValueError as err:
            raise UserError(f"bad split fraction '{value}' for '{name}'") from err
    return out


def check_splits(splits: Mapping[str, float]) -> dict[str, float]:
    """Split names must be plain folder names; fractions positive and summing to 1."""
    if not splits:
        raise UserError("no splits given")
    for name, frac in splits.items():
        try:
            check_component(name)
        except ExportError as err:
            raise UserError(f"split name {name!r} is not a plain folder name") from err
        if name == UNSURE_SET or name.startswith("."):
            raise UserError(f"split name {name!r} is reserved")
        if not (frac > 0 and math.isfinite(frac)):
            raise UserError(f"split {name}: fraction must be positive, got {frac}")
    total = sum(splits.values())
    if abs(total - 1.0) > 1e-6:
        raise UserError(f"split fractions add up to {total:g}, not 1")
    return {k: v / total for k, v in splits.items()}


def _calibration(project: Any) -> PresenceCalibration | None:
    """The review screen's presence calibration; an export never fails for the lack of one."""
    from workflows.presence import calibration_for_project

    try:
        return calibration_for_project(project)
    except Exception:  # noqa: BLE001 - evidence is optional in an export: uncalibrated presence instead
        return None


def top_attributes(data: Any, calibration: PresenceCalibration | None = None, k: int = TOP_ATTRIBUTES
                   ) -> tuple[ExportAttribute, ...]:
    """The label's evidence from a stored explanation, read through the one schema
    (engine/evidence.py) and calibrated like the review screen: attributes found or weak first,
    by share, then those not found (share 0); at most `k`."""
    ev = read_evidence(data)
    if ev is None:
        return ()
    ev = ev.calibrated(calibration)
    return tuple(
        ExportAttribute(a.text, a.share, a.presence.label if a.presence else None,
                        a.presence.score if a.presence else None)
        for a in ev.attributes[:k]
    )


class _FileMap:
    """`lazlabel-files.csv`: exported file -> source path, written only when images are placed.
    Text cells are neutralised against formula injection (`plugins.csv_cells`)."""

    COLUMNS = ("file", "source_path", "image_id", "label", "split")

    def __init__(self, root: Path) -> None:
        self.root = root
        self._f: TextIO | None = None
        self.written = False

    def add(self, file: str, s: ExportSample) -> None:
        if self._f is None:
            self._f = open(self.root / FILE_MAP_NAME, "w", encoding="utf-8", newline="")
            self.written = True
            self._w = csv.writer(self._f)
            self._w.writerow(self.COLUMNS)
        self._w.writerow(
            neutralise_row([file, s.rel_path, s.image_id, "" if s.label is None else s.label, s.split])
        )

    def close(self) -> bool:
        """Close the file (idempotent); True when a map was written."""
        f, self._f = self._f, None
        if f is not None:
            f.close()
        return self.written


def _label_parts(project: Any, names: Mapping[int, str]) -> dict[str, tuple[str, str]]:
    """Class name -> (state, object) of a compositional project's pair classes (empty otherwise)."""
    return {names[cid]: parts for cid, parts in project.pair_of_classes().items() if cid in names}


def _parts_of(label: str | None, parts: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """The `state` / `object` fields of a sample (none for a flat class or the unsure set)."""
    if label is None or label not in parts:
        return {}
    return {"state": parts[label][0], "object": parts[label][1]}


@contextlib.contextmanager
def _opened(
    exporter: Exporter, out: Path, classes: list[str], opts: Mapping[str, Any], splits: list[str] | None, final: Path
) -> Iterator[Exporter]:
    """`with exporter.bind(...)`; a plugin that only has setup/export_sample/close is adapted."""
    if hasattr(exporter, "bind") and hasattr(exporter, "__exit__"):
        with exporter.bind(out, classes, opts, splits=splits, final_dir=final) as ex:
            yield ex
        return
    exporter.setup(out, classes, opts)  # type: ignore[attr-defined]
    try:
        yield exporter
    finally:
        release = getattr(exporter, "release", None)
        if callable(release):
            release()


def _source_path(root: str, rel: str, raw: bytes | None) -> str:
    if raw:
        return os.fsdecode(os.path.join(os.fsencode(root), raw))
    return os.path.join(root, *rel.split("/"))


def _label_score(r: ExportRow, class_id: int | None) -> float | None:
    """The model's score for the exported label (its own top score when there is no label)."""
    if class_id is None or class_id == r.pred_class_id:
        return r.pred_score
    if not isinstance(r.topk, list):
        return None
    for pair in r.topk:
        if isinstance(pair, (list, tuple)) and len(pair) >= 2 and pair[0] == class_id:
            return float(pair[1])
    return None


def _decided(status: str) -> Callable[[ExportRow], tuple[int | None, str]]:
    return lambda r: (r.label_class_id, status)


def _unsure(status: str) -> Callable[[ExportRow], tuple[int | None, str]]:
    return lambda r: (None, status)


# review status -> (label class id of the row, action written to the export)
_LABEL_OF: dict[str, Callable[[ExportRow], tuple[int | None, str]]] = {
    **{st: _decided(st) for st in LABELLED_STATUSES},
    **{st: _unsure(st) for st in UNSURE_STATUSES},
    "unreviewed": lambda r: (r.pred_class_id, "predicted"),
}


def export(
    project: Any,
    fmt: str,
    out_dir: str | os.PathLike[str],
    *,
    mode: str = "copy",
    splits: Mapping[str, float] | None = None,
    seed: int = 0,
    include_predictions_above: float | None = None,
    include_unsure_set: bool = False,
    classes: list[str] | None = None,
    options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    cancel: CancelToken | None = None,
    chunk_size: int = 2000,
) -> Generator[Progress, None, ExportSummary]:
    """Export the project's audited labels as `fmt` into `out_dir` (a new or empty folder).

    By default only decided images (accepted/corrected; their current label). Unreviewed
    predictions scoring at least `include_predictions_above` join as action "predicted";
    rejected/uncertain/confirmed-negative images go to a separate `unsure` set when
    `include_unsure_set`. `classes` restricts the export to those class names.
    """
    fmt = format_name(fmt)  # "label-studio" is labelstudio
    exporter = load_exporter(fmt)
    if mode not in MODES:
        raise UserError(f"unknown mode '{mode}' (one of: {', '.join(MODES)})")
    split_fracs = check_splits(splits) if splits else None
    declared = {o.name for o in getattr(exporter, "options", ())}
    opts = dict(options or {})
    warnings: list[str] = []
    if "mode" in declared:
        opts.setdefault("mode", mode)
    elif mode != "copy":
        warnings.append(f"--mode {mode} ignored: the {fmt} format writes no image files")

    try:
        resolve_options(getattr(exporter, "options", ()), opts)
    except ExportError as err:
        raise UserError(f"{fmt}: {err}") from err

    all_classes = project.class_names_in_order()
    names = dict(all_classes)
    class_ids = None
    export_classes = [n for _, n in all_classes]
    if classes is not None:  # class names are case-insensitive in a project
        exact = set(export_classes)
        folded = {n.casefold(): n for n in export_classes}
        unknown = [c for c in classes if c not in exact and c.casefold() not in folded]
        if unknown:
            raise UserError(f"unknown class(es): {', '.join(map(repr, unknown))}")
        wanted = {c if c in exact else folded[c.casefold()] for c in classes}
        export_classes = [n for n in export_classes if n in wanted]
        class_ids = [i for i, n in all_classes if n in wanted]

    statuses = LABELLED_STATUSES + (UNSURE_STATUSES if include_unsure_set else ())
    query = dict(statuses=statuses, predictions_above=include_predictions_above, class_ids=class_ids)
    total = project.count_export_rows(**query)
    if total == 0:
        raise UserError(
            "nothing to export: no decided images"
            + (" in the chosen classes" if classes is not None else "")
            + " (accept or correct some labels, or include predictions above a score)"
        )
    root = str(project.image_root)

    split_of: dict[int, str] = {}
    lacking: dict[str, list[Any]] = {}
    if split_fracs:
        yield Progress(0, total, "assigning splits", stage="split")
        keyed = []
        for chunk in project.iter_export_rows(**query, chunk_size=chunk_size):
            for r in chunk:
                cid, action = _LABEL_OF[r.review_status](r)
                if cid is not None and action not in UNSURE_STATUSES:
                    keyed.append((r.image_id, cid))
            check(cancel)
        # near-duplicate groups (audit's duplicates check, cached features) land in one split: no leak
        from workflows.duplicates import duplicate_groups, representatives

        rep = representatives([i for i, _ in keyed], duplicate_groups(project))
        split_of, lacking = assign_splits([(i, k) for i, k in keyed if rep[i] == i], split_fracs, seed)
        split_of.update({i: split_of[rep[i]] for i, _ in keyed})
        together = sum(1 for i, _ in keyed if rep[i] != i)
        if together:
            warnings.append(f"{together} near-duplicate image(s) follow their group's split, so no group is split "
                            f"across train/val/test")

    evidence = wants_attributes(exporter)
    label_parts = _label_parts(project, names)
    if label_parts:
        with contextlib.suppress(AttributeError):  # a plugin that cannot take it writes plain labels
            exporter.label_parts = label_parts  # type: ignore[attr-defined]
    target = ExportTarget(out_dir, overwrite)
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(target.path.parent)]) == real_root:
        warnings.append(f"the export is inside the image root {root}: the next scan will see its images")
    files = _FileMap(target.tmp)
    skipped_missing: list[str] = []
    skipped_unlabelled = 0
    present: dict[str, set[str]] = {}  # split -> classes exported into it
    accepted_ids: list[int] = []  # exported acceptances: the manifest says which were vouched for
    calibration = _calibration(project) if evidence else None
    try:
        with _opened(
            exporter, target.tmp, list(export_classes), opts, list(split_fracs) if split_fracs else None, target.path
        ) as ex:
            done = 0
            yield Progress(0, total, f"exporting {fmt}", stage="export")
            for chunk in project.iter_export_rows(**query, chunk_size=chunk_size):
                labelled = [(r, *_LABEL_OF[r.review_status](r)) for r in chunk]
                expl = (
                    {}
                    if not evidence
                    else project.explanation_data(
                        [
                            (r.pred_run_id, r.image_id, cid)
                            for r, cid, _ in labelled
                            if r.pred_run_id and cid is not None
                        ]
                    )
                )
                for r, cid, action in labelled:
                    done += 1
                    if cid is None and action not in UNSURE_STATUSES:
                        skipped_unlabelled += 1  # labelled status whose class was deleted
                        continue
                    unsure = action in UNSURE_STATUSES
                    pred_name = names.get(r.pred_class_id) if r.pred_class_id is not None else None
                    sample = ExportSample(
                        image_id=r.image_id,
                        src_path=_source_path(root, r.rel_path, r.raw_path),
                        rel_path=r.rel_path,
                        label=None if unsure else names[cid],
                        action=action,
                        reviewer=(r.reviewer or "") if action != "predicted" else "",
                        decided_at=r.decided_at if action != "predicted" else None,
                        run_id=r.pred_run_id,
                        model_id=r.model_id,
                        score=_label_score(r, None if unsure else cid),
                        margin=r.pred_margin,
                        top_attributes=top_attributes(expl.get((r.pred_run_id, r.image_id, cid)), calibration)
                        if cid is not None
                        else (),
                        split=UNSURE_SET if unsure else split_of.get(r.image_id, DEFAULT_SPLIT),
                        predicted_label=pred_name,
                        predicted_score=r.pred_score,
                        **_parts_of(None if unsure else names[cid], label_parts),
                    )
                    try:
                        placed = ex.export_sample(sample)
                    except MissingSourceError:
                        skipped_missing.append(r.rel_path)
                        continue
                    if sample.label is not None:
                        present.setdefault(sample.split, set()).add(sample.label)
                    if action == "accepted":
                        accepted_ids.append(r.image_id)
                    if placed is not None:
                        files.add(placed, sample)
                yield Progress(done, total, f"exporting {fmt}", stage="export")
                check(cancel)
            summary = ex.close()
        if files.close():
            summary.metadata_files.append(FILE_MAP_NAME)
        if skipped_missing:
            warnings.append(
                f"{len(skipped_missing)} image(s) skipped, source file missing (first: {skipped_missing[0]})"
            )
        if skipped_unlabelled:
            warnings.append(f"{skipped_unlabelled} decided image(s) skipped: their class no longer exists")
        if split_fracs:
            gaps = _split_gaps(present, list(split_fracs), export_classes, lacking, names)
            if gaps:
                _write_classes_txt(target.tmp, summary, export_classes)
                warnings.append(gaps)
        summary.warnings = warnings + summary.warnings
        _write_manifest(
            target.tmp, project, fmt, summary, export_classes, opts, query, split_fracs, seed, skipped_missing,
            accepted_ids,
        )
        check(cancel)
        target.commit()
    except Cancelled:
        files.close()
        target.discard()
        raise Cancelled("export cancelled; nothing was written") from None
    except (ExportError, OSError) as err:
        files.close()
        target.discard()
        raise UserError(f"export failed, nothing was written: {err}") from err
    except BaseException:
        files.close()
        target.discard()
        raise
    summary.out_dir = target.path
    return summary


def _split_gaps(
    present: Mapping[str, set[str]],
    splits: list[str],
    classes: list[str],
    lacking: Mapping[str, list[Any]],
    names: Mapping[int, str],
) -> str:
    """One warning naming, per split, the exported classes it lacks ('' when none lacks any)."""
    exported = set().union(*present.values()) if present else set()
    parts = []
    for split in splits:
        miss = [c for c in classes if c in exported and c not in present.get(split, set())]
        if miss:
            few = {names.get(k) for k in lacking.get(split, [])}
            why = "too few images" if all(c in few for c in miss) else "no images"
            parts.append(f"{split} lacks {', '.join(map(repr, miss))} ({why})")
    if not parts:
        return ""
    return (
        "not every class is in every split: "
        + "; ".join(parts)
        + f". Tools that number the class folders per split (torchvision ImageFolder) would number "
        f"them differently; use the canonical index in {CLASSES_TXT}"
    )


def _write_classes_txt(root: Path, summary: ExportSummary, fallback: list[str]) -> None:
    """Line i (from 0) is class index i: its folder name, a tab, and its name."""
    classes = summary.classes or list(fallback)
    folders = summary.class_folders or safe_class_names(classes)
    text = "".join(f"{folders.get(c, c)}\t{_one_line(c)}\n" for c in classes)
    (root / CLASSES_TXT).write_text(text, encoding="utf-8", newline="\n")
    summary.metadata_files.append(CLASSES_TXT)


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _vouched_by(project: Any, image_ids: list[int]) -> list[dict[str, Any]]:
    from workflows.vouch import export_vouches

    return export_vouches(project, image_ids)


def _write_manifest(
    root: Path,
    project: Any,
    fmt: str,
    summary: ExportSummary,
    export_classes: list[str],
    opts: Mapping[str, Any],
    query: Mapping[str, Any],
    splits: Mapping[str, float] | None,
    seed: int,
    skipped: list[str],
    accepted_ids: list[int] | None = None,
) -> None:
    """The manifest, from what the exporter declared in its summary (a plugin that declares no
    classes gets the classes it was given, with the standard folder names)."""
    classes = list(summary.classes) or list(export_classes)
    folders = dict(summary.class_folders) or safe_class_names(classes)
    manifest = {
        "lazlabel_export": 1,
        "format": fmt,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "project": str(getattr(project, "location", project.path)),  # a team project: its URL, no password
        "image_root": str(project.image_root),
        "options": dict(opts),
        "selection": {
            "statuses": list(query["statuses"]),
            "predictions_above": query["predictions_above"],
            "classes": classes if query["class_ids"] is not None else None,
        },
        "splits": dict(splits) if splits else {DEFAULT_SPLIT: 1.0},
        "seed": seed,
        "classes": [{"index": i, "name": c, "folder": folders.get(c)} for i, c in enumerate(classes)],
        "counts": {
            k: v for k, v in asdict(summary).items() if k in ("n_samples", "n_files", "by_split", "by_label")
        },
        "files": list(dict.fromkeys(summary.metadata_files + [MANIFEST_NAME])),
        "warnings": summary.warnings,
        "skipped_missing": skipped[:1000],
        # how bulk acceptances among the exported labels were vouched for (workflows.vouch)
        "vouched_by": _vouched_by(project, accepted_ids or []),
    }
    (root / MANIFEST_NAME).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
