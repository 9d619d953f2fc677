"""helpers.pytorch.robustness: the corruption panel, the report and its table."""

import pytest
import torch

from helpers.pytorch.robustness import (
    PANEL,
    SEVERITIES,
    VALIDATION_PANEL,
    PredictionTimeBatchNorm,
    corrupt,
    evaluate_robustness,
    robustness_table,
    summary,
)
from tests._images import digit_batch


@pytest.mark.parametrize("corruption", PANEL + VALIDATION_PANEL, ids=lambda c: c.name)
def test_panel_corruptions_are_deterministic_and_grow_with_severity(corruption):
    x = digit_batch(32)
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
    default = evaluate_robustness({"id": torch.nn.Flatten()}, digit_batch(2), torch.zeros(2, dtype=torch.int64))
    assert default["corruptions"] == [c.name for c in PANEL], "the report's default is PANEL alone"
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(digit_batch(2), "fisheye", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(digit_batch(2), "gaussian_noise", 4)
    with pytest.raises(ValueError, match="unknown corruptions \\['fisheye'\\]"):
        evaluate_robustness({}, digit_batch(2), torch.zeros(2, dtype=torch.int64), corruptions=["fisheye", "jpeg"])


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



def _norm_net(channels: int = 3) -> torch.nn.Module:
    """A conv net with two batch-norm layers and trained-looking statistics, in float64."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, channels, 3), torch.nn.BatchNorm2d(channels), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(channels * 4 * 4, 4), torch.nn.BatchNorm1d(4)).double()
    with torch.no_grad():
        for norm in (net[1], net[5]):
            norm.running_mean.uniform_(-1, 1)
            norm.running_var.uniform_(0.5, 2)
            norm.weight.uniform_(0.5, 2)
            norm.bias.uniform_(-1, 1)
    return net.eval()


def test_prediction_time_batch_norm_blends_the_batch_statistics_with_the_training_ones():
    net = _norm_net()
    x = 3 + 2 * torch.randn(10, 1, 6, 6, dtype=torch.float64)       # a shifted camera
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        plain = net(x)
        # prior inf: the training statistics alone, i.e. the plain model.
        torch.testing.assert_close(PredictionTimeBatchNorm(net, prior=float("inf"))(x), plain, rtol=1e-12, atol=1e-12)
        # prior = n: each layer normalises with the mean of the two statistics (the batch's variance unbiased).
        features = net[0](x)
        mean, var = features.mean(dim=(0, 2, 3)), features.var(dim=(0, 2, 3))
        norm = net[1]
        m = (mean + norm.running_mean) / 2
        v = (var + norm.running_var) / 2
        hidden = net[4](net[3](net[2]((features - m[:, None, None]) / (v[:, None, None] + norm.eps).sqrt()
                                      * norm.weight[:, None, None] + norm.bias[:, None, None])))
        m1 = (hidden.mean(0) + net[5].running_mean) / 2
        v1 = (hidden.var(0) + net[5].running_var) / 2
        expected = (hidden - m1) / (v1 + net[5].eps).sqrt() * net[5].weight + net[5].bias
        torch.testing.assert_close(PredictionTimeBatchNorm(net, prior=10)(x), expected, rtol=1e-10, atol=1e-10)
        assert not torch.allclose(expected, plain, atol=1e-3), "the shifted batch should change the answer"
    # The model handed in is untouched, and every batch is recalibrated on its own.
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and not net.training
    recalibrated = PredictionTimeBatchNorm(net, prior=0)
    other = torch.randn(7, 1, 6, 6, dtype=torch.float64)
    alone = recalibrated(other)
    recalibrated(x)
    torch.testing.assert_close(recalibrated(other), alone, rtol=1e-12, atol=1e-12)


def test_prediction_time_batch_norm_refuses_what_it_cannot_do_and_runs_in_the_report():
    with pytest.raises(ValueError, match="no batch-norm layer"):
        PredictionTimeBatchNorm(torch.nn.Flatten())
    with pytest.raises(ValueError, match="prior must be a number of images >= 0"):
        PredictionTimeBatchNorm(_norm_net(), prior=-1)
    with pytest.raises(ValueError, match="at least 2 images; got 1"):
        PredictionTimeBatchNorm(_norm_net(), prior=0)(torch.zeros(1, 1, 6, 6, dtype=torch.float64))
    # One image through a BatchNorm1d: one value per channel, so the variance stays the training one.
    one = PredictionTimeBatchNorm(_norm_net(), prior=4)
    one(torch.randn(1, 1, 6, 6, dtype=torch.float64))
    assert torch.equal(one.model[5].running_var, one.model[5].training_var)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(2 * 26 * 26, 10)).eval()
    report = evaluate_robustness({"plain": net, "recalibrated": PredictionTimeBatchNorm(net)}, digit_batch(8),
                                 torch.zeros(8, dtype=torch.int64), corruptions=["vignetting"])
    assert set(report["clean"]) == {"plain", "recalibrated"}
