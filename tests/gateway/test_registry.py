"""The registry schema: the repo's file loads, every bad field is named, duplicates are refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.registry import DEFAULT_REGISTRY_PATH, RegistryError, load_registry, parse_registry


def good_data() -> dict[str, Any]:
    return {
        "detectors": [
            {
                "name": "metadata_provenance",
                "url": "http://127.0.0.1:8101/",
                "port": 8101,
                "media_types": ["image"],
                "enabled": True,
                "timeout_s": 5.0,
                "weight": 1.0,
                "dependency": "soft",
                "gpu": False,
            },
            {
                "name": "latency_probe",
                "url": "http://127.0.0.1:8190",
                "port": 8190,
                "media_types": ["image", "video"],
                "enabled": False,
                "timeout_s": 2.5,
                "weight": 2.0,
                "dependency": "hard",
                "gpu": True,
                "package": "probe_pkg",
            },
        ]
    }


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "detectors.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_the_repository_registry_is_valid():
    registry = load_registry(DEFAULT_REGISTRY_PATH)
    assert "metadata_provenance" in registry.names
    for entry in registry.detectors:
        assert entry.package  # defaulted from the name when absent


def test_a_good_file_loads_with_defaults_and_normalised_urls(tmp_path):
    registry = load_registry(write(tmp_path, good_data()))
    first, second = registry.detectors
    assert first.url == "http://127.0.0.1:8101"  # trailing slash removed: callers append paths
    assert first.package == "metadata_provenance"
    assert second.package == "probe_pkg"
    assert second.dependency == "hard" and second.gpu and second.weight == 2.0
    assert [e.name for e in registry.enabled()] == ["metadata_provenance"]
    assert [e.name for e in registry.for_media_type("image")] == ["metadata_provenance"]
    assert registry.for_media_type("video") == []
    assert registry.media_types() == ["image"]
    assert registry.get("latency_probe") is second and registry.get("nope") is None


def test_optional_fields_take_their_defaults():
    registry = parse_registry(
        {"detectors": [{"name": "d", "url": "http://d", "port": 9000, "media_types": ["video"]}]}
    )
    entry = registry.detectors[0]
    assert (entry.enabled, entry.timeout_s, entry.weight, entry.dependency, entry.gpu) == (
        True,
        5.0,
        1.0,
        "soft",
        False,
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("timeout_s", -1, "detectors[1] (latency_probe).timeout_s: Input should be greater than 0"),
        ("timeout_s", "soon", "detectors[1] (latency_probe).timeout_s:"),
        ("port", 70000, "detectors[1] (latency_probe).port: Input should be less than or equal to 65535"),
        (
            "url",
            "127.0.0.1:8190",
            "detectors[1] (latency_probe).url: must be an http:// or https:// base URL",
        ),
        ("media_types", ["audio"], "detectors[1] (latency_probe).media_types.0:"),
        ("media_types", [], "detectors[1] (latency_probe).media_types:"),
        (
            "media_types",
            ["image", "image"],
            "detectors[1] (latency_probe).media_types: lists a media type twice",
        ),
        ("dependency", "sometimes", "detectors[1] (latency_probe).dependency:"),
        ("weight", 0, "detectors[1] (latency_probe).weight: Input should be greater than 0"),
        ("enabled", "maybe", "detectors[1] (latency_probe).enabled:"),
        ("name", "Bad-Name", "detectors[1] (Bad-Name).name:"),
        ("package", "not a package", "detectors[1] (latency_probe).package: must be a Python package name"),
        ("timeout", 5, "detectors[1] (latency_probe).timeout: unknown field"),
    ],
)
def test_each_bad_field_is_named(tmp_path, field, value, expected):
    data = good_data()
    data["detectors"][1][field] = value
    path = write(tmp_path, data)
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message


def test_a_missing_required_field_is_named(tmp_path):
    data = good_data()
    del data["detectors"][0]["url"]
    with pytest.raises(RegistryError, match=r"detectors\[0\] \(metadata_provenance\)\.url: Field required"):
        load_registry(write(tmp_path, data))


def test_several_problems_are_all_reported(tmp_path):
    data = good_data()
    data["detectors"][0]["port"] = 0
    data["detectors"][1]["timeout_s"] = 0
    with pytest.raises(RegistryError) as caught:
        load_registry(write(tmp_path, data))
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert "detectors[0] (metadata_provenance).port" in lines[0]
    assert "detectors[1] (latency_probe).timeout_s" in lines[1]


def test_duplicate_names_are_refused(tmp_path):
    data = good_data()
    data["detectors"][1]["name"] = "metadata_provenance"
    with pytest.raises(RegistryError, match=r"detectors\[1\] \(metadata_provenance\)\.name: duplicate name"):
        load_registry(write(tmp_path, data))


def test_duplicate_ports_are_refused(tmp_path):
    data = good_data()
    data["detectors"][1]["port"] = 8101
    with pytest.raises(
        RegistryError, match=r"port 8101 is already used by detectors\[0\] \(metadata_provenance\)"
    ):
        load_registry(write(tmp_path, data))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("detectors: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping with a 'detectors' list"),
        ("{}", "detectors: Field required"),
        ("detectors: []\nextra: 1\n", "extra: unknown field"),
    ],
)
def test_malformed_files_are_explained(tmp_path, content, expected):
    with pytest.raises(RegistryError, match=expected):
        load_registry(write(tmp_path, content))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(RegistryError, match="registry file not found"):
        load_registry(tmp_path / "nope.yaml")


def test_the_registry_module_stays_dependency_light():
    # The launcher and `make add-model` import it; it must not drag in the web stack.
    code = "import sys, gateway.registry; print(sorted(m for m in ('fastapi', 'httpx', 'starlette') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
