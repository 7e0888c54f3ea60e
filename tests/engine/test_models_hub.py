"""hf-hub: specs loaded from a genuine Hugging Face cache layout, offline, and every error message."""

from __future__ import annotations

import json
import shutil
import socket
import sys

import pytest
import torch

from engine.hub import cached_snapshot, cached_tag_file, hub_cache_dir, list_cached, parse_hub_spec
from engine.models import ModelLoadError, load_model, resolve_spec
from tests.engine.hub_cache import CLIP, EVA, SIGLIP, small_config, write_hub_model, write_repo_files

REPOS = {"test/clip-tiny": CLIP, "test/siglip-tiny": SIGLIP, "test/eva-tiny": EVA}


@pytest.fixture(scope="session")
def hub_home(tmp_path_factory):
    """An HF_HOME whose hub cache holds the three small random-weight models (built once)."""
    home = tmp_path_factory.mktemp("hf-home")
    commits = {repo: write_hub_model(home / "hub", repo, name) for repo, name in REPOS.items()}
    return home, commits


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def hf_env(hub_home, monkeypatch):
    """The cache above via HF_HOME, offline; any network use would fail (endpoint: a closed port)."""
    home, commits = hub_home
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    return home / "hub", commits


@pytest.mark.parametrize("repo", list(REPOS))
def test_hub_models_load_offline_and_encode(hf_env, repo):
    _, commits = hf_env
    m = load_model(f"hf-hub:{repo}", device="cpu")
    assert m.model_id == f"hf-hub:{repo}@{commits[repo]}"
    x = torch.randn(2, 3, m.image_size, m.image_size)
    f = m.encode_images(x)
    assert f.shape == (2, m.embed_dim) and torch.isfinite(f).all()
    t = m.encode_texts(["a red circle", "zorbit has a striped star", "a red circle"])
    assert t.shape == (3, m.embed_dim) and torch.equal(t[0], t[2]) and not torch.equal(t[0], t[1])
    assert (m.model_id, "a red circle") in m._text_cache
    # SigLIP-style: a sigmoid model (logit bias), an HF tokenizer read from the snapshot
    assert (m.logit_bias is not None) == (repo == "test/siglip-tiny")


def test_loading_never_touches_the_network_even_when_online(hf_env, monkeypatch):
    """HF_HUB_OFFLINE unset and the endpoint unreachable: loading still works from the cache alone."""
    monkeypatch.delenv("HF_HUB_OFFLINE")
    m = load_model("hf-hub:test/siglip-tiny", device="cpu")
    assert m.encode_texts(["a red circle"]).shape[0] == 1


def test_revision_forms(hf_env):
    cache, commits = hf_env
    c = commits["test/clip-tiny"]
    for rev in (c, c[:10], "main"):
        assert resolve_spec(f"hf-hub:test/clip-tiny@{rev}").model_id == f"hf-hub:test/clip-tiny@{c}"
    # a second revision under a tag: its own snapshot, its own id
    other = write_repo_files(cache, "test/clip-tiny", {
        n: (cache / "models--test--clip-tiny" / "snapshots" / c / n).read_bytes()
        for n in ("open_clip_config.json", "open_clip_model.safetensors")}, commit="ab" * 20, ref="v2")
    (cache / "models--test--clip-tiny" / "refs" / "main").write_text(c)  # main unchanged
    assert resolve_spec("hf-hub:test/clip-tiny@v2").model_id == f"hf-hub:test/clip-tiny@{other}"
    assert resolve_spec("hf-hub:test/clip-tiny").model_id.endswith(c)
    shutil.rmtree(cache / "models--test--clip-tiny" / "snapshots" / other)
    (cache / "models--test--clip-tiny" / "refs" / "v2").unlink()


def test_hf_hub_cache_wins_over_hf_home(hf_env, monkeypatch, tmp_path):
    cache, _ = hf_env
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert hub_cache_dir() == tmp_path / "elsewhere"
    with pytest.raises(ModelLoadError, match="not in the Hugging Face cache"):
        resolve_spec("hf-hub:test/clip-tiny")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert resolve_spec("hf-hub:test/clip-tiny").model_id.startswith("hf-hub:test/clip-tiny@")


def test_spec_parsing():
    assert parse_hub_spec("hf-hub:timm/ViT-B-16-SigLIP2") == ("timm/ViT-B-16-SigLIP2", None)
    assert parse_hub_spec("hf-hub:apple/MobileCLIP-S2-OpenCLIP@v1.0") == ("apple/MobileCLIP-S2-OpenCLIP", "v1.0")
    assert parse_hub_spec("hf-hub:xlm-roberta-base") == ("xlm-roberta-base", None)


@pytest.mark.parametrize(("spec", "needle"), [
    ("hf-hub:", "bad Hugging Face model spec 'hf-hub:'"),
    ("hf-hub:a/b/c", "write hf-hub:ORG/NAME"),
    ("hf-hub:org/na me", "write hf-hub:ORG/NAME"),
    ("hf-hub:org/name@", "nothing after '@'"),
])
def test_bad_hub_specs(spec, needle):
    with pytest.raises(ModelLoadError, match=needle):
        resolve_spec(spec)


def test_missing_model_names_the_pull_command(hf_env):
    with pytest.raises(ModelLoadError) as e:
        load_model("hf-hub:timm/ViT-B-16-SigLIP2", device="cpu")
    msg = str(e.value)
    assert "hf-hub:timm/ViT-B-16-SigLIP2 is not in the Hugging Face cache" in msg
    assert "`lazlabel models pull hf-hub:timm/ViT-B-16-SigLIP2`" in msg and "\n" not in msg


