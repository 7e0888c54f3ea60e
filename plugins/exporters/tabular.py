"""CSV and JSON Lines: one row per image with its label, who decided it, and the model's evidence.

Label files only: the `path` column is relative to the project's image root and `src_path` is the
absolute path, so training code reads images in place (no copies). Text cells of the CSV that a
spreadsheet would run as a formula get a leading `'` (see `plugins.csv_cells`); lazlabel's CSV
importer removes it again.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from typing import Any

from plugins.csv_cells import neutralise_row
from plugins.exporters.base import ExporterBase, ExportSample, ExportSummary

COLUMNS = (
    "path",
    "src_path",
    "label",
    "split",
    "action",
    "reviewer",
    "decided_at",
    "run_id",
    "model_id",
    "score",
    "margin",
    "predicted_label",
    "top_attributes",
    "image_id",
)
#: Added after COLUMNS when the project's classes are state-object pairs (issue #18).
PAIR_COLUMNS = ("state", "object")


def iso(t: dt.datetime | None) -> str | None:
    """UTC timestamps as ISO 8601 with a 'Z' (the store keeps naive UTC)."""
    if t is None:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t.isoformat(timespec="seconds") + "Z"


def sample_record(sample: ExportSample) -> dict[str, Any]:
    """The row of one sample; `top_attributes` as [{"text", "share", "presence", "presence_score"}],
    largest share first."""
    return {
        "path": sample.rel_path,
        "src_path": sample.src_path,
        "label": sample.label,
        "split": sample.split,
        "action": sample.action,
        "reviewer": sample.reviewer,
        "decided_at": iso(sample.decided_at),
        "run_id": sample.run_id,
        "model_id": sample.model_id,
        "score": sample.score,
        "margin": sample.margin,
        "predicted_label": sample.predicted_label,
        "top_attributes": [{"text": a.text, "share": round(float(a.share), 6), "presence": a.presence,
                            "presence_score": None if a.presence_score is None else round(float(a.presence_score), 3)}
                           for a in sample.top_attributes],
        "image_id": sample.image_id,
        "state": sample.state,
        "object": sample.object,
    }


class CsvExporter(ExporterBase):
    """`labels.csv` (UTF-8, header row); `top_attributes` is a JSON list in one cell; empty = none."""

    name = "csv"
    wants_attributes = True
    description = "labels.csv: path, label, action, reviewer, time, run/model, score, margin, top attributes"
    options = ()
    FILE = "labels.csv"

    def setup(self, out_dir, classes, options) -> None:  # type: ignore[override]
        super().setup(out_dir, classes, options)
        self._w = csv.writer(self.open_text(self.FILE, newline=""))
        self._columns = COLUMNS + (PAIR_COLUMNS if self.label_parts else ())
        self._w.writerow(self._columns)

    def export_sample(self, sample: ExportSample) -> str | None:
        rec = sample_record(sample)
        rec["top_attributes"] = (
            json.dumps(rec["top_attributes"], ensure_ascii=False) if rec["top_attributes"] else ""
        )
        self._w.writerow(neutralise_row(["" if rec[c] is None else rec[c] for c in self._columns]))
        self.count(sample)
        return None

    def close(self) -> ExportSummary:
        return self.finish()


class JsonlExporter(ExporterBase):
    """`labels.jsonl`: one JSON object per line, same fields as the CSV (nulls kept as null)."""

    name = "jsonl"
    wants_attributes = True
    description = "labels.jsonl: one JSON object per image with label, decision and evidence"
    options = ()
    FILE = "labels.jsonl"

    def setup(self, out_dir, classes, options) -> None:  # type: ignore[override]
        super().setup(out_dir, classes, options)
        self._f = self.open_text(self.FILE)

    def export_sample(self, sample: ExportSample) -> str | None:
        rec = sample_record(sample)
        if not self.label_parts:
            for c in PAIR_COLUMNS:
                rec.pop(c)
        self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.count(sample)
        return None

    def close(self) -> ExportSummary:
        return self.finish()
