"""Label Studio tasks JSON (`tasks.json`) with `annotations` for decided labels and `predictions` for
the model's proposal (`model_version`, `score`, a choices result), plus `label_config.xml`.

Import `tasks.json` into a project created with `label_config.xml` and a local-files storage whose
document root holds this export; a team continues there and can export back (the importer reads
Label Studio's own JSON export and matches images through `data.lazlabel_path`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from plugins.exporters.base import MODE_OPTION, ExporterBase, ExportSample, ExportSummary, OptionSpec
from plugins.exporters.tabular import iso

FROM_NAME = "label"
TO_NAME = "image"


def choices_result(label: str) -> list[dict[str, Any]]:
    return [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": [label]}}]


class LabelStudioExporter(ExporterBase):
    name = "labelstudio"
    description = "Label Studio tasks.json with annotations and predictions (model_version, score)"
    options = (
        MODE_OPTION,
        OptionSpec(
            "url_prefix",
            str,
            "/data/local-files/?d=",
            "prefix of each task's image URL; the export-relative path is appended (URL-quoted)",
        ),
    )

    def setup(self, out_dir, classes, options) -> None:  # type: ignore[override]
        super().setup(out_dir, classes, options)
        self._f = open(self.target("tasks.json"), "w", encoding="utf-8", newline="\n")
        self._f.write("[\n")
        self._first = True
        self.summary.metadata_files += ["tasks.json", "label_config.xml"]

    def export_sample(self, sample: ExportSample) -> str | None:
        rel = self.place_image(sample, "images")
        task: dict[str, Any] = {
            "data": {
                TO_NAME: self.opts["url_prefix"] + quote(rel),
                "lazlabel_path": sample.rel_path,
                "lazlabel_image_id": sample.image_id,
                "lazlabel_split": sample.split,
                "lazlabel_action": sample.action,
                "lazlabel_reviewer": sample.reviewer,
            },
            "annotations": [],
            "predictions": [],
        }
        if sample.label is not None and sample.action != "predicted":
            task["annotations"].append(
                {
                    "result": choices_result(sample.label),
                    "created_at": iso(sample.decided_at),
                    "was_cancelled": False,
                }
            )
        proposed = sample.predicted_label or (sample.label if sample.action == "predicted" else None)
        if proposed is not None:
            score = sample.predicted_score if sample.predicted_label else sample.score
            task["predictions"].append(
                {
                    "model_version": sample.model_id
                    or (f"run-{sample.run_id}" if sample.run_id else "lazlabel"),
                    "score": score,
                    "result": choices_result(proposed),
                }
            )
        self._f.write(("" if self._first else ",\n") + json.dumps(task, ensure_ascii=False))
        self._first = False
        self.count(sample)
        return rel

    def close(self) -> ExportSummary:
        self._f.write("\n]\n")
        self._f.close()
        choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in self.classes)
        config = (
            "<View>\n"
            f'  <Image name="{TO_NAME}" value="${TO_NAME}"/>\n'
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInLine="true">\n'
            f"{choices}\n"
            "  </Choices>\n"
            "</View>\n"
        )
        self.target("label_config.xml").write_text(config, encoding="utf-8")
        return self.finish()
