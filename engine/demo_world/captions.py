"""Training captions: the visible parts in varied wording, never a class name.

Some captions start with a made-up word and ", which is/has" -- the shape of a LaZSL descriptor
prompt ("zorbit, which is a red striped circle") -- so the text encoder learns to read the part
after an unknown name, as web-trained CLIP does. Those made-up words are drawn from a syllable
generator and filtered so they can never equal (or contain) a demo class name.
"""

from __future__ import annotations

import numpy as np

from engine.demo_world.classes import CLASS_NAMES, Part

_SYLLABLES = (
    "ka", "lo", "mi", "ter", "vun", "sa", "brel", "dor", "fi", "gum", "hax", "jo", "ple", "rin",
    "tu", "wex", "yo", "zan", "cro", "nim", "bo", "sel", "qua", "dru", "li", "mor", "pa", "ve",
)

_TEXTURE_WORDS = {
    "striped": (("{c} striped {s}", 3), ("striped {c} {s}", 1), ("{c} {s} with stripes", 1)),
    "dotted": (("{c} dotted {s}", 3), ("dotted {c} {s}", 1), ("{c} {s} with dots", 1), ("{c} spotted {s}", 1)),
    "solid": (("{c} {s}", 5), ("solid {c} {s}", 1), ("plain {c} {s}", 1)),
}
_SCENE_TEMPLATES = (
    ("{x}", 4), ("a picture of {x}", 1), ("a scene with {x}", 1), ("there is {x}", 1),
    ("a photo of {x}", 1), ("{x} on a background", 1),
)
_PREFIX_P = 0.25


def _weighted(rng: np.random.Generator, options: tuple[tuple[str, int], ...]) -> str:
    w = np.array([o[1] for o in options], dtype=np.float64)
    return options[int(rng.choice(len(options), p=w / w.sum()))][0]


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def part_phrase(part: Part, rng: np.random.Generator) -> str:
    """One way of saying a part, e.g. 'a striped red circle'."""
    return _article(_weighted(rng, _TEXTURE_WORDS[part.texture]).format(c=part.colour, s=part.shape))


def pseudo_word(rng: np.random.Generator) -> str:
    """A made-up word that is never a demo class name (nor contains one)."""
    while True:
        w = "".join(_SYLLABLES[int(i)] for i in rng.integers(len(_SYLLABLES), size=int(rng.integers(2, 4))))
        if not any(name in w or w in name for name in CLASS_NAMES):
            return w


def caption(parts: list[Part], rng: np.random.Generator) -> str:
    """A caption listing exactly `parts` (order shuffled), in one of many wordings."""
    if not parts:
        return _weighted(rng, (("an empty background", 2), ("nothing", 1), ("a plain background", 1)))
    phrases = [part_phrase(parts[int(i)], rng) for i in rng.permutation(len(parts))]
    listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    if rng.random() < _PREFIX_P:
        verb = "which is" if len(phrases) == 1 else "which has"
        return f"{pseudo_word(rng)}, {verb} {listed}"
    return _weighted(rng, _SCENE_TEMPLATES).format(x=listed)
