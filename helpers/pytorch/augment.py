"""Batched data augmentation: a model of a bad camera and of real-world photometric shifts.

The customer's test images (the RPZ lab's MNIST year: a cheap, very noisy camera; its Fashion-MNIST year:
clothes photographed in the real world, with brightness and colour shifts)
are never available, so robustness has to come from training on images that
look like them. ``CameraAugment`` turns a clean batch into such images,
each image with its own random corruption:

1. geometry: small affine changes and elastic warps (``v2.RandomAffine``,
   ``v2.ElasticTransform``), the odd occlusion (``v2.RandomErasing``);
2. the scene: lower contrast, a raised background / black level, an
   illumination gradient across the image;
3. the optics: Gaussian blur (``v2.functional.gaussian_blur``), optionally
   with an elongated point-spread function of any direction
   (``anisotropic_blur``), and optionally a coarser sensor (``resample``);
4. the sensor: exposure gain (over-exposure clips), then noise of one of
   several kinds and strengths: Gaussian (read noise), Poisson (shot noise),
   salt-and-pepper (dead / hot pixels), speckle (multiplicative), and
   optionally spatially correlated noise (``correlated_noise``);
5. the camera's processing: a gamma curve, JPEG compression
   (``v2.functional.jpeg``) or coarse quantisation.

Every function takes and returns float tensors ``(N, C, H, W)`` with values
in [0, 1] (any device), keeps the shape, and clamps to [0, 1]. Per-sample
parameters are tensors ``(N,)`` or plain floats. Randomness comes from a
``torch.Generator`` passed in, so a seed reproduces a batch exactly;
torchvision's random transforms (which draw from torch's global generator)
run inside ``torch.random.fork_rng`` seeded from that generator. The noise
is drawn here rather than with ``v2.GaussianNoise`` because each image needs
its own strength and the draws must come from the generator.

Nothing here inverts images (dark digits on a light background would be a
different task; the customer's images are not inverted).
"""

from __future__ import annotations

import math
import warnings

import torch
import torchvision.transforms.v2 as v2
import torchvision.transforms.v2.functional as TF

from helpers.runtime import torch_threads

__all__ = [
    "CameraAugment", "gaussian_noise", "shot_noise", "salt_pepper", "speckle_noise", "adjust_contrast",
    "raise_black_level", "exposure", "adjust_gamma", "illumination_gradient", "gaussian_blur", "jpeg",
    "quantize", "random_affine", "elastic", "random_erasing", "check_batch", "anisotropic_blur", "correlated_noise",
    "resample",
]


# ----------------------------------------------------------------------------- helpers

def check_batch(x: torch.Tensor, name: str = "x") -> None:
    """Raise a clear error unless ``x`` is a floating tensor ``(N, C, H, W)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (N, C, H, W) with values in [0, 1]; got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor with values in [0, 1]; got {x.dtype} (use x.float() / 255).")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W); got {tuple(x.shape)}.")


def _param(value, x: torch.Tensor) -> torch.Tensor:
    """A per-sample parameter (float or ``(N,)``) as a ``(N, 1, 1, 1)`` tensor on ``x``'s device."""
    t = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    if t.ndim == 0:
        t = t.expand(len(x))
    if t.shape != (len(x),):
        raise ValueError(f"a per-sample parameter must be a float or have shape ({len(x)},); got {tuple(t.shape)}.")
    return t.view(-1, 1, 1, 1)


