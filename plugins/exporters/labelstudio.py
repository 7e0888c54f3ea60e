"""Label Studio tasks JSON (`tasks.json`) with `annotations` for decided labels and `predictions` for
the model's proposal (`model_version`, `score`, a choices result), plus `label_config.xml` and a
`README.txt` with the exact local-file serving steps (Label Studio answers 404 for the images
until they are done).

Each task's image URL is `/data/local-files/?d=images/<file>`, relative to the export folder, so
the export folder is the document root. A team continues there and can export back; the importer
reads Label Studio's JSON and JSON-MIN exports and matches images through `lazlabel_path`.
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
IMAGES = "images"
DEFAULT_URL_PREFIX = "/data/local-files/?d="

SERVING_STEPS = """\
Label Studio import of a lazlabel export
========================================

Label Studio serves these images only when local-file serving is on and this folder is its
document root. Without these steps every image answers 404.

1. Start Label Studio with local files enabled and this folder as the document root:

       export LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true
       export LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root}
       label-studio start

   (Windows: set VAR=value; Docker: pass both with -e and mount this folder at the same path.)

2. Create a project. Settings > Labeling Interface > Code: paste label_config.xml.

3. Settings > Cloud Storage > Add Source Storage > Local files:
       Absolute local path: {images}
       File filter regex: leave empty; "Treat every bucket object as a source file": off.
   Add it, but do not sync it (tasks.json already lists the images).

4. Import tasks.json (Import button). Each task's image is /data/local-files/?d={images_rel}/<file>,
   a path relative to the document root above, so the folder must stay where it is.

Export back from Label Studio as JSON or JSON-MIN and run:

    lazlabel import-labels labelstudio EXPORTED.json

Images are matched through each task's lazlabel_path (the project path of the image).
"""


def choices_result(label: str) -> list[dict[str, Any]]:
    return [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": [label]}}]


class LabelStudioExporter(ExporterBase):
    name = "labelstudio"
    description = "Label Studio tasks.json with annotations and predictions (model_version, score) + serving steps"
    options = (
        MODE_OPTION,
        OptionSpec(
            "url_prefix",
            str,
            DEFAULT_URL_PREFIX,
            "prefix of each task's image URL; the export-relative path is appended (URL-quoted)",
        ),
    )

    def setup(self, out_dir, classes, options) -> None:  # type: ignore[override]
        super().setup(out_dir, classes, options)
        self._f = self.open_text("tasks.json")
        self._f.write("[\n")
        self._first = True

    def export_sample(self, sample: ExportSample) -> str | None:
        rel = self.place_image(sample, IMAGES)
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
        choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in self.classes)
        config = (
            "<View>\n"
            f'  <Image name="{TO_NAME}" value="${TO_NAME}"/>\n'
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInLine="true">\n'
            f"{choices}\n"
            "  </Choices>\n"
            "</View>\n"
        )
        self.open_text("label_config.xml").write(config)
        self.open_text("README.txt").write(serving_steps(self.final_dir))
        return self.finish()


def serving_steps(root: Any) -> str:
    """The README.txt of a Label Studio export placed at `root`."""
    return SERVING_STEPS.format(root=root, images=f"{root}/{IMAGES}", images_rel=IMAGES)
