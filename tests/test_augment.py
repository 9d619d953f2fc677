"""helpers.pytorch.augment and helpers.pytorch.robustness: shapes, the [0, 1] range, reproducibility, strength."""

import pytest
import torch

from helpers.pytorch import augment as A
from tests._images import digit_batch


def _gen(seed):
    return torch.Generator().manual_seed(seed)


FUNCTIONS = [
    lambda x, g: A.gaussian_noise(x, 0.3, g),
    lambda x, g: A.shot_noise(x, 5.0, g),
    lambda x, g: A.salt_pepper(x, torch.linspace(0, 0.3, len(x)), generator=g),
    lambda x, g: A.speckle_noise(x, 0.5, g),
    lambda x, g: A.adjust_contrast(x, 0.3),
    lambda x, g: A.raise_black_level(x, 0.5),
    lambda x, g: A.exposure(x, 2.5),
    lambda x, g: A.adjust_gamma(x, torch.linspace(0.4, 3, len(x))),
    lambda x, g: A.illumination_gradient(x, 0.7, 1.0, 0.3),
    lambda x, g: A.gaussian_blur(x, torch.linspace(0.3, 2.0, len(x))),
    lambda x, g: A.jpeg(x, 20),
    lambda x, g: A.quantize(x, 4),
    lambda x, g: A.random_affine(x, g),
    lambda x, g: A.elastic(x, g),
    lambda x, g: A.random_erasing(x, g),
    lambda x, g: A.anisotropic_blur(x, torch.linspace(0.3, 2.0, len(x)), 0.4, torch.linspace(0, 3, len(x))),
    lambda x, g: A.correlated_noise(x, 0.2, torch.arange(len(x)) % 4 + 1, g),
    lambda x, g: A.resample(x, torch.arange(len(x)) % 20 + 8),
]


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("channels", [1, 3])
def test_functions_keep_shape_range_and_are_reproducible(fn, channels):
    x = digit_batch(c=channels)
    out = fn(x, _gen(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, fn(x, _gen(1)))
    assert torch.equal(x, digit_batch(c=channels)), "the input must not be modified"


def test_camera_augment_shape_range_reproducibility_and_variety():
    x = digit_batch(64)
    aug = A.CameraAugment()
    a, b = aug(x, generator=_gen(3)), aug(x, generator=_gen(3))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b), "same generator seed, same batch"
    assert not torch.equal(a, aug(x, generator=_gen(4)))
    # The object's own generator: same seed, same sequence of batches.
    s1, s2 = A.CameraAugment(seed=7), A.CameraAugment(seed=7)
    assert torch.equal(s1(x), s2(x)) and torch.equal(s1(x), s2(x))
    # Per-image corruption: images differ in how far they moved from the original.
    change = (a - x).abs().mean(dim=(1, 2, 3))
    assert change.std() > 0.01
    assert torch.equal(x, digit_batch(64))


def test_camera_augment_probability_and_strength():
    x = digit_batch(128)
    none = A.CameraAugment(p=0.0, geometric=False)(x, generator=_gen(0))
    torch.testing.assert_close(none, x)
    mild = (A.CameraAugment(strength=0.3, geometric=False)(x, generator=_gen(0)) - x).abs().mean()
    strong = (A.CameraAugment(strength=1.2, geometric=False)(x, generator=_gen(0)) - x).abs().mean()
    assert strong > mild > 0


def test_camera_augment_restores_thread_count():
    before = torch.get_num_threads()
    A.CameraAugment()(digit_batch(4), generator=_gen(0))
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad, error", [(torch.zeros(28, 28), ValueError), (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), TypeError),
                                         ("image", TypeError)])
def test_bad_input_is_rejected(bad, error):
    with pytest.raises(error):
        A.CameraAugment()(bad)




def test_elongated_blur_spreads_a_point_along_its_direction_and_a_round_one_is_gaussian_blur():
    x = digit_batch(8)
    torch.testing.assert_close(A.anisotropic_blur(x, 1.2, 1.2, 0.7), A.gaussian_blur(x, 1.2))
    dot = torch.zeros(2, 1, 28, 28)
    dot[:, :, 14, 14] = 1.0
    out = A.anisotropic_blur(dot, 2.0, 0.3, torch.tensor([0.0, torch.pi / 2]))   # along x, then along y
    row, column = out[:, 0, 14, :].sum(dim=1), out[:, 0, :, 14].sum(dim=1)
    assert row[0] > 3 * column[0] and column[1] > 3 * row[1]


def test_correlated_noise_is_correlated_between_neighbours_and_cell_one_is_white():
    flat = torch.full((64, 1, 28, 28), 0.5)
    lag_one = lambda noise: float((noise[..., :, 1:] * noise[..., :, :-1]).mean() / noise.pow(2).mean())
    white = A.correlated_noise(flat, 0.1, 1, torch.Generator().manual_seed(0)) - 0.5
    coarse = A.correlated_noise(flat, 0.1, 4, torch.Generator().manual_seed(0)) - 0.5
    assert abs(lag_one(white)) < 0.05 and lag_one(coarse) > 0.6
    assert 0.07 < float(coarse.std()) < 0.13, "the cell size keeps the noise's strength"


def test_resample_keeps_the_full_size_and_removes_detail_finer_than_its_pixels():
    x = digit_batch(4)
    torch.testing.assert_close(A.resample(x, 28), x)
    checkerboard = ((torch.arange(28).view(-1, 1) + torch.arange(28)) % 2).float().expand(2, 1, 28, 28).contiguous()
    assert float(A.resample(checkerboard, 7).std()) < 0.05 < float(checkerboard.std())


def test_camera_augment_general_stages_change_the_images_and_check_their_probability():
    x = digit_batch(64)
    plain = A.CameraAugment(p=1.0, geometric=False)
    general = A.CameraAugment(p=1.0, geometric=False, elongated_blur=True, correlated_noise=True, resample_p=0.5)
    assert not torch.equal(plain(x, generator=_gen(0)), general(x, generator=_gen(0)))
    assert "resample_p=0.5" in repr(general)
    with pytest.raises(ValueError, match="resample_p"):
        A.CameraAugment(resample_p=1.5)
