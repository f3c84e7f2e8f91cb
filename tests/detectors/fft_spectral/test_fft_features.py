"""fft_spectral: the spectral features, the explanation and the classifier bundle."""

import io
from collections import Counter

import numpy as np
import pytest
import skops.io as sio
from PIL import Image
from sklearn.linear_model import LogisticRegression

from detectors.common.calibration import PlattScaler
from detectors.fft_spectral.explain import Band, deviating_band, explain_png
from detectors.fft_spectral.model import BundleError, SpectralModel, load_bundle, mean_per_group, save_bundle
from detectors.fft_spectral.spectral import (
    N_FEATURES,
    N_RADIAL_BINS,
    analysis_crop,
    analysis_side,
    azimuthal_average,
    crop_features,
    dct_band_features,
    durall_profile,
    group_columns,
    luma,
    periodicity_features,
    phase_features,
    spectral_features,
)


def test_azimuthal_average_of_a_radial_pattern_is_its_radius():
    h = w = 64
    y, x = np.indices((h, w))
    radius = np.hypot(y - h // 2, x - w // 2).astype(int)
    assert np.array_equal(azimuthal_average(radius.astype(float)), np.arange(32, dtype=float))


@pytest.mark.parametrize("cycles", [16, 32])
def test_durall_profile_peaks_at_a_ring_patterns_frequency(cycles):
    n = 128
    y, x = np.indices((n, n))
    # Concentric rings of `cycles` cycles per 128 px: their energy sits on the spectrum's ring of that
    # radius, i.e. bin `cycles` of 65 bins spanning radius 0..64 (Nyquist). A little noise keeps the
    # rest of the spectrum from being numerically zero.
    rings = np.cos(2 * np.pi * cycles * np.hypot(y - n // 2, x - n // 2) / n)
    gray = 128 + 60 * rings + np.random.default_rng(0).normal(0, 2, (n, n))
    profile = durall_profile(gray, n_bins=65)
    assert (
        profile.shape == (65,) and profile.min() == pytest.approx(0.0) and profile.max() == pytest.approx(1.0)
    )
    # Ignoring DC (bin 0), the strongest ring is the pattern's.
    assert int(np.argmax(profile[1:])) + 1 == cycles


def test_dct_bands_are_relative_to_the_image_level():
    rng = np.random.default_rng(0)
    gray = rng.normal(128, 20, (64, 64))
    bands = dct_band_features(gray)
    assert bands.shape == (64,) and bands.mean() == pytest.approx(0.0, abs=1e-9)
    # Doubling the contrast shifts every log band equally, so the features barely move (only the
    # zeroed DC coefficient, 1 of the 64 in the first band, does not scale).
    assert np.allclose(dct_band_features(128 + 2 * (gray - 128)), bands, atol=0.02)


def test_upsampling_traces_show_in_periodicity_and_phase_features():
    rng = np.random.default_rng(1)
    noise = rng.normal(128, 30, (128, 128))
    nearest = np.repeat(np.repeat(rng.normal(128, 30, (64, 64)), 2, axis=0), 2, axis=1)
    # Nearest-neighbour 2x: differences inside 2x2 cells are zero, across cells are not.
    assert phase_features(nearest)[0] > 3.0 and phase_features(noise)[0] < 0.1
    # NPR residual energy is zero for the up-sampled image.
    assert phase_features(nearest)[-1] < -10 and phase_features(noise)[-1] > -1
    checker = noise + 20 * (np.indices((128, 128)).sum(axis=0) % 2)
    # A checkerboard is a peak at (pi, pi) and at period 2 along rows and columns.
    assert periodicity_features(checker)[-1] > periodicity_features(noise)[-1] + 2
    assert periodicity_features(checker)[0] > periodicity_features(noise)[0] + 2


def test_full_vector_and_crop_rules():
    image = Image.effect_noise((400, 300), 50).convert("RGB")
    assert analysis_crop(image).size == (256, 256)
    assert analysis_crop(image.crop((0, 0, 101, 99))).size == (98, 98)
    features = spectral_features(image)
    assert features.shape == (N_FEATURES,) and np.all(np.isfinite(features))
    assert group_columns(("durall",)).tolist() == list(range(N_RADIAL_BINS))
    assert luma(Image.new("RGB", (2, 2), (255, 255, 255))) == pytest.approx(np.full((2, 2), 255.0))
    assert (
        analysis_side(400, 300, 512) == 300 and analysis_side(101, 99) == 98 and analysis_side(20, 20) == 32
    )


def test_crop_features_are_the_features_of_each_native_crop():
    image = Image.effect_noise((1024, 1024), 50).convert("RGB")
    rows = crop_features(image, 256, 5)
    assert rows.shape == (5, N_FEATURES)
    # The first row is the centre crop, taken at native resolution (no resize).
    assert np.allclose(rows[0], spectral_features(image.crop((384, 384, 640, 640))))
    assert np.allclose(rows[1], spectral_features(image.crop((0, 0, 256, 256))))
    assert crop_features(image, 256, 1).shape == (1, N_FEATURES)
    assert crop_features(image, 512, 5).shape == (5, N_FEATURES)
    # Crops never exceed the image: a 300x256 image gives 256 px crops, the centre and both ends;
    # a square one as small as the crop side is one crop.
    assert crop_features(image.crop((0, 0, 300, 256)), 512, 5).shape[0] == 3
    assert crop_features(image.crop((0, 0, 256, 256)), 256, 5).shape[0] == 1


def test_deviating_band_finds_the_contiguous_run():
    mean, std = np.zeros(10), np.ones(10)
    profile = np.array([0, 0, 0, 2.5, 4.0, 3.0, 0.5, 0, -2.5, 0])
    assert deviating_band(profile, mean, std) == Band(start=3 / 9, stop=5 / 9, z=4.0)


def test_explain_png_is_the_spectrum_of_the_crop():
    gray = np.random.default_rng(2).normal(128, 30, (64, 64))
    png, band = explain_png(gray, np.zeros(N_RADIAL_BINS), np.full(N_RADIAL_BINS, 0.1))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (64, 64)
    assert 0.0 <= band.start <= band.stop <= 1.0


def _toy_model() -> SpectralModel:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, N_FEATURES))
    y = (x[:, 0] > 0).astype(int)
    cols = group_columns(("durall", "phase"))
    return SpectralModel(
        groups=("durall", "phase"),
        binary=LogisticRegression().fit(x[:, cols], y),
        platt=PlattScaler(0.5, 0.1),
        family=None,
        families=["flux"],
        real_profile_mean=np.zeros(N_RADIAL_BINS),
        real_profile_std=np.ones(N_RADIAL_BINS),
        kind="logistic",
        crop_side=256,
    )


def test_bundle_round_trip(tmp_path):
    model = _toy_model()
    path = tmp_path / "m.skops"
    save_bundle(model, path)
    loaded = load_bundle(path)
    x = np.random.default_rng(4).normal(size=(5, N_FEATURES))
    assert np.allclose(loaded.prob_fake(x), model.prob_fake(x))
    assert loaded.platt == PlattScaler(0.5, 0.1) and loaded.groups == ("durall", "phase")
    assert loaded.crop_side == 256
    with pytest.raises(ValueError, match="features"):
        loaded.prob_fake(np.zeros((1, 3)))


def test_an_images_crops_are_pooled_in_log_odds_before_platt():
    model = _toy_model()
    rng = np.random.default_rng(5)
    crops = [
        rng.normal(size=(5, N_FEATURES)),
        rng.normal(size=(1, N_FEATURES)),
        rng.normal(size=(3, N_FEATURES)),
    ]
    expected = [model.platt(model.raw_score(c).mean()) for c in crops]
    assert np.allclose(model.prob_fake_of_crops(crops), expected)
    assert mean_per_group(np.arange(6.0), [1, 2, 3]).tolist() == [0.0, 1.5, 4.0]
    assert model.family_probs_of_crops(crops) is None  # the toy model has no family classifier


def test_bundles_with_unexpected_types_are_refused(tmp_path):
    path = tmp_path / "evil.skops"
    # A type outside skops' defaults and the allow-list stands in for anything foreign.
    sio.dump({"format": "tribunal.fft_spectral/1", "binary": Counter(a=1)}, path)
    with pytest.raises(BundleError, match="not allowed"):
        load_bundle(path)
    (tmp_path / "junk.skops").write_bytes(b"not a zip")
    with pytest.raises(BundleError):
        load_bundle(tmp_path / "junk.skops")
    sio.dump({"format": "tribunal.fft_spectral/2"}, path)
    with pytest.raises(BundleError, match="lacks"):
        load_bundle(path)
    # A bundle of the one-crop format (no crop side) asks for retraining rather than guessing.
    sio.dump({"format": "tribunal.fft_spectral/1"}, path)
    with pytest.raises(BundleError, match="this service reads"):
        load_bundle(path)
