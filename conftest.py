"""Test-suite set-up (root conftest, so it covers tests/ and notebooks/): every test and every notebook (nbval) runs in smoke mode.

The environment is set at import time, before nbval starts any kernel, so the
kernels inherit it.
"""

import os

os.environ["WORKBOOK_MODE"] = "smoke"
# Figures and checkpoints written during tests must not land in the user's outputs/.
if "WORKBOOK_OUTPUT" not in os.environ:
    import tempfile

    os.environ["WORKBOOK_OUTPUT"] = tempfile.mkdtemp(prefix="workbook-test-outputs-")
