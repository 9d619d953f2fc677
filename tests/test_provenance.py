"""Records of how hand-in files were made (helpers.provenance)."""

from __future__ import annotations

import json

from helpers import provenance


def test_record_ties_the_facts_to_the_file_content(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_MODE", "full")
    path = provenance.save_artefact(tmp_path / "model.pt", b"weights", made_by="notebooks/06_pytorch_fc_cnn.ipynb",
                                    dataset="mnist", epochs=12, test_accuracy=0.9951)
    entry = provenance.read(path)
    assert entry["mode"] == "full" and entry["dataset"] == "mnist" and entry["epochs"] == 12
    assert provenance.problem(path) is None
    assert provenance.describe(entry) == "full mode, mnist, 12 epochs, test accuracy 0.9951"
    assert json.loads(provenance.sidecar(path).read_text())["made_by"] == "notebooks/06_pytorch_fc_cnn.ipynb"
    path.write_bytes(b"other weights")
    assert provenance.read(path) is None
    assert "changed after it was made" in provenance.problem(path)
    provenance.sidecar(path).unlink()
    assert "no record" in provenance.problem(path)


def test_smoke_work_is_flagged_and_never_replaces_full_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBOOK_MODE", "full")
    full = provenance.save_artefact(tmp_path / "model.pt", b"full", made_by="nb", epochs=40)
    monkeypatch.setenv("WORKBOOK_MODE", "smoke")
    smoke = provenance.save_artefact(tmp_path / "model.pt", b"smoke", made_by="nb", epochs=1)
    assert smoke == tmp_path / "model.smoke.pt" and full.read_bytes() == b"full"
    assert "model.pt from a full run is kept" in capsys.readouterr().out
    assert "made in smoke mode" in provenance.problem(smoke)
    # A smoke file may replace a smoke file.
    again = provenance.save_artefact(tmp_path / "fig.png", b"1", made_by="nb")
    assert provenance.save_artefact(again, b"2", made_by="nb") == again and again.read_bytes() == b"2"


def test_copy_keeps_the_mode_of_the_training(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_MODE", "full")
    source = provenance.save_artefact(tmp_path / "models" / "mynet_mnist.pt", b"w", made_by="nb", dataset="mnist")
    monkeypatch.setenv("WORKBOOK_MODE", "smoke")  # copying in another mode changes nothing about how it was made
    target = provenance.copy_artefact(source, tmp_path / "other" / "model.pt")
    entry = provenance.read(target)
    assert entry["mode"] == "full" and entry["dataset"] == "mnist" and entry["copied_from"] == "mynet_mnist.pt"
    unrecorded = tmp_path / "plain.pt"
    unrecorded.write_bytes(b"x")
    copied = provenance.copy_artefact(unrecorded, tmp_path / "model2.pt")
    assert "made in unknown mode" in provenance.problem(copied)
