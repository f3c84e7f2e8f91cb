"""The published-weights path: OpenAI-format CLIP checkpoints + UniversalFakeDetect's fc_weights.pth.

The main proof builds open_clip's real ViT-L-14-quickgelu (random init, ~430 M parameters) once, saves
it as OpenAI stores it, loads it through the detector's own service together with the published head,
and checks the answer equals ``sigmoid(fc(encode_image(x)))`` computed here without the detector.
"""

import argparse
import time

import open_clip
import pytest
import torch
import torchvision.transforms as T
from fastapi.testclient import TestClient

from detectors.clip_universal.detector import ClipUniversalDetector
from detectors.clip_universal.options import ClipOptions, DetectorOptions
from detectors.clip_universal.published_weights import (
    WeightsFormatError,
    build_clip_image_encoder,
    is_torchscript_archive,
    read_clip_checkpoint,
)
from support.media import encode
from tribunal_sdk import ImageInput, WeightsUnavailable, create_app
from tribunal_sdk.settings import ServiceSettings

# The paper's evaluation transform, spelled out independently of the detector's preprocessing module.
PAPER_TRANSFORM = T.Compose(
    [
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(mean=open_clip.OPENAI_DATASET_MEAN, std=open_clip.OPENAI_DATASET_STD),
    ]
)


