"""`lazlabel classes ...` / `lazlabel attributes ...` through cli.main.main."""

from __future__ import annotations

import json

from cli.main import main

from .conftest import Reply


def run(project, *argv):
    return main(["--project", project.location, *argv])


def test_classes_and_attribute_files(project, tmp_path, capsys):
    assert run(project, "classes", "add", "cat", "  dog ") == 0
    assert run(project, "classes", "add", "Cat") == 1
    assert "already exists" in capsys.readouterr().err
    names = tmp_path / "names.txt"
    names.write_text("# pets\nfish\ndog\n", encoding="utf-8")
    assert run(project, "classes", "import", str(names)) == 0
    assert "1 classes added" in capsys.readouterr().out
    src = tmp_path / "d.json"
    src.write_text(json.dumps({"cat": ["whiskers", "pointed ears"], "bird": ["feathers"]}), encoding="utf-8")
    assert run(project, "attributes", "import", str(src)) == 0
    out = capsys.readouterr().out
    assert "3 attributes added" in out and "appended after the 3 existing" in out
    assert run(project, "classes", "list") == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in listing[:4]] == ["cat", "dog", "fish", "bird"]
    assert run(project, "attributes", "list", "--class", "cat") == 0
    assert "whiskers  (import)" in capsys.readouterr().out
    aid = project.list_attributes("cat")[0].id
    assert run(project, "attributes", "edit", str(aid), "long whiskers") == 0
    assert run(project, "attributes", "disable", str(aid)) == 0
    out_csv = tmp_path / "o.csv"
    assert run(project, "attributes", "export", str(out_csv)) == 0
    assert out_csv.read_text().splitlines() == [
        "class,attribute",
        "cat,pointed ears",
        "dog,",
        "fish,",
        "bird,feathers",
    ]
    assert run(project, "attributes", "history", "--class", "cat") == 0
    hist = capsys.readouterr().out
    assert "disable" in hist and "edit" in hist
    assert run(project, "classes", "merge", "dog", "--into", "cat") == 0
    assert [c.name for c in project.list_classes()] == ["cat", "fish", "bird"]


def test_bad_file_is_one_line_exit_1(project, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"cat": ["x",\n  ]}', encoding="utf-8")
    assert run(project, "attributes", "import", str(bad)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("lazlabel: ") and "bad.json:2:" in err and "\n" not in err


def test_propose_and_models_via_cli(project, fake_ollama, closed_port_url, capsys):
    project.set_setting("ollama_host", fake_ollama.url)
    run(project, "classes", "add", "cardinal", "robin")
    fake_ollama.responder = lambda body: Reply('{"attributes": ["red crest", "short bill"]}')
    assert run(project, "attributes", "propose", "--model", "llama3.2", "--concurrency", "2") == 0
    out = capsys.readouterr().out
    assert "2 classes saved from llama3.2:latest" in out
    assert [r.origin_model for r in project.list_attributes("robin")] == ["llama3.2:latest"] * 2
    assert run(project, "attributes", "models") == 0
    assert "llama3.2:latest" in capsys.readouterr().out
    assert run(project, "attributes", "propose", "--model", "phi4", "--replace") == 1
    assert "ollama pull phi4" in capsys.readouterr().err
    project.set_setting("ollama_host", closed_port_url)
    assert run(project, "attributes", "models") == 1
    assert "ollama serve" in capsys.readouterr().err
    assert run(project, "attributes", "models", "--host", fake_ollama.url) == 0  # override, not saved
    assert project.get_setting("ollama_host") == closed_port_url
