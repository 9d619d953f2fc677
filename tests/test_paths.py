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
