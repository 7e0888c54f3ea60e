"""Load a `labelstudio` export into a running Label Studio server through its HTTP API.

Run once by hand (Label Studio is a server, not a test dependency): start it as the export's
README.txt says (local-file serving on, the export folder as document root), then

    python scripts/labelstudio_server_check.py OUT --url http://127.0.0.1:8080 \\
        --email you@example.com --password ...

It creates a project with the export's label_config.xml, adds the images folder as local-file
storage (not synced: tasks.json lists the images), imports tasks.json, fetches every task's image
through the server (a 404 means local-file serving is off), exports JSON-MIN and writes it to
OUT/../labelstudio-roundtrip.json for `lazlabel import-labels labelstudio`. Prints one line of counts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import requests  # type: ignore[import-untyped]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="the labelstudio export folder")
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--email", required=True)
    ap.add_argument("--password", required=True)
    a = ap.parse_args(argv)
    out = a.out.resolve()
    base = a.url.rstrip("/")
    s = requests.Session()
    s.get(f"{base}/user/login/", timeout=30)
    s.post(f"{base}/user/login/", timeout=30, headers={"Referer": f"{base}/user/login/"},
           data={"email": a.email, "password": a.password, "csrfmiddlewaretoken": s.cookies.get("csrftoken")})
    h = {"X-CSRFToken": s.cookies.get("csrftoken", ""), "Referer": base}
    p = s.post(f"{base}/api/projects", headers=h, timeout=30,
               json={"title": f"lazlabel {out.name}", "label_config": (out / "label_config.xml").read_text()})
    if p.status_code != 201:
        print(f"cannot create a project ({p.status_code}): log-in failed or the config was refused", file=sys.stderr)
        return 1
    pid = p.json()["id"]
    st = s.post(f"{base}/api/storages/localfiles", headers=h, timeout=30,
                json={"project": pid, "path": str(out / "images"), "use_blob_urls": False, "title": "lazlabel"})
    if st.status_code != 201:
        print(f"local-file storage refused ({st.status_code}): is LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT "
              f"{out}? {st.text[:200]}", file=sys.stderr)
        return 1
    tasks = json.loads((out / "tasks.json").read_text())
    imp = s.post(f"{base}/api/projects/{pid}/import", headers=h, json=tasks, timeout=300).json()
    got = s.get(f"{base}/api/projects/{pid}/tasks", headers=h, params={"page_size": 100000}, timeout=300).json()
    got = got if isinstance(got, list) else got.get("tasks", [])
    served = sum(
        1 for t in got
        if (r := s.get(base + t["data"]["image"], headers=h, timeout=60)).status_code == 200
        and r.headers.get("content-type", "").startswith("image/")
    )
    back = s.get(f"{base}/api/projects/{pid}/export", headers=h, params={"exportType": "JSON_MIN"}, timeout=300)
    (out.parent / "labelstudio-roundtrip.json").write_text(back.text)
    print(f"storage {st.status_code}; imported {imp.get('task_count')} tasks, {imp.get('annotation_count')} "
          f"annotations, {imp.get('prediction_count')} predictions; images served {served}/{len(got)}; "
          f"JSON-MIN export {len(back.json())} rows -> {out.parent / 'labelstudio-roundtrip.json'}")
    return 0 if served == len(got) == len(tasks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
