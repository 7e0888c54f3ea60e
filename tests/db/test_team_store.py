"""Team projects on PostgreSQL through the CLI: `init --db URL`, `--project URL` anywhere, the
password only in the libpq password file, one-line errors (issue #20 item 1)."""

from __future__ import annotations

import json
import stat

import pytest
from PIL import Image as PILImage

from cli.main import main
from db import Project
from tests import pg_server


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, colour in enumerate(["red", "green", "blue"]):
        PILImage.new("RGB", (8, 8), colour).save(folder / f"{colour}{i}.png")
    return folder


def test_init_and_open_a_team_project_from_the_cli(pg_url, images, capsys):
    assert main(["init", "--db", pg_url, "--images", str(images), "-q"]) == 0
    assert f"created {pg_url}" in capsys.readouterr().out
    assert main(["--project", pg_url, "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["project"] == pg_url and data["total"] == 3
    assert main(["status", "-p", pg_url]) == 0  # the global option after the command
    assert main(["init", "--db", pg_url, "--images", str(images)]) == 1
    assert "already has tables" in capsys.readouterr().err
    with Project.open(pg_url) as proj:
        assert proj.is_team and proj.location == pg_url
        assert proj.cache_dir.is_dir() and "team-home" in str(proj.cache_dir)  # this machine's side


def test_bad_urls_and_unreachable_servers_are_one_line(pg_url, tmp_path, capsys):
    cases = [
        (["-p", "mysql://u@h/db", "status"], "unsupported database"),
        (["-p", "postgresql+psycopg://u:secret@127.0.0.1:1/db", "status"], "cannot connect"),
        (["-p", pg_url, "status"], "no project at"),  # the database does not exist
    ]
    for argv, want in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert want in err and "secret" not in err and len(err.strip().splitlines()) == 1, err
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    name = pg_url.rsplit("/", 1)[1]
    pg_server.create_database(admin, name)
    assert main(["-p", pg_url, "status"]) == 1
    assert "empty database" in capsys.readouterr().err
    pg_server._admin(pg_url, "CREATE TABLE other_app (x int)")
    assert main(["init", "--db", pg_url, "--images", str(tmp_path)]) == 1
    assert main(["-p", pg_url, "status"]) == 1
    assert "not a lazlabel project" in capsys.readouterr().err


def test_the_password_comes_from_the_password_file_and_is_stored_nowhere(pg_url, images, tmp_path,
                                                                           monkeypatch, capsys):
    host_port = pg_url.split("@", 1)[1].rsplit("/", 1)[0]
    host, port = host_port.split(":")
    url = f"postgresql+psycopg://{pg_server.PW_ROLE}@{host_port}/{pg_url.rsplit('/', 1)[1]}"
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    assert main(["init", "--db", url, "--images", str(images), "-q"]) == 1
    assert "PGPASSFILE" in capsys.readouterr().err
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{host}:{port}:*:{pg_server.PW_ROLE}:{pg_server.PW_SECRET}\n")
    pgpass.chmod(stat.S_IRUSR | stat.S_IWUSR)  # libpq ignores a password file others can read
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert main(["init", "--db", url, "--images", str(images), "-q"]) == 0
    capsys.readouterr()
    # a URL typed with the password connects, but only its password-free form is kept or shown
    with_pw = url.replace(f"{pg_server.PW_ROLE}@", f"{pg_server.PW_ROLE}:{pg_server.PW_SECRET}@")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    assert main(["-p", with_pw, "status", "--json"]) == 0
    out = capsys.readouterr().out
    assert pg_server.PW_SECRET not in out and json.loads(out)["project"] == url
    with Project.open(with_pw) as proj:
        assert proj.location == url
        assert pg_server.PW_SECRET not in json.dumps(proj.settings(), default=str)
        assert not any(pg_server.PW_SECRET in p.read_text(errors="ignore")
                       for p in proj.cache_dir.rglob("*") if p.is_file())


def test_a_dropped_server_connection_is_reopened(pg_url, images):
    """A server restart or idle-timeout kills the open connections: the next step reconnects
    (pool pre-ping) instead of failing with an internal error."""
    with Project.create(pg_url, images) as proj:
        proj.set_setting("reviewer", "ana")
        name = pg_url.rsplit("/", 1)[1]
        pg_server._admin(pg_url.rsplit("/", 1)[0] + "/postgres",
                         f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        assert proj.get_setting("reviewer") == "ana"
