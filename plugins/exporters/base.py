"""The exporter protocol and the helpers every layout shares: safe names, confined writes, image placement.

An exporter is a small pure class (no SQL, no Qt) used as a context manager, the way FiftyOne's
`DatasetExporter` is::

    with exporter.bind(out_dir, classes, options) as ex:   # __enter__ -> setup()
        for sample in samples:
            ex.export_sample(sample)
        summary = ex.close()                               # trailers written, files closed
    # __exit__ -> release(): every file the exporter opened is closed, on error or cancel too

`close()` returns an `ExportSummary` that declares what was written (files, classes and their
folders); the export manifest is built from that declaration alone. The export use case
(`workflows.export`) writes into a temporary sibling directory and renames it into place, so an
exporter only has to write under `out_dir` — `ExporterBase.target()` makes sure it does.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar, NamedTuple, Protocol, runtime_checkable
from urllib.parse import unquote

MANIFEST_NAME = "lazlabel-export.json"  # format, options, class-name map, counts
FILE_MAP_NAME = "lazlabel-files.csv"  # exported file -> source path, so imports can match back
UNSURE_SET = "unsure"  # where rejected/uncertain images go when asked for (never a class or split)
MODES = ("copy", "hardlink", "symlink")
# The one default for `wants_attributes`: a format that writes per-sample evidence says so.
WANTS_ATTRIBUTES_DEFAULT = False

# --- samples, options, summaries --------------------------------------------------------------


class ExportAttribute(NamedTuple):
    """One attribute of the label's evidence (engine/evidence.py): its text, its share of the
    class's support (0..1, summing to 1 over the attributes found or weak), and its presence
    label (found / weak / not found) with the calibrated score behind it."""

    text: str
    share: float
    presence: str | None = None
    presence_score: float | None = None


@dataclass(frozen=True)
class ExportSample:
    """One image as an exporter sees it: where it is, its label and the evidence behind it."""

    image_id: int
    src_path: str  # absolute path of the source image
    rel_path: str  # POSIX path under the project's image root
    label: str | None  # class name; None for the rejected/uncertain set
    action: str  # accepted | corrected | predicted | rejected | uncertain | confirmed_negative
    reviewer: str = ""
    decided_at: dt.datetime | None = None
    run_id: int | None = None
    model_id: str | None = None
    score: float | None = None  # the model's score for `label` (or for its own top class when unlabelled)
    margin: float | None = None
    top_attributes: tuple[ExportAttribute, ...] = ()  # the label's evidence, largest share first
    split: str = "train"
    predicted_label: str | None = None  # the model's top class in run `run_id`
    predicted_score: float | None = None
    state: str | None = None  # compositional projects: the label's state and object (None otherwise)
    object: str | None = None


@dataclass(frozen=True)
class OptionSpec:
    """One option an exporter accepts; the GUI export dialog renders these, the CLI checks them."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None


@dataclass
class ExportSummary:
    """What an export wrote, as the exporter declares it: counts, the metadata files it wrote, and
    its classes in index order with their folder names. The use case fills `out_dir` and adds
    its own `warnings`; the manifest is written from this object only."""

    format: str
    out_dir: Path | None = None
    n_samples: int = 0
    n_files: int = 0
    by_split: dict[str, int] = field(default_factory=dict)
    by_label: dict[str, int] = field(default_factory=dict)
    metadata_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)  # index order of the written labels
    class_folders: dict[str, str] = field(default_factory=dict)  # class name -> folder name


class ExportError(Exception):
    """An export that cannot go on (bad option, unsafe path...): the message is for the user."""


class MissingSourceError(ExportError):
    """The source image of one sample is gone; the use case skips it and reports it."""


@runtime_checkable
class Exporter(Protocol):
    """What `workflows.export` needs from a format plugin (`ExporterBase` implements all of it).

    `bind` stores where and what to write and returns the exporter; entering it runs `setup`,
    leaving it closes every open file, whether the export finished, failed or was cancelled.
    `wants_attributes` is optional; missing means `WANTS_ATTRIBUTES_DEFAULT`.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    options: ClassVar[Sequence[OptionSpec]]

    def bind(
        self,
        out_dir: Path,
        classes: list[str],
        options: Mapping[str, Any],
        *,
        splits: Sequence[str] | None = None,
        final_dir: Path | None = None,
    ) -> Exporter: ...

    def __enter__(self) -> Exporter: ...

    def __exit__(self, *exc: object) -> None: ...

    def export_sample(self, sample: ExportSample) -> str | None:
        """Write one sample; return the export-relative POSIX path of the image file placed, if any."""
        ...

    def close(self) -> ExportSummary: ...


def wants_attributes(exporter: object) -> bool:
    """Whether the use case should look up each sample's evidence for this exporter."""
    return bool(getattr(exporter, "wants_attributes", WANTS_ATTRIBUTES_DEFAULT))


