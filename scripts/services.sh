# Real services for the test suite (sourced by scripts/dev.sh test, hence by .ci/run): a throw-away
# PostgreSQL on a loopback port, stopped (and its folder deleted) when the calling shell exits.
# Tests find it through LAZLABEL_TEST_PG_URL; without it they start their own (tests/pg_server.py).
# The server binaries come from the `pgserver` wheel of the dev extras; when neither it nor a
# system PostgreSQL is there, it is installed (pip first, apt as the fallback).
# Set LAZLABEL_TEST_PG_URL yourself to test against a server of your own (nothing is started).

lazlabel_services_stop() {
  if [ -n "${_LAZLABEL_PG_STATE:-}" ]; then
    "$venv/bin/python" -m tests.pg_server stop "$_LAZLABEL_PG_STATE" || true
    _LAZLABEL_PG_STATE=""
  fi
}

lazlabel_services_start() {
  if [ -n "${LAZLABEL_TEST_PG_URL:-}" ]; then return 0; fi
  if ! "$venv/bin/python" -c "import tests.pg_server as p, sys; sys.exit(p.find_bin_dir() is None)" 2>/dev/null; then
    echo "[lazlabel] installing a PostgreSQL server (pgserver wheel)" >&2
    "$venv/bin/python" -m pip install -q pgserver psycopg[binary] \
      || { command -v apt-get >/dev/null && apt-get install -y -q postgresql >/dev/null; } || true
  fi
  _LAZLABEL_PG_STATE="$(mktemp -d)"
  trap lazlabel_services_stop EXIT
  LAZLABEL_TEST_PG_URL="$("$venv/bin/python" -m tests.pg_server start "$_LAZLABEL_PG_STATE")"
  export LAZLABEL_TEST_PG_URL
  echo "[lazlabel] PostgreSQL for the tests: $LAZLABEL_TEST_PG_URL" >&2
}
