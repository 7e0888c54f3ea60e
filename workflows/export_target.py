"""Where an export goes and how it gets there atomically, without ever deleting what it did not write.

The export is written into a hidden temporary sibling of the target (`.<name>.tmp-<pid>-<hex>`)
and renamed into place only when complete. `--overwrite` replaces an earlier export only when
everything in the folder is listed by that export's manifest or file map; anything else (a
user's notes, training runs) makes it refuse and name those files, so nothing a user put there is
ever deleted.

Temporary folders of exports that were killed are found again through a small per-user registry
(one entry per export in progress, holding its temporary path and pid): every export, wherever
it writes, first removes the leftovers of dead processes, and `clean_stale_exports()` does the
same for callers that want it at project open.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import shutil
from pathlib import Path

from plugins.csv_cells import restore
from plugins.exporters.base import FILE_MAP_NAME, MANIFEST_NAME
from workflows.errors import UserError

STATE_ENV = "LAZLABEL_STATE_DIR"  # overrides the per-user state folder (tests, kiosks)
_TMP_NAME = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+$")
_SHOWN = 10  # foreign files named in the refusal


def state_dir() -> Path:
    """The per-user folder holding the registry of exports in progress."""
    override = os.environ.get(STATE_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_state_dir("lazlabel"))


def _registry() -> Path:
    return state_dir() / "exports-in-progress"


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # on Windows os.kill(pid, 0) is not a probe
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, not ours
    return True


def _remove_if_dead(tmp: Path) -> bool:
    """Remove a temporary export folder whose writing process is gone; True when it is gone."""
    m = _TMP_NAME.match(tmp.name)
    if m is None or _alive(int(m.group(1))):
        return False
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    return not tmp.exists()


def clean_stale_exports() -> int:
    """Remove the temporary folders of killed exports, wherever they were writing; how many."""
    reg = _registry()
    try:
        entries = list(reg.iterdir())
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        try:
            tmp = Path(json.loads(entry.read_text(encoding="utf-8"))["tmp"])
        except (OSError, ValueError, KeyError, TypeError):
            entry.unlink(missing_ok=True)  # unreadable: a half-written entry of a killed export
            continue
        existed = tmp.exists()
        if _remove_if_dead(tmp) or not existed:
            removed += existed
            entry.unlink(missing_ok=True)
    return removed


def _listed_files(root: Path) -> set[str] | None:
    """Every path an earlier export in `root` says it wrote (POSIX, relative), or None when
    `root` holds no readable lazlabel manifest."""
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or "lazlabel_export" not in manifest:
        return None
    listed = {MANIFEST_NAME}
    listed.update(str(f) for f in manifest.get("files") or [] if isinstance(f, str))
    fm = root / FILE_MAP_NAME
    if fm.is_file():
        listed.add(FILE_MAP_NAME)
        try:
            with open(fm, encoding="utf-8", newline="") as f:
                listed.update(restore(r.get("file") or "") for r in csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error):
            pass  # unreadable map: its images count as foreign, so we refuse
    return listed


def foreign_files(root: Path) -> list[str] | None:
    """Files (and empty folders) in `root` that its export's manifest does not list; None when
    `root` is not a lazlabel export."""
    listed = _listed_files(root)
    if listed is None:
        return None
    dirs = {p.rsplit("/", i)[0] for p in listed for i in range(1, p.count("/") + 1)}
    foreign: list[str] = []
    for d, subdirs, files in os.walk(root):
        rel_d = Path(os.path.relpath(d, root)).as_posix()
        prefix = "" if rel_d == "." else rel_d + "/"
        for name in sorted(files):
            if prefix + name not in listed:
                foreign.append(prefix + name)
        for name in sorted(subdirs):
            full = os.path.join(d, name)
            if os.path.islink(full) and prefix + name not in listed:
                foreign.append(prefix + name)
        subdirs[:] = sorted(s for s in subdirs if not os.path.islink(os.path.join(d, s)))
        if prefix and rel_d not in dirs and not files and not subdirs:
            foreign.append(prefix)  # an empty folder the export did not make
    return foreign


class ExportTarget:
    """The output folder of one export: checked, written aside, renamed into place."""

    def __init__(self, out_dir: str | os.PathLike[str], overwrite: bool) -> None:
        self.path = Path(os.path.abspath(out_dir))
        self.replace_old = False
        if self.path.exists() or self.path.is_symlink():
            if not self.path.is_dir() or self.path.is_symlink():
                raise UserError(f"{self.path} exists and is not a directory")
            if any(self.path.iterdir()):
                foreign = foreign_files(self.path)
                if foreign is None:
                    raise UserError(f"{self.path} exists and is not empty (choose a new folder)")
                if not overwrite:
                    raise UserError(f"{self.path} holds an earlier export (pass overwrite to replace it)")
                self._refuse_foreign(foreign)
                self.replace_old = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_exports()
        self._remove_stale_here()
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        self.tmp.mkdir()
        self._entry = self._register()

    def _refuse_foreign(self, foreign: list[str]) -> None:
        if foreign:
            shown = ", ".join(foreign[:_SHOWN]) + (f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else "")
            raise UserError(
                f"{self.path} holds files the earlier export did not write ({shown}); "
                "move them away or choose a new folder — overwrite replaces only an export's own files"
            )

    def _remove_stale_here(self) -> None:
        """Temporary folders beside the target whose process is gone (also those never registered)."""
        for d in self.path.parent.glob(f".{glob_escape(self.path.name)}.tmp-*"):
            _remove_if_dead(d)

    def _register(self) -> Path | None:
        reg = _registry()
        try:
            reg.mkdir(parents=True, exist_ok=True)
            entry = reg / f"{self.tmp.name.rsplit('.tmp-', 1)[1]}.json"
            entry.write_text(json.dumps({"tmp": str(self.tmp), "pid": os.getpid()}), encoding="utf-8")
            return entry
        except OSError:
            return None  # no state folder: only the same-target clean-up will find a leftover

    def _unregister(self) -> None:
        if self._entry is not None:
            self._entry.unlink(missing_ok=True)

    def commit(self) -> None:
        """Rename the finished temporary directory into place (replacing an earlier export if asked)."""
        old = None
        if self.replace_old:
            self._refuse_foreign(foreign_files(self.path) or [])  # nothing added while we wrote
            old = self.path.with_name(f".{self.path.name}.old-{secrets.token_hex(4)}")
            os.rename(self.path, old)
        elif self.path.is_dir():
            self.path.rmdir()  # an empty directory the user made for us
        try:
            os.rename(self.tmp, self.path)
        except OSError:
            if old is not None:
                os.rename(old, self.path)
            raise
        self._unregister()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._unregister()


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)
