"""Simulated generator families: small autoencoders that differ only in their decoder's up-sampling.

Decoder up-sampling leaves the spectral fingerprints that attribution and FFT detectors key on
(checkerboards from transposed convolutions, blockiness from nearest-neighbour, smoothness from
bilinear, periodic phase patterns from pixel shuffle). Each family here is one autoencoder trained for
a few minutes on the real TRAIN patches, and a simulated fake is a real patch passed through it.

DATA.md's warning: a briefly trained autoencoder returns blurrier images than the photo it was given,
and a detector then learns "blur = fake". So a fake keeps the real patch's low frequencies and takes
only the decoder's high-frequency band, rescaled per channel to the real patch's high-band energy:
sharpness and noise match the photo, the texture of the fine detail is the decoder's. checks.py
verifies it with a classifier on sharpness/noise features that must stay near chance.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmark.normalise import complexity
from tribunal_sdk.media import file_sha256

# Class name -> decoder up-sampling kind.
FAMILIES: dict[str, str] = {
    "sim_transposed_conv": "transposed_conv",
    "sim_nearest_conv": "nearest_conv",
    "sim_bilinear_conv": "bilinear_conv",
    "sim_pixel_shuffle": "pixel_shuffle",
}
LOWPASS_SIGMA = 1.0  # the training loss's high band: what this Gaussian removes


def _upsample(kind: str, cin: int, cout: int) -> nn.Module:
    """One x2 up-sampling stage of the given kind."""
    if kind == "transposed_conv":
        return nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1)
    if kind == "nearest_conv":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1))
    if kind == "bilinear_conv":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(cin, cout, 3, padding=1),
        )
    if kind == "pixel_shuffle":
        return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.PixelShuffle(2))
    raise ValueError(f"unknown up-sampler {kind!r}; expected one of {sorted(set(FAMILIES.values()))}")


class PatchAutoencoder(nn.Module):
    """A 4x-downsampling convolutional autoencoder; only the decoder's up-sampling differs by family.

    ``decode(z, noise=...)`` can add Gaussian noise to the features entering each up-sampling stage
    (scaled by their spread), the way StyleGAN injects noise: the decoder then synthesises fine
    texture that has passed through its up-sampler and so carries its fingerprint.
    """

    def __init__(self, upsampler: str, width: int = 48, latent: int = 8, stages: int = 2) -> None:
        super().__init__()
        self.upsampler = upsampler
        self.factor = 2**stages
        down: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.GELU()]
        for _ in range(stages):
            down += [nn.Conv2d(width, width, 4, stride=2, padding=1), nn.GELU()]
        self.encoder = nn.Sequential(*down, nn.Conv2d(width, latent, 1))
        self.decoder_in = nn.Sequential(nn.Conv2d(latent, width, 3, padding=1), nn.GELU())
        widths = [width] * stages + [width // 2]
        self.ups = nn.ModuleList([_upsample(upsampler, widths[i], widths[i + 1]) for i in range(stages)])
        self.decoder_out = nn.Conv2d(width // 2, 3, 3, padding=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % self.factor or x.shape[-2] % self.factor:
            raise ValueError(
                f"height and width must be divisible by {self.factor}, got {tuple(x.shape[-2:])}"
            )
        return self.encoder(x)

    def decode(
        self, z: torch.Tensor, noise: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        h = self.decoder_in(z)
        for up in self.ups:
            if noise > 0:
                spread = h.std(dim=(2, 3), keepdim=True)
                h = h + noise * spread * torch.randn(h.shape, generator=generator)
            h = F.gelu(up(h))
        return self.decoder_out(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` (N, 3, H, W) in [0, 1]; H and W must be divisible by 4."""
        return self.decode(self.encode(x))


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, round(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    return (k[:, None] * k[None, :]).expand(3, 1, -1, -1).contiguous()


def low_pass(x: torch.Tensor, sigma: float = LOWPASS_SIGMA) -> torch.Tensor:
    """Per-channel Gaussian blur with reflected borders."""
    kernel = _gaussian_kernel(sigma).to(x.dtype)
    pad = kernel.shape[-1] // 2
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), kernel, groups=3)


