"""Model loading: random tiny config, weights-file round trip, local-dir, QuickGELU, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from engine.models import MODEL_ALIASES, ModelLoadError, load_model, register_model_config, resolve_spec
from tests.engine.conftest import TINY_CFG, TINY_NAME


def test_random_model_encodes(tiny_model):
    m = tiny_model
    assert m.image_size == 32 and m.model_id.startswith("random:")
    x = torch.randn(3, 3, 32, 32)
    f = m.encode_images(x)
    assert f.shape == (3, 32) and torch.allclose(f.norm(dim=-1), torch.ones(3), atol=1e-5)
    t = m.encode_texts(["a red square", "a blue circle", "a red square"])
    assert t.shape == (3, 32) and torch.equal(t[0], t[2])
    assert ((m.model_id, "a blue circle") in m._text_cache)
    g, p, grid = m.encode_dense(x)
    assert grid == (4, 4) and p.shape == (3, 16, 32) and torch.allclose(g, f, atol=1e-5)


def test_random_is_deterministic():
    register_model_config(TINY_NAME, TINY_CFG)
    a = load_model(f"random:{TINY_NAME}", device="cpu")
    b = load_model(f"random:{TINY_NAME}", device="cpu")
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(a.encode_images(x), b.encode_images(x))
    assert a.model_id == b.model_id


def test_weights_file_round_trip(tiny_model, tmp_path):
    w = tmp_path / "tiny.pt"
    torch.save(tiny_model.model.state_dict(), w)
    m = load_model(f"{TINY_NAME}@{w}", device="cpu")
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(m.encode_images(x), tiny_model.encode_images(x), atol=1e-5)
    assert w.name in m.model_id and m.model_id != tiny_model.model_id
    # different weights → different id
    sd = {k: v + 1 if v.is_floating_point() else v for k, v in tiny_model.model.state_dict().items()}
    w2 = tmp_path / "tiny2.pt"
    torch.save(sd, w2)
    assert load_model(f"{TINY_NAME}@{w2}", device="cpu").model_id.split("#")[1] != m.model_id.split("#")[1]


def test_local_dir_and_alias(tiny_model, tmp_path):
    d = tmp_path / "demo"
    d.mkdir()
    (d / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": {}}))
    torch.save(tiny_model.model.state_dict(), d / "open_clip_pytorch_model.bin")
    MODEL_ALIASES["test-demo"] = lambda: f"local-dir:{d}"
    try:
        m = load_model("test-demo", device="cpu")
    finally:
        del MODEL_ALIASES["test-demo"]
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(m.encode_images(x), tiny_model.encode_images(x), atol=1e-5)
    assert m.model_id.startswith("local-dir:demo#")


def test_openai_file_gets_quickgelu(tmp_path):
    f = tmp_path / "ViT-B-32-openai.pt"
    f.write_bytes(b"not really weights")
    r = resolve_spec(f"ViT-B-32@{f}")
    assert r.create_name == "ViT-B-32-quickgelu"
    assert resolve_spec(f"ViT-B-32-quickgelu@{f}").create_name == "ViT-B-32-quickgelu"
    plain = tmp_path / "mine.pt"
    plain.write_bytes(b"x")
    assert resolve_spec(f"ViT-B-32@{plain}").create_name == "ViT-B-32"


def test_openai_torchscript_archive_detected(tmp_path):
    import zipfile

    f = tmp_path / "weights.pt"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("ViT-B-32/code/__torch__/model.py", "")
    assert resolve_spec(f"ViT-B-32@{f}").create_name == "ViT-B-32-quickgelu"


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("ViT-B-32@/nope/weights.pt", "weights file not found: /nope/weights.pt"),
        ("ViT-B-32:no-such-tag", "no pretrained tag 'no-such-tag'"),
        ("Not-A-Model:openai", "unknown open_clip model name"),
        ("ViT-B-32", "names no weights"),
        ("local-dir:/nope/dir", "model folder not found"),
    ],
)
def test_bad_specs_give_clear_errors(spec, needle):
    with pytest.raises(ModelLoadError, match=needle.replace("(", r"\(")):
        load_model(spec, device="cpu")


def test_missing_tag_weights_offline(tmp_path, monkeypatch):
    """A known tag whose weights are not cached: the message names the tag and how to supply it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(ModelLoadError) as e:
        load_model("RN50:openai", device="cpu", precision="fp32")
    msg = str(e.value)
    assert "RN50:openai" in msg and "local-dir:" in msg and "@/path/to/weights.pt" in msg


def test_precision_errors():
    with pytest.raises(ModelLoadError, match="fp16 is not supported on CPU"):
        load_model(f"random:{TINY_NAME}", device="cpu", precision="fp16")
