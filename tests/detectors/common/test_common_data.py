"""detectors.common.data (the Dataset and augmentation) over benchmark.manifest's rows and class list."""

import random

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.manifest import ManifestError, class_list, class_of, read_manifest
from detectors.common.data import (
    Degradation,
    ImageDataset,
    center_crop,
    jpeg_recompress,
    rescale,
)
from support.tiny_benchmark import COLUMNS, make_tiny_benchmark


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return make_tiny_benchmark(tmp_path_factory.mktemp("bench"), per_class={"train": 2, "val": 1, "test": 1})


def test_read_manifest_resolves_paths_and_classes(manifest):
    samples = read_manifest(manifest)
    assert len(samples) == 3 * 4
    assert all(s.path.is_file() and s.path.is_absolute() for s in samples)
    assert {s.class_name for s in samples} == {"real", "flux", "sim_nearest_conv"}
    assert [s.split for s in read_manifest(manifest, splits=["val"])] == ["val"] * 3


def test_class_list_puts_real_first_then_taxonomy_order(manifest):
    # sim_* come after the generators in the taxonomy, whatever order the manifest lists them in.
    assert class_list(read_manifest(manifest)) == ["real", "flux", "sim_nearest_conv"]


@pytest.mark.parametrize(
    "label,source,family,expected",
    [
        ("real", "mvtb", "photo", "real"),
        ("fake", "flux", "generator", "flux"),
        ("fake", "flux_pro_api", "flux", "flux"),  # the family names the class when the source is finer
        ("fake", "sim_pixel_shuffle", "simulated", "sim_pixel_shuffle"),
        ("fake", "someone_new", "generator", "other_ai"),
    ],
)
def test_class_of(label, source, family, expected):
    assert class_of(label, source, family) == expected


def test_bad_label_split_and_columns_are_errors(tmp_path):
    bad = tmp_path / "manifest.csv"
    bad.write_text(",".join(COLUMNS) + "\nx.jpg,maybe,flux,g,p,f,s,train\n")
    with pytest.raises(ManifestError, match="real or fake"):
        read_manifest(bad)
    bad.write_text(",".join(COLUMNS) + "\nx.jpg,real,flux,g,p,f,s,holdout\n")
    with pytest.raises(ManifestError, match="split"):
        read_manifest(bad)
    bad.write_text("path,label\nx.jpg,real\n")
    with pytest.raises(ManifestError, match="source"):
        read_manifest(bad)
    with pytest.raises(ManifestError, match="make benchmark"):
        read_manifest(tmp_path / "absent.csv")


def test_dataset_yields_transformed_tensor_and_index(manifest):
    samples = read_manifest(manifest, splits=["train"])
    classes = class_list(samples)
    ds = ImageDataset(samples, classes, transform=lambda im: torch.from_numpy(np.asarray(im).copy()))
    x, y = ds[0]
    assert x.shape == (64, 64, 3) and x.dtype == torch.uint8
    assert classes[y] == samples[0].class_name
    assert len(ds) == len(samples)
    with pytest.raises(ManifestError, match="not in the class list"):
        ImageDataset(samples, ["real"], transform=lambda im: im)


def test_augment_runs_before_transform(manifest):
    samples = read_manifest(manifest, splits=["train"])
    ds = ImageDataset(
        samples, class_list(samples), transform=lambda im: im.size, augment=lambda im: rescale(im, 0.5)
    )
    assert ds[0][0] == (32, 32)


def _noise(size=(80, 60)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(1).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def test_jpeg_recompress_keeps_size_and_changes_pixels():
    image = _noise()
    out = jpeg_recompress(image, 65)
    assert out.size == image.size and out.mode == "RGB"
    assert np.abs(np.asarray(out, float) - np.asarray(image, float)).mean() > 1.0


def test_degradation_probabilities():
    image = _noise()
    never = Degradation(p_blur=0, p_jpeg=0, p_rescale=0)
    assert np.array_equal(np.asarray(never(image, random.Random(0))), np.asarray(image))
    always = Degradation(p_blur=0, p_jpeg=0, p_rescale=1, scale=(0.5, 0.5))
    assert always(image, random.Random(0)).size == (40, 30)


def test_center_crop_takes_the_middle_without_resizing():
    array = np.arange(10 * 8 * 3, dtype=np.uint8).reshape(8, 10, 3)
    crop = center_crop(Image.fromarray(array), 4)
    assert np.array_equal(np.asarray(crop), array[2:6, 3:7])
    # Too small: scaled up so the crop exists.
    assert center_crop(Image.fromarray(array), 16).size == (16, 16)
