"""helpers.pytorch.robustness: the corruption panel, the report and its table."""

import pytest
import torch

from helpers.pytorch.robustness import (
    PANEL,
    SEVERITIES,
    VALIDATION_PANEL,
    corrupt,
    evaluate_robustness,
    robustness_table,
    summary,
)
from tests.test_augment import _batch


@pytest.mark.parametrize("corruption", PANEL + VALIDATION_PANEL, ids=lambda c: c.name)
def test_panel_corruptions_are_deterministic_and_grow_with_severity(corruption):
    x = _batch(32)
    outs = [corrupt(x, corruption.name, s) for s in SEVERITIES]
    for out in outs:
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(outs[0], corrupt(x, corruption.name, 1))
    dist = [float((o - x).abs().mean()) for o in outs]
    assert dist[0] > 0, f"{corruption.name} changes nothing"
    # Stronger severities move images further (gamma goes both ways; compare with severity 1 only loosely).
    assert dist[2] >= dist[0] * 0.9, dist


def test_panel_has_unseen_corruptions_and_bad_names_fail():
    assert any(not c.seen for c in PANEL) and any(c.seen for c in PANEL)
    # The kinds kept for choosing a recipe are in neither the report nor the augmentation.
    assert not {c.name for c in VALIDATION_PANEL} & {c.name for c in PANEL}
    assert not any(c.seen for c in VALIDATION_PANEL)
    default = evaluate_robustness({"id": torch.nn.Flatten()}, _batch(2), torch.zeros(2, dtype=torch.int64))
    assert default["corruptions"] == [c.name for c in PANEL], "the report's default is PANEL alone"
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(_batch(2), "fisheye", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(_batch(2), "gaussian_noise", 4)
    with pytest.raises(ValueError, match="unknown corruptions \\['fisheye'\\]"):
        evaluate_robustness({}, _batch(2), torch.zeros(2, dtype=torch.int64), corruptions=["fisheye", "jpeg"])


def test_robustness_report_counts_correctly():
    # A "model" that reads the label off the mean brightness: accuracy is checkable by hand.
    x = torch.zeros(20, 1, 28, 28)
    y = torch.arange(20) % 2
    x[y == 1] = 1.0

    class Brightness(torch.nn.Module):
        def forward(self, inp):
            m = inp.mean(dim=(1, 2, 3))
            return torch.stack([0.5 - m, m - 0.5], dim=1)

    results = evaluate_robustness({"bright": Brightness()}, x, y, corruptions=["low_contrast", "black_level"])
    assert results["clean"]["bright"] == 1.0
    # Contrast around the image's own mean leaves flat images unchanged; a lifted black turns 0 into >= 0.5.
    assert results["acc"]["bright"]["low_contrast"] == [1.0, 1.0, 1.0]
    assert results["acc"]["bright"]["black_level"] == [1.0, 1.0, 0.5]
    assert summary(results)["bright"]["seen"] == pytest.approx((3 + 2.5) / 6)
    table = robustness_table(results)
    assert "low_contrast" in table and "100.0" in table

