"""The PDF's page layout: a figure is never cut between pages, and a long cell does not leave a page nearly empty."""

from __future__ import annotations

import base64
import io

import matplotlib
import nbformat
import pypdf

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from helpers.course.pdf_export import export_pdf  # noqa: E402


def _png(width_in: float, height_in: float) -> str:
    """A PNG figure (base64) of the given size in inches at 100 dpi, like a tall panel of image rows."""
    fig, axes = plt.subplots(12, 1, figsize=(width_in, height_in))
    for i, ax in enumerate(axes):
        ax.imshow([[i, 0], [0, i]])
        ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def test_tall_figures_are_scaled_to_a_page_and_long_outputs_flow(tmp_path):
    v4 = nbformat.v4
    figure = v4.new_output("display_data", data={"image/png": _png(7.8, 14.2), "text/plain": "<Figure>"})
    lines = "".join(f"output line {i:03d}\n" for i in range(90))  # longer than what is left of page 1
    nb = v4.new_notebook(cells=[
        v4.new_markdown_cell("# Layout check\n\nA short introduction."),
        v4.new_code_cell("print(lines)", outputs=[v4.new_output("stream", name="stdout", text=lines)]),
        v4.new_markdown_cell("Two panels taller than a page follow."),
        v4.new_code_cell("show()", outputs=[figure]),
        v4.new_code_cell("show()", outputs=[figure]),
    ])
    path = tmp_path / "layout.ipynb"
    nbformat.write(nb, path)
    reader = pypdf.PdfReader(export_pdf([path], tmp_path / "layout.pdf", verbose=False))
    per_page = [len(page.images) for page in reader.pages]
    assert sum(per_page) == 2, f"each panel printed on exactly one page (images per page: {per_page})"
    first = reader.pages[0].extract_text()
    assert "Layout check" in first and "output line 000" in first, "the long output starts on page 1, not after a gap"