def test_missing_revision_lists_what_is_cached(hf_env):
    with pytest.raises(ModelLoadError, match=r"revision 'v9' of hf-hub:test/clip-tiny is not in the Hugging Face "
                                             r"cache \(cached: main\); download it with `lazlabel models pull "
                                             r"hf-hub:test/clip-tiny@v9`"):
        resolve_spec("hf-hub:test/clip-tiny@v9")


def test_missing_weights_config_and_tokenizer(hf_env):
    cache, _ = hf_env
    write_hub_model(cache, "test/no-weights", CLIP, weights=False)
    with pytest.raises(ModelLoadError, match=r"the weights of hf-hub:test/no-weights \(open_clip_model.safetensors "
                                             r"or open_clip_pytorch_model.bin\) are not in the Hugging Face cache.*"
                                             r"lazlabel models pull hf-hub:test/no-weights"):
        load_model("hf-hub:test/no-weights", device="cpu")
    write_repo_files(cache, "test/not-openclip", {"config.json": b"{}"})
    with pytest.raises(ModelLoadError, match="has no open_clip_config.json: it is not an open_clip model"):
        load_model("hf-hub:test/not-openclip", device="cpu")
    write_repo_files(cache, "test/bad-config", {"open_clip_config.json": b"{not json",
                                               "open_clip_model.safetensors": b"x"})
    with pytest.raises(ModelLoadError, match="is not a valid open_clip config"):
        load_model("hf-hub:test/bad-config", device="cpu")
    # a SigLIP-style model whose tokenizer lives in another repo that is not cached
    cfg = small_config(SIGLIP, tokenizer_repo="google/some-tokenizer")
    write_repo_files(cache, "test/tok-elsewhere", {"open_clip_config.json": json.dumps({"model_cfg": cfg}).encode(),
                                                  "open_clip_model.safetensors": b"x"})
    with pytest.raises(ModelLoadError, match=r"uses the tokenizer of google/some-tokenizer, which is not in the "
                                             r"Hugging Face cache .*lazlabel models pull hf-hub:test/tok-elsewhere"):
        load_model("hf-hub:test/tok-elsewhere", device="cpu")


def test_missing_transformers_is_one_clear_line(hf_env, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if it were not installed
    with pytest.raises(ModelLoadError, match=r"hf-hub:test/siglip-tiny needs the `transformers` package for its "
                                             r"tokenizer: pip install transformers"):
        load_model("hf-hub:test/siglip-tiny", device="cpu")


def test_list_cached_sizes(hf_env):
    rows = {m.spec: m for m in list_cached()}
    for repo in REPOS:
        m = rows[f"hf-hub:{repo}"]
        assert m.open_clip and m.refs == ("main",)
        assert m.size_bytes == sum(p.stat().st_size for p in m.path.iterdir())
    assert cached_snapshot("test/eva-tiny") is not None and cached_snapshot("nobody/nothing") is None


def test_pretrained_tag_resolves_to_the_cached_hub_file(hf_env, monkeypatch, tmp_path):
    """NAME:TAG reads the file open_clip would have fetched, from the cache; missing → the pull command."""
    cache, _ = hf_env
    with pytest.raises(ModelLoadError, match=r"weights for RN50:openai are not in the local caches .*"
                                             r"`lazlabel models pull RN50:openai`"):
        load_model("RN50:openai", device="cpu")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    write_repo_files(tmp_path, "timm/resnet50_clip.openai", {"open_clip_pytorch_model.bin": b"weights"})
    path = cached_tag_file("RN50", "openai")
    assert path is not None and path.endswith("snapshots/" + cached_snapshot("timm/resnet50_clip.openai")[1]
                                              + "/open_clip_pytorch_model.bin")


def test_missing_text_tower_repo_and_broken_tokenizer(hf_env):
    from tests.engine.hub_cache import XLMR

    cache, commits = hf_env
    cfg = small_config(XLMR)
    cfg["text_cfg"].update(hf_model_name="test/absent-text", hf_tokenizer_name="test/xlmr-doc")
    write_repo_files(cache, "test/xlmr-doc", {"open_clip_config.json": json.dumps({"model_cfg": cfg}).encode(),
                                             "open_clip_model.safetensors": b"x", "tokenizer.json": b"{}",
                                             "tokenizer_config.json": b"{}"})
    with pytest.raises(ModelLoadError, match=r"hf-hub:test/xlmr-doc uses the text tower of test/absent-text, which "
                                             r"is not in the Hugging Face cache .*pull hf-hub:test/xlmr-doc"):
        load_model("hf-hub:test/xlmr-doc", device="cpu")
    # weights that load, a tokenizer that does not
    snap = cache / "models--test--siglip-tiny" / "snapshots" / commits["test/siglip-tiny"]
    write_repo_files(cache, "test/bad-tok", {
        "open_clip_config.json": (snap / "open_clip_config.json").read_bytes().replace(b"test/siglip-tiny",
                                                                                       b"test/bad-tok"),
        "open_clip_model.safetensors": (snap / "open_clip_model.safetensors").read_bytes(),
        "tokenizer.json": b"{not a tokenizer", "tokenizer_config.json": b"{}"})
    with pytest.raises(ModelLoadError, match=r"could not load the tokenizer of hf-hub:test/bad-tok: "):
        load_model("hf-hub:test/bad-tok", device="cpu")
