"""Issue 13, item 6: the attribute editor's Cancel stops a proposal while the server stalls,
keeping the classes already saved (real Qt worker, real `ollama` client, loopback server)."""

from __future__ import annotations

import pytest

from tests.attributes.conftest import FakeOllama, Reply, question_class


@pytest.fixture
def stalling_ollama():
    server = FakeOllama()

    def reply(body):
        if question_class(body) == "cardinal":
            return Reply('{"attributes": ["red crest", "short conical bill"]}')
        return Reply(mode="stall")

    server.responder = reply
    yield server
    server.close()


def test_cancel_stops_a_stalled_proposal_and_keeps_what_was_saved(ctx, project, qtbot, stalling_ollama):
    from desktop.attributes.controller import AttributesController

    project.set_setting("ollama_host", stalling_ollama.url)
    project.set_setting("ollama_model", "llama3.2")
    ids = [project.add_class(name) for name in ("cardinal", "blue jay", "robin")]
    ctx.set_project(project)
    controller = AttributesController(ctx)
    controller.auto_preview = False
    worker = controller.propose(ids)  # default timeout: 120 s per request
    qtbot.waitUntil(
        lambda: project.get_class("cardinal").n_attributes == 2 and stalling_ollama.stalling.is_set(),
        timeout=20000,
    )
    with qtbot.waitSignal(worker.done, timeout=30000):
        worker.cancel()
    assert worker.state == "cancelled"
    assert not stalling_ollama.closing.is_set()  # the server was still stalling
    assert [c.name for c in project.list_classes() if c.n_attributes] == ["cardinal"]