def _rand(shape, generator, device, dtype=torch.float32) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the CPU from ``generator`` (reproducible on any device)."""
    return torch.rand(shape, generator=generator, dtype=dtype).to(device)


def _randn(shape, generator, device, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=dtype).to(device)


def _uniform(n: int, lo: float, hi: float, generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator)


def _log_uniform(n: int, lo: float, hi: float, generator) -> torch.Tensor:
    return torch.exp(_uniform(n, math.log(lo), math.log(hi), generator))


def _seed_from(generator) -> int:
    return int(torch.randint(0, 2**62, (1,), generator=generator))


def _grouped(x: torch.Tensor, values: torch.Tensor, fn) -> torch.Tensor:
    """Apply ``fn(x_sub, value)`` to the images sharing each distinct value (values ``(N,)`` on the CPU)."""
    out = x.clone()
    for v in torch.unique(values):
        idx = (values == v).nonzero().flatten().to(x.device)
        out[idx] = fn(x[idx], float(v))
    return out


def _per_chunk(x: torch.Tensor, transform, generator, chunk: int = 8) -> torch.Tensor:
    """Apply a random torchvision transform to chunks of ``chunk`` images, each chunk with fresh parameters.

    torchvision's v2 transforms draw one set of parameters per call (per
    batch); chunks give diversity within a batch at a small cost. The draws
    come from torch's global generator, seeded here from ``generator`` and
    restored afterwards.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed_from(generator))
        return torch.cat([transform(part) for part in x.split(chunk)]) if len(x) else x.clone()


# ----------------------------------------------------------------------------- sensor noise

def gaussian_noise(x, sigma, generator=None):
    """Additive Gaussian (read) noise of standard deviation ``sigma`` (float or ``(N,)``)."""
    check_batch(x)
    return (x + _param(sigma, x) * _randn(x.shape, generator, x.device, x.dtype)).clamp_(0, 1)


def shot_noise(x, photons, generator=None):
    """Poisson (shot) noise: each pixel counts ``Poisson(x * photons)`` photons; fewer photons, more noise."""
    check_batch(x)
    lam = (x * _param(photons, x)).cpu()
    counts = torch.poisson(lam, generator=generator).to(x.device)
    return (counts / _param(photons, x)).clamp_(0, 1)


def salt_pepper(x, amount, salt_ratio: float = 0.5, generator=None):
    """Impulse noise: a fraction ``amount`` of pixels stuck at 0 (dead) or 1 (hot), ``salt_ratio`` of them hot."""
    check_batch(x)
    u = _rand(x.shape, generator, x.device, x.dtype)
    a = _param(amount, x)
    s = _param(salt_ratio, x)
    out = x.clone()
    out[u < a * (1 - s)] = 0.0
    out[(u >= a * (1 - s)) & (u < a)] = 1.0
    return out


def speckle_noise(x, sigma, generator=None):
    """Multiplicative noise ``x * (1 + sigma * n)``, ``n`` standard normal."""
    check_batch(x)
    return (x * (1 + _param(sigma, x) * _randn(x.shape, generator, x.device, x.dtype))).clamp_(0, 1)


# ----------------------------------------------------------------------------- photometric

def adjust_contrast(x, factor):
    """Scale each image's deviations from its own mean by ``factor`` (< 1: lower contrast)."""
    check_batch(x)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (mean + _param(factor, x) * (x - mean)).clamp_(0, 1)


def raise_black_level(x, level):
    """Lift black to ``level`` (a grey background / fog): ``level + (1 - level) * x``."""
    check_batch(x)
    lv = _param(level, x)
    return (lv + (1 - lv) * x).clamp_(0, 1)


def exposure(x, gain):
    """Exposure: multiply by ``gain`` (> 1 over-exposes and clips the bright parts, < 1 darkens)."""
    check_batch(x)
    return (x * _param(gain, x)).clamp_(0, 1)


def adjust_gamma(x, gamma):
    """Tone curve ``x ** gamma`` (< 1 brightens dark tones, > 1 darkens them)."""
    check_batch(x)
    return x.clamp(0, 1).pow(_param(gamma, x))


