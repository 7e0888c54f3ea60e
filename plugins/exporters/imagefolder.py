"""ImageFolder tree `<out>/<split>/<class>/<image>`: what torchvision `ImageFolder` and YOLO-cls read."""

from __future__ import annotations

from plugins.exporters.base import (
    MODE_OPTION,
    UNSURE_SET,
    ExporterBase,
    ExportSample,
    ExportSummary,
    unsure_dir,
)


class ImageFolderExporter(ExporterBase):
    """One folder per split, one sub-folder per class; rejected/uncertain under `unsure/<action>/`."""

    name = "imagefolder"
    description = "Folder tree <split>/<class>/<image> (torchvision ImageFolder, YOLO classification)"
    options = (MODE_OPTION,)

    def export_sample(self, sample: ExportSample) -> str | None:
        if sample.label is None:
            rel = self.place_image(sample, UNSURE_SET, unsure_dir(sample))
        else:
            rel = self.place_image(sample, sample.split, self.class_dir(sample.label))
        self.count(sample)
        return rel

    def close(self) -> ExportSummary:
        return self.finish()
