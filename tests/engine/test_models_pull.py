"""`lazlabel models pull` against a loopback hub (HF_ENDPOINT): progress, resume, 404, checksum."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from engine.hub import cached_snapshot, pull
from tests.engine.hub_cache import CLIP, SIGLIP, random_weights, small_config, tokenizer_files
from tests.engine.hub_server import FakeHub
from workflows.errors import UserError
from workflows.models import pull_model
from workflows.progress import Cancelled, CancelToken, drive


@pytest.fixture(scope="module")
def repo_files():
    clip = small_config(CLIP)
    sig = small_config(SIGLIP, tokenizer_repo="test/siglip-tiny")
    return {
        "test/clip-tiny": {"open_clip_config.json": json.dumps({"model_cfg": clip}).encode(),
                           "open_clip_model.safetensors": random_weights(clip)},
        "test/siglip-tiny": {"open_clip_config.json": json.dumps({"model_cfg": sig}).encode(),
                             "open_clip_model.safetensors": random_weights(sig), **tokenizer_files()},
        "test/bin-only": {"open_clip_config.json": json.dumps({"model_cfg": clip}).encode(),
                          "open_clip_pytorch_model.bin": b"\0" * 1000},
        "test/config-only": {"open_clip_config.json": json.dumps({"model_cfg": clip}).encode()},
        "test/bad-json": {"open_clip_config.json": b"{nope", "open_clip_model.safetensors": b"w"},
        "test/tok-missing": {"open_clip_config.json": json.dumps({"model_cfg": small_config(
            SIGLIP, tokenizer_repo="test/nowhere")}).encode(), "open_clip_model.safetensors": b"w"},
        "test/gated": {"open_clip_config.json": b"{}"},
    }


@pytest.fixture
def hub(repo_files, tmp_path, monkeypatch):
    server = FakeHub(repo_files)
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    yield server
    server.close()


def test_pull_with_progress_then_load_offline(hub, monkeypatch, capsys):
    steps = []
    res = drive(pull_model("hf-hub:test/siglip-tiny"), steps.append)
    size = len(hub.repos["test/siglip-tiny"]["open_clip_model.safetensors"])
    weights = [p for p in steps if p.message.startswith("open_clip_model.safetensors")]
    assert weights and weights[-1].done == size == weights[-1].total  # byte progress up to the whole file
    assert f"{size / 1e6:.1f}/{size / 1e6:.1f} MB" in weights[-1].message
    names = sorted(p.rsplit("/", 1)[1] for p in res["files"])
    assert names == ["open_clip_config.json", "open_clip_model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert cached_snapshot("test/siglip-tiny")[1] == hub.commits["test/siglip-tiny"]
    # now offline: the model loads from what was pulled, with its commit in the id
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from engine.models import load_model

    m = load_model("hf-hub:test/siglip-tiny", device="cpu")
    assert m.model_id == f"hf-hub:test/siglip-tiny@{hub.commits['test/siglip-tiny']}"
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "hf-hub:test/siglip-tiny" in out and "main -> " + hub.commits["test/siglip-tiny"][:12] in out


def test_pull_resumes_a_dropped_connection_with_a_range_request(hub, monkeypatch):
    """huggingface_hub keeps what it received in whole chunks (10 MB; 64 kB here, so a small file
    spans several) and asks for the rest with a Range request."""
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "DOWNLOAD_CHUNK_SIZE", 1 << 16)
    data = hub.repos["test/clip-tiny"]["open_clip_model.safetensors"]
    cut = (len(data) // 3) >> 16 << 16  # the connection drops on a chunk boundary
    hub.drop_after["open_clip_model.safetensors"] = cut
    pull("hf-hub:test/clip-tiny")
    gets = [(p, r) for m, p, r in hub.requests if m == "GET" and p.endswith("open_clip_model.safetensors")]
    assert gets == [(gets[0][0], None), (gets[0][0], f"bytes={cut}-")]
    snap, _ = cached_snapshot("test/clip-tiny")
    assert (snap / "open_clip_model.safetensors").read_bytes() == data


def test_pull_again_downloads_nothing_twice_and_cancel_keeps_finished_files(hub):
    token = CancelToken()
    hub.delay_s = 0.01

    def on_progress(p):
        if "safetensors" in p.message:
            token.cancel()

    with pytest.raises(Cancelled):
        drive(pull_model("hf-hub:test/clip-tiny", token), on_progress)
    snap = cached_snapshot("test/clip-tiny")[0]
    assert (snap / "open_clip_config.json").is_file() and not (snap / "open_clip_model.safetensors").exists()
    assert not [p for p in snap.parent.parent.glob("blobs/*") if p.name.endswith(".incomplete")]
    hub.delay_s = 0.0
    hub.requests.clear()
    pull("hf-hub:test/clip-tiny")
    assert [m for m, p, _ in hub.requests if p.endswith("open_clip_config.json")] == ["HEAD"]  # not fetched again
    assert (snap / "open_clip_model.safetensors").is_file()


def test_pull_falls_back_to_the_pytorch_bin(hub):
    _, files = pull("hf-hub:test/bin-only")
    assert [f.name for f in files] == ["open_clip_config.json", "open_clip_pytorch_model.bin"]


@pytest.mark.parametrize(("spec", "needle"), [
    ("hf-hub:nobody/nothing", r"hf-hub:nobody/nothing was not found on http://127\.0\.0\.1:\d+ \(HTTP 404"),
    ("hf-hub:test/clip-tiny@v9", r"hf-hub:test/clip-tiny has no revision 'v9' \(HTTP 404\)"),
    ("hf-hub:test/config-only", r"hf-hub:test/config-only has no open_clip weights \(open_clip_model.safetensors "
                                r"or open_clip_pytorch_model.bin\)"),
    ("local-dir:/x", r"`models pull` takes hf-hub:ORG/NAME\[@REV\] or an open_clip NAME:TAG, not 'local-dir:/x'"),
    ("ViT-B-32:nope", r"ViT-B-32 has no pretrained tag 'nope'"),
    ("hf-hub:test/bad-json", r"open_clip_config.json of hf-hub:test/bad-json is not valid JSON"),
    ("hf-hub:test/tok-missing", r"hf-hub:test/nowhere was not found on http://127\.0\.0\.1:\d+ \(HTTP 404"),
    ("hf-hub:test/gated", r"hf-hub:test/gated is gated: accept its terms on huggingface.co and log in"),
    ("hf-hub:a/b/c", r"bad Hugging Face model spec 'hf-hub:a/b/c'"),
])
def test_pull_errors_are_one_line(hub, spec, needle, capsys):
    hub.gated.add("test/gated")
    assert main(["models", "pull", spec, "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err
    import re

    assert re.search(needle, err), err


def test_checksum_mismatch_is_caught_and_the_file_removed(hub):
    hub.corrupt.add("open_clip_model.safetensors")
    with pytest.raises(UserError, match=r"checksum mismatch for open_clip_model.safetensors of hf-hub:test/clip-tiny: "
                                        r"expected [0-9a-f]{16}…, got [0-9a-f]{16}…; the corrupt file was removed"):
        drive(pull_model("hf-hub:test/clip-tiny"))
    snap = cached_snapshot("test/clip-tiny")[0]
    assert not (snap / "open_clip_model.safetensors").exists()
    assert not list(snap.parent.parent.glob("blobs/" + "?" * 64))  # no corrupt blob left behind
    hub.corrupt.clear()
    pull("hf-hub:test/clip-tiny")  # and a new pull repairs it
    assert (snap / "open_clip_model.safetensors").read_bytes() == hub.repos["test/clip-tiny"]["open_clip_model.safetensors"]


def test_unreachable_hub_and_offline(hub, monkeypatch, capsys):
    import huggingface_hub.utils._http as hh

    monkeypatch.setattr(hh.time, "sleep", lambda s: None)  # huggingface_hub's 5 back-off waits (23 s)
    hub.close()
    with pytest.raises(UserError, match=r"could not reach http://127\.0\.0\.1:\d+ to download open_clip_config.json"):
        drive(pull_model("hf-hub:test/clip-tiny"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["models", "pull", "hf-hub:test/clip-tiny"]) == 1
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err


def test_size_mismatch_is_a_clear_error(hub):
    hub.short.add("open_clip_model.safetensors")
    with pytest.raises(UserError, match=r"download of open_clip_model.safetensors of hf-hub:test/clip-tiny failed: "
                                        r"Consistency check failed: file should be of size"):
        drive(pull_model("hf-hub:test/clip-tiny"))
    assert not (cached_snapshot("test/clip-tiny")[0] / "open_clip_model.safetensors").exists()


def test_models_list_json_and_bare_models(hub, capsys):
    pull("hf-hub:test/bin-only")
    assert main(["models", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    row = next(r for r in data["models"] if r["spec"] == "hf-hub:test/bin-only")
    assert row["cached"] and row["size_bytes"] == 1000 + len(hub.repos["test/bin-only"]["open_clip_config.json"])
    assert any(r["recommended"] and not r["cached"] for r in data["models"])
    assert main(["models"]) == 2
