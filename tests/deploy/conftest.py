import pytest

from gateway.registry import Registry, parse_registry


def _entry(name: str, port: int, **overrides) -> dict:
    return {
        "name": name,
        "url": f"http://127.0.0.1:{port}",
        "port": port,
        "media_types": ["image"],
        **overrides,
    }


@pytest.fixture
def mixed_registry() -> Registry:
    """One GPU detector, one CPU video detector with its own package name, one disabled."""
    return parse_registry(
        {
            "detectors": [
                _entry("gpu_model", 9201, gpu=True),
                _entry("cpu_video", 9202, media_types=["video"], package="video_pkg"),
                _entry("switched_off", 9203, enabled=False),
            ]
        }
    )
