"""Hugging Face `imagefolder`: `<split>/<class>/<image>` plus `<split>/metadata.jsonl`.

`datasets.load_dataset("imagefolder", data_dir=OUT)` reads it offline: splits from the folder names,
a string `label` column and the evidence columns from the metadata. The unsure set lives in
`unsure/`, which is not a split name, so the loader leaves it out.
"""

from __future__ import annotations

import json
from typing import IO

from plugins.exporters.base import (
    MODE_OPTION,
    UNSURE_SET,
    ExporterBase,
    ExportSample,
    ExportSummary,
    unsure_dir,
)
from plugins.exporters.tabular import iso


class HFImageFolderExporter(ExporterBase):
    name = "hf-imagefolder"
    wants_attributes = True
    description = "Hugging Face imagefolder: <split>/<class>/<image> + <split>/metadata.jsonl"
    options = (MODE_OPTION,)

    def setup(self, out_dir, classes, options) -> None:  # type: ignore[override]
        super().setup(out_dir, classes, options)
        self._meta: dict[str, IO[str]] = {}

    def _metadata(self, top: str) -> IO[str]:
        f = self._meta.get(top)
        if f is None:
            self.ensure_dir(top)
            f = self._meta[top] = open(
                self.target(top, "metadata.jsonl"), "w", encoding="utf-8", newline="\n"
            )
            self.summary.metadata_files.append(f"{top}/metadata.jsonl")
        return f

    def export_sample(self, sample: ExportSample) -> str | None:
        if sample.label is None:
            top, rel = UNSURE_SET, self.place_image(sample, UNSURE_SET, unsure_dir(sample))
        else:
            top, rel = sample.split, self.place_image(sample, sample.split, self.class_dir(sample.label))
        record = {
            "file_name": rel.split("/", 1)[1],
            "label": sample.label,
            "action": sample.action,
            "reviewer": sample.reviewer,
            "decided_at": iso(sample.decided_at),
            "score": sample.score,
            "margin": sample.margin,
            "model_id": sample.model_id,
            "source_path": sample.rel_path,
            "top_attributes": [t for t, _ in sample.top_attributes],
            "top_attribute_shares": [round(float(v), 6) for _, v in sample.top_attributes],
        }
        self._metadata(top).write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count(sample)
        return rel

    def close(self) -> ExportSummary:
        for f in self._meta.values():
            f.close()
        return self.finish()
