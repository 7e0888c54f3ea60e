"""Descriptor sentence rule (docs/architecture.md, "Attribute sentences": the DCLIP/LaZSL convention) and config round trips."""

from __future__ import annotations

import pytest

from engine.prompts import class_prompts, descriptor_sentence, name_prompts
from engine.types import ClassSpec, EngineConfig, ViewConfig


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("a long tail", "red fox, which is a long tail"),
        ("agile", "red fox, which is agile"),  # any word starting with the letter a
        ("an orange coat", "red fox, which is an orange coat"),
        ("has pointed ears", "red fox, which has pointed ears"),
        ("often seen at dusk", "red fox, which often seen at dusk"),
        ("typically solitary", "red fox, which typically solitary"),
        ("may bark", "red fox, which may bark"),
        ("can jump high", "red fox, which can jump high"),
        ("used in fables", "red fox, which is used in fables"),
        ("orange fur", "red fox, which has orange fur"),
        ("Agile", "red fox, which has Agile"),  # the published rule is case-sensitive
        ("", "red fox, which has "),
    ],
)
def test_lazsl_rule(attr, expected):
    assert descriptor_sentence("red_fox", attr) == expected


def test_imagenet_suffix_and_plain_style():
    assert descriptor_sentence("cat", "whiskers", imagenet=True) == "cat, which has whiskers."
    assert descriptor_sentence("cat", "whiskers", style="plain") == "a photo of a cat, whiskers"
    with pytest.raises(ValueError, match="unknown prompt style"):
        descriptor_sentence("cat", "x", style="nope")


def test_class_prompts_order_and_empty_class():
    classes = [ClassSpec("a", ("x", "y")), ClassSpec("b", ()), ClassSpec("c", ["z"])]
    s, owner = class_prompts(classes)
    assert s == ["a, which has x", "a, which has y", "b, which has ", "c, which has z"]
    assert owner.tolist() == [0, 0, 1, 2]
    s2, o2 = name_prompts(classes, ["a photo of {}.", "art of {}."])
    assert s2[:2] == ["a photo of a.", "art of a."] and o2.tolist() == [0, 0, 1, 1, 2, 2]


def test_config_round_trips():
    cfg = EngineConfig(method="dclip", prefilter_k=10, alpha=0.7)
    d = cfg.to_dict()
    assert EngineConfig.from_dict({**d, "from_the_future": 1}) == cfg
    v = ViewConfig(mode="grid", grid_scales=[2, 3])
    assert ViewConfig.from_dict(v.to_dict()) == v
    assert v.key() != ViewConfig(mode="grid").key()
    assert ViewConfig(seed=1).key() != ViewConfig(seed=2).key()
    assert hash(ClassSpec("a", ["x"])) == hash(ClassSpec("a", ("x",)))
