from db import Project, ProjectError


def test_settings_roundtrip_and_reopen(tmp_path, store_location):
    path = store_location
    with Project.create(path, tmp_path) as proj:
        proj.set_setting("reviewer", "ana")
        proj.set_setting("engine", {"mode": "faithful", "n_crops": 90})
    with Project.open(path) as proj:
        assert proj.get_setting("reviewer") == "ana"
        assert proj.get_setting("engine")["n_crops"] == 90
        assert proj.image_root == tmp_path.resolve()


def test_open_missing_project_is_a_clear_error(tmp_path):
    try:
        Project.open(tmp_path / "nope.lazlabel")
    except ProjectError as err:
        assert "nope.lazlabel" in str(err)
    else:
        raise AssertionError("expected ProjectError")
