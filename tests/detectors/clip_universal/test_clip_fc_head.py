"""fc_weights.pth: the published head loads unchanged; anything of another shape or layout is refused."""

import argparse

import pytest
import torch

from detectors.clip_universal.published_weights import UFD_FC_SHA256, WeightsFormatError, load_linear_head
from tribunal_sdk import WeightsUnavailable


def test_published_head_loads_unchanged(fc_fixture):
    head = load_linear_head(fc_fixture, UFD_FC_SHA256, 768)
    state = torch.load(fc_fixture, map_location="cpu", weights_only=True)
    assert set(state) == {"weight", "bias"}
    assert torch.equal(head.weight, state["weight"].float()) and torch.equal(head.bias, state["bias"].float())
    assert not head.weight.requires_grad
    features = torch.randn(3, 768)
    torch.testing.assert_close(head(features), features @ state["weight"].float().T + state["bias"].float())


def test_published_head_does_not_fit_another_feature_size(fc_fixture):
    with pytest.raises(WeightsFormatError, match=r"expected weight \[1, 1792\].*found weight \[1, 768\]"):
        load_linear_head(fc_fixture, UFD_FC_SHA256, 1792)


def test_tampered_head_fails_its_pin(tmp_path, fc_fixture):
    state = torch.load(fc_fixture, map_location="cpu", weights_only=True)
    state["bias"] = state["bias"] + 1
    path = tmp_path / "fc_weights.pth"
    torch.save(state, path)
    with pytest.raises(WeightsUnavailable, match="sha256"):
        load_linear_head(path, UFD_FC_SHA256, 768)


def test_missing_head_is_reported(tmp_path):
    with pytest.raises(WeightsUnavailable, match="not found"):
        load_linear_head(tmp_path / "fc_weights.pth", UFD_FC_SHA256, 768)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"weight": torch.zeros(1, 768)}, r"exactly the keys 'weight' and 'bias'.*\['weight'\]"),
        ({"fc.weight": torch.zeros(1, 768), "fc.bias": torch.zeros(1)}, r"found \['fc.bias', 'fc.weight'\]"),
        (
            {"weight": torch.zeros(1, 768), "bias": torch.zeros(1), "extra": torch.zeros(1)},
            "exactly the keys",
        ),
        ({"weight": torch.zeros(1, 512), "bias": torch.zeros(1)}, r"found weight \[1, 512\]"),
        ({"weight": torch.zeros(2, 768), "bias": torch.zeros(2)}, r"found weight \[2, 768\] and bias \[2\]"),
        ({"weight": torch.zeros(768), "bias": torch.zeros(1)}, r"found weight \[768\]"),
        ({"weight": [0.0] * 768, "bias": torch.zeros(1)}, "must be tensors"),
        ([torch.zeros(1, 768), torch.zeros(1)], "holds a list, not a state_dict"),
        ({"weight": argparse.Namespace(), "bias": torch.zeros(1)}, "weights_only=True"),
    ],
)
def test_wrong_layouts_are_refused_with_a_reason(tmp_path, sha256_of, content, message):
    path = tmp_path / "head.pth"
    torch.save(content, path)
    with pytest.raises(WeightsFormatError, match=message):
        load_linear_head(path, sha256_of(path), 768)


def test_not_a_torch_file_is_refused(tmp_path, sha256_of):
    path = tmp_path / "head.pth"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsFormatError, match="weights_only=True"):
        load_linear_head(path, sha256_of(path), 768)
