"""Labels from folder names: every image's label is the name of the folder it sits in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from plugins.exporters.base import UNSURE_SET
from plugins.importers.base import ImportedRow, ImportFormatError, find_export_maps, is_image_file


class FolderImporter:
    """`<root>/<class>/<image>` (any depth: the image's own folder names the class).

    Works on a plain class-folder dataset (e.g. the project's own image root) and on lazlabel
    tree exports (imagefolder, hf-imagefolder, imagenet), where it maps files back to their source
    images and folder names back to class names, and skips the `unsure/` set. Images directly in
    the root carry no label and are reported as such. Symlinked folders are not followed.
    """

    name = "folder"
    description = "Labels from folder names (<root>/<class>/<image>; lazlabel tree exports too)"

    def read(self, path: Path) -> Iterator[ImportedRow]:
        root = Path(path)
        if not root.is_dir():
            raise ImportFormatError(f"{root} is not a folder")
        maps = find_export_maps(root, levels=0)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            here = Path(dirpath)
            if maps.root is not None and here == root:
                dirnames[:] = [d for d in dirnames if d != UNSURE_SET]
            label = "" if here == root else maps.class_of(here.name)
            for fname in sorted(filenames):
                if is_image_file(fname):
                    yield ImportedRow(maps.source_of(here / fname), label)
