"""A real, throw-away PostgreSQL server for the tests and CI (never a mock).

`.ci/run` / `scripts/dev.sh test` start one through `scripts/services.sh` (which runs
`python -m tests.pg_server start DIR`) and export its URL as `LAZLABEL_TEST_PG_URL`; without that
variable the session fixture in tests/conftest_pg.py starts one itself, so `pytest tests/db` works
from a developer shell too.

The binaries come from the `pgserver` wheel (dev extras: a pip-installable server carrying
initdb/pg_ctl/postgres, so CI needs only the package registry), else from a system PostgreSQL
(`pg_config --bindir`, /usr/lib/postgresql/N/bin). PostgreSQL refuses to run as root, so as root
the server runs as `nobody` in its own temporary folder. It listens on a free loopback port only,
with fsync off (a test server: speed over durability).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: a role whose password is checked (scram), for the tests of the password-file convention
PW_ROLE = "lazlabel_pw"
PW_SECRET = "s3cret-for-tests"


def find_bin_dir() -> Path | None:
    """Where initdb/pg_ctl live: LAZLABEL_PG_BIN, the pgserver wheel, then a system install."""
    cands: list[Path] = []
    if os.environ.get("LAZLABEL_PG_BIN"):
        cands.append(Path(os.environ["LAZLABEL_PG_BIN"]))
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        cands.append(Path(spec.origin).parent / "pginstall" / "bin")
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            cands.append(Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip()))
    cands += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for c in cands:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> dict[str, int]:
    """subprocess kwargs that drop root to `nobody` (PostgreSQL will not run as root)."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam("nobody")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}  # type: ignore[dict-item]


@dataclass
class PgServer:
    """A running server: its folder, port and admin URL (`postgresql+psycopg://`)."""

    bin_dir: Path
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop"],
            capture_output=True, check=False, **_as_user(),  # type: ignore[call-overload]
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def start(folder: str | os.PathLike[str] | None = None) -> PgServer:
    """initdb + start in a new temp folder under the system temp dir (reachable by `nobody` when
    root), noting its folder in `folder` when given; raises RuntimeError with the log."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL binaries: pip install pgserver (dev extras) or apt install postgresql")
    root = Path(tempfile.mkdtemp(prefix="lazlabel-pg-"))
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "server").write_text(str(root))
    data = root / "data"
    user = _as_user()
    if user:
        os.chown(root, user["user"], user["group"])
        root.chmod(0o700)
    run = {"capture_output": True, "text": True, **user}
    r = subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
         "--locale=C", "--no-sync"], **run,  # type: ignore[call-overload]
    )
    if r.returncode:
        raise RuntimeError(f"initdb failed: {r.stderr.strip()[-500:]}")
    # loopback only; the password role is checked (scram), everyone else is trusted (a test server)
    (data / "pg_hba.conf").write_text(
        f"local all all trust\nhost all {PW_ROLE} 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n"
    )
    port = _free_port()
    opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200")
    r = subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "server.log"), "-w", "-t", "60", "start"],
        **run,  # type: ignore[call-overload]
    )
    if r.returncode:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {(r.stderr + log).strip()[-800:]}")
    server = PgServer(bin_dir, root, port)
    _wait_ready(server)
    _admin(server.url, f"CREATE ROLE {PW_ROLE} LOGIN CREATEDB PASSWORD '{PW_SECRET}'")
    return server


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _wait_ready(server: PgServer) -> None:
    import psycopg

    for _ in range(100):
        try:
            psycopg.connect(_libpq(server.url), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise RuntimeError("PostgreSQL started but does not accept connections")


def create_database(admin_url: str, name: str, *, template: str | None = None) -> str:
    """A new empty database on the server of `admin_url`; returns its URL."""
    tpl = f" TEMPLATE {template}" if template else ""
    _admin(admin_url, f'CREATE DATABASE "{name}"{tpl}')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, name: str) -> None:
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.pg_server")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="start a server in DIR; prints its URL")
    s.add_argument("dir")
    t = sub.add_parser("stop", help="stop the server in DIR and delete DIR")
    t.add_argument("dir")
    args = p.parse_args(argv)
    if args.cmd == "start":
        server = start(args.dir)
        (Path(args.dir) / "port").write_text(str(server.port))
        (Path(args.dir) / "bin").write_text(str(server.bin_dir))
        print(server.url)
        return 0
    folder = Path(args.dir)
    if (folder / "port").exists():
        server_dir = Path((folder / "server").read_text())
        PgServer(Path((folder / "bin").read_text()), server_dir, int((folder / "port").read_text())).stop()
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
