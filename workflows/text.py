"""Class-name and attribute-text hygiene as the use cases report it (issue 13, item 14).

The character rule itself is `db.text.normalise` (NFKC; control, zero-width and other invisible
characters removed; whitespace collapsed): the store applies it to every text it keeps, so
GUI edits are covered too. This module adds what needs a person told about it:

- `clean_names` / `clean_attributes`: normalise a batch *before* anything is written, so one bad
  name fails the whole command instead of half of it, and say what the rule changed;
- `lookalikes`: names that are different strings but look the same (Cyrillic "о" in "zоrbit"
  next to "zorbit", letters of two scripts in one word). They are allowed, with a warning: a
  dataset may really have both, but usually one is a typo or a paste from elsewhere.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from db.store_attributes import AttributeEditError, clean_attribute_text, clean_class_name
from db.text import normalise
from workflows.errors import UserError

# Letters of Cyrillic and Greek that are drawn like Latin ones (a small part of Unicode's
# confusables.txt: the scripts mixed up in practice when names are pasted or typed).
_HOMOGLYPHS = str.maketrans(
    {
        **dict(zip("АВЕКМНОРСТУХІЈЅԀԌԚԜ", "ABEKMHOPCTYXIJSDGQW", strict=True)),
        **dict(zip("аеорсухіјѕԁһԛԝӏк", "aeopcyxijsdhqwlk", strict=True)),
        **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True)),
        **dict(zip("αικνορυχ", "aikvopux", strict=True)),
    }
)
_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")


def skeleton(name: str) -> str:
    """What a name looks like: normalised, homoglyphs mapped to Latin, case folded."""
    return normalise(name)[0].translate(_HOMOGLYPHS).casefold()


def scripts(name: str) -> set[str]:
    """The confusable scripts (Latin, Cyrillic, Greek) whose letters a name uses."""
    if name.isascii():
        return {"LATIN"} if any(ch.isalpha() for ch in name) else set()
    out = set()
    for ch in name:
        if ch.isalpha():
            script = unicodedata.name(ch, "").split(" ", 1)[0]
            if script in _SCRIPTS:
                out.add(script)
    return out


def changed(raw: str, clean: str) -> str | None:
    """A note saying what normalisation did to `raw`, or None when only spaces changed."""
    if raw == clean or " ".join(raw.split()) == clean:
        return None
    removed = normalise(raw)[1]
    if removed:
        return f"{raw!r} stored as {clean!r} ({removed} control or invisible characters removed)"
    return f"{raw!r} stored as {clean!r} (Unicode compatibility forms normalised)"


def clean_names(names: Sequence[object], what: str = "class name") -> tuple[list[str], list[str]]:
    """Every name normalised, or a `UserError` naming the first bad one (nothing is written);
    plus notes on what normalisation changed. Duplicates within the batch are an error."""
    out: list[str] = []
    notes: list[str] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(names, 1):
        try:
            clean = clean_class_name(raw)
        except AttributeEditError as err:
            raise UserError(f"{what} {i} of {len(names)} ({raw!r}): {err}; nothing was added") from err
        key = clean.casefold()
        if key in seen:
            if " ".join(seen[key].split()).casefold() == " ".join(str(raw).split()).casefold():
                raise UserError(f"{what} {raw!r} is given twice (ignoring case); nothing was added")
            raise UserError(f"{what} {raw!r} is {seen[key]!r} once normalised; nothing was added")
        seen[key] = raw if isinstance(raw, str) else clean
        note = changed(raw, clean) if isinstance(raw, str) else None
        if note:
            notes.append(note)
        out.append(clean)
    return out, notes


def clean_attributes(texts: Iterable[object]) -> tuple[list[str], list[str]]:
    """Attribute texts normalised; texts that end up empty are dropped (never the whole list);
    notes say what changed."""
    out: list[str] = []
    notes: list[str] = []
    removed_total = dropped = 0
    for raw in texts:
        try:
            clean = clean_attribute_text(raw)
        except AttributeEditError:
            dropped += 1
            continue
        if isinstance(raw, str):
            removed_total += normalise(raw)[1]
        out.append(clean)
    if removed_total:
        notes.append(f"{removed_total} control or invisible characters removed")
    if dropped:
        notes.append(f"{dropped} unusable items dropped (empty once cleaned, or too long)")
    return out, notes


def lookalikes(new: Sequence[str], existing: Iterable[str] = ()) -> list[str]:
    """Warnings for names in `new` that look like another name (in `new` or `existing`) without
    being equal to it, and for names mixing Latin, Cyrillic or Greek letters."""
    warnings: list[str] = []
    by_skeleton: dict[str, str] = {}
    for name in existing:
        by_skeleton.setdefault(skeleton(name), name)
    for name in new:
        mixed = scripts(name)
        if len(mixed) > 1:
            warnings.append(f"class {name!r} mixes {' and '.join(sorted(s.title() for s in mixed))} letters")
        key = skeleton(name)
        other = by_skeleton.get(key)
        if other is not None and other.casefold() != normalise(name)[0].casefold():
            warnings.append(f"class {name!r} looks like the class {other!r} (different letters, same look)")
        by_skeleton.setdefault(key, name)
    return warnings
