"""display_path: what the notebooks print for a file, without the machine's folders; the atomic writer and JSON files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from helpers.paths import REPO_ROOT, atomic_write_json, atomic_writer, display_path, json_bytes, output_dir


def test_paths_inside_the_repository_are_relative(monkeypatch):
    monkeypatch.delenv("WORKBOOK_OUTPUT", raising=False)
    assert display_path(REPO_ROOT / "outputs" / "models" / "x.pt") == "outputs/models/x.pt"
    assert display_path(output_dir("models") / "x.pt") == "outputs/models/x.pt"
    assert display_path(REPO_ROOT) == "."


def test_paths_under_the_output_or_data_folder_name_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBOOK_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("WORKBOOK_DATA", str(tmp_path / "data"))
    assert display_path(output_dir("models") / "x.pt") == "$WORKBOOK_OUTPUT/models/x.pt"
    assert display_path(tmp_path / "data") == "$WORKBOOK_DATA"
    assert display_path(tmp_path / "data" / "MNIST" / "raw") == "$WORKBOOK_DATA/MNIST/raw"


def test_paths_under_home_use_a_tilde(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WORKBOOK_OUTPUT", raising=False)
    monkeypatch.delenv("WORKBOOK_DATA", raising=False)
    assert display_path(tmp_path / "course" / "model.pt") == "~/course/model.pt"
    assert display_path(Path("/opt/elsewhere/model.pt")) == "/opt/elsewhere/model.pt"


def test_the_atomic_writer_renames_into_place_or_leaves_the_old_file(tmp_path):
    target = tmp_path / "sub" / "archive.zip"
    with atomic_writer(target) as f, zipfile.ZipFile(f, "w") as archive:   # a writer that wants a file object
        archive.writestr("a.txt", "first")
    with zipfile.ZipFile(target) as archive:
        assert archive.read("a.txt") == b"first"
    with pytest.raises(RuntimeError), atomic_writer(target) as f:
        f.write(b"half a zip")
        raise RuntimeError("the disk is full")
    with zipfile.ZipFile(target) as archive:
        assert archive.read("a.txt") == b"first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["archive.zip"], "no temporary file left"


def test_atomic_write_json_writes_the_bytes_a_json_file_had_before(tmp_path):
    value = {"b": [1, 2.5, None], "a": "é"}
    written = atomic_write_json(tmp_path / "x.json", value)
    assert written.read_bytes() == (json.dumps(value, indent=1) + "\n").encode() == json_bytes(value)
    assert json_bytes(value, indent=None) == (json.dumps(value) + "\n").encode()


_WRITES_AN_OUTPUT = '''
import os
from pathlib import Path


def test_writes_a_figure():
    out = Path(os.environ["WORKBOOK_OUTPUT"])
    (out / "figure.png").write_bytes(b"a figure")
    Path(os.environ["SEEN"]).write_text(str(out))
'''


@pytest.mark.parametrize("users_own", [False, True])
def test_a_test_run_leaves_no_output_folder_behind(tmp_path, users_own):
    """The root conftest sends what tests write to a temporary folder and removes it when the run ends; a folder
    the user named in WORKBOOK_OUTPUT is theirs and stays."""
    import os
    import shutil
    import subprocess
    import sys

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(REPO_ROOT / "conftest.py", project / "conftest.py")
    (project / "test_writes.py").write_text(_WRITES_AN_OUTPUT)
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "WORKBOOK_OUTPUT"}
    # No plugins (nbval and the like): the run needs only the conftest, and starts in a second, not ten.
    env.update(TMPDIR=str(temp), SEEN=str(tmp_path / "seen.txt"), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    if users_own:
        env["WORKBOOK_OUTPUT"] = str(tmp_path / "mine")
        (tmp_path / "mine").mkdir()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_writes.py"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    used = Path((tmp_path / "seen.txt").read_text())
    if users_own:
        assert used == tmp_path / "mine" and (used / "figure.png").read_bytes() == b"a figure"
    else:
        assert used.parent == temp and used.name.startswith("workbook-test-outputs-")
        assert not used.exists(), "the run left its output folder behind"
    assert list(temp.iterdir()) == []
