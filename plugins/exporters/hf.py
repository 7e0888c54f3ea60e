"""Hugging Face `imagefolder`: `<split>/<class>/<image>`, `<split>/metadata.jsonl` and a dataset card.

The metadata carries the label and the evidence columns. The dataset card (`README.md`) declares
the splits and the features, with `label` as a `ClassLabel` holding the project's class names in
the project's order, so `datasets.load_dataset(OUT)` gives every split the same `ClassLabel`
(`features["label"].names` works, and the index of a class never depends on which classes a
split happens to hold). The imagefolder builder alone (`load_dataset("imagefolder",
data_dir=OUT)`) does not read the card and types `label` as a string; pass
`features=` to it (the card shows how). The unsure set lives in `unsure/`, which the card's splits
leave out.
"""

from __future__ import annotations

import json
from typing import IO, Any

from plugins.exporters.base import (
    MODE_OPTION,
    UNSURE_SET,
    ExporterBase,
    ExportSample,
    ExportSummary,
    unsure_dir,
)
from plugins.exporters.tabular import iso

CARD = "README.md"

# metadata columns after file_name, with their `datasets` feature types (the card declares them)
_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("action", {"dtype": "string"}),
    ("reviewer", {"dtype": "string"}),
    ("decided_at", {"dtype": "string"}),
    ("score", {"dtype": "float64"}),
    ("margin", {"dtype": "float64"}),
    ("model_id", {"dtype": "string"}),
    ("source_path", {"dtype": "string"}),
    ("top_attributes", {"list": "string"}),
    ("top_attribute_shares", {"list": "float64"}),
    ("top_attribute_presence", {"list": "string"}),
)

_BODY = """
# lazlabel export

Image classification labels audited with lazlabel. Splits: {splits}. Classes ({n}), in index order:
{classes}

Load with the card's features (`label` is a `ClassLabel` on every split):

```python
import datasets
ds = datasets.load_dataset("OUT")
names = ds["{first}"].features["label"].names
```

The imagefolder builder does not read this card; give it the features yourself:

```python
features = datasets.load_dataset_builder("OUT").info.features
ds = datasets.load_dataset("imagefolder", data_dir="OUT", features=features)
```
"""


#: metadata columns of compositional projects (issue #18): each pair's state and object
_PAIR_COLUMNS: tuple[tuple[str, Any], ...] = (("state", {"dtype": "string"}), ("object", {"dtype": "string"}))


def card(classes: list[str], splits: list[str], where: str = "OUT", pairs: bool = False) -> str:
    """The dataset card: YAML front matter (written as JSON, which YAML reads) plus how to load it."""
    features: list[dict[str, Any]] = [
        {"name": "image", "dtype": "image"},
        {"name": "label", "dtype": {"class_label": {"names": {str(i): c for i, c in enumerate(classes)}}}},
    ]
    features += [{"name": name, **spec} for name, spec in _COLUMNS + (_PAIR_COLUMNS if pairs else ())]
    meta = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"{s}/**"} for s in splits],
                "features": features,  # the builder config's features: what the loader applies
            }
        ],
        "dataset_info": {"features": features},
    }
    body = _BODY.format(
        splits=", ".join(splits),
        n=len(classes),
        classes="\n".join(f"{i}. {json.dumps(c, ensure_ascii=False)}" for i, c in enumerate(classes)),
        first=splits[0] if splits else "train",
    ).replace('"OUT"', json.dumps(where))
    return "---\n" + json.dumps(meta, ensure_ascii=True, indent=1) + "\n---\n" + body


class HFImageFolderExporter(ExporterBase):
    name = "hf-imagefolder"
    wants_attributes = True
    description = "Hugging Face imagefolder: <split>/<class>/<image> + metadata.jsonl + card (label as ClassLabel)"
    options = (MODE_OPTION,)

    def setup(self, out_dir, classes, options) -> None:  # type: ignore[override]
        super().setup(out_dir, classes, options)
        self._meta: dict[str, IO[str]] = {}

    def _metadata(self, top: str) -> IO[str]:
        f = self._meta.get(top)
        if f is None:
            self.ensure_dir(top)
            f = self._meta[top] = self.open_text(top, "metadata.jsonl")
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
            "top_attributes": [a.text for a in sample.top_attributes],
            "top_attribute_shares": [round(float(a.share), 6) for a in sample.top_attributes],
            "top_attribute_presence": [a.presence or "" for a in sample.top_attributes],
        }
        if self.label_parts:
            record.update(state=sample.state, object=sample.object)
        self._metadata(top).write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count(sample)
        return rel

    def close(self) -> ExportSummary:
        splits = [s for s in (self.splits or [s for s in self._meta if s != UNSURE_SET]) if s in self._meta]
        self.open_text(CARD).write(card(self.classes, splits, str(self.final_dir), pairs=bool(self.label_parts)))
        return self.finish()
