"""Issue 13, items 6, 13 and 14: stopping `attributes propose` while the server stalls, argument
validation before anything happens, and text hygiene on every path that adds names or texts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli.main import main
from workflows.attributes import import_attributes, propose_attributes
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, drive

from .conftest import Reply, question_class

ROOT = Path(__file__).resolve().parents[2]


def run(project, *argv):
    return main(["--project", project.location, *argv])


@pytest.fixture
def birds(project, fake_ollama):
    project.set_setting("ollama_host", fake_ollama.url)
    project.set_setting("ollama_model", "llama3.2")
    for name in ("cardinal", "blue jay", "robin", "crow"):
        project.add_class(name)
    return project


def first_answers_rest_stall(body):
    if question_class(body) == "cardinal":
        return Reply('{"attributes": ["red crest", "short conical bill"]}')
    return Reply(mode="stall")


# -- item 6: stop while the server stalls ------------------------------------------------------


def test_closing_propose_while_the_server_stalls_keeps_what_was_saved(birds, fake_ollama):
    """Ctrl+C reaches the use case as the generator being closed: it must not wait out the
    stalled requests (120 s each here), and what was saved stays."""
    fake_ollama.responder = first_answers_rest_stall
    gen = propose_attributes(birds, concurrency=4, timeout=120, retries=0)
    for p in gen:
        if p.done == 1:
            break
    assert fake_ollama.stalling.wait(30)
    closer = threading.Thread(target=gen.close)
    closer.start()
    closer.join(30)
    assert not closer.is_alive()  # stopped while the server still stalls
    assert not fake_ollama.closing.is_set()
    assert [r.text for r in birds.list_attributes("cardinal")] == ["red crest", "short conical bill"]
    assert [c.name for c in birds.list_classes() if c.n_attributes] == ["cardinal"]


def test_cancel_while_the_model_check_stalls(birds, fake_ollama):
    """The desktop's Cancel (a token, polled by the request itself) also ends the model check."""
    fake_ollama.tags_raw = Reply(mode="stall")
    token = CancelToken()
    outcome: list[BaseException] = []

    def run_it() -> None:
        try:
            drive(propose_attributes(birds, cancel=token, timeout=120))
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            outcome.append(err)

    t = threading.Thread(target=run_it)
    t.start()
    assert fake_ollama.stalling.wait(30)
    token.cancel()
    t.join(30)
    assert not t.is_alive() and len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert fake_ollama.chats() == []


def _wait_for(condition, seconds: float = 60.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_stops_the_cli_while_the_server_stalls(birds, fake_ollama):
    """The real Ctrl+C: SIGINT to `lazlabel attributes propose` with requests stalled."""
    fake_ollama.responder = first_answers_rest_stall
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "--project",
            birds.location,
            "attributes",
            "propose",
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        saved = _wait_for(
            lambda: birds.get_class("cardinal").n_attributes == 2 and fake_ollama.stalling.is_set()
        )
        assert saved, proc.stderr.read() if proc.poll() is not None else "no class saved"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=45)  # each stalled request would take 120 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "classes already answered are saved" in err and "Traceback" not in err
    assert [c.name for c in birds.list_classes() if c.n_attributes] == ["cardinal"]
    assert not fake_ollama.closing.is_set()


# -- item 13: arguments checked before anything happens -----------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--timeout", "0"], "--timeout must be a positive number of seconds, not 0.0"),
        (["--timeout", "-1"], "--timeout must be a positive number"),
        (["--timeout", "nan"], "not nan"),
        (["--n", "-3"], "--n must be between 1 and"),
        (["--n", "0"], "--n must be between 1 and"),
        (["--concurrency", "0"], "--concurrency must be 1 or more"),
        (["--retries", "-1"], "--retries must be 0 or more"),
    ],
)
def test_bad_propose_arguments_fail_first_in_one_line(birds, fake_ollama, capsys, args, says):
    assert run(birds, "attributes", "propose", *args) == 1
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err and "Ollama" not in err
    assert fake_ollama.requests == []  # not even the model check was sent


def test_non_json_200_is_reported_as_what_the_server_said(birds, fake_ollama, capsys):
    fake_ollama.tags_raw = Reply(mode="raw", body=b"<html><title>Router login</title></html>")
    assert run(birds, "attributes", "propose") == 1
    err = capsys.readouterr().err.strip()
    assert "HTTP 200" in err and "Router login" in err and "502" not in err and "\n" not in err


def test_classes_add_checks_every_name_before_adding_any(project, capsys):
    assert run(project, "classes", "add", "A", " ", "B") == 1
    err = capsys.readouterr().err.strip()
    assert "class name 2 of 3" in err and "nothing was added" in err and "\n" not in err
    assert project.list_classes() == []
    assert run(project, "classes", "add", "A", "B", "a") == 1
    assert "given twice" in capsys.readouterr().err and project.list_classes() == []
    assert run(project, "attributes", "add", "A", "x") == 1  # no class A: nothing half-done
    assert run(project, "classes", "add", "A", "B") == 0
    assert run(project, "attributes", "add", "A", "red", "\u200b", "blue") == 1
    assert project.list_attributes("A") == []
    capsys.readouterr()
    assert run(project, "attributes", "add", "A", "red\x01 dot", "blue") == 0
    assert [a.text for a in project.list_attributes("A")] == ["red dot", "blue"]
    assert "'red\\x01 dot' stored as 'red dot' (1 control" in capsys.readouterr().err