def illumination_gradient(x, strength, angle=0.0, offset=0.0):
    """Uneven light: multiply by a linear ramp falling from 1 to ``1 - strength`` along direction ``angle`` (radians),
    then add ``offset * (1 - ramp)`` (a background that brightens where the light falls off: ``offset`` > 0)."""
    check_batch(x)
    n, _, h, w = x.shape
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype),
                            torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype), indexing="ij")
    a = _param(angle, x)
    proj = (torch.cos(a) * xx + torch.sin(a) * yy) / math.sqrt(2)       # in [-1, 1]
    ramp = (proj + 1) / 2                                                 # 0 .. 1
    shade = 1 - _param(strength, x) * ramp
    return (x * shade + _param(offset, x) * (1 - shade)).clamp_(0, 1)


# ----------------------------------------------------------------------------- optics and processing

def gaussian_blur(x, sigma):
    """Gaussian blur with per-sample ``sigma`` (pixels), via ``torchvision.transforms.v2.functional.gaussian_blur``.

    Values of ``sigma`` are rounded to 0.05 so that images sharing one are blurred in one call.
    """
    check_batch(x)
    sig = torch.as_tensor(sigma, dtype=torch.float32).cpu().expand(len(x)).mul(20).round().div(20)

    def blur(part, s):
        if s <= 0:
            return part
        k = 2 * math.ceil(3 * s) + 1
        return TF.gaussian_blur(part, kernel_size=[k, k], sigma=[s, s])

    return _grouped(x, sig, blur).clamp_(0, 1)


def anisotropic_blur(x, sigma_major, sigma_minor, angle):
    """Blur with an elongated Gaussian point-spread function, per sample: ``sigma_major`` along the direction
    ``angle`` (radians), ``sigma_minor`` across it (pixels; floats or ``(N,)``).

    Real lenses are rarely round (astigmatism, a tilted sensor, a hand that moves):
    this is the optics stage's general case; ``sigma_major == sigma_minor`` is
    ``gaussian_blur``. One grouped convolution blurs every image with its own kernel.
    """
    check_batch(x)
    n, c, h, w = x.shape
    if n == 0:
        return x.clone()
    major, minor, a = (_param(v, x).view(-1, 1, 1).cpu().float() for v in (sigma_major, sigma_minor, angle))
    major, minor = major.clamp(min=0.05), minor.clamp(min=0.05)
    r = max(1, math.ceil(3 * float(major.max())))
    yy, xx = torch.meshgrid(torch.arange(-r, r + 1.0), torch.arange(-r, r + 1.0), indexing="ij")
    along = torch.cos(a) * xx + torch.sin(a) * yy                       # (N, k, k)
    across = -torch.sin(a) * xx + torch.cos(a) * yy
    kernel = torch.exp(-0.5 * ((along / major) ** 2 + (across / minor) ** 2))
    kernel = (kernel / kernel.sum(dim=(1, 2), keepdim=True)).to(x.device, x.dtype)
    weight = kernel.repeat_interleave(c, dim=0).unsqueeze(1)           # (N * C, 1, k, k)
    padded = torch.nn.functional.pad(x.reshape(1, n * c, h, w), [r] * 4, mode="reflect")   # as gaussian_blur
    return torch.nn.functional.conv2d(padded, weight, groups=n * c).view(n, c, h, w).clamp_(0, 1)


def correlated_noise(x, sigma, cell, generator=None):
    """Additive Gaussian noise that is spatially correlated: drawn on a grid of ``cell``-pixel cells
    (per sample, an integer >= 1) and smoothly interpolated up to the image (``cell == 1`` is white noise).

    Sensor noise is not white once the camera has demosaiced, denoised and
    resized its picture: neighbouring pixels share their error.
    """
    check_batch(x)
    n, c, h, w = x.shape
    cells = torch.as_tensor(cell).cpu().round().long().clamp(min=1).expand(n)

    def unit_noise(part, k):
        """Standard-normal noise for the images ``part``, correlated over ``k``-pixel cells."""
        k = int(k)
        field = torch.randn(len(part), c, math.ceil(h / k), math.ceil(w / k), generator=generator)
        if k > 1:   # interpolation averages the noise down: back to unit standard deviation
            field = torch.nn.functional.interpolate(field, size=(h, w), mode="bilinear", align_corners=False)
            field = field / field.std(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)
        return field.to(part.device, part.dtype)

    return (x + _param(sigma, x) * _grouped(x, cells, unit_noise)).clamp_(0, 1)