def high_pass(x: torch.Tensor, sigma: float = LOWPASS_SIGMA) -> torch.Tensor:
    """What the Gaussian low-pass removes: the fine detail and noise."""
    return x - low_pass(x, sigma)


@dataclass(frozen=True)
class TrainConfig:
    """How one simulator is trained; recorded next to its weights.

    One x2 stage (stages=1) because a 4x autoencoder does not get sharp in the few minutes of CPU the
    build can spend; the decoder's up-sampling is still the only thing that differs between families.
    """

    seed: int
    steps: int = 300
    batch: int = 12
    crop: int = 64
    lr: float = 2e-3
    high_band_weight: float = 2.0
    width: int = 48
    latent: int = 12
    stages: int = 1


def train_autoencoder(
    upsampler: str,
    patches: np.ndarray,
    config: TrainConfig,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[PatchAutoencoder, dict]:
    """Train one autoencoder on uint8 patches (N, H, W, 3) with L1 on pixels and on the high band.

    The high-band term keeps the decoder producing fine detail (whose texture carries the up-sampling
    fingerprint) instead of settling for a blur. Returns the model (eval mode) and training stats.
    """
    if patches.ndim != 4 or patches.shape[-1] != 3:
        raise ValueError(f"patches must be (N, H, W, 3) uint8, got {patches.shape}")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = PatchAutoencoder(upsampler, config.width, config.latent, config.stages)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.steps)
    n, h, w, _ = patches.shape
    started = time.perf_counter()
    losses: list[float] = []
    model.train()
    for step in range(config.steps):
        idx = rng.integers(0, n, config.batch)
        ys = rng.integers(0, h - config.crop + 1, config.batch)
        xs = rng.integers(0, w - config.crop + 1, config.batch)
        crops = np.stack(
            [
                patches[i, y : y + config.crop, x : x + config.crop]
                for i, y, x in zip(idx, ys, xs, strict=True)
            ]
        )
        x_t = to_tensor(crops)
        recon = model(x_t)
        loss = F.l1_loss(recon, x_t) + config.high_band_weight * F.l1_loss(high_pass(recon), high_pass(x_t))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step, losses[-1])
    model.eval()
    stats = {
        "final_loss": float(np.mean(losses[-20:])),
        "first_loss": float(np.mean(losses[:20])),
        "train_seconds": round(time.perf_counter() - started, 1),
        "train_patches": int(n),
    }
    return model, stats


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(batch: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [0, 1] -> uint8 (N, H, W, 3), rounded and clipped."""
    return batch.clamp(0, 1).mul(255.0).round().byte().permute(0, 2, 3, 1).numpy()


# The fake is the real patch below LOW_KEEP cycles/pixel (structures over ~12 px) and fades over to
# the decoder's output by LOW_STOP.
LOW_KEEP, LOW_STOP = 0.08, 0.16
# Above that, the decoder's spectrum is rescaled ring by ring (rings this wide, in cycles/pixel) to
# the real patch's energy. Narrow peaks inside a ring (the up-sampling fingerprint) survive.
RING_WIDTH = 0.03
GAIN_RANGE = (0.1, 64.0)  # guard against amplifying an empty ring without bound
# Feature-noise levels tried per patch (see simulate_matched).
NOISE_LEVELS = (0.5, 1.0, 2.0, 4.0, 8.0)
# Gains on the decoder's band tried per patch, so the fake holds as much detail as the photo does in
# JPEG bytes (see simulate_matched). Bump SIMULATION_VERSION whenever the simulated pixels change.
DETAIL_GAINS = (1.0, 0.9, 0.8, 0.7)
# The file size is what the build's confound gate tests, so it counts double against the noise sigma.
SIZE_WEIGHT = 2.0
SIMULATION_VERSION = "4"


def periodic_component(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Moisan's periodic + smooth decomposition of (N, C, H, W) images: returns (periodic, smooth).

    The periodic part has no jump where the image wraps around, so its FFT has none of the cross of
    boundary leakage that would otherwise dominate the high rings of a smooth reconstruction.
    """
    h, w = u.shape[-2:]
    v = torch.zeros_like(u)
    v[..., 0, :] += u[..., -1, :] - u[..., 0, :]
    v[..., -1, :] += u[..., 0, :] - u[..., -1, :]
    v[..., :, 0] += u[..., :, -1] - u[..., :, 0]
    v[..., :, -1] += u[..., :, 0] - u[..., :, -1]
    q = torch.arange(h, dtype=u.dtype)[:, None]
    r = torch.arange(w, dtype=u.dtype)[None, :]
    denom = 2 * torch.cos(2 * torch.pi * q / h) + 2 * torch.cos(2 * torch.pi * r / w) - 4
    denom[0, 0] = 1.0
    s_hat = torch.fft.fft2(v) / denom
    s_hat[..., 0, 0] = 0
    smooth = torch.fft.ifft2(s_hat).real
    return u - smooth, smooth


def spectral_blend(real: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Real low frequencies + the reconstruction's high frequencies at the real patch's ring energies.

    Both inputs are (N, 3, H, W). Per image and channel the reconstruction's spectrum above LOW_STOP is
    rescaled ring by ring (gains interpolated between ring centres, so the spectrum has no steps) to
    the real patch's energy: the fake is as sharp and as noisy as the photo, while the 2-D layout of
    its fine detail, where the up-sampling fingerprint lives, is the decoder's.
    """
    h, w = real.shape[-2:]
    real_p, real_s = periodic_component(real)
    recon_p, _ = periodic_component(recon)
    x, y = torch.fft.fft2(real_p), torch.fft.fft2(recon_p)
    radius = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None, :] ** 2)
    ring = (radius / RING_WIDTH).long()
    n_rings = int(ring.max()) + 1
    lead = x.shape[:-2]

    def ring_energy(z: torch.Tensor) -> torch.Tensor:
        flat = (z.abs() ** 2).reshape(*lead, -1)
        out = torch.zeros(*lead, n_rings, dtype=flat.dtype)
        return out.scatter_add_(-1, ring.reshape(1, 1, -1).expand(*lead, -1), flat)

    gains = (ring_energy(x) / ring_energy(y).clamp_min(1e-12)).sqrt().clamp(*GAIN_RANGE)
    centres = (torch.arange(n_rings, dtype=radius.dtype) + 0.5) * RING_WIDTH
    pos = radius.clamp(float(centres[0]), float(centres[-1]))
    idx = torch.searchsorted(centres, pos.contiguous()).clamp(1, n_rings - 1)
    t = (pos - centres[idx - 1]) / RING_WIDTH
    gain = gains[..., idx - 1] * (1 - t) + gains[..., idx] * t
    keep_real = _keep_real(radius)
    mixed = keep_real * x + (1 - keep_real) * gain * y
    return real_s + torch.fft.ifft2(mixed).real


def _keep_real(radius: torch.Tensor) -> torch.Tensor:
    """1 below LOW_KEEP cycles/pixel, 0 above LOW_STOP, a raised-cosine fade in between."""
    ramp = ((radius - LOW_KEEP) / (LOW_STOP - LOW_KEEP)).clamp(0, 1)
    return 0.5 * (1 + torch.cos(torch.pi * ramp))


def real_low_band(real: torch.Tensor) -> torch.Tensor:
    """The part of spectral_blend's output that is the photo's own: its smooth part + low band."""
    h, w = real.shape[-2:]
    real_p, real_s = periodic_component(real)
    radius = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None, :] ** 2)
    return real_s + torch.fft.ifft2(_keep_real(radius) * torch.fft.fft2(real_p)).real


@torch.no_grad()
def simulate(model: PatchAutoencoder, patches: np.ndarray, seed: int, noise: float) -> np.ndarray:
    """Simulated fakes for uint8 patches (N, H, W, 3): real low band + the decoder's detail bands."""
    x = to_tensor(patches)
    generator = torch.Generator().manual_seed(seed)
    return to_uint8(spectral_blend(x, model.decode(model.encode(x), noise=noise, generator=generator)))


_IMMERKAER = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]]).view(1, 1, 3, 3)
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def noise_sigma(batch: torch.Tensor) -> torch.Tensor:
    """Immerkaer's noise sigma (same estimator as features.sharpness_features) of (N, 3, H, W) in [0, 1]."""
    luma = (batch * _LUMA).sum(1, keepdim=True) * 255.0
    response = F.conv2d(luma, _IMMERKAER).abs()
    return response.mean(dim=(1, 2, 3)) * math.sqrt(math.pi / 2) / 6


