"""Turn what language models actually reply into a clean list of attribute phrases.

Structured outputs help but are not guaranteed (older servers, models that ignore the schema,
other sources), so the parser accepts: plain JSON, JSON in code fences or wrapped in prose,
`{"attributes": [...]}`, a bare list, `{"<class>": [...]}`, lists of objects, and numbered or
bulleted lists. Thinking blocks are dropped. Normalisation trims, strips list markers and trailing
periods, lower-cases a capitalised first word, dedupes case-insensitively, drops items that are
just the class name, and shortens overlong items at a clause boundary.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MAX_LEN = 100  # characters; CLIP's 77-token context comfortably holds "class, which has <this>."

_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_FENCE = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)```", re.S)
_MARKER = re.compile(r"^\s*(?:[-*•·‣▪–—+]|\(?\d{1,3}[.):](?=\s)|\(?[a-zA-Z][.)](?=\s)|#+)\s*")
_LIST_LINE = re.compile(r"^\s*(?:[-*•·‣▪–—+]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)](?=\s))\s+\S")
_KEYS = ("attributes", "descriptors", "features", "visual_features", "characteristics", "items", "list")
_ITEM_KEYS = ("attribute", "descriptor", "feature", "text", "description", "name", "value")
_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.I)


@dataclass
class Parsed:
    attributes: list[str]
    warnings: list[str] = field(default_factory=list)
    found_as: str = ""  # json | fenced-json | embedded-json | list | none


def _strings(obj: Any, class_name: str) -> list[Any] | None:
    """The attribute list inside a decoded JSON value, or None if it holds none."""
    if isinstance(obj, list):
        if all(isinstance(x, dict) for x in obj) and obj:
            out = []
            for x in obj:
                val = next((x[k] for k in _ITEM_KEYS if isinstance(x.get(k), str)), None)
                if val is None:
                    val = next((v for v in x.values() if isinstance(v, str)), None)
                if val is not None:
                    out.append(val)
            return out or None
        return obj
    if isinstance(obj, dict):
        lowered = {str(k).casefold().strip(): v for k, v in obj.items()}
        for key in (*_KEYS, class_name.casefold().strip(), class_name.replace("_", " ").casefold().strip()):
            if isinstance(lowered.get(key), list):
                return _strings(lowered[key], class_name)
        lists = [v for v in obj.values() if isinstance(v, list)]
        if len(lists) == 1:
            return _strings(lists[0], class_name)
        dicts = [v for v in obj.values() if isinstance(v, dict)]
        if len(dicts) == 1 and not lists:
            return _strings(dicts[0], class_name)
    return None


def _json_candidates(text: str) -> Iterable[tuple[str, Any]]:
    stripped = text.strip()
    try:
        yield "json", json.loads(stripped)
    except ValueError:
        pass
    for block in _FENCE.findall(text):
        try:
            yield "fenced-json", json.loads(block.strip())
        except ValueError:
            pass
    dec = json.JSONDecoder()
    for m in re.finditer(r"[\[{]", text):
        try:
            obj, _end = dec.raw_decode(text, m.start())
        except ValueError:
            continue
        yield "embedded-json", obj


def _list_lines(text: str) -> list[str]:
    body = "\n".join(_FENCE.findall(text)) or text
    return [_MARKER.sub("", line, count=1) for line in body.splitlines() if _LIST_LINE.match(line)]


def normalise(item: Any, class_name: str) -> str:
    """One cleaned attribute phrase ('' when nothing usable remains)."""
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return ""
    if not isinstance(item, str):
        return ""
    s = unicodedata.normalize("NFC", item)
    s = s.replace("**", "").replace("__", "").replace("`", "")
    s = " ".join(s.split())
    s = _MARKER.sub("", s, count=1)
    s = s.strip(" \t\"'“”‘’«»")
    s = s.rstrip(" .;,:!。")
    s = " ".join(s.split())
    if len(s) > 1 and s[0].isupper() and s[1].islower():
        s = s[0].lower() + s[1:]
    name = " ".join(class_name.replace("_", " ").split()).casefold()
    if _ARTICLE.sub("", s).casefold() == name or s.casefold() == name:
        return ""
    return s


def shorten(s: str, max_len: int = MAX_LEN) -> str:
    """Cut an overlong phrase at the last clause boundary (else word boundary) before max_len."""
    if len(s) <= max_len:
        return s
    head = s[: max_len + 1]
    for sep in ("; ", " - ", " – ", ": ", ", ", " (", " which ", " that ", " and "):
        cut = head.rfind(sep)
        if cut >= max_len // 3:
            return head[:cut].rstrip(" ,;:(")
    cut = head.rfind(" ")
    return (head[:cut] if cut > 0 else head[:max_len]).rstrip(" ,;:(")


def parse_reply(raw: str, class_name: str, *, n: int | None = None, max_len: int = MAX_LEN) -> Parsed:
    """Parse and normalise one model reply (never raises; an empty list means unusable)."""
    text = _THINK.sub("", raw or "")
    items: list[Any] | None = None
    found = "none"
    for kind, obj in _json_candidates(text):
        items = _strings(obj, class_name)
        if items:
            found = kind
            break
    if not items:
        items = _list_lines(text)
        found = "list" if items else "none"
    warnings: list[str] = []
    out: list[str] = []
    seen: set[str] = set()
    dup = empty = cut = broken = 0
    for item in items or []:
        if isinstance(item, str) and "\ufffd" in item:
            broken += 1  # bytes that were not UTF-8, replaced on the way in: the text is damaged
            continue
        s = normalise(item, class_name)
        if not s:
            empty += 1
            continue
        short = shorten(s, max_len)
        if short != s:
            cut += 1
            s = short
        key = s.casefold()
        if key in seen:
            dup += 1
            continue
        seen.add(key)
        out.append(s)
    if broken:
        warnings.append(
            f"{broken} items with invalid UTF-8 (shown as U+FFFD) dropped; the reply was not valid text"
        )
    for count, what in (
        (dup, "duplicates"),
        (empty, "empty or class-name items"),
        (cut, "overlong items shortened"),
    ):
        if count:
            warnings.append(f"{count} {what}")
    if n is not None and len(out) > n:
        warnings.append(f"{len(out) - n} extra items dropped")
        out = out[:n]
    if out and sum(_mostly_non_latin(s) for s in out) * 2 > len(out):
        warnings.append("reply does not look English; CLIP text encoders are trained mostly on English")
    return Parsed(out, warnings, found)


def _mostly_non_latin(s: str) -> bool:
    letters = [ch for ch in s if ch.isalpha()]
    if not letters:
        return False
    latin = sum(1 for ch in letters if "LATIN" in unicodedata.name(ch, ""))
    return latin * 2 < len(letters)