def resample(x, size):
    """A coarser sensor: shrink each image to ``size x size`` pixels (antialiased; per sample) and enlarge it
    back smoothly (bilinear). ``size`` >= the image size leaves the image as it is."""
    check_batch(x)
    h, w = x.shape[-2:]
    sizes = torch.as_tensor(size).cpu().round().long().expand(len(x))

    def shrink(part, s):
        s = int(s)
        if s >= min(h, w):
            return part
        small = torch.nn.functional.interpolate(part, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
        return torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)

    return _grouped(x, sizes, shrink).clamp_(0, 1)


def jpeg(x, quality):
    """JPEG compression artefacts at ``quality`` (1-100, per sample), via ``torchvision.transforms.v2.functional.jpeg``."""
    check_batch(x)
    q = torch.as_tensor(quality).cpu().round().long().clamp(1, 100).expand(len(x))

    def compress(part, qv):
        as_bytes = (part.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
        with warnings.catch_warnings():
            # torchvision 0.29 announces a move of its JPEG codec to torchcodec; the function still works.
            warnings.simplefilter("ignore", DeprecationWarning)
            out = TF.jpeg(as_bytes, quality=int(qv))
        return out.to(x.device, x.dtype) / 255

    return _grouped(x, q, compress)


def quantize(x, levels):
    """Coarse analogue-to-digital conversion: round to ``levels`` grey levels (per sample, >= 2)."""
    check_batch(x)
    lv = _param(levels, x).clamp(min=2) - 1
    return (torch.round(x * lv) / lv).clamp_(0, 1)


# ----------------------------------------------------------------------------- geometry (random, torchvision)

def random_affine(x, generator=None, degrees=12.0, translate=(0.1, 0.1), scale=(0.85, 1.1), shear=10.0, chunk=8):
    """``v2.RandomAffine`` with fresh parameters every ``chunk`` images."""
    check_batch(x)
    t = v2.RandomAffine(degrees=degrees, translate=translate, scale=scale, shear=shear)
    return _per_chunk(x, t, generator, chunk)


def elastic(x, generator=None, alpha=25.0, sigma=4.0, chunk=8):
    """``v2.ElasticTransform`` (handwriting-like warps) with fresh displacement fields every ``chunk`` images."""
    check_batch(x)
    t = v2.ElasticTransform(alpha=alpha, sigma=sigma)
    return _per_chunk(x, t, generator, chunk)


def random_erasing(x, generator=None, scale=(0.02, 0.08), value=0.0, chunk=1):
    """``v2.RandomErasing`` (always applied) of a small rectangle: an occlusion, a smudge on the lens."""
    check_batch(x)
    t = v2.RandomErasing(p=1.0, scale=scale, value=value)
    return _per_chunk(x, t, generator, chunk)


# ----------------------------------------------------------------------------- the random camera

class CameraAugment:
    """A random bad camera and random real-world lighting, applied to each image of a batch on its own.

    ``aug(x, generator=g)``: ``x`` float ``(N, C, H, W)`` in [0, 1] -> the
    same shape, in [0, 1]. A fraction ``p`` of the images is corrupted, the
    rest stays clean (so the network still sees clean images). ``strength``
    scales every corruption (0: only geometry, 1: the default, up to ~1.5).
    Each stage below is applied to an image with its own probability, with
    parameters drawn per image:

    ==============  ====  ==========================================================
    stage           p     parameters (strength 1)
    ==============  ====  ==========================================================
    affine          0.5   rotation ±12°, shift ±10 %, scale 0.85-1.1, shear ±10°
    elastic         0.15  alpha 25, sigma 4
    erasing         0.1   2-8 % of the image set to 0
    contrast        0.5   factor 0.25-1 (log-uniform)
    black level     0.4   0-0.5
    gradient        0.35  strength 0-0.7, any direction, background lift 0-0.4
    blur            0.35  sigma 0.3-1.6 px
    exposure        0.3   gain 0.5-2 (log-uniform)
    noise           0.75  one of: Gaussian sigma 0.02-0.45, Poisson 3-80 photons,
                          salt-and-pepper 1-20 %, speckle sigma 0.1-0.8
    dead pixels     0.1   0.5-3 % stuck at 0
    gamma           0.35  0.5-2 (log-uniform)
    compression     0.25  JPEG quality 15-75, or 4-16 grey levels
    ==============  ====  ==========================================================

    ``degrees``, ``translate``, ``scale``, ``shear``: the affine stage's ranges;
    ``elastic_p``: the elastic stage's probability; ``hflip``: also mirror half
    the images left-right (clothes, not digits); ``geometric=False`` turns
    the whole geometry stage off.

    Three more general stages, off by default:
    ``elongated_blur``: the blur stage's point-spread function is an
    elongated Gaussian of any direction (the minor axis 0.15-1 times the
    major); ``resample_p``: the probability of a coarser sensor (shrunk to
    10-24 pixels and enlarged back smoothly; the floor falls with ``strength``);
    ``correlated_noise``: a fifth noise kind, Gaussian noise of sigma
    0.02-0.32 drawn on 2-4 pixel cells and interpolated.

    Randomness: ``generator`` if given; else the object's own generator
    (seeded with ``seed``, or from torch's global generator when ``seed`` is None).
    """

    def __init__(self, p: float = 0.8, strength: float = 1.0, geometric: bool = True, seed: int | None = None,
                 degrees: float = 12.0, translate: float = 0.1, scale=(0.85, 1.1), shear: float = 10.0,
                 elastic_p: float = 0.15, hflip: bool = False, elongated_blur: bool = False,
                 correlated_noise: bool = False, resample_p: float = 0.0):
        if not 0 <= p <= 1:
            raise ValueError(f"p must be a probability in [0, 1]; got {p}.")
        if strength < 0:
            raise ValueError(f"strength must be >= 0; got {strength}.")
        self.p, self.strength, self.geometric = p, strength, geometric
        self.affine = {"degrees": degrees, "translate": (translate, translate), "scale": tuple(scale), "shear": shear}
        self.elastic_p, self.hflip = elastic_p, hflip
        if not 0 <= resample_p <= 1:
            raise ValueError(f"resample_p must be a probability in [0, 1]; got {resample_p}.")
        self.elongated_blur, self.correlated_noise, self.resample_p = elongated_blur, correlated_noise, resample_p
        self._generator = torch.Generator().manual_seed(seed if seed is not None else _seed_from(None))

    def __repr__(self) -> str:
        return (f"CameraAugment(p={self.p}, strength={self.strength}, geometric={self.geometric}, "
                f"affine={self.affine}, elastic_p={self.elastic_p}, hflip={self.hflip}, "
                f"elongated_blur={self.elongated_blur}, correlated_noise={self.correlated_noise}, "
                f"resample_p={self.resample_p})")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_batch(x)
        if x.device.type == "cpu":
            with torch_threads(1):  # many small element-wise ops: one thread is faster
                return self._augment(x, generator)
        return self._augment(x, generator)

    def _augment(self, x: torch.Tensor, generator) -> torch.Tensor:
        g = generator if generator is not None else self._generator
        n, s = len(x), self.strength
        x = x.clamp(0, 1)
        if n == 0:
            return x.clone()

        def pick(prob):
            """Indices (on the CPU) of the images that get a stage with probability ``prob``."""
            return (torch.rand(n, generator=g) < prob).nonzero().flatten()

        def apply(idx, fn):
            if len(idx):
                dev_idx = idx.to(x.device)
                x[dev_idx] = fn(x[dev_idx], len(idx))

        # Geometry applies to every image (clean ones too): it is not a corruption.
        if self.geometric:
            if self.hflip:
                apply(pick(0.5), lambda xs, k: xs.flip(-1))
            apply(pick(0.5), lambda xs, k: random_affine(xs, g, **self.affine))
            if self.elastic_p > 0:
                apply(pick(self.elastic_p), lambda xs, k: elastic(xs, g))
        hit = torch.rand(n, generator=g) < self.p

        def pick_hit(prob):
            return ((torch.rand(n, generator=g) < prob) & hit).nonzero().flatten()

        if s == 0:
            return x.clamp_(0, 1)
        apply(pick_hit(0.1), lambda xs, k: random_erasing(xs, g, value=float(torch.rand(1, generator=g))))
        # The scene.
        apply(pick_hit(0.5), lambda xs, k: adjust_contrast(xs, _log_uniform(k, 0.25 ** s, 1.0, g)))
        apply(pick_hit(0.4), lambda xs, k: raise_black_level(xs, _uniform(k, 0.0, min(0.9, 0.5 * s), g)))
        apply(pick_hit(0.35), lambda xs, k: illumination_gradient(
            xs, _uniform(k, 0, min(0.95, 0.7 * s), g), _uniform(k, 0, 2 * math.pi, g), _uniform(k, 0, 0.4 * s, g)))
        # The optics.
        if self.elongated_blur:
            apply(pick_hit(0.35), lambda xs, k: anisotropic_blur(
                xs, _uniform(k, 0.3, 0.3 + 1.3 * s, g), _uniform(k, 0.3, 0.3 + 1.3 * s, g) * _uniform(k, 0.15, 1, g),
                _uniform(k, 0, math.pi, g)))
        else:
            apply(pick_hit(0.35), lambda xs, k: gaussian_blur(xs, _uniform(k, 0.3, 0.3 + 1.3 * s, g)))
        if self.resample_p > 0:
            apply(pick_hit(self.resample_p), lambda xs, k: resample(
                xs, torch.randint(max(6, round(22 - 12 * s)), 25, (k,), generator=g)))
        # The sensor.
        apply(pick_hit(0.3), lambda xs, k: exposure(xs, _log_uniform(k, 0.5 ** s, 2.0 ** s, g)))
        noisy = pick_hit(0.75)
        if len(noisy):
            kinds = [
                lambda xs, k: gaussian_noise(xs, _uniform(k, 0.02, 0.02 + 0.43 * s, g), g),
                lambda xs, k: shot_noise(xs, _log_uniform(k, max(1.0, 3.0 / s), 80.0, g), g),
                lambda xs, k: salt_pepper(xs, _uniform(k, 0.01, 0.01 + 0.19 * s, g), generator=g),
                lambda xs, k: speckle_noise(xs, _uniform(k, 0.1, 0.1 + 0.7 * s, g), g),
            ]
            if self.correlated_noise:
                kinds.append(lambda xs, k: correlated_noise(
                    xs, _uniform(k, 0.02, 0.02 + 0.3 * s, g), torch.randint(2, 5, (k,), generator=g), g))
            kind = torch.randint(0, len(kinds), (len(noisy),), generator=g)
            for k_id, fn in enumerate(kinds):
                apply(noisy[kind == k_id], fn)
        apply(pick_hit(0.1), lambda xs, k: salt_pepper(xs, _uniform(k, 0.005, 0.03 * s, g), salt_ratio=0.0,
                                                       generator=g))
        # The camera's processing.
        apply(pick_hit(0.35), lambda xs, k: adjust_gamma(xs, _log_uniform(k, 0.5 ** s, 2.0 ** s, g)))
        comp = pick_hit(0.25)
        if len(comp):
            use_jpeg = torch.rand(len(comp), generator=g) < 0.5
            apply(comp[use_jpeg], lambda xs, k: jpeg(xs, _uniform(k, max(5, 75 - 60 * s), 75, g)))
            apply(comp[~use_jpeg], lambda xs, k: quantize(xs, torch.randint(4, 17, (k,), generator=g).float()))
        return x.clamp_(0, 1)
