"""collect_submission.sh: the RPZ zip (refusals, exact flat contents, importable on its own) and the PDF export.

The student's work is made by ``tests/_submissions.py``: stand-in modules that answer none of the exercises,
and real figures and weights from small training runs (the ``student`` and ``cs7643_outputs`` fixtures).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

from helpers.paths import REPO_ROOT
from tests._submissions import (
    PYTORCH_CNN,
    SCRIPT,
    collect,
    make_cs7643_outputs,
    make_student,
    record_run,
    trained_outputs,
    zip_dir_is_clean,
)

RPZ_NAMES = ["numpy_nn.py", "numpy_nn_training.png", "numpy_nn_classification.png", "pytorch_cnn.py", "model.pt"]


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    """(student's helpers dir, outputs dir, the zip collect_submission.sh rpz wrote from them)."""
    root = tmp_path_factory.mktemp("built")
    helpers_dir, outputs = make_student(root)
    out = root / "hand-in" / "rpz_submission.zip"
    result = collect("rpz", "--out", str(out), helpers_dir=helpers_dir, outputs=outputs)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    return helpers_dir, outputs, out


def test_refuses_with_nothing_trained(tmp_path, student):
    helpers_dir, _ = student
    empty_outputs = tmp_path / "fresh-outputs"
    empty_outputs.mkdir()
    out = tmp_path / "hand-in" / "rpz_submission.zip"
    result = collect("rpz", "--out", str(out), helpers_dir=helpers_dir, outputs=empty_outputs)
    assert result.returncode != 0
    message = result.stderr
    for name, notebook in [("numpy_nn_training.png", "02_numpy_nn"), ("numpy_nn_classification.png", "02_numpy_nn"),
                           ("model.pt", "06_pytorch_fc_cnn")]:
        line = next((ln for ln in message.splitlines() if ln.startswith(name)), "")
        assert notebook in line, f"no line naming {name} and {notebook} in:\n{message}"
    assert not any(ln.startswith(("numpy_nn.py", "pytorch_cnn.py")) for ln in message.splitlines()), message
    assert zip_dir_is_clean(out)


@pytest.mark.slow
def test_refuses_smoke_artefacts_and_accepts_full_ones(tmp_path, student):
    helpers_dir, outputs = student
    out = tmp_path / "hand-in" / "rpz_submission.zip"
    record_run(outputs, "smoke")
    result = collect("rpz", "--out", str(out), helpers_dir=helpers_dir, outputs=outputs)
    assert result.returncode == 1, result.stdout
    lines = result.stderr.splitlines()
    for name, notebook in [("numpy_nn_training.png", "02_numpy_nn"), ("model.pt", "06_pytorch_fc_cnn")]:
        line = next((ln for ln in lines if ln.startswith(name)), "")
        assert "made in smoke mode" in line and notebook in line and "full mode" in line, result.stderr
    assert zip_dir_is_clean(out)
    # A file changed after its record (or one without a record) is refused too.
    record_run(outputs, "full")
    png = outputs / "numpy_nn_training.png"
    png.write_bytes(png.read_bytes() + b"edited")
    (outputs / "model.pt.provenance.json").unlink()
    result = collect("rpz", "--out", str(out), helpers_dir=helpers_dir, outputs=outputs)
    assert result.returncode == 1
    assert "numpy_nn_training.png: it changed after it was made" in result.stderr
    assert "model.pt: there is no record of how it was made" in result.stderr
    assert zip_dir_is_clean(out)
    png.write_bytes(trained_outputs()[png.name][0])
    # Full-mode work is accepted, and what is packed is printed, with what was measured: model.pt's accuracy
    # on a full clean test set (here the shipped subset stands in for it: 500 MNIST test images) and the figures
    # drawn again from their network.
    record_run(outputs, "full")
    result = collect("rpz", "--out", str(out), helpers_dir=helpers_dir, outputs=outputs,
                     WORKBOOK_DATA=str(REPO_ROOT / "assets" / "data"))
    assert result.returncode == 0, result.stderr
    claimed = trained_outputs()["model.pt"][1]["test_accuracy"]
    assert re.search(r"numpy_nn_training.png +full mode, mnist digits 3 vs 8, 2 epochs, test accuracy 0\.\d{4}",
                     result.stdout), result.stdout
    assert re.search(rf"model.pt +full mode, mnist, 3 epochs, test accuracy {claimed:.4f}; accuracy {claimed:.4f} "
                     r"measured on the full clean mnist test set \(500 images\)", result.stdout), result.stdout
    assert "drawn again and identical: training curves, classified test images" in result.stdout
    assert zipfile.ZipFile(out).namelist() == RPZ_NAMES
    # Without the full set on disk it measures on the shipped images and says so.
    result = collect("rpz", "--out", str(tmp_path / "again.zip"), helpers_dir=helpers_dir, outputs=outputs,
                     WORKBOOK_DATA=str(tmp_path / "no-data"))
    assert result.returncode == 0, result.stderr
    assert "500 mnist test images shipped with the workbook (the full set is not on disk; set WORKBOOK_DATA)" \
        in result.stdout
    assert "classified test images not compared (the full MNIST set is not on disk)" in result.stdout


def test_refuses_missing_module(tmp_path, student):
    helpers_dir, outputs = student
    (helpers_dir / "pytorch_cnn.py").unlink()
    out = tmp_path / "rpz_submission.zip"
    result = collect("rpz", "--out", str(out), helpers_dir=helpers_dir, outputs=outputs)
    assert result.returncode != 0
    assert "pytorch_cnn.py: not found" in result.stderr and "06_pytorch_fc_cnn" in result.stderr
    assert zip_dir_is_clean(out)


def test_zip_holds_exactly_the_five_files_flat(built_zip):
    helpers_dir, outputs, out = built_zip
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(RPZ_NAMES)
        for info in archive.infolist():
            assert "/" not in info.filename and not info.is_dir()
            source = (helpers_dir if info.filename.endswith(".py") else outputs) / info.filename
            assert archive.read(info) == source.read_bytes(), info.filename
    assert [p.name for p in out.parent.iterdir()] == [out.name], "temporary file left behind"


def test_zip_imports_on_its_own_in_an_isolated_folder(tmp_path, built_zip):
    out = built_zip[2]
    isolated = tmp_path / "upload-system"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(isolated)
    # What an upload system does: a fresh interpreter, only the zip's files, no workbook package.
    grader = textwrap.dedent("""
        import sys
        sys.path.insert(0, ".")
        sys.modules["helpers"] = None
        import numpy as np, torch
        import numpy_nn, pytorch_cnn
        relu, lin, sig, se = numpy_nn.ReLU(), numpy_nn.Linear(3, 2), numpy_nn.Sigmoid(), numpy_nn.SE()
        x = np.array([[1.0, -2.0, 3.0]])
        assert relu.forward(x).shape == (1, 3) and lin.forward(x).shape == (1, 2)
        model = pytorch_cnn.MyNet()
        model.load_state_dict(torch.load("model.pt", weights_only=True))
        labels = pytorch_cnn.classify(model, torch.rand(5, 1, 28, 28))
        assert labels.dtype == torch.int64 and labels.shape == (5,)
        print("graded", labels.tolist())
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-I", "-c", grader], cwd=isolated, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("graded [")


@pytest.mark.parametrize(
    "broken, file, notebook, words",
    [
        # A deliverable that leans on the workbook's package does not import on the upload system.
        ("import_helpers", "pytorch_cnn.py", "06_pytorch_fc_cnn", "does not import on its own"),
        ("numpy_nn_missing_layer", "numpy_nn.py", "02_numpy_nn", "defines no SE"),
        ("model_of_other_net", "model.pt", "06_pytorch_fc_cnn", "does not load into MyNet()"),
        ("classify_float", "pytorch_cnn.py", "06_pytorch_fc_cnn", "int64"),
    ],
)
def test_refuses_what_the_upload_system_would_reject(tmp_path, student, broken, file, notebook, words):
    helpers_dir, outputs = student
    cnn = helpers_dir / "pytorch_cnn.py"
    if broken == "import_helpers":
        cnn.write_text("from helpers.paths import output_dir\n" + PYTORCH_CNN)
    elif broken == "numpy_nn_missing_layer":
        nn = helpers_dir / "numpy_nn.py"
        nn.write_text(nn.read_text().replace("class SE:", "class SquaredError:"))
    elif broken == "model_of_other_net":
        import torch

        torch.save({"fc.weight": torch.zeros(10, 784), "fc.bias": torch.zeros(10)}, outputs / "model.pt")
        record_run(outputs, "full")  # saved by a full run, but of another network
    elif broken == "classify_float":
        cnn.write_text(PYTORCH_CNN.replace("argmax(dim=1)", "argmax(dim=1).float()"))
    out = tmp_path / "rpz_submission.zip"
    result = collect("rpz", "--out", str(out), helpers_dir=helpers_dir, outputs=outputs)
    assert result.returncode != 0
    first = result.stderr.splitlines()[1]  # after "collect_submission rpz: not written."
    assert first.startswith(f"{file}: {words}") or (first.startswith(f"{file}:") and words in result.stderr), result.stderr
    assert notebook in result.stderr
    assert zip_dir_is_clean(out)


# A module that forges the check's verdict: the old three-line fake (the one-time token from __main__, a passing
# @@CHECK line), then forged records that would pass every step, written into every descriptor this process holds
# and into its runner's result channel through /proc; then it ends at once or hangs (so that nothing after it can
# overwrite what it injected).
FORGER = textwrap.dedent('''
    import __main__, io, json, os, time
    import numpy as np
    token = getattr(__main__, "_token", "")
    print(f"@@CHECK {token} " + json.dumps({"ok": True, "labels": [0] * 8}), flush=True)
    buffer = io.BytesIO()
    np.savez(buffer, labels=np.zeros(8, dtype=np.int64))
    labels = buffer.getvalue()
    def record(step, payload=b"", **meta):
        header = {"step": step, "ok": True, "meta": meta, "size": len(payload)}
        return (json.dumps(header) + "\\n").encode() + payload
    forged = b"".join([record("environment"),
                       record("import_numpy_nn", defines=["ReLU", "Linear", "Sigmoid", "SE"]),
                       record("import_pytorch_cnn", defines=["MyNet", "classify"]), record("mynet_loads"),
                       record("classify_contract", labels, dtype="torch.int64", type="Tensor"),
                       (json.dumps({"done": True, "size": 0}) + "\\n").encode()])
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            os.write(fd, forged)
        except OSError:
            pass
    try:
        with open(f"/proc/{os.getppid()}/fd/1", "wb") as channel:
            channel.write(forged)
    except OSError:
        pass
    if ENDING == "exit":
        os._exit(0)
    time.sleep(3600)
''')


# What these two attack holds where the check is isolated (bubblewrap): without it the check runs in plain
# processes, as the README says of the hand-in check; the fixture skips them, naming bubblewrap (fails under CI).
@pytest.mark.usefixtures("bubblewrap")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the forger reaches its descriptors through /proc")
@pytest.mark.parametrize("ending", ["exit", pytest.param("hang", marks=pytest.mark.slow)])
def test_a_module_that_forges_the_checks_verdict_is_refused(tmp_path, student, ending):
    from helpers.course.submission import SubmissionError, check_isolated, locate

    helpers_dir, outputs = student
    fake = FORGER.replace("ENDING", repr(ending))
    (helpers_dir / "numpy_nn.py").write_text(fake)
    (helpers_dir / "pytorch_cnn.py").write_text(fake)
    with pytest.raises(SubmissionError, match=r"numpy_nn.py: (does not import on its own|importing it took more)"):
        check_isolated(locate(helpers_dir, outputs), timeout=20)


@pytest.mark.usefixtures("bubblewrap")
def test_the_check_sees_only_the_hand_ins_files(tmp_path, student):
    """As on the upload system, a module that reads the workbook beside it fails the check."""
    from helpers.course.submission import SubmissionError, check_isolated, locate

    helpers_dir, outputs = student
    nn = helpers_dir / "numpy_nn.py"
    nn.write_text(f"open({str(REPO_ROOT / 'helpers' / 'numpy_nn.py')!r}).read()\n" + nn.read_text())
    with pytest.raises(SubmissionError, match="numpy_nn.py: does not import on its own: (FileNotFoundError|PermissionError)"):
        check_isolated(locate(helpers_dir, outputs), timeout=120)


# --------------------------------------------------------------------------- CS7643 (2_pytorch.zip)


def test_cs7643_refuses_smoke_mode_logs_and_plots_naming_what_to_run_again(tmp_path, student):
    outputs = make_cs7643_outputs(tmp_path / "smoke-outputs", run_mode="smoke")
    (outputs / "convnet.log").write_text("model: convnet\ntest accuracy: 0.9\n")    # changed after its record
    out = tmp_path / "2_pytorch.zip"
    result = collect("cs7643", "--out", str(out), helpers_dir=student[0], outputs=outputs)
    assert result.returncode == 1 and not out.exists(), result.stderr
    assert re.search(r"softmax\.log: it was made in smoke mode.*Run scripts/run_softmax\.sh again in full mode "
                     r"\(WORKBOOK_MODE unset\) or notebooks/07_pytorch_cifar10\.ipynb", result.stderr), result.stderr
    assert "convnet.log: it changed after it was made" in result.stderr
    assert "twolayernn_gridfilt.png: it was made in smoke mode" in result.stderr
    assert "extra.md" not in result.stderr                       # the student writes it: no record needed


def test_cs7643_names_every_missing_or_broken_file_and_writes_nothing(tmp_path, student, cs7643_outputs):
    (cs7643_outputs / "extra.md").unlink()
    (cs7643_outputs / "twolayernn_gridfilt.png").unlink()
    (cs7643_outputs / "convnet.log").write_text("model: convnet\nepoch   1 | train loss 2.0\n")   # interrupted
    (cs7643_outputs / "softmax_valaccuracy.png").write_text("not an image")
    out = tmp_path / "2_pytorch.zip"
    result = collect("cs7643", "--out", str(out), helpers_dir=student[0], outputs=cs7643_outputs)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "collect_submission cs7643: not written."
    assert any(line.startswith("extra.md: not found") and "your name" in line for line in lines), result.stderr
    assert any(line.startswith("twolayernn_gridfilt.png: not found") and "08_filter_visualization" in line
               for line in lines), result.stderr
    assert any(line.startswith("convnet.log") and "last line is not the test accuracy" in line for line in lines)
    assert any(line.startswith("softmax_valaccuracy.png") and "not a PNG" in line for line in lines)
    assert len(lines) == 5
    assert zip_dir_is_clean(out)


def test_cs7643_refuses_a_notebook_with_errors(tmp_path, cs7643_outputs):
    from helpers.course.submission import FILTER_NOTEBOOK, SubmissionError, collect_cs7643

    repo = tmp_path / "repo"
    for rel in ("helpers", "scripts", "notebooks"):
        shutil.copytree(REPO_ROOT / rel, repo / rel, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0", outputs=[
        nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])])])
    nbformat.write(nb, repo / FILTER_NOTEBOOK)
    out = tmp_path / "2_pytorch.zip"
    with pytest.raises(SubmissionError, match="shows errors .*ZeroDivisionError"):
        collect_cs7643(cs7643_outputs, out, repo=repo)
    assert zip_dir_is_clean(out)


def test_cs7643_zip_holds_code_scripts_results_and_pdfs(tmp_path, student, cs7643_outputs):
    from pypdf import PdfReader

    from helpers.course.submission import CS7643_CODE, CS7643_SCRIPTS, FILTER_NOTEBOOK
    from helpers.course.submission import cs7643_outputs as needed

    (cs7643_outputs / "predictions.csv").write_text("id,label\n0,3\n")
    out = tmp_path / "hand-in" / "2_pytorch.zip"
    result = collect("cs7643", "--out", str(out), helpers_dir=student[0], outputs=cs7643_outputs)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert set(names) == (set(CS7643_CODE) | set(CS7643_SCRIPTS) | {FILTER_NOTEBOOK} | set(needed())
                              | {"predictions.csv", "2_pytorch.pdf", "08_filter_visualization.pdf"})
        assert archive.read("helpers/train.py") == (REPO_ROOT / "helpers/train.py").read_bytes()
        assert archive.read("convnet.log") == (cs7643_outputs / "convnet.log").read_bytes()
        plots = PdfReader(io.BytesIO(archive.read("2_pytorch.pdf")))
        assert len(plots.pages) == sum(n.endswith(".png") for n in needed()) == 10
        notebook_pdf = PdfReader(io.BytesIO(archive.read("08_filter_visualization.pdf")))
        assert len(notebook_pdf.pages) >= 2
        assert "what did the networks learn" in notebook_pdf.pages[0].extract_text().lower()
    assert f"{len(names)} files" in result.stdout and "note:" not in result.stdout
    assert not list(out.parent.glob(".2_pytorch.zip*")), "no temporary file left"


def test_cs7643_says_when_the_zip_has_no_predictions_and_how_to_write_them(tmp_path, monkeypatch, capsys):
    # predictions.csv is optional in the zip (CS7643 uploads it to its leaderboard), but the grader's challenge
    # points need it: a student who never wrote it is told so, with the command, when the zip is written.
    import helpers.course.submission as submission

    made = tmp_path / "2_pytorch.zip"
    with zipfile.ZipFile(made, "w") as archive:
        archive.writestr("extra.md", "# MyModel\n")
    monkeypatch.setattr(submission, "collect_cs7643", lambda *args, **kwargs: made)
    assert submission.main(["cs7643"]) == 0
    said = capsys.readouterr().out
    assert "note: no predictions.csv" in said and submission.PREDICTIONS_HOW in said


# --------------------------------------------------------------------------- PDF


def _math_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(r"# Math check" "\n\n" r"Inline $f(\mathbf{x}) = \max(0, \mathbf{x})$ and"
                                      "\n\n" r"$$\frac{\partial L}{\partial \mathbf{W}} = \mathbf{x}^\top \delta$$"),
        nbformat.v4.new_code_cell("print(1 + 1)", outputs=[nbformat.v4.new_output("stream", text="2\n")]),
    ])
    nbformat.write(nb, path)
    return path


def test_pdf_export_of_the_setup_notebook(tmp_path, pdf_tools):
    """00_setup (text, code, three figure grids) and a math cell, offline, into one PDF with a bookmark each."""
    import pypdf
    math_nb = _math_notebook(tmp_path / "zz_math.ipynb")
    out = tmp_path / "workbook.pdf"
    result = collect("pdf", str(REPO_ROOT / "notebooks" / "00_setup.ipynb"), str(math_nb), "--out", str(out),
                     helpers_dir=tmp_path, outputs=tmp_path)
    assert result.returncode == 0, result.stderr
    reader = pypdf.PdfReader(out)
    starts = {item.title: reader.get_destination_page_number(item) for item in reader.outline}
    assert list(starts) == ["00_setup", "zz_math"]
    setup_pages = range(starts["00_setup"], starts["zz_math"])
    assert starts["00_setup"] == 0 and len(reader.pages) == starts["zz_math"] + 1, "the math notebook fits one page"
    assert len(setup_pages) >= 3, f"00_setup printed on {len(setup_pages)} pages"
    text = "".join(reader.pages[i].extract_text() for i in setup_pages)
    assert "Set-up check" in text and "load_dataset" in text
    # The three preview grids (MNIST, Fashion-MNIST, CIFAR-10) are in, as images.
    assert sum(len(reader.pages[i].images) for i in setup_pages) >= 3
    # MathJax typeset the equations: the TeX source is gone, the prose and the output are there.
    math_text = reader.pages[-1].extract_text()
    assert "Math check" in math_text and "Inline" in math_text and "2" in math_text
    assert "\\frac" not in math_text and "$" not in math_text and "\\mathbf" not in math_text


def test_pdf_html_loads_nothing_from_the_network(pdf_tools):
    from helpers.course.pdf_export import notebook_html

    html = notebook_html(REPO_ROOT / "notebooks" / "00_setup.ipynb")
    import re

    loaded = re.findall(r"<(?:script|link|img)\b[^>]*?(?:src|href)=[\"']([^\"']+)", html)
    assert loaded, "expected the MathJax script at least"
    assert not [url for url in loaded if url.startswith(("http:", "https:", "//"))], loaded


@pytest.mark.parametrize("variable, package", [("WORKBOOK_CHROMIUM", "chromium"), ("WORKBOOK_MATHJAX", "libjs-mathjax")])
def test_pdf_names_the_missing_tool(tmp_path, variable, package, pdf_tools):
    out = tmp_path / "workbook.pdf"
    result = collect("pdf", str(REPO_ROOT / "notebooks" / "00_setup.ipynb"), "--out", str(out),
                     helpers_dir=tmp_path, outputs=tmp_path, **{variable: str(tmp_path / "nowhere")})
    assert result.returncode != 0
    assert variable in result.stderr and package in result.stderr
    assert not out.exists()


def test_defaults_are_the_repository_helpers_and_the_output_folder(tmp_path):
    """Without WORKBOOK_DELIVERABLES the modules come from <repo>/helpers; the figures from WORKBOOK_OUTPUT."""
    empty_outputs = tmp_path / "outputs"
    empty_outputs.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "WORKBOOK_DELIVERABLES"}
    env.update(PYTHON=sys.executable, WORKBOOK_OUTPUT=str(empty_outputs))
    out = tmp_path / "rpz_submission.zip"
    result = subprocess.run(["bash", str(SCRIPT), "rpz", "--out", str(out)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode != 0 and not out.exists()
    lines = result.stderr.splitlines()
    assert f"model.pt: not found at {empty_outputs / 'model.pt'}; run notebooks/06_pytorch_fc_cnn.ipynb" \
        in "\n".join(lines), result.stderr
    for name in ("numpy_nn.py", "pytorch_cnn.py"):
        for line in (ln for ln in lines if ln.startswith(f"{name}:")):
            # Missing on a branch without the module; present (so not listed) once it is merged.
            assert f"not found at {REPO_ROOT / 'helpers' / name}" in line
