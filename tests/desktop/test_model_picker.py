"""Model picker: cached and recommended models with size; Download with progress, cancel and errors,
against a loopback hub (HF_ENDPOINT) in a worker thread."""

from __future__ import annotations

import json

import pytest

from tests.engine.hub_cache import CLIP, small_config, write_repo_files
from tests.engine.hub_server import FakeHub


@pytest.fixture
def hub(tmp_path, monkeypatch):
    cfg = json.dumps({"model_cfg": small_config(CLIP)}).encode()
    server = FakeHub({"test/remote": {"open_clip_config.json": cfg, "open_clip_model.safetensors": b"w" * 3_000_000}})
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    write_repo_files(tmp_path / "hf" / "hub", "test/local", {"open_clip_config.json": cfg,
                                                            "open_clip_model.safetensors": b"x" * 2_500_000})
    yield server
    server.close()


@pytest.fixture
def dialog(qtbot, hub):
    from desktop.dialogs.models import ModelPickerDialog

    d = ModelPickerDialog("demo")
    qtbot.addWidget(d)
    d.show()
    return d


def _cells(d) -> dict[str, list[str]]:
    t = d.table
    return {t.item(i, 0).text(): [t.item(i, j).text() for j in range(1, t.columnCount())] for i in range(t.rowCount())}


def test_lists_cached_and_recommended_with_sizes(dialog):
    rows = _cells(dialog)
    assert rows["hf-hub:test/local"][:2] == ["2.5 MB", "cached"]
    assert rows["hf-hub:timm/ViT-B-16-SigLIP2"][0].startswith("~") and "recommended" in rows["hf-hub:timm/ViT-B-16-SigLIP2"][1]
    dialog.table.selectRow(list(rows).index("hf-hub:test/local"))
    assert dialog.selected_spec() == "hf-hub:test/local"
    assert not dialog.download_button.isEnabled()  # already cached: nothing to download


def test_download_with_progress_then_listed(qtbot, dialog, hub):
    dialog.spec_edit.setText("hf-hub:test/remote")
    assert dialog.download_button.isEnabled()
    seen = []
    with qtbot.waitSignal(dialog.downloaded, timeout=60000) as blocker:
        w = dialog.start_download()
        w.progress.connect(lambda p: seen.append(p.done))
    assert blocker.args == ["hf-hub:test/remote"]
    assert seen and dialog.progress.value() == dialog.progress.maximum()
    assert _cells(dialog)["hf-hub:test/remote"][:2] == ["3.0 MB", "cached"]
    assert not dialog.download_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_cancel_stops_the_download(qtbot, dialog, hub):
    hub.delay_s = 0.05  # 16 kB per 50 ms: the 3 MB file takes ~10 s unless cancelled
    dialog.spec_edit.setText("hf-hub:test/remote")
    w = dialog.start_download()
    assert dialog.cancel_button.isEnabled() and not dialog.download_button.isEnabled()
    qtbot.waitUntil(lambda: any(m == "GET" and p.endswith("safetensors") for m, p, _ in hub.requests),
                    timeout=30000)
    with qtbot.waitSignal(w.done, timeout=30000):
        dialog.cancel_button.click()
    assert w.state == "cancelled" and "cancelled" in dialog.status.text()
    assert "hf-hub:test/remote" not in _cells(dialog)  # config only: not a loadable (cached) model
    assert dialog.download_button.isEnabled()


def test_errors_are_shown_not_raised(qtbot, dialog):
    dialog.spec_edit.setText("hf-hub:nobody/nothing")
    w = dialog.start_download()
    with qtbot.waitSignal(w.done, timeout=30000):
        pass
    assert w.state == "errored"
    assert "download failed: hf-hub:nobody/nothing was not found" in dialog.status.text()


def test_settings_dialog_opens_the_picker(qtbot, monkeypatch, hub):
    from desktop.dialogs import models as picker
    from desktop.dialogs.settings import SettingsDialog
    from workflows.settings import ProjectSettings

    dlg = SettingsDialog(ProjectSettings())
    qtbot.addWidget(dlg)
    monkeypatch.setattr(picker.ModelPickerDialog, "exec", lambda self: (self.spec_edit.setText("hf-hub:test/local"),
                                                                        picker.QDialog.DialogCode.Accepted)[1])
    dlg.findChild(picker.QPushButton, "pick_model").click()
    assert dlg.value().model == "hf-hub:test/local"
