"""What needs the solutions, so stays out of the student copy: the reference designs' own choices, and the exercise
checks attacked with bugs planted in a copy of the solutions.

The student copy's checks test what every solution must do; the first test here checks what the reference chose to
do. The others plant, in a throw-away copy of this repository, the mistakes a student makes and check what
``exercises.check`` then says: which output differs, the hint of the part that is wrong, an earlier exercise named
instead of the one being checked, the fast version or torch refused in a naive one, and a right answer that prints
``-0.`` accepted.
"""

import shutil

import pytest
import torch

from helpers.course.exercises import exercise, run_check
from helpers.paths import REPO_ROOT
from helpers.pytorch_cnn import MyNet


def test_the_reference_mynet_normalises_brightness_and_contrast_itself():
    torch.manual_seed(0)
    model = MyNet().eval()
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 0.5
    with torch.no_grad():
        base = model(x)
        shifted = model(0.2 + 0.8 * x)        # affine change of the pixels: std grows by 0.8, so not exact
    assert (base.argmax(1) == shifted.argmax(1)).float().mean() >= 0.5


def planted(tmp_path, path: str, old: str, new: str):
    """A copy of this repository's code and tests with ``old`` replaced by ``new`` in ``path``."""
    root = tmp_path / "repo"
    for name in ("helpers", "tests"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "assets" / "models", root / "assets" / "models")
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy2(REPO_ROOT / name, root / name)
    text = (root / path).read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} once"
    (root / path).write_text(text.replace(old, new))
    return root


def test_a_wrong_affine_backward_names_dw_and_its_hint_and_relu_layer_names_affine(tmp_path):
    root = planted(tmp_path, "helpers/scratch/layers.py", "    dw = x_rows.T @ dout\n", "    dw = 2 * x_rows.T @ dout\n")
    results = run_check(["affine", "relu_layer"], root=root)
    affine = results["affine"].summary()
    assert "dw (affine_backward) differs by up to" in affine, affine
    assert "dx (affine_backward)" in affine and "match" in affine, affine            # the parts that are right
    assert f"hint: {dict(exercise('affine').parts)['affine_backward']}" in affine, affine
    assert dict(exercise("affine").parts)["affine_forward"] not in affine
    relu = results["relu_layer"].summary()
    assert "fix affine first" in relu and "hint (affine): " in relu, relu
    assert exercise("relu_layer").hint not in relu, relu


def test_a_naive_conv_that_calls_the_fast_one_fails_its_check(tmp_path):
    root = planted(tmp_path, "helpers/scratch/layers.py",
                   "    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n    out = np.zeros(",
                   "    return conv_forward_fast(x, w, b, conv_param)[0], (x, w, b, conv_param)\n    out = np.zeros(")
    result = run_check("conv_naive", root=root)["conv_naive"]
    assert not result.ok and "conv_forward_naive calls conv_forward_fast" in result.summary(), result.summary()


def test_a_naive_pool_that_calls_torch_fails_its_check(tmp_path):
    root = planted(tmp_path, "helpers/scratch/layers.py",
                   "    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)\n",
                   "    import torch\n    return torch.nn.functional.max_pool2d(torch.from_numpy(x), (ph, pw), stride).numpy(), "
                   "(x, pool_param)\n")
    result = run_check("max_pool_naive", root=root)["max_pool_naive"]
    assert not result.ok and "max_pool_forward_naive calls torch." in result.summary(), result.summary()


def test_a_relu_written_as_a_product_with_the_mask_passes_although_it_prints_minus_zero(tmp_path):
    root = planted(tmp_path, "helpers/numpy_nn.py", "        return np.where(self.x > 0, dL_wrt_output, 0.0)\n",
                   "        return dL_wrt_output * (self.x > 0)\n")
    result = run_check("relu", root=root)["relu"]
    assert result.ok, result.summary()


@pytest.mark.parametrize("exercise_name, path, old, new, words", [
    # The classify check runs on a network of its own, and checks MyNet before the shipped weights run through it.
    ("classify", "helpers/pytorch_cnn.py", "        return log_p\n", "        return log_p[:, :5]\n", "fix mynet first"),
    # The convnet's check runs the earlier layers' own checks first.
    ("three_layer_convnet", "helpers/scratch/layers.py", "    dx /= N\n", "", "fix softmax_loss first"),
])
def test_a_bug_in_an_earlier_exercise_is_not_reported_as_a_later_ones(tmp_path, exercise_name, path, old, new, words):
    result = run_check(exercise_name, root=planted(tmp_path, path, old, new))[exercise_name]
    assert words in result.summary(), result.summary()
