"""Adding and removing registry entries keeps every other byte of config/detectors.yaml."""

import shutil

import pytest

from gateway.registry import RegistryError, load_registry
from scripts.registry_edit import RegistryEditError, append_entry, remove_entry
from support.repo_tree import REPO_ROOT

REGISTRY = """\
# The registry (a header comment that must survive).
detectors:
  - name: first
    url: http://127.0.0.1:9101
    port: 9101
    media_types: [image]

  # The second one, with a two-line comment
  # that belongs to it.
  - name: second
    url: http://127.0.0.1:9102   # trailing comment
    port: 9102
    media_types: [image, video]
    gpu: true

  - name: third
    url: http://127.0.0.1:9103
    port: 9103
    media_types: [video]
"""


def entry(name: str, port: int, **overrides) -> dict:
    return {
        "name": name,
        "url": f"http://127.0.0.1:{port}",
        "port": port,
        "media_types": ["image"],
        "enabled": True,
        "timeout_s": 10.0,
        "weight": 1.0,
        "dependency": "soft",
        "gpu": False,
        **overrides,
    }


@pytest.fixture
def registry(tmp_path):
    path = tmp_path / "detectors.yaml"
    path.write_text(REGISTRY)
    return path


def test_append_then_remove_gives_back_the_same_bytes(registry):
    append_entry(registry, entry("fourth", 9104, gpu=True), comment="fourth: added by a test")
    text = registry.read_text()
    assert text.startswith(REGISTRY)
    assert text[len(REGISTRY) :] == (
        "\n  # fourth: added by a test\n"
        "  - name: fourth\n"
        "    url: http://127.0.0.1:9104\n"
        "    port: 9104\n"
        "    media_types: [image]\n"
        "    enabled: true\n"
        "    timeout_s: 10.0\n"
        "    weight: 1.0\n"
        "    dependency: soft\n"
        "    gpu: true\n"
    )
    added = load_registry(registry).get("fourth")
    assert added is not None and added.gpu and added.port == 9104
    remove_entry(registry, "fourth")
    assert registry.read_text() == REGISTRY


def test_the_real_registry_round_trips(tmp_path):
    path = tmp_path / "detectors.yaml"
    shutil.copy(REPO_ROOT / "config" / "detectors.yaml", path)
    before = path.read_text()
    free_port = max(e.port for e in load_registry(path).detectors) + 1
    append_entry(path, entry("zz_roundtrip", free_port, media_types=["video"]), comment="round trip")
    assert load_registry(path).names[-1] == "zz_roundtrip"
    remove_entry(path, "zz_roundtrip")
    assert path.read_text() == before


def test_removing_a_middle_entry_takes_its_comment_and_keeps_the_rest(registry):
    remove_entry(registry, "second")
    text = registry.read_text()
    assert "second" not in text and "belongs to it" not in text
    assert text.startswith(
        "# The registry (a header comment that must survive).\ndetectors:\n  - name: first"
    )
    assert "media_types: [image]\n\n  - name: third\n" in text
    assert load_registry(registry).names == ["first", "third"]


def test_removing_the_first_and_last_entries(registry):
    remove_entry(registry, "first")
    assert registry.read_text().startswith(
        "# The registry (a header comment that must survive).\ndetectors:\n\n  # The second one"
    )
    remove_entry(registry, "third")
    assert load_registry(registry).names == ["second"]
    assert registry.read_text().endswith("    gpu: true\n")


def test_an_edit_that_would_break_the_registry_writes_nothing(registry):
    with pytest.raises(RegistryEditError, match="invalid"):
        append_entry(registry, entry("clash", 9101))  # port 9101 is first's
    assert registry.read_text() == REGISTRY


def test_an_unknown_name_or_an_invalid_file_is_refused(registry, tmp_path):
    with pytest.raises(RegistryEditError, match=r"no detector named 'nope'.*first, second, third"):
        remove_entry(registry, "nope")
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(REGISTRY + "extra: 1\n")
    with pytest.raises(RegistryError, match="extra: unknown field"):
        append_entry(invalid, entry("fourth", 9104))
    assert invalid.read_text() == REGISTRY + "extra: 1\n"
