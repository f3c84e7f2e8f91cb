"""Detector Dockerfiles come from one template; every Dockerfile passes hadolint."""

import re

import pytest

from gateway.registry import REPO_ROOT, load_registry
from scripts.dockerfiles import detector_folders, render_all, render_dockerfile, torch_pins
from scripts.render_template import TemplateError, render_text
from support.tools import run, tool

DOCKERFILES = sorted(
    [p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "detectors").glob("*/Dockerfile")]
    + [REPO_ROOT.joinpath("gateway/Dockerfile").relative_to(REPO_ROOT)]
)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_hadolint_passes(dockerfile):
    # hadolint fails on any finding, warnings and infos included.
    run(tool("hadolint"), str(REPO_ROOT / dockerfile))


def test_every_detector_folder_has_its_rendered_dockerfile():
    rendered = render_all(REPO_ROOT)
    assert sorted(p.parent.name for p in rendered) == detector_folders(REPO_ROOT)
    for path, text in rendered.items():
        assert (REPO_ROOT / path).read_text() == text, f"{path}: run `make deploy-files`"


def test_a_detector_image_has_the_required_parts():
    registry = load_registry(REPO_ROOT / "config" / "detectors.yaml")
    entry = registry.enabled()[0]
    text = render_dockerfile(entry.package, registry, torch_pins(REPO_ROOT))
    pins = torch_pins(REPO_ROOT)
    assert f"torch=={pins['torch']} torchvision=={pins['torchvision']}" in text
    assert "ARG TORCH_VARIANT=gpu" in text and "https://download.pytorch.org/whl/cpu" in text
    # Installed at the lock's versions, as make install does.
    assert "COPY pyproject.toml README.md requirements.lock ./" in text
    assert 'pip install --no-cache-dir -c requirements.lock ".[ml]"' in text and "./sdk" in text
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert re.search(r'^HEALTHCHECK .*\n\s+CMD \[.*"/health"\]$', text, re.M)
    assert f"TRIBUNAL_PORT={entry.port}" in text and f"EXPOSE {entry.port}" in text
    assert f'CMD ["python", "-m", "detectors.{entry.package}"]' in text


def test_the_gateway_image_builds_the_dashboard_and_runs_as_a_user():
    text = (REPO_ROOT / "gateway/Dockerfile").read_text()
    assert re.search(r"^FROM \$\{NODE_IMAGE\} AS dashboard$", text, re.M)
    assert "RUN npm ci" in text and "RUN npm run build" in text
    assert "COPY --from=dashboard /frontend/dist/ frontend/dist/" in text
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "HEALTHCHECK" in text and 'CMD ["python", "-m", "gateway"]' in text


def test_the_torch_pins_come_from_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[project.optional-dependencies]\nml = ["torch>=2", "torchvision==0.1.0"]\n'
    )
    with pytest.raises(ValueError, match="must pin torch exactly once"):
        torch_pins(tmp_path)


def test_templates_refuse_a_placeholder_without_a_value():
    assert render_text("a {{x}} b", {"x": 1}) == "a 1 b"
    with pytest.raises(TemplateError, match=re.escape("no value for {{y}}")):
        render_text("{{x}} {{y}}", {"x": 1})
