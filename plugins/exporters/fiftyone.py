"""FiftyOne image-classification dataset (`fiftyone.types.FiftyOneImageClassificationDataset`).

Without splits OUT itself is the dataset (`OUT/data/` + `OUT/labels.json`), so
`fo.Dataset.from_dir(OUT, fo.types.FiftyOneImageClassificationDataset)` loads it; with splits each
split folder is one (`OUT/<split>/data/` + `OUT/<split>/labels.json`) and `README.txt` shows how to
load them all into one dataset with split tags. `labels.json` is `{"classes": [...], "labels":
{uuid: {"label", "confidence", "attributes"}}}` (uuid = file name without extension). The
confidence is the model's score for the exported label when it has one; a human decision's
provenance (action, reviewer, time, the model's proposal) and the project path of the image go
into the Classification's custom attributes (`lazlabel_*`), never into a made-up confidence.
Rejected/uncertain images, when asked for, go to `unsure/` with a null label. Written streaming.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import IO, Any

from plugins.exporters.base import MODE_OPTION, UNSURE_SET, ExporterBase, ExportSample, ExportSummary
from plugins.exporters.tabular import iso

README = """\
FiftyOne image classification dataset written by lazlabel.

Load it (FiftyOne must be installed):

    import fiftyone as fo
{load}
Each Classification carries the decision's provenance as custom attributes:
lazlabel_path (the image's path in the lazlabel project), lazlabel_action (accepted, corrected,
predicted), lazlabel_reviewer, lazlabel_decided_at, lazlabel_predicted_label and
lazlabel_predicted_score (the model's own proposal). `confidence` is the model's score for the
exported label; it is left out when the model gave that label no score.
Rejected/uncertain images (when exported) are a separate dataset in unsure/.
"""

LOAD_ONE = """\
    ds = fo.Dataset.from_dir({out}, fo.types.FiftyOneImageClassificationDataset)
"""

LOAD_SPLITS = """\
    ds = fo.Dataset()
    for split in {splits!r}:
        ds.add_dir({out} + "/" + split, fo.types.FiftyOneImageClassificationDataset, tags=split)
    train = ds.match_tags("train")
"""


def provenance(sample: ExportSample) -> dict[str, Any]:
    """The custom attributes of one exported Classification."""
    out: dict[str, Any] = {"lazlabel_path": sample.rel_path, "lazlabel_action": sample.action}
    if sample.reviewer:
        out["lazlabel_reviewer"] = sample.reviewer
    if sample.decided_at is not None:
        out["lazlabel_decided_at"] = iso(sample.decided_at)
    if sample.predicted_label is not None:
        out["lazlabel_predicted_label"] = sample.predicted_label
        if sample.predicted_score is not None:
            out["lazlabel_predicted_score"] = sample.predicted_score
    return out


class FiftyOneExporter(ExporterBase):
    name = "fiftyone"
    description = "FiftyOne image classification: data/ + labels.json (per split with --split), with provenance"
    options = (MODE_OPTION,)

    def setup(self, out_dir, classes, options) -> None:  # type: ignore[override]
        super().setup(out_dir, classes, options)
        self._files: dict[str, IO[str]] = {}
        self._first: dict[str, bool] = {}

    def _top(self, sample: ExportSample) -> tuple[str, ...]:
        if sample.label is None:
            return (UNSURE_SET,)
        return (sample.split,) if self.splits else ()

    def _labels(self, top: tuple[str, ...]) -> IO[str]:
        key = "/".join(top)
        f = self._files.get(key)
        if f is None:
            if top:
                self.ensure_dir(*top)
            f = self._files[key] = self.open_text(*top, "labels.json")
            f.write('{"classes": ' + json.dumps(self.classes, ensure_ascii=False) + ', "labels": {')
            self._first[key] = True
        return f

    def export_sample(self, sample: ExportSample) -> str | None:
        top = self._top(sample)
        rel = self.place_image(sample, *top, "data")
        uuid = PurePosixPath(rel).stem  # unique per folder: unique_name compares stems
        target: dict[str, Any] | None = None
        if sample.label is not None:
            target = {"label": sample.label}
            if sample.score is not None:
                target["confidence"] = sample.score
            target["attributes"] = provenance(sample)
        f = self._labels(top)
        key = "/".join(top)
        sep = "" if self._first[key] else ", "
        self._first[key] = False
        f.write(f"{sep}{json.dumps(uuid, ensure_ascii=False)}: {json.dumps(target, ensure_ascii=False)}")
        self.count(sample)
        return rel

    def close(self) -> ExportSummary:
        for f in self._files.values():
            f.write("}}\n")
        splits = [s for s in (self.splits or []) if s in self._files]
        out = json.dumps(str(self.final_dir).replace("\\", "/"), ensure_ascii=False)
        load = LOAD_SPLITS.format(splits=splits, out=out) if self.splits else LOAD_ONE.format(out=out)
        self.open_text("README.txt").write(README.format(load=load))
        return self.finish()