# -- item 14: text hygiene ----------------------------------------------------------------------


def test_one_control_character_costs_only_itself(birds, fake_ollama):
    fake_ollama.script(
        json.dumps({"attributes": ["red\u0000 crest", "short\u001b[31m conical bill", "black mask"]})
    )
    result = drive(propose_attributes(birds, class_ids=["cardinal"], retries=0))
    assert result.ok and not result.failures
    texts = [r.text for r in birds.list_attributes("cardinal")]
    assert texts == ["red crest", "short[31m conical bill", "black mask"]
    assert any("2 control or invisible characters removed" in w for w in result.saved[0].warnings)


def test_invalid_utf8_from_the_llm_is_a_warning_in_the_cli(birds, fake_ollama, capsys):
    content = json.dumps({"attributes": ["ringed tXXil", "grey fur"]})
    line = json.dumps(
        {"model": "llama3.2", "message": {"role": "assistant", "content": content}, "done": True}
    )
    body = line.encode().replace(b"XX", b"\xc3\x28") + b"\n"
    fake_ollama.script(Reply(mode="raw", body=body, content_type="application/x-ndjson"))
    assert run(birds, "attributes", "propose", "--classes", "robin") == 0
    assert "warning: robin: 1 items with invalid UTF-8" in capsys.readouterr().err
    assert [r.text for r in birds.list_attributes("robin")] == ["grey fur"]


def test_names_are_normalised_and_look_alikes_warned(project, capsys):
    from workflows.attributes import add_classes

    assert run(project, "classes", "add", "zorbit", "ｂｌｏｒｐ") == 0  # full-width letters: NFKC
    assert [c.name for c in project.list_classes()] == ["zorbit", "blorp"]
    assert "'ｂｌｏｒｐ' stored as 'blorp'" in capsys.readouterr().err
    assert run(project, "classes", "add", "zor\u200bbit") == 1  # zero-width space: the same name
    err = capsys.readouterr().err
    assert "'zorbit' already exists" in err and "once normalised" in err
    assert run(project, "classes", "add", "z\u043erbit") == 0  # Cyrillic o: allowed, with a warning
    err = capsys.readouterr().err
    assert "looks like the class 'zorbit'" in err and "mixes Cyrillic and Latin" in err
    assert run(project, "classes", "rename", "blorp", "z\u03bfrbit\u200d") == 0  # Greek omicron
    out, err = capsys.readouterr()
    assert "to 'z\u03bfrbit'" in out and "looks like the class 'zorbit'" in err
    res = add_classes(project, ["\u0392\u039f\u03a7"], "ana")  # Greek capitals spelling "BOX"
    assert res.warnings == []  # one script, nothing like it yet
    with pytest.raises(UserError, match="empty"):
        add_classes(project, ["\u200b\u200d"], "ana")


def test_every_path_applies_the_same_rule(project, tmp_path):
    """CLI and workflows above, the store itself here (the GUI calls it directly)."""
    cid = project.add_class("ze\u200bnti\u202e")
    assert project.get_class(cid).name == "zenti"
    aid = project.add_attribute(cid, "red\x07 dot\u00ad", "manual")
    assert project.list_attributes(cid)[0].text == "red dot"
    project.edit_attribute(aid, "ﬁne dots")  # ligature fi
    assert project.list_attributes(cid)[0].text == "fine dots"
    project.rename_class(cid, "Zenti\ufeff")
    assert project.get_class("zenti").name == "Zenti"
    f = tmp_path / "d.json"
    f.write_text(
        json.dumps({"zorbit": ["green\u200b spots"], "zor\u200bbit": ["long tail"], "blorp": ["\u200b"]}),
        encoding="utf-8",
    )
    res = import_attributes(project, f)
    assert [c.name for c in project.list_classes()] == ["Zenti", "zorbit", "blorp"]
    assert [r.text for r in project.list_attributes("zorbit")] == ["green spots", "long tail"]
    assert any("the class 'zorbit' of line 1 once normalised" in w for w in res.warnings)
    assert any("'\\u200b' is empty once cleaned" in w or "is empty once cleaned" in w for w in res.warnings)


def test_cli_propose_survives_a_reply_without_newline(birds, fake_ollama, capsys):
    """The product path end to end: the default cap ends the request; the class is reported failed."""
    fake_ollama.script(Reply(mode="no-newline", total_bytes=64 * 1024 * 1024))
    assert run(birds, "attributes", "propose", "--classes", "crow", "--retries", "0") == 1
    err = capsys.readouterr().err
    assert "crow: the reply of Ollama" in err and "passed 4,194,304 bytes without ending" in err
    assert not fake_ollama.finished.is_set() and birds.list_attributes("crow") == []
