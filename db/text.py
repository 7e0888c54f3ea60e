"""The one character-level rule for class names and attribute texts, applied by the store.

Every path that stores a name or an attribute (CLI, file import, LLM proposals, GUI edits) ends
in `db.store_attributes.clean_text`, which calls `normalise` here; `workflows.text` uses it too,
to tell the user what changed and to warn about look-alike names. It lives in `db` because the
store is the layer every path shares (nothing below `workflows` may import it).

The rule: NFKC (full-width, ligatures and compatibility forms become their plain letters), then
control, format (zero-width, bidi, soft hyphen) and other invisible characters are removed, and
runs of whitespace become one space. Removing them, rather than refusing the whole text, keeps
what the user or the model meant ("one control character rejects a whole proposal" was issue 13).
"""

from __future__ import annotations

import unicodedata

# categories removed: controls, format characters (zero-width space/joiners, bidi marks,
# soft hyphen, BOM, tags), lone surrogates (unstorable as UTF-8)
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
# invisible characters of other categories (fillers, combining grapheme joiner, Khmer inherent vowels)
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")


def normalise(text: str) -> tuple[str, int]:
    """(`text` normalised, how many characters were removed as control/invisible)."""
    if text.isascii() and text.isprintable():  # the common case: nothing to do but spaces
        return " ".join(text.split()), 0
    s = unicodedata.normalize("NFKC", text)
    kept = []
    removed = 0
    for ch in s:
        if ch.isspace():
            kept.append(" ")
        elif ch in _INVISIBLE or unicodedata.category(ch) in _DROP_CATEGORIES:
            removed += 1
        else:
            kept.append(ch)
    out = "".join(kept)
    if removed:  # a removed joiner may have separated a letter from its accent
        out = unicodedata.normalize("NFKC", out)
    return " ".join(out.split()), removed


def normalised(text: str) -> str:
    return normalise(text)[0]
