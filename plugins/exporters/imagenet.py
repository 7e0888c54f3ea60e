"""ImageNet/Caffe style: images in `<split>/<class>/`, `<split>.txt` ("path index" lines), `synsets.txt`."""

from __future__ import annotations

from typing import IO

from plugins.exporters.base import (
    MODE_OPTION,
    UNSURE_SET,
    ExporterBase,
    ExportSample,
    ExportSummary,
    unsure_dir,
)


class ImageNetExporter(ExporterBase):
    """`synsets.txt` lists folder names in class-index order; `synset_words.txt` maps them to names.

    Lines of `<split>.txt` are `<class folder>/<file> <index>`, relative to the split folder, as the
    Caffe/MMPretrain ImageNet annotation files are. The unsure set gets `unsure.txt` without indices.
    """

    name = "imagenet"
    description = "ImageNet style: <split>.txt (path index) + synsets.txt, images in <split>/<class>/"
    options = (MODE_OPTION,)

    def setup(self, out_dir, classes, options) -> None:  # type: ignore[override]
        super().setup(out_dir, classes, options)
        self.index = {c: i for i, c in enumerate(self.classes)}
        self._lists: dict[str, IO[str]] = {}

    def _list(self, split: str) -> IO[str]:
        f = self._lists.get(split)
        if f is None:
            f = self._lists[split] = self.open_text(f"{split}.txt")
        return f

    def export_sample(self, sample: ExportSample) -> str | None:
        if sample.label is None:
            rel = self.place_image(sample, UNSURE_SET, unsure_dir(sample))
            self._list(UNSURE_SET).write(rel.split("/", 1)[1] + "\n")
        else:
            if sample.label not in self.index:
                self.index[sample.label] = len(self.classes)
                self.classes.append(sample.label)
            rel = self.place_image(sample, sample.split, self.class_dir(sample.label))
            self._list(sample.split).write(f"{rel.split('/', 1)[1]} {self.index[sample.label]}\n")
        self.count(sample)
        return rel

    def close(self) -> ExportSummary:
        self.open_text("synsets.txt").writelines(f"{self.class_dir(c)}\n" for c in self.classes)
        self.open_text("synset_words.txt").writelines(f"{self.class_dir(c)} {_one_line(c)}\n" for c in self.classes)
        return self.finish()


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
