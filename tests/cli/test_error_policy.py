"""One error policy (workflows.errors.is_user_error): a user's problem is one line and exit 1; a bug
(a bare ValueError / LookupError included) is "internal error" with --debug advice."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import report_error
from workflows.errors import TYPED_USER_ERRORS, UserError, is_user_error

REPO = Path(__file__).resolve().parents[2]


def test_user_errors_and_bugs_are_told_apart():
    from db import ProjectError
    from db.store_attributes import AttributeEditError
    from db.store_review import ReviewError
    from plugins.importers.base import ImportFormatError

    assert is_user_error(UserError("x"))
    assert is_user_error(ProjectError("x"))
    assert is_user_error(AttributeEditError("x"))  # a ProjectError and a ValueError
    assert is_user_error(ReviewError("x"))
    assert is_user_error(ImportFormatError("x"))
    for bug in (ValueError("x"), LookupError("x"), KeyError("x"), IndexError("x"), TypeError("x"),
                RuntimeError("x"), AttributeError("x")):
        assert not is_user_error(bug), bug


def test_every_typed_user_error_exists_where_the_table_says():
    import importlib

    for module, name in TYPED_USER_ERRORS:
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, Exception)
        assert is_user_error(cls("x"))


@pytest.mark.parametrize("debug", [False, True])
def test_a_bug_is_reported_as_an_internal_error(debug):
    try:
        raise ValueError("bad shape in a use case")
    except ValueError as err:
        out = io.StringIO()
        assert report_error(err, debug=debug, stream=out) == 1
    text = out.getvalue()
    if debug:
        assert "Traceback" in text and "bad shape" in text
    else:
        assert "internal error" in text and "--debug" in text and "ValueError" in text
        assert text.count("\n") == 1


def test_a_user_error_is_one_line():
    out = io.StringIO()
    assert report_error(UserError("the image folder moved"), debug=False, stream=out) == 1
    assert out.getvalue() == "lazlabel: the image folder moved\n"


def test_a_real_process_prints_one_line_for_a_user_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "cli", "status", "--project", str(tmp_path / "nope")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1
    assert run.stderr.startswith("lazlabel: no project at") and run.stderr.count("\n") == 1
    assert "internal error" not in run.stderr
