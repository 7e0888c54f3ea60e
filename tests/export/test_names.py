"""Safe, reversible, collision-free folder names for any class name."""

from __future__ import annotations

import pytest

from plugins.exporters.base import (
    MAX_NAME_BYTES,
    ExportError,
    OptionSpec,
    check_component,
    decode_name,
    encode_name,
    resolve_options,
    safe_class_names,
)
from tests.export.conftest import HOSTILE

NAMES = HOSTILE + [
    "",
    ".",
    "...",
    "a b",
    "~",
    "%",
    "%25",
    "COM1",
    "lpt9.log",
    "aux ",
    "Ω",
    "x:y",
    "tab\tname",
    "\ud800",
]
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(10)}


@pytest.mark.parametrize("name", NAMES)
def test_encoding_is_one_portable_component_and_reverses(name):
    enc = encode_name(name)
    assert decode_name(enc) == name
    check_component(enc)
    assert enc.isascii()
    assert not enc.startswith(".")
    assert not enc.endswith((".", " "))
    assert enc.split(".")[0].upper() not in WINDOWS_RESERVED


def test_encoding_is_injective():
    encoded = [encode_name(n) for n in NAMES]
    assert len(set(encoded)) == len(NAMES)


def test_class_folders_are_unique_case_insensitively_and_short():
    names = HOSTILE + ["Cat", "cat", "CAT", "y" * 400, "y" * 401, "%2E"]
    folders = safe_class_names(names)
    assert len({f.casefold() for f in folders.values()}) == len(names)
    for n, f in folders.items():
        check_component(f)
        assert len(f.encode()) <= MAX_NAME_BYTES
        if "~" not in f:  # plain names decode back without the manifest
            assert decode_name(f) == n
    # the mapping does not depend on the order of the classes
    assert safe_class_names(reversed(names)) == folders


@pytest.mark.parametrize("part", ["", ".", "..", "a/b", "a\\b", "c:d", "x\0"])
def test_unsafe_components_are_refused(part):
    with pytest.raises(ExportError):
        check_component(part)


def test_options_are_checked_with_clear_messages():
    specs = [OptionSpec("mode", str, "copy", "how", ("copy", "symlink")), OptionSpec("n", int, 3, "count")]
    assert resolve_options(specs, {"n": "5"}) == {"mode": "copy", "n": 5}
    with pytest.raises(ExportError, match="unknown option"):
        resolve_options(specs, {"colour": "red"})
    with pytest.raises(ExportError, match="not one of"):
        resolve_options(specs, {"mode": "move"})
    with pytest.raises(ExportError, match="expected int"):
        resolve_options(specs, {"n": "many"})
