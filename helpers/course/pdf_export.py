"""Export notebooks to one PDF, offline: nbconvert's HTML, printed by headless Chromium, merged with pypdf.

Why this route: it needs only Debian's ``chromium`` (which the browser tests
install anyway) and ``libjs-mathjax`` (MathJax 2.7, the version nbconvert's
templates are written for), where nbconvert's LaTeX route needs TeX Live
(xelatex and its fonts) and pandoc, several hundred megabytes more.

- HTML: nbconvert's ``HTMLExporter`` (lab template), images embedded, MathJax
  loaded from the local copy with SVG output (no web fonts to fetch), saved
  widget state dropped (the widget manager would come from a CDN; widgets
  print as their text form).
- PDF: ``chromium --headless --print-to-pdf`` on the HTML file, with every
  host name resolving to nothing, so that nothing is fetched from the
  network; a virtual-time budget lets MathJax finish typesetting first.
- One file: the per-notebook PDFs are concatenated with ``pypdf``, with a
  bookmark per notebook, and written atomically.

Tools are found through ``WORKBOOK_CHROMIUM`` (a browser executable) and
``WORKBOOK_MATHJAX`` (the path of ``MathJax.js``), else the usual places. A
missing tool raises ``ToolMissing`` with the Debian package that provides it.

Notebooks are exported as they are saved (with the outputs of the student's
own run); nothing is executed.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from helpers.paths import atomic_write_bytes, read_notebook
from helpers.settings import setting

CHROMIUM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",  # macOS: brew install --cask chromium
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
MATHJAX_PLACES = (
    "/usr/share/javascript/mathjax/MathJax.js",  # Debian / Ubuntu: libjs-mathjax
    "/usr/share/mathjax/MathJax.js",
    str(Path.home() / ".local/share/mathjax/node_modules/mathjax/MathJax.js"),  # macOS: the npm route of SYSTEM_TOOLS
)
# MathJax 2 configuration: TeX input with AMS, SVG output (glyphs drawn as paths, so no font files to load).
MATHJAX_CONFIG = "TeX-AMS_SVG-full,Safe"
# The system packages the PDF export (and the browser test) need, as a user installs them. scripts/setup.sh
# prints the missing ones, the tests that need them skip with this text (and fail under CI, which installs them).
SYSTEM_TOOLS = {
    "chromium": "Debian/Ubuntu: sudo apt-get install chromium; macOS: brew install --cask chromium",
    "libjs-mathjax": "Debian/Ubuntu: sudo apt-get install libjs-mathjax; macOS: "
    "npm install --prefix ~/.local/share/mathjax mathjax@2",
}

# Print layout: A4, code and output lines wrapped rather than cut at the page edge. A page break
# may fall between a cell's parts (keeping whole cells together left pages nearly empty before
# every long cell) but never inside a figure: one taller than the page is scaled down to fit it
# (A4 less the margins and a line of room: 297 - 2 * 12 - 13 = 260 mm).
PRINT_CSS = """
<style type="text/css">
@page { size: A4; margin: 12mm; }
@media print {
  body { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .jp-Cell, .jp-OutputArea-child { break-inside: auto !important; }  /* JupyterLab's own print CSS keeps them whole */
  .jp-InputArea, .jp-RenderedImage, img { break-inside: avoid; }
  h1, h2, h3, h4 { break-after: avoid; }
  pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
  .jp-OutputArea-output img { max-width: 100%; max-height: 260mm; width: auto; height: auto; object-fit: contain; }
}
</style>
"""


class ToolMissing(RuntimeError):
    """A program or package the export needs is not installed; the message says how to install it."""


def find_chromium() -> str:
    """Path of a Chromium (or Chrome) executable: ``$WORKBOOK_CHROMIUM``, else the first on ``PATH``."""
    explicit = setting("WORKBOOK_CHROMIUM")
    if explicit:
        if shutil.which(explicit):
            return shutil.which(explicit)
        raise ToolMissing(f"WORKBOOK_CHROMIUM={explicit!r} is not an executable browser. PDF export needs Chromium: "
                          "`sudo apt-get install chromium` (Debian/Ubuntu), or point WORKBOOK_CHROMIUM at a Chrome/Chromium.")
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    raise ToolMissing(
        "PDF export needs Chromium, which prints the notebooks, and none was found "
        f"(looked for {', '.join(CHROMIUM_NAMES)} on PATH). Install it: "
        "`sudo apt-get install chromium` (Debian/Ubuntu), or set WORKBOOK_CHROMIUM to a Chrome/Chromium executable."
    )


def find_mathjax() -> Path:
    """Path of a local ``MathJax.js`` (version 2): ``$WORKBOOK_MATHJAX``, else the Debian location."""
    explicit = setting("WORKBOOK_MATHJAX")
    places = (explicit,) if explicit else MATHJAX_PLACES
    for place in places:
        if place and Path(place).is_file():
            return Path(place)
    where = f"WORKBOOK_MATHJAX={explicit!r}" if explicit else ", ".join(MATHJAX_PLACES)
    raise ToolMissing(
        f"PDF export needs a local MathJax 2 (MathJax.js) to typeset the equations offline; not found at {where}. "
        "Install it: `sudo apt-get install libjs-mathjax` (Debian/Ubuntu), or set WORKBOOK_MATHJAX to a MathJax.js."
    )


def _pypdf():
    try:  # deferred, and optional: pypdf takes ~0.2 s to import, and ToolMissing says when it is missing
        import pypdf
    except ImportError as err:
        raise ToolMissing("PDF export needs the Python package pypdf to merge the pages: `pip install pypdf`.") from err
    return pypdf


def notebook_html(path: str | os.PathLike, mathjax: Path | None = None) -> str:
    """The notebook at ``path`` as one self-contained HTML page that loads nothing from the network."""
    from nbconvert import HTMLExporter  # deferred: nbconvert takes seconds to import, and only an export needs it

    path = Path(path)
    mathjax = mathjax or find_mathjax()
    nb = read_notebook(path)
    # Saved widget state would pull the widget manager from a CDN; without it widgets print as text.
    nb.metadata.pop("widgets", None)
    exporter = HTMLExporter(
        template_name="lab",
        embed_images=True,
        mathjax_url=f"{mathjax.resolve().as_uri()}?config={MATHJAX_CONFIG}",
        # require.js is for widgets only; an empty script instead of the CDN copy.
        require_js_url="data:text/javascript,",
    )
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem, "path": str(path.parent)}})
    return html.replace("</head>", PRINT_CSS + "</head>", 1)


def html_to_pdf(html_path: Path, pdf_path: Path, chromium: str | None = None, timeout: float = 120) -> None:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium, offline."""
    chromium = chromium or find_chromium()
    with tempfile.TemporaryDirectory(prefix="workbook-chromium-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",  # root in containers and CI
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-extensions",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # offline, whatever the page asks for
            f"--user-data-dir={profile}",  # a private profile: parallel runs do not share a lock
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=30000",  # let MathJax typeset before printing (virtual ms, not wall time)
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            html_path.resolve().as_uri(),
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"Chromium did not print {html_path.name} within {timeout:.0f} s") from err
    if result.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        raise RuntimeError(f"Chromium failed to print {html_path.name} (exit {result.returncode}):\n{result.stderr[-2000:]}")


def export_pdf(notebooks: list[str | os.PathLike], out: str | os.PathLike, verbose: bool = True) -> Path:
    """Export ``notebooks`` (in order) into the single PDF ``out``; returns its path.

    Raises, before any work, ``NotebookError`` (``helpers.paths.read_notebook``) naming a notebook that is
    missing, empty or not a valid notebook, and ``ToolMissing`` when Chromium, MathJax or pypdf is missing.
    """
    paths = [Path(n) for n in notebooks]
    if not paths:
        raise ValueError("no notebooks to export")
    for path in paths:
        read_notebook(path)
    pypdf = _pypdf()
    chromium, mathjax = find_chromium(), find_mathjax()
    writer = pypdf.PdfWriter()
    with tempfile.TemporaryDirectory(prefix="workbook-pdf-") as tmp:
        for path in paths:
            start = time.perf_counter()
            html = Path(tmp) / f"{path.stem}.html"
            pdf = Path(tmp) / f"{path.stem}.pdf"
            html.write_text(notebook_html(path, mathjax), encoding="utf-8")
            html_to_pdf(html, pdf, chromium)
            pages = len(writer.pages)
            writer.append(str(pdf))
            writer.add_outline_item(title=path.stem, page_number=pages)   # keywords: pypdf 8 takes no others
            if verbose:
                print(f"{path.name}: {len(writer.pages) - pages} pages in {time.perf_counter() - start:.1f} s", flush=True)
        buffer = _to_bytes(writer)
    return atomic_write_bytes(out, buffer)


def _to_bytes(writer) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def missing_tools() -> list[str]:
    """The system packages the PDF export needs and this machine lacks, each with how to install it."""
    missing = []
    for package, find in (("chromium", find_chromium), ("libjs-mathjax", find_mathjax)):
        try:
            find()
        except ToolMissing:
            missing.append(f"{package} ({SYSTEM_TOOLS[package]})")
    return missing


def missing_tools_line() -> str:
    """One line naming what :func:`missing_tools` found missing, or ``""`` when nothing is."""
    missing = missing_tools()
    if not missing:
        return ""
    return "the PDF export (./collect_submission.sh pdf) and the browser test need " + "; ".join(missing)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--missing-tools"]:
        sys.exit("usage: python -m helpers.course.pdf_export --missing-tools   (the PDF itself: ./collect_submission.sh pdf)")
    if line := missing_tools_line():
        print(line)
