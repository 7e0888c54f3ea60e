"""Where a project lives: an SQLite file, or a PostgreSQL database named by URL (team mode).

A team project is `postgresql+psycopg://user@host:port/name`. Its password is never written into
anything lazlabel keeps (recent-projects list, settings, exports): libpq finds it the usual way, in
`PGPASSFILE` (default ~/.pgpass) or `PGPASSWORD`, so the URL itself carries none. A URL typed with
a password still connects, but only its password-free form is shown or stored (`display_url`).

Things that belong to one machine (the feature cache, the note of who has the project open) live
in a local folder standing in for the file's side: `<LAZLABEL_TEAM_HOME or user data dir>/team/
<host>-<port>/<name>.lazlabel` (`stand_in_path`); nothing there is shared.

Leaf module of `db` (imports no other `db` module); docs/architecture.md, "Team mode".
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: the driver lazlabel speaks to PostgreSQL with (psycopg 3)
PG_DRIVER = "postgresql+psycopg"
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class LocationError(ValueError):
    """A project URL lazlabel cannot use (one line)."""


def is_url(text: str | os.PathLike[str]) -> bool:
    """A database URL rather than a file path (`scheme://...`)."""
    return "://" in str(text)


def parse_url(text: str) -> URL:
    """The SQLAlchemy URL of a team project, on the psycopg 3 driver; LocationError if unusable."""
    try:
        url = make_url(text)
    except ArgumentError as err:
        raise LocationError(f"not a database URL: {hide_password(text)}") from err
    if url.drivername not in _SCHEMES:
        raise LocationError(
            f"unsupported database {url.drivername!r} in {hide_password(text)}: "
            "team projects are on PostgreSQL (postgresql+psycopg://user@host:port/name)"
        )
    if not url.database:
        raise LocationError(f"{display_url(url)} names no database (end it with /NAME)")
    return url.set(drivername=PG_DRIVER)


def display_url(url: URL | str) -> str:
    """The URL without its password: what is shown, logged and remembered."""
    u = make_url(url) if isinstance(url, str) else url
    return u._replace(password=None).render_as_string(hide_password=False)


def hide_password(text: str) -> str:
    """`text` with any `user:password@` reduced to `user@` (for messages about bad URLs)."""
    return re.sub(r"(://[^/:@]*):[^@/]*@", r"\1@", text)


def team_home() -> Path:
    """The local folder of this machine's team-project files (LAZLABEL_TEAM_HOME overrides)."""
    env = os.environ.get("LAZLABEL_TEAM_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("lazlabel")) / "team"


def stand_in_path(url: URL) -> Path:
    """A local path standing in for the project file: its `.cache` sibling is this machine's
    cache of the project (no file is created at the path itself)."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{url.host or 'local'}-{url.port or 5432}")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(url.database))
    return team_home() / host / f"{name}.lazlabel"
