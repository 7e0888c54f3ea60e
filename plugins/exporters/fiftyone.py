"""FiftyOne image-classification dataset: `<split>/data/<uuid>.<ext>` + `<split>/labels.json`.

`labels.json` is `{"classes": [...], "labels": {uuid: {"label": name, "confidence": score}}}`, the
`fiftyone.types.FiftyOneImageClassificationDataset` layout (uuid = file name without extension).
Rejected/uncertain images, when asked for, go to `unsure/` with a null label. Written streaming.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import IO

from plugins.exporters.base import MODE_OPTION, UNSURE_SET, ExporterBase, ExportSample, ExportSummary


class FiftyOneExporter(ExporterBase):
    name = "fiftyone"
    description = "FiftyOne image classification: <split>/data/ + <split>/labels.json with confidences"
    options = (MODE_OPTION,)

    def setup(self, out_dir, classes, options) -> None:  # type: ignore[override]
        super().setup(out_dir, classes, options)
        self._files: dict[str, IO[str]] = {}
        self._first: dict[str, bool] = {}

    def _labels(self, top: str) -> IO[str]:
        f = self._files.get(top)
        if f is None:
            self.ensure_dir(top)
            f = self._files[top] = open(self.target(top, "labels.json"), "w", encoding="utf-8", newline="\n")
            f.write('{"classes": ' + json.dumps(self.classes, ensure_ascii=False) + ', "labels": {')
            self._first[top] = True
            self.summary.metadata_files.append(f"{top}/labels.json")
        return f

    def export_sample(self, sample: ExportSample) -> str | None:
        top = UNSURE_SET if sample.label is None else sample.split
        rel = self.place_image(sample, top, "data")
        uuid = PurePosixPath(rel).stem  # unique per folder: unique_name compares stems
        target = None if sample.label is None else {"label": sample.label, "confidence": sample.score}
        f = self._labels(top)
        sep = "" if self._first[top] else ", "
        self._first[top] = False
        f.write(f"{sep}{json.dumps(uuid, ensure_ascii=False)}: {json.dumps(target, ensure_ascii=False)}")
        self.count(sample)
        return rel

    def close(self) -> ExportSummary:
        for f in self._files.values():
            f.write("}}\n")
            f.close()
        return self.finish()