def _wait_ready(client: TestClient, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/ready")
        if response.status_code == 200:
            return
        if response.json().get("status") == "failed":
            raise AssertionError(response.json()["reason"])
        time.sleep(0.05)
    raise AssertionError("detector never became ready")


def _reference(model: torch.nn.Module, fc_state: dict, image) -> tuple[float, float]:
    """(logit, prob) as the paper computes them: sigmoid(fc(encode_image(x))), features not normalised."""
    with torch.no_grad():
        features = model.encode_image(PAPER_TRANSFORM(image).unsqueeze(0))
        assert features.shape == (1, fc_state["weight"].shape[1])
        logit = features @ fc_state["weight"].float().T + fc_state["bias"].float()
    return logit.item(), torch.sigmoid(logit).item()


@pytest.fixture(autouse=True)
def _one_centre_crop(monkeypatch):
    """The paper's protocol, which these tests compare against: the centre 224 pixels only."""
    monkeypatch.setenv("TRIBUNAL_CROPS", "1")


def _clip_detector(
    weights, sha256, fc_path, fc_sha256=None, model="ViT-L-14-quickgelu"
) -> ClipUniversalDetector:
    clip = ClipOptions(model=model, weights=weights, weights_sha256=sha256, fc_weights=fc_path)
    if fc_sha256:
        clip = clip.model_copy(update={"fc_sha256": fc_sha256})
    return ClipUniversalDetector(device="cpu", options=DetectorOptions(clip=clip))


@pytest.mark.slow
def test_vit_l14_and_published_fc_give_exactly_sigmoid_fc_encode_image(
    vit_l14_checkpoint, fc_fixture, make_image
):
    image = make_image(300, 260, seed=7)
    fc_state = torch.load(fc_fixture, map_location="cpu", weights_only=True)
    ref_logit, ref_prob = _reference(vit_l14_checkpoint.model, fc_state, image)

    detector = _clip_detector(vit_l14_checkpoint.path, vit_l14_checkpoint.sha256, fc_fixture)
    with TestClient(create_app(detector, ServiceSettings())) as client:
        _wait_ready(client)
        info = client.get("/info").json()
        body = client.post("/predict", files={"file": ("x.png", encode(image, "PNG"), "image/png")}).json()

    assert info["backbone"] == "open_clip ViT-L-14-quickgelu" and info["feature_dim"] == 768
    assert [w["sha256"] for w in info["weights"]] == [
        vit_l14_checkpoint.sha256,
        "477100745713bcc957beb2b40859536859b6483fd6301b3b9293151b194c7847",
    ]
    print(
        f"\nViT-L-14 proof: reference logit {ref_logit!r} prob {ref_prob!r}; service {body['details']['logit']!r} {body['prob_fake']!r}"
    )
    # Same weights, same input, same float32 arithmetic: equal to the last bit, not just close.
    assert body["details"]["logit"] == ref_logit
    assert body["prob_fake"] == ref_prob
    assert 1e-4 < ref_prob < 1 - 1e-4, "a saturated sigmoid would make the comparison weak"


def _tiny_clip_checkpoint(name: str) -> torch.nn.Module:
    torch.manual_seed(1)
    return open_clip.create_model(name, pretrained=None).eval().requires_grad_(False)


def _random_head(path, dim: int) -> None:
    torch.manual_seed(2)
    torch.save({"weight": torch.randn(1, dim) * 0.3, "bias": torch.tensor([0.1])}, path)


def test_torchscript_archive_as_openai_ships_it(tiny_clip_name, tmp_path, make_image, sha256_of):
    model = _tiny_clip_checkpoint(tiny_clip_name)
    open_clip.model.convert_weights_to_fp16(model)
    traced = torch.jit.trace_module(
        model, {"encode_image": (torch.zeros(1, 3, 224, 224, dtype=torch.float16),)}
    )
    archive = tmp_path / "tiny.pt"
    torch.jit.save(traced, str(archive))
    assert is_torchscript_archive(archive)
    head = tmp_path / "fc.pth"
    _random_head(head, 32)

    detector = _clip_detector(archive, sha256_of(archive), head, sha256_of(head), model=tiny_clip_name)
    detector.load()
    image = make_image(240, 240, seed=9)
    prediction = detector.predict_batch([_input(image)])[0]

    fc_state = torch.load(head, weights_only=True)
    ref_logit, ref_prob = _reference(model.float(), fc_state, image)
    assert prediction.details["logit"] == pytest.approx(ref_logit, abs=1e-6)
    assert prediction.prob_fake == pytest.approx(ref_prob, abs=1e-7)

    heat = detector.explain(_input(image), prediction)
    assert heat.shape == (240, 240) and heat.min() >= 0 and heat.max() <= 1
    assert heat[8:232, 8:232].max() > 0.5  # a real map inside the crop; outside it stays 0
    assert not heat[:8].any() and not heat[:, 232:].any()


def test_wrapped_state_dict_with_module_prefix(tiny_clip_name, tmp_path, sha256_of):
    model = _tiny_clip_checkpoint(tiny_clip_name)
    path = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    tensors = read_clip_checkpoint(path, sha256_of(path))
    assert tensors.keys() == model.state_dict().keys()


def test_wrong_digest_is_refused_before_loading(tiny_clip_name, tmp_path):
    path = tmp_path / "ViT-L-14.pt"
    torch.save(_tiny_clip_checkpoint(tiny_clip_name).state_dict(), path)
    with pytest.raises(WeightsUnavailable, match="sha256"):
        read_clip_checkpoint(path, "0" * 64)


def test_detector_explains_how_to_accept_another_checkpoint(tiny_clip_name, tmp_path, fc_fixture):
    path = tmp_path / "ViT-L-14.pt"
    torch.save(_tiny_clip_checkpoint(tiny_clip_name).state_dict(), path)
    detector = _clip_detector(path, "1" * 64, fc_fixture)
    with pytest.raises(WeightsUnavailable, match="set TRIBUNAL_CLIP_WEIGHTS_SHA256 to its sha256"):
        detector.load()


def test_pickled_objects_are_refused(tmp_path, sha256_of):
    path = tmp_path / "evil.pt"
    torch.save({"visual.proj": argparse.Namespace(x=1)}, path)
    with pytest.raises(WeightsFormatError, match="weights_only=True"):
        read_clip_checkpoint(path, sha256_of(path))


def test_checkpoint_of_another_architecture_is_refused(tiny_clip_name, tmp_path, fc_fixture, sha256_of):
    path = tmp_path / "tiny.pt"
    torch.save(_tiny_clip_checkpoint(tiny_clip_name).state_dict(), path)
    detector = _clip_detector(path, sha256_of(path), fc_fixture)  # ViT-L-14-quickgelu expected
    with pytest.raises(WeightsFormatError, match="does not fit open_clip ViT-L-14-quickgelu"):
        detector.load()


def test_state_dict_without_an_image_tower_is_refused(tmp_path, sha256_of):
    path = tmp_path / "not_clip.pt"
    torch.save({"weight": torch.zeros(1, 768), "bias": torch.zeros(1)}, path)
    with pytest.raises(WeightsFormatError, match=r"no visual\.\* tensors"):
        build_clip_image_encoder("ViT-L-14-quickgelu", read_clip_checkpoint(path, sha256_of(path)))


def _input(image) -> ImageInput:
    return ImageInput(image=image, raw=b"", format="png")
