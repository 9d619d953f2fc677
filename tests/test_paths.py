"""display_path: what the notebooks print for a file, without the machine's folders."""

from __future__ import annotations

from pathlib import Path

from helpers.paths import REPO_ROOT, display_path, output_dir


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