def resolve_options(specs: Sequence[OptionSpec], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in, types coerced, unknown names and bad choices refused with a clear message."""
    by_name = {o.name: o for o in specs}
    given = dict(given or {})
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        known = ", ".join(by_name) or "none"
        raise ExportError(f"unknown option(s) {', '.join(unknown)} (this format takes: {known})")
    out: dict[str, Any] = {}
    for spec in specs:
        value = given.get(spec.name, spec.default)
        if value is not None and not isinstance(value, spec.type):
            try:
                value = spec.type(value)
            except (TypeError, ValueError) as err:
                raise ExportError(
                    f"option {spec.name}: expected {spec.type.__name__}, got {value!r}"
                ) from err
        if spec.choices is not None and value not in spec.choices:
            raise ExportError(
                f"option {spec.name}: {value!r} is not one of {', '.join(map(str, spec.choices))}"
            )
        out[spec.name] = value
    return out


MODE_OPTION = OptionSpec(
    "mode", str, "copy", "how images are placed: copy, hardlink (same disk, no extra space) or symlink", MODES
)

# --- safe, reversible names -------------------------------------------------------------------

_SAFE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+=,@() ")
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{n}" for p in ("COM", "LPT") for n in list("0123456789") + ["¹", "²", "³"]]
)
MAX_NAME_BYTES = 120  # well under every filesystem's 255-byte limit, leaving room for suffixes
_HASH_SEP = "~"  # never produced by encode_name, so suffixed names cannot collide with plain ones


def encode_name(name: str) -> str:
    """Percent-encode a label or file stem into one portable path component; `decode_name` reverses it.

    Everything outside a conservative ASCII set is encoded as UTF-8 %XX (so `/`, `\\`, `%`, `~`,
    `:`, control and non-ASCII characters), plus a leading `.`, trailing dots/spaces and the first
    letter of Windows reserved device names (CON, NUL, COM1...). Injective, so distinct names stay
    distinct; may be long (see `safe_component`).
    """
    if name == "":
        return "%"  # an empty name cannot be a path component; '%' alone decodes to ''
    chars = [
        c if c in _SAFE_CHARS else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        for c in name
    ]
    if name[0] == ".":
        chars[0] = "%2E"
    i = len(chars) - 1
    while i >= 0 and name[i] in ". ":
        chars[i] = f"%{ord(name[i]):02X}"
        i -= 1
    if name.split(".", 1)[0].upper().rstrip(" ") in _WINDOWS_RESERVED:
        chars[0] = "".join(f"%{b:02X}" for b in name[0].encode("utf-8"))
    return "".join(chars)


def decode_name(component: str) -> str:
    """Inverse of `encode_name` (without a hash suffix: long names are recovered from the manifest)."""
    if component == "%":
        return ""
    return unquote(component, encoding="utf-8", errors="surrogatepass")


def _short_hash(name: str) -> str:
    return hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def safe_component(name: str, *, max_bytes: int = MAX_NAME_BYTES, force_hash: bool = False) -> str:
    """`encode_name`, shortened with a hash of the full name when too long (or when asked)."""
    enc = encode_name(name)
    if len(enc) <= max_bytes and not force_hash:
        return enc
    keep = max_bytes - 1 - 10
    head = enc[:keep]
    cut = head.rfind("%")
    if cut >= keep - 2:  # never split a %XX escape
        head = head[:cut]
    return f"{head}{_HASH_SEP}{_short_hash(name)}"


def safe_class_names(classes: Iterable[str]) -> dict[str, str]:
    """Class name -> folder name, collision-free even on case-insensitive filesystems.

    Names whose encoded forms clash case-insensitively (``Cat`` / ``cat``) all get a hash suffix,
    so the result does not depend on class order. Record it in the export (the manifest does).
    """
    classes = list(dict.fromkeys(classes))
    first = {c: safe_component(c) for c in classes}
    folded: dict[str, int] = {}
    for v in first.values():
        folded[v.casefold()] = folded.get(v.casefold(), 0) + 1
    return {
        c: (safe_component(c, force_hash=True) if folded[v.casefold()] > 1 else v) for c, v in first.items()
    }


def pair_class_dirs(classes: Sequence[str], parts: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """`safe_class_names`, with pair classes named `<state>_<object>` (issue #18) when those stems are
    distinct from each other and from the other classes' names; otherwise the class names."""
    stems = [f"{parts[c][0]}_{parts[c][1]}" if c in parts else c for c in classes]
    if len({s.casefold() for s in stems}) != len(stems):
        return safe_class_names(classes)
    by_stem = safe_class_names(stems)
    return {c: by_stem[st] for c, st in zip(classes, stems, strict=True)}


def check_component(part: str) -> str:
    """Refuse anything that is not exactly one harmless path component."""
    if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part or ":" in part:
        raise ExportError(f"unsafe path component {part!r}")
    return part


def is_within(root: Path, path: Path) -> bool:
    """True when `path` resolves inside `root` (symlinks followed)."""
    root_r = os.path.realpath(root)
    return os.path.commonpath([root_r, os.path.realpath(path)]) == root_r


# --- placing image files --------------------------------------------------------------------


def _copy(src: str, dst: str) -> None:
    shutil.copyfile(src, dst)


def _hardlink(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError as err:
        if err.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise _LinkRefused(str(err)) from err
        raise


def _symlink(src: str, dst: str) -> None:
    os.symlink(src, dst)


class _LinkRefused(OSError):
    """Hard link impossible here (other filesystem, no permission): fall back to a copy."""


PLACERS: dict[str, Callable[[str, str], None]] = {"copy": _copy, "hardlink": _hardlink, "symlink": _symlink}


class ExporterBase:
    """Shared plumbing: option handling, confined directories, unique file names, image placement."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options: ClassVar[Sequence[OptionSpec]] = ()
    # False when the format writes no per-sample evidence: the use case then skips the
    # explanation lookup and leaves ExportSample.top_attributes empty
    wants_attributes: ClassVar[bool] = WANTS_ATTRIBUTES_DEFAULT

    out_dir: Path
    classes: list[str]
    class_dirs: dict[str, str]
    #: compositional projects: class name -> (state, object), set by the export use case before
    #: `bind`; pair classes then get `<state>_<object>` folders and formats add state/object columns
    label_parts: dict[str, tuple[str, str]] = {}
    opts: dict[str, Any]
    splits: list[str] | None  # the named splits of this export; None: one unnamed set
    final_dir: Path  # where the export ends up (out_dir is its temporary sibling)

    # -- life cycle ---------------------------------------------------------------------------
    def bind(
        self,
        out_dir: Path,
        classes: list[str],
        options: Mapping[str, Any],
        *,
        splits: Sequence[str] | None = None,
        final_dir: Path | None = None,
    ) -> ExporterBase:
        """Say where and what to write; `with exporter.bind(...)` then runs `setup`.

        `splits` names the export's splits (None: one unnamed set, whose samples say "train");
        `final_dir` is where the export will be once renamed into place, for instructions
        written into it (defaults to `out_dir`)."""
        self._bound = (Path(out_dir), list(classes), dict(options))
        self.splits = list(splits) if splits else None
        self.final_dir = Path(final_dir) if final_dir is not None else Path(out_dir)
        return self

    def __enter__(self) -> ExporterBase:
        try:
            self.setup(*self._bound)
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def setup(self, out_dir: Path, classes: list[str], options: Mapping[str, Any]) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.classes = list(classes)
        self.class_dirs = pair_class_dirs(self.classes, self.label_parts)
        self.opts = resolve_options(self.options, options)
        if not hasattr(self, "splits"):
            self.splits = None
        if not hasattr(self, "final_dir"):
            self.final_dir = self.out_dir
        self.summary = ExportSummary(format=self.name)
        self._dirs: set[str] = set()
        self._taken: dict[str, set[str]] = {}
        self._link_fallbacks = 0
        self._handles: list[IO[Any]] = getattr(self, "_handles", [])

    def open_text(self, *parts: str, newline: str = "\n") -> IO[str]:
        """Open out_dir/parts for writing (UTF-8), declared as a metadata file and closed by `release`."""
        if not hasattr(self, "_handles"):
            self._handles = []
        f = open(self.target(*parts), "w", encoding="utf-8", newline=newline)
        self._handles.append(f)
        self.summary.metadata_files.append("/".join(parts))
        return f

    def release(self) -> None:
        """Close every file this exporter opened (idempotent; on success, error and cancel alike)."""
        handles, self._handles = getattr(self, "_handles", []), []
        for f in handles:
            try:
                f.close()
            except OSError:
                pass

    # -- paths ----------------------------------------------------------------------------------
    def target(self, *parts: str) -> Path:
        """out_dir/parts..., each part checked to be one plain component (so never outside)."""
        return self.out_dir.joinpath(*(check_component(p) for p in parts))

    def ensure_dir(self, *parts: str) -> str:
        """Create out_dir/parts (once) and return it as a POSIX relative path."""
        rel = "/".join(parts)
        if rel not in self._dirs:
            d = self.target(*parts)
            d.mkdir(parents=True, exist_ok=True)
            if not is_within(self.out_dir, d):
                raise ExportError(f"refusing to write outside the export: {d}")
            self._dirs.add(rel)
        return rel

    def class_dir(self, label: str) -> str:
        """The folder name of a class (for labels outside `classes`, encoded on the fly)."""
        got = self.class_dirs.get(label)
        if got is None:
            got = self.class_dirs[label] = safe_component(label, force_hash=True)
        return got

    def unique_name(self, dir_rel: str, sample: ExportSample) -> str:
        """A file name for `sample` in `dir_rel` that no other sample took (stems compared casefolded).

        The source file name is kept when free; same-named files from other source folders get
        the image id appended, so nothing is ever overwritten.
        """
        src_name = PurePosixPath(sample.rel_path).name or f"image-{sample.image_id}"
        p = PurePosixPath(src_name)
        suffix = p.suffix if len(p.suffix) <= 16 and all(c in _SAFE_CHARS for c in p.suffix) else ""
        stem = src_name[: len(src_name) - len(suffix)] if suffix else src_name
        base = safe_component(stem, max_bytes=MAX_NAME_BYTES)
        taken = self._taken.setdefault(dir_rel, set())
        candidate = base
        if candidate.casefold() in taken:
            candidate = f"{base}{_HASH_SEP}{sample.image_id}"
            n = 1
            while candidate.casefold() in taken:
                candidate = f"{base}{_HASH_SEP}{sample.image_id}-{n}"
                n += 1
        taken.add(candidate.casefold())
        return candidate + suffix

    def place_image(self, sample: ExportSample, *dir_parts: str) -> str:
        """Copy/link the sample's image into out_dir/dir_parts under a unique name; return its rel path."""
        src = sample.src_path
        mode = self.opts.get("mode", "copy")
        if mode == "symlink" and not os.path.isfile(src):  # copy and link fail on their own
            raise MissingSourceError(f"source image missing: {sample.rel_path}")
        dir_rel = self.ensure_dir(*dir_parts)
        fname = self.unique_name(dir_rel, sample)
        dst = os.path.join(self.out_dir, dir_rel, check_component(fname))
        try:
            PLACERS[mode](src, dst)
        except _LinkRefused:
            self._link_fallbacks += 1
            _copy(src, dst)
        except (FileNotFoundError, IsADirectoryError) as err:
            if os.path.lexists(dst) or not os.path.isdir(os.path.dirname(dst)):
                raise  # our side failed, not the source
            self._taken[dir_rel].discard(fname[: len(fname) - len(PurePosixPath(fname).suffix)].casefold())
            raise MissingSourceError(f"source image missing: {sample.rel_path}") from err
        self.summary.n_files += 1
        return f"{dir_rel}/{fname}"

    def count(self, sample: ExportSample) -> None:
        s = self.summary
        s.n_samples += 1
        s.by_split[sample.split] = s.by_split.get(sample.split, 0) + 1
        key = sample.label if sample.label is not None else f"({sample.action})"
        s.by_label[key] = s.by_label.get(key, 0) + 1

    def finish(self) -> ExportSummary:
        """Close the open files and declare what was written (counts, files, classes, folders)."""
        for f in getattr(self, "_handles", []):
            f.close()  # errors here are real (disk full on flush): let them fail the export
        self._handles = []
        if self._link_fallbacks:
            self.summary.warnings.append(
                f"{self._link_fallbacks} image(s) copied instead of hard-linked (different filesystem)"
            )
        self.summary.classes = list(self.classes)
        self.summary.class_folders = {c: self.class_dir(c) for c in self.classes}
        return self.summary

    def close(self) -> ExportSummary:
        return self.finish()

    # subclasses implement export_sample


def split_dir(sample: ExportSample) -> str:
    """The top folder of a sample: its split, or the unsure set."""
    return UNSURE_SET if sample.label is None else sample.split


def unsure_dir(sample: ExportSample) -> str:
    """Sub-folder of the unsure set, by what the reviewer said."""
    return encode_name(sample.action)
