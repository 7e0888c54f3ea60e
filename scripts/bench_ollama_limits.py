"""Issue 13 items 5 and 6, measured against the tests' loopback Ollama server (no real Ollama needed).

    PYTHONPATH=. python scripts/bench_ollama_limits.py

Prints: how many bytes the client read of a reply that never ends a line (the server offers 1 GiB)
and the Python memory peak meanwhile; how long Ctrl+C (SIGINT) takes to stop
`lazlabel attributes propose` while three requests stall, until its main() returns and until the
process is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from db import Project  # noqa: E402
from plugins.attribute_sources import ReplyTooLarge  # noqa: E402
from plugins.attribute_sources.ollama_source import OllamaSource  # noqa: E402
from tests.attributes.conftest import FakeOllama, Reply, question_class  # noqa: E402

CHILD = (
    "import sys, time; from cli.main import main; rc = main(sys.argv[1:]); "
    "print('main-returned', time.monotonic(), file=sys.stderr); sys.exit(rc)"
)


def no_newline(fake: FakeOllama) -> None:
    with OllamaSource(fake.url, model="llama3.2", retries=0) as src:
        src.list_models()  # imports and connection set up before measuring
        fake.script(Reply(mode="no-newline", total_bytes=1 << 30))
        tracemalloc.start()
        try:
            src.propose("lemur")
        except ReplyTooLarge as err:
            read, cap = err.bytes_read, err.limit
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(
        f"no-newline reply, 1 GiB offered: read {read:,} bytes (cap {cap:,}); Python peak {peak / 2**20:.1f} MiB"
    )


def ctrl_c(fake: FakeOllama, project: Project, runs: int = 3) -> None:
    fake.responder = lambda b: (
        Reply('["red crest"]') if question_class(b) == "cardinal" else Reply(mode="stall")
    )
    names = ["cardinal", "blue jay", "robin", "crow"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for _ in range(runs):
        fake.stalling.clear()
        argv = ["--project", str(project.path), "attributes", "propose", "--replace", "--classes", *names]
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, *argv], env=env, stderr=subprocess.PIPE, text=True
        )
        while not (fake.stalling.is_set() and project.get_class("cardinal").n_attributes):
            time.sleep(0.02)
        time.sleep(0.3)  # let the other requests block on the silent server
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        gone = time.monotonic() - t0
        returned = next(float(x.split()[1]) for x in err.splitlines() if x.startswith("main-returned")) - t0
        saved = [c.name for c in project.list_classes() if c.n_attributes]
        print(
            f"Ctrl+C with 3 stalled requests (timeout 120 s): main returned after {returned:.2f} s, "
            f"process gone after {gone:.2f} s, exit {proc.returncode}, saved {saved}"
        )


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    (tmp / "images").mkdir()
    project = Project.create(tmp / "bench.lazlabel", tmp / "images")
    fake = FakeOllama()
    try:
        project.set_setting("ollama_host", fake.url)
        project.set_setting("ollama_model", "llama3.2")
        for name in ("cardinal", "blue jay", "robin", "crow"):
            project.add_class(name)
        no_newline(fake)
        ctrl_c(fake, project)
    finally:
        fake.close()
        project.close()


if __name__ == "__main__":
    main()