@torch.no_grad()
def simulate_matched(
    model: PatchAutoencoder, patches: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated fakes matched to each real patch's noise and detail: returns (fakes, chosen noise levels).

    Matching ring energies makes the spectra agree, but a photo's fine detail includes a noise floor
    spread everywhere while a decoder's concentrates on edges, so noise estimators still tell them
    apart; and at equal spectral energy the decoder's detail compresses worse, so fakes came out as
    15-25 % larger JPEG files (which the confound check caught in a fresh build). Two knobs per patch:
    noise injected into the decoder's features (NOISE_LEVELS: raises the noise floor and the file size)
    and a gain on the decoder's band (DETAIL_GAINS: lowers both). The pair whose fake is nearest the
    photo in log noise sigma plus SIZE_WEIGHT x log JPEG size wins: neither a blurrier nor a busier fake.
    """
    x = to_tensor(patches)
    z = model.encode(x)
    low = real_low_band(x)
    target_sigma = noise_sigma(x).log().numpy()
    target_size = np.log([complexity(p) for p in patches])
    best = np.zeros_like(patches)
    best_err = np.full(len(patches), np.inf)
    best_level = np.zeros(len(patches))
    for i, level in enumerate(NOISE_LEVELS):
        generator = torch.Generator().manual_seed(seed + i)
        fake = spectral_blend(x, model.decode(z, noise=level, generator=generator))
        for gain in DETAIL_GAINS:
            candidate = (low + gain * (fake - low)).clamp(0, 1)
            as_uint8 = to_uint8(candidate)
            sigma_err = np.abs(noise_sigma(candidate).log().numpy() - target_sigma)
            size_err = np.abs(np.log([complexity(p) for p in as_uint8]) - target_size)
            err = sigma_err + SIZE_WEIGHT * size_err
            better = err < best_err
            best[better], best_err[better], best_level[better] = as_uint8[better], err[better], level
    return best, best_level


def save_simulator(path: Path, model: PatchAutoencoder, meta: dict) -> dict:
    """Write the weights (a plain state_dict) and a JSON sidecar with seed, config, stats and sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    meta = {**meta, "weights": path.name, "sha256": file_sha256(path)}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def load_simulator(path: Path) -> tuple[PatchAutoencoder, dict]:
    """Load weights written by save_simulator, checking the recorded sha256."""
    meta = json.loads(path.with_suffix(".json").read_text())
    digest = file_sha256(path)
    if digest != meta["sha256"]:
        raise ValueError(f"{path} does not match the sha256 recorded in its sidecar")
    config = meta["config"]
    model = PatchAutoencoder(meta["upsampler"], config["width"], config["latent"], config["stages"])
    model.load_state_dict(torch.load(path, weights_only=True))
    model.eval()
    return model, meta


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)
