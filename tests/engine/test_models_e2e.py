"""Hub models end to end: a genuine offline HF cache, demo images, the CLI a user types."""

from __future__ import annotations

import json
import math

import pytest

from cli.main import main
from engine.demo_world.classes import descriptors
from engine.demo_world.scenes import DEMO_SEED_BASE, write_split
from tests.engine.test_models_hub import REPOS, hf_env, hub_home  # noqa: F401 - shared fixtures


@pytest.fixture(scope="module")
def demo_images(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo-images")
    write_split(d, DEMO_SEED_BASE, 4, by_class_folder=True)
    (d / "ground_truth.json").unlink()
    attrs = d.parent / (d.name + "-attributes.json")
    attrs.write_text(json.dumps(descriptors()))
    return d, attrs


@pytest.mark.parametrize("repo", list(REPOS))
def test_prelabel_demo_images_with_a_hub_model(hf_env, demo_images, repo, tmp_path, capsys):  # noqa: F811
    images, attrs = demo_images
    proj = str(tmp_path / "p.lazlabel")
    assert main(["init", proj, "--images", str(images), "-q"]) == 0
    assert main(["-p", proj, "attributes", "import", str(attrs)]) == 0
    capsys.readouterr()
    # options in any order, as a user types them
    assert main(["-p", proj, "prelabel", "--crops", "4", "--model", f"hf-hub:{repo}", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "4 images pre-labelled" in out
    from db import Project

    with Project.open(proj) as p:
        run = p.latest_prediction_run(finished_only=True)
        assert run.model_id == f"hf-hub:{repo}@{hf_env[1][repo]}"
        preds = [p.latest_prediction(i) for i in p.image_ids()]
        assert all(pr is not None and math.isfinite(pr.score) for pr in preds)
    # the same spec again: resumes to "nothing to do" (same model id, same cache)
    assert main(["-p", proj, "prelabel", "--model", f"hf-hub:{repo}", "--crops", "4", "--device", "cpu"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_prelabel_with_a_missing_hub_model_is_one_line(hf_env, demo_images, tmp_path, capsys):  # noqa: F811
    images, _ = demo_images
    proj = str(tmp_path / "p.lazlabel")
    assert main(["init", proj, "--images", str(images), "-q"]) == 0
    assert main(["-p", proj, "classes", "add", "zorbit"]) == 0
    capsys.readouterr()
    assert main(["-p", proj, "prelabel", "--model", "hf-hub:timm/ViT-B-16-SigLIP2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lazlabel models pull hf-hub:timm/ViT-B-16-SigLIP2" in err
