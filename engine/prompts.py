"""Descriptor sentences (the exact DCLIP/LaZSL rule) and class-name prompts for the clip baseline."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from engine.types import ClassSpec

#: OpenAI's 7-template subset commonly used for ImageNet zero-shot ensembles (clip baseline).
CLIP_TEMPLATES: tuple[str, ...] = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)

_VERB_FIRST = ("has", "often", "typically", "may", "can")


def _lazsl_connector(attribute: str) -> str:
    """docs/architecture.md, "Attribute sentences": 'a…' → 'which is', has/often/typically/may/can → 'which', 'used' → 'which is', else 'which has'."""
    # Prefix tests, exactly as the published DCLIP/LaZSL code ("cannot…" counts as "can").
    if attribute.startswith("a"):
        return "which is"
    if attribute.startswith(_VERB_FIRST):
        return "which"
    if attribute.startswith("used"):
        return "which is"
    return "which has"


def _lazsl_sentence(class_name: str, attribute: str, suffix: str) -> str:
    return f"{class_name}, {_lazsl_connector(attribute)} {attribute}{suffix}"


def _plain_sentence(class_name: str, attribute: str, suffix: str) -> str:
    if not attribute:
        return f"a photo of a {class_name}{suffix}"
    return f"a photo of a {class_name}, {attribute}{suffix}"


#: Prompt styles: name → f(class_name, attribute, suffix) -> sentence.
PROMPT_STYLES: dict[str, Callable[[str, str, str], str]] = {
    "lazsl": _lazsl_sentence,
    "plain": _plain_sentence,
}


def clean_class_name(name: str) -> str:
    """Underscores become spaces (docs/architecture.md, "Attribute sentences": ``red_fox``)."""
    return name.replace("_", " ")


def descriptor_sentence(class_name: str, attribute: str, style: str = "lazsl", imagenet: bool = False) -> str:
    """The sentence whose embedding stands for one attribute of one class."""
    try:
        fn = PROMPT_STYLES[style]
    except KeyError:
        raise ValueError(f"unknown prompt style {style!r}; known: {', '.join(PROMPT_STYLES)}") from None
    return fn(clean_class_name(class_name), attribute, "." if imagenet else "")


def class_prompts(
    classes: Sequence[ClassSpec], style: str = "lazsl", imagenet: bool = False
) -> tuple[list[str], torch.Tensor]:
    """All descriptor sentences in class order, and the class index of each ([A] long).

    A class with no attributes contributes one sentence with an empty attribute (docs/architecture.md,
    "Attribute sentences"), so every class owns at least one row.
    """
    sentences: list[str] = []
    owner: list[int] = []
    for ci, c in enumerate(classes):
        attrs = c.attributes or ("",)
        for a in attrs:
            sentences.append(descriptor_sentence(c.name, a, style, imagenet))
            owner.append(ci)
    return sentences, torch.tensor(owner, dtype=torch.long)


def name_prompts(classes: Sequence[ClassSpec], templates: Sequence[str] | None = None) -> tuple[list[str], torch.Tensor]:
    """Class-name prompts for the clip baseline: one per class, or one per template (ensemble)."""
    tpls = tuple(templates) if templates else ("a photo of a {}.",)
    sentences = [t.format(clean_class_name(c.name)) for c in classes for t in tpls]
    owner = torch.arange(len(classes), dtype=torch.long).repeat_interleave(len(tpls))
    return sentences, owner
