"""The demo world's vocabulary and its classes, each defined only by the parts it is made of.

Class names are invented words so that a name-only prompt carries no information; the
attributes (part descriptions) are the only route from text to pixels. Several classes share a
part, and some pairs swap which colour/texture goes with which shape ("binding swaps"): a
global embedding that bags features together confuses them, local crops separate them.
"""

from __future__ import annotations

from dataclasses import dataclass

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "diamond", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 220),
    "yellow": (240, 200, 20),
    "purple": (140, 60, 180),
    "orange": (255, 127, 14),
}
TEXTURES: tuple[str, ...] = ("solid", "striped", "dotted")


@dataclass(frozen=True, order=True)
class Part:
    """One visual part: a shape in a colour with a surface texture."""

    colour: str
    shape: str
    texture: str = "solid"

    def __post_init__(self) -> None:
        if self.shape not in SHAPES or self.colour not in COLOURS or self.texture not in TEXTURES:
            raise ValueError(f"unknown part {self.colour}/{self.shape}/{self.texture}")

    @property
    def description(self) -> str:
        """Canonical attribute text, e.g. 'a red striped circle' or 'a blue triangle'."""
        tex = "" if self.texture == "solid" else f" {self.texture}"
        return f"a {self.colour}{tex} {self.shape}"

    @classmethod
    def parse(cls, text: str) -> Part:
        """Inverse of `description` (used to read ground-truth files back)."""
        words = text.split()
        if words and words[0] in ("a", "an"):
            words = words[1:]
        if len(words) == 2:
            return cls(words[0], words[1])
        if len(words) == 3:
            return cls(words[0], words[2], words[1])
        raise ValueError(f"not a part description: {text!r}")


def _p(text: str) -> Part:
    return Part.parse(text)


# name -> defining parts. Order of parts is the attribute order shown to users.
CLASSES: dict[str, tuple[Part, ...]] = {
    "zorbit": (_p("a red striped circle"), _p("a blue triangle")),
    "quillan": (_p("a blue striped circle"), _p("a red triangle")),  # binding swap of zorbit
    "morvex": (_p("a red striped circle"), _p("a yellow square")),  # shares a part with zorbit
    "tellith": (_p("a yellow dotted square"), _p("a green star")),
    "brannock": (_p("a green dotted square"), _p("a yellow star")),  # binding swap of tellith
    "vispen": (_p("a purple diamond"), _p("an orange striped cross")),
    "drulle": (_p("a purple striped diamond"), _p("an orange cross")),  # texture swap of vispen
    "kappimon": (_p("a green star"), _p("a blue triangle"), _p("an orange dotted circle")),
    "fennick": (_p("a green star"), _p("a blue dotted triangle")),
    "oslumb": (_p("a yellow square"), _p("a purple diamond")),
    "grellow": (_p("a red cross"), _p("a blue dotted square"), _p("a yellow circle")),
    "pimvra": (_p("a blue dotted square"), _p("an orange star")),
    "saddoc": (_p("a purple dotted circle"), _p("a green triangle")),
    "wendrix": (_p("a green striped triangle"), _p("a purple circle")),
}

CLASS_NAMES: tuple[str, ...] = tuple(CLASSES)


def all_parts() -> list[Part]:
    """Every part the world can draw (the distractor pool), in a fixed order."""
    return [Part(c, s, t) for c in COLOURS for s in SHAPES for t in TEXTURES]


def class_parts() -> list[Part]:
    """Parts that define at least one class, in a fixed order."""
    return sorted({p for parts in CLASSES.values() for p in parts})


def descriptors() -> dict[str, list[str]]:
    """The classes in DCLIP descriptor-JSON shape: {"class name": ["attribute", ...]}."""
    return {name: [p.description for p in parts] for name, parts in CLASSES.items()}


def classes_satisfied(parts: set[Part] | frozenset[Part]) -> list[str]:
    """Names of every class whose defining parts are all present in `parts`."""
    return [name for name, need in CLASSES.items() if set(need) <= parts]
