"""Export use case: stream audited labels into a format plugin, atomically.

The export is written into a hidden temporary sibling of the target (`.<name>.tmp-XXXX`) and
renamed into place only when complete, so a failure, a cancel or a kill never leaves a partial
export under the target's name; a failure or cancel also removes the temporary directory. Rows
stream from the store in chunks (no ORM objects), splits are seeded and stratified by label, and
every export records its class-name -> folder mapping and each file's source in a manifest, so
imports can map exported files back to the project's images.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import random
import secrets
import shutil
from collections.abc import Generator, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from db.store_labels import LABELLED_STATUSES, UNSURE_STATUSES, ExportRow
from plugins import registry
from plugins.exporters.base import (
    FILE_MAP_NAME,
    MANIFEST_NAME,
    MODES,
    UNSURE_SET,
    Exporter,
    ExportError,
    ExportSample,
    ExportSummary,
    MissingSourceError,
    check_component,
    resolve_options,
    safe_class_names,
)
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, Progress, check

DEFAULT_SPLIT = "train"  # the one split of an export without --split
TOP_ATTRIBUTES = 5  # attributes per sample carried into exports (by share of transported mass)


def list_formats() -> dict[str, str]:
    """Export format name -> one-line description, from the installed plugins."""
    out = {}
    for name in registry.available(registry.EXPORTERS):
        try:
            out[name] = getattr(registry.load(registry.EXPORTERS, name), "description", "")
        except registry.PluginError as err:
            out[name] = f"(unavailable: {err})"
    return out


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


def assign_splits(items: Iterable[tuple[int, Any]], splits: Mapping[str, float], seed: int) -> dict[int, str]:
    """Seeded stratified assignment: within each stratum, a seeded shuffle of the (sorted) ids is cut
    into runs whose sizes follow the fractions by largest remainder, so every class is split in the
    same proportions and the same seed always gives the same assignment."""
    groups: dict[Any, list[int]] = {}
    for image_id, key in items:
        groups.setdefault(key, []).append(image_id)
    names = list(splits)
    out: dict[int, str] = {}
    for key in sorted(groups, key=repr):
        ids = sorted(groups[key])
        random.Random(f"{seed}:{key!r}").shuffle(ids)
        n = len(ids)
        exact = [splits[s] * n for s in names]
        sizes = [math.floor(x) for x in exact]
        for i in sorted(range(len(names)), key=lambda i: (-(exact[i] - sizes[i]), i))[: n - sum(sizes)]:
            sizes[i] += 1
        start = 0
        for name, size in zip(names, sizes):
            for image_id in ids[start : start + size]:
                out[image_id] = name
            start += size
    return out


def top_attributes(data: Any, k: int = TOP_ATTRIBUTES) -> tuple[tuple[str, float], ...]:
    """(text, share) pairs, largest share first, from an explanation's JSON.

    Accepts `{"attributes": [{"text", "share"|"mass"}, ...]}`, a bare list of such dicts, or a
    `{text: share}` mapping, so the export does not break when the explanation schema grows.
    """
    if isinstance(data, Mapping) and "attributes" in data:
        data = data["attributes"]
    pairs: list[tuple[str, float]] = []
    if isinstance(data, list):
        for a in data:
            if isinstance(a, Mapping) and "text" in a:
                v = a.get("share", a.get("mass"))
                if isinstance(v, (int, float)):
                    pairs.append((str(a["text"]), float(v)))
    elif isinstance(data, Mapping):
        pairs = [(str(t), float(v)) for t, v in data.items() if isinstance(v, (int, float))]
    pairs.sort(key=_by_share)
    return tuple(pairs[:k])


def _by_share(pair: tuple[str, float]) -> float:
    return -pair[1]


class _Target:
    """Where the export goes and how it gets there atomically."""

    def __init__(self, out_dir: str | os.PathLike[str], overwrite: bool) -> None:
        self.path = Path(os.path.abspath(out_dir))
        self.replace_old = False
        if self.path.exists() or self.path.is_symlink():
            if not self.path.is_dir() or self.path.is_symlink():
                raise UserError(f"{self.path} exists and is not a directory")
            if any(self.path.iterdir()):
                if not (self.path / MANIFEST_NAME).is_file():
                    raise UserError(f"{self.path} exists and is not empty (choose a new folder)")
                if not overwrite:
                    raise UserError(f"{self.path} holds an earlier export (pass overwrite to replace it)")
                self.replace_old = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale()
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        self.tmp.mkdir()

    def _remove_stale(self) -> None:
        """Temporary folders left by a killed export to this target (their process is gone)."""
        for d in self.path.parent.glob(f".{self.path.name}.tmp-*"):
            pid = d.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
            if pid.isdigit() and d.is_dir() and not d.is_symlink() and not _alive(int(pid)):
                shutil.rmtree(d, ignore_errors=True)

    def commit(self) -> None:
        """Rename the finished temporary directory into place (replacing an earlier export if asked)."""
        old = None
        if self.replace_old:
            old = self.path.with_name(f".{self.path.name}.old-{secrets.token_hex(4)}")
            os.rename(self.path, old)
        elif self.path.is_dir():
            self.path.rmdir()  # an empty directory the user made for us
        try:
            os.rename(self.tmp, self.path)
        except OSError:
            if old is not None:
                os.rename(old, self.path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # on Windows os.kill(pid, 0) is not a probe
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, not ours
    return True


class _FileMap:
    """`lazlabel-files.csv`: exported file -> source path, written only when images are placed."""

    COLUMNS = ("file", "source_path", "image_id", "label", "split")

    def __init__(self, root: Path) -> None:
        self.root = root
        self._f: TextIO | None = None

    def add(self, file: str, s: ExportSample) -> None:
        if self._f is None:
            self._f = open(self.root / FILE_MAP_NAME, "w", encoding="utf-8", newline="")
            self._w = csv.writer(self._f)
            self._w.writerow(self.COLUMNS)
        self._w.writerow((file, s.rel_path, s.image_id, "" if s.label is None else s.label, s.split))

    def close(self) -> bool:
        if self._f is None:
            return False
        self._f.close()
        return True


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


# review status -> (label class id of the row, action written to the export)
_LABEL_OF = {
    **{st: (lambda r, st=st: (r.label_class_id, st)) for st in LABELLED_STATUSES},
    **{st: (lambda r, st=st: (None, st)) for st in UNSURE_STATUSES},
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
    if split_fracs:
        yield Progress(0, total, "assigning splits", stage="split")
        keyed = []
        for chunk in project.iter_export_rows(**query, chunk_size=chunk_size):
            for r in chunk:
                cid, action = _LABEL_OF[r.review_status](r)
                if cid is not None and action not in UNSURE_STATUSES:
                    keyed.append((r.image_id, cid))
            check(cancel)
        split_of = assign_splits(keyed, split_fracs, seed)

    wants_attributes = bool(getattr(exporter, "wants_attributes", True))
    target = _Target(out_dir, overwrite)
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(target.path.parent)]) == real_root:
        warnings.append(f"the export is inside the image root {root}: the next scan will see its images")
    files = _FileMap(target.tmp)
    skipped_missing: list[str] = []
    skipped_unlabelled = 0
    try:
        exporter.setup(target.tmp, list(export_classes), opts)
        done = 0
        yield Progress(0, total, f"exporting {fmt}", stage="export")
        for chunk in project.iter_export_rows(**query, chunk_size=chunk_size):
            labelled = [(r, *_LABEL_OF[r.review_status](r)) for r in chunk]
            expl = (
                {}
                if not wants_attributes
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
                    top_attributes=top_attributes(expl.get((r.pred_run_id, r.image_id, cid)))
                    if cid is not None
                    else (),
                    split=UNSURE_SET if unsure else split_of.get(r.image_id, DEFAULT_SPLIT),
                    predicted_label=pred_name,
                    predicted_score=r.pred_score,
                )
                try:
                    placed = exporter.export_sample(sample)
                except MissingSourceError:
                    skipped_missing.append(r.rel_path)
                    continue
                if placed is not None:
                    files.add(placed, sample)
            yield Progress(done, total, f"exporting {fmt}", stage="export")
            check(cancel)
        summary = exporter.close()
        if files.close():
            summary.metadata_files.append(FILE_MAP_NAME)
        if skipped_missing:
            warnings.append(
                f"{len(skipped_missing)} image(s) skipped, source file missing (first: {skipped_missing[0]})"
            )
        if skipped_unlabelled:
            warnings.append(f"{skipped_unlabelled} decided image(s) skipped: their class no longer exists")
        summary.warnings = warnings + summary.warnings
        _write_manifest(
            target.tmp, project, fmt, exporter, summary, opts, query, split_fracs, seed, skipped_missing
        )
        check(cancel)
        target.commit()
    except Cancelled:
        target.discard()
        raise Cancelled("export cancelled; nothing was written") from None
    except (ExportError, OSError) as err:
        target.discard()
        raise UserError(f"export failed, nothing was written: {err}") from err
    except BaseException:
        target.discard()
        raise
    summary.out_dir = target.path
    return summary


def _write_manifest(
    root: Path,
    project: Any,
    fmt: str,
    exporter: Exporter,
    summary: ExportSummary,
    opts: Mapping[str, Any],
    query: Mapping[str, Any],
    splits: Mapping[str, float] | None,
    seed: int,
    skipped: list[str],
) -> None:
    classes = list(getattr(exporter, "classes", []))
    folders = getattr(exporter, "class_dirs", None) or safe_class_names(classes)
    manifest = {
        "lazlabel_export": 1,
        "format": fmt,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "project": str(project.path),
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
        "files": summary.metadata_files + [MANIFEST_NAME],
        "warnings": summary.warnings,
        "skipped_missing": skipped[:1000],
    }
    (root / MANIFEST_NAME).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
