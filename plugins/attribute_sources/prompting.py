"""The descriptor-generation prompt (DCLIP / LaZSL spirit) and its structured-output schema.

The prompt version is derived from the prompt text itself, so every change to the wording shows
up in the provenance of the attributes it produced without anyone remembering to bump a number.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

SYSTEM = (
    "You write short visual descriptors for zero-shot image classification with CLIP. "
    "Each descriptor is a short noun phrase (2 to 8 words, lower case, English) naming one thing a "
    "person can SEE in a photo: a part, shape, colour, pattern, texture, material or typical context. "
    "No full sentences, no class names, no behaviour, sounds, smells, taste or facts that cannot be seen. "
    "Answer with JSON only."
)

# Few-shot pairs in the published DCLIP style (Menon & Vondrick 2023), as chat turns.
EXAMPLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "lemur",
        (
            "four-limbed primate",
            "black, grey, white, brown, or red-brown fur",
            "wet and hairless nose with curved nostrils",
            "long ringed tail",
            "large round eyes",
            "clawed hands and feet",
        ),
    ),
    (
        "television",
        (
            "electronic device",
            "black or grey casing",
            "a large, rectangular screen",
            "a stand or mount holding the screen",
            "input ports on the back",
            "a remote control nearby",
        ),
    ),
)

USER = (
    "What are useful visual features for distinguishing a {name} in a photo?{context}\nGive {n} descriptors."
)

PROMPT_STYLE = "dclip-chat"


def _context(others: Sequence[str], domain_hint: str) -> str:
    parts = []
    if domain_hint.strip():
        parts.append(f" The photos come from this domain: {domain_hint.strip()}.")
    if others:
        listed = ", ".join(others)
        parts.append(f" It must be told apart from: {listed}; prefer features that differ from those.")
    return "".join(parts)


def response_schema(n: int) -> dict[str, Any]:
    """JSON schema for Ollama's structured outputs (`format=`)."""
    return {
        "type": "object",
        "properties": {
            "attributes": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "maxItems": max(1, n),
            }
        },
        "required": ["attributes"],
    }


def build_messages(
    class_name: str, *, other_classes: Sequence[str] = (), domain_hint: str = "", n: int = 6
) -> list[dict[str, str]]:
    """System turn, the few-shot turns, then the question for `class_name`."""
    name = class_name.replace("_", " ").strip()
    msgs = [{"role": "system", "content": SYSTEM}]
    for ex_name, ex_attrs in EXAMPLES:
        msgs.append({"role": "user", "content": USER.format(name=ex_name, context="", n=len(ex_attrs))})
        msgs.append({"role": "assistant", "content": json.dumps({"attributes": list(ex_attrs)})})
    msgs.append(
        {"role": "user", "content": USER.format(name=name, context=_context(other_classes, domain_hint), n=n)}
    )
    return msgs


def prompt_version() -> str:
    """`dclip-chat-<8 hex>`: a hash of the system text, examples and question template."""
    blob = json.dumps([SYSTEM, EXAMPLES, USER], ensure_ascii=False)
    return f"{PROMPT_STYLE}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def pick_other_classes(name: str, ordered_names: Sequence[str], limit: int = 20) -> list[str]:
    """Which other class names to show the model: those sharing a word with `name` first, then
    the nearest neighbours in display order (datasets list related classes together)."""
    if limit <= 0:
        return []
    words = {w.casefold() for w in _WORD.findall(name)}
    try:
        here = list(ordered_names).index(name)
    except ValueError:
        here = len(ordered_names)
    scored = []
    for i, other in enumerate(ordered_names):
        if other == name:
            continue
        shared = len(words & {w.casefold() for w in _WORD.findall(other)})
        scored.append((-shared, abs(i - here), i, other))
    scored.sort()
    return [other for *_, other in scored[:limit]]


# -- the confusion prompt (issue #17 item 5): attributes that tell one class from another -------

CONTRAST_USER = (
    "What visual features tell a {name} apart from a {other} in a photo?{context}\n"
    "A {name} is already described by: {own}.\n"
    "A {other} is described by: {theirs}.\n"
    "Give {n} NEW descriptors of things a {name} has and a {other} does not, "
    "none of them already listed above."
)

CONTRAST_STYLE = "confusion-chat"


def _listed(texts: Sequence[str]) -> str:
    return "; ".join(f'"{t}"' for t in texts) if texts else "(nothing yet)"


def build_contrast_messages(
    class_name: str,
    other_name: str,
    *,
    own_attributes: Sequence[str] = (),
    other_attributes: Sequence[str] = (),
    domain_hint: str = "",
    n: int = 4,
) -> list[dict[str, str]]:
    """System turn (the same rules as the descriptor prompt), then one question: which visible
    features a `class_name` has that an `other_name` lacks, given both classes' current attributes
    so that the model proposes new ones."""
    name = class_name.replace("_", " ").strip()
    other = other_name.replace("_", " ").strip()
    ctx = f" The photos come from this domain: {domain_hint.strip()}." if domain_hint.strip() else ""
    question = CONTRAST_USER.format(
        name=name, other=other, context=ctx, own=_listed(own_attributes), theirs=_listed(other_attributes), n=n
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def contrast_prompt_version() -> str:
    """`confusion-chat-<8 hex>`: a hash of the system text and the contrast question template."""
    blob = json.dumps([SYSTEM, CONTRAST_USER], ensure_ascii=False)
    return f"{CONTRAST_STYLE}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"
