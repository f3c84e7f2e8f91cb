"""Gateway settings: defaults, YAML overlay, environment precedence, errors naming field and source."""

from __future__ import annotations

import pytest

from gateway.registry import REPO_ROOT
from gateway.settings import (
    CONFIG_FILE_ENV,
    DEFAULT_CONFIG_FILE,
    GatewaySettings,
    SettingsError,
    load_settings,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("TRIBUNAL_"):
            monkeypatch.delenv(key)


def use_file(monkeypatch, tmp_path, text: str):
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    monkeypatch.setenv(CONFIG_FILE_ENV, str(path))
    return path


def test_the_repository_config_file_is_valid():
    assert DEFAULT_CONFIG_FILE.exists()
    settings = load_settings()
    assert settings.port == 8000 and settings.host == "127.0.0.1"
    assert settings.registry_path == REPO_ROOT / "config" / "detectors.yaml"
    assert settings.default_method == "stacking"
    assert settings.media_limits.max_bytes == 50 * 1024 * 1024
    assert settings.attribution_min_share == 0.5


def test_the_file_overrides_defaults_and_the_environment_overrides_the_file(monkeypatch, tmp_path):
    use_file(monkeypatch, tmp_path, "port: 9001\nthreshold: 0.6\nmax_upload_mb: 2\n")
    settings = load_settings()
    assert (settings.port, settings.threshold, settings.max_upload_bytes) == (9001, 0.6, 2 * 1024 * 1024)
    monkeypatch.setenv("TRIBUNAL_PORT", "9002")
    assert load_settings().port == 9002
    assert load_settings(port=9003).port == 9003


def test_relative_paths_resolve_against_the_repository(monkeypatch, tmp_path):
    use_file(monkeypatch, tmp_path, "registry_path: config/other.yaml\ndata_dir: /tmp/tribunal-data\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.registry_path == REPO_ROOT / "config" / "other.yaml"
    assert str(settings.data_dir) == "/tmp/tribunal-data"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("threshold: 1.5\n", "gateway.yaml: threshold: Input should be less than 1 (got 1.5)"),
        ("port: web\n", "gateway.yaml: port: Input should be a valid integer"),
        (
            "default_method: median\n",
            "default_method: unknown fusion method 'median'; known: average, stacking, voting",
        ),
        (
            "breaker_failures: 0\n",
            "gateway.yaml: breaker_failures: Input should be greater than or equal to 1",
        ),
        ("thresold: 0.4\n", "gateway.yaml: thresold: unknown setting (check its spelling)"),
        ("threshold: 0.95\nuncertainty_band: 0.1\n", "threshold ± uncertainty_band must stay within [0, 1]"),
        (
            "attribution_min_share: 1.5\n",
            "gateway.yaml: attribution_min_share: Input should be less than or equal to 1 (got 1.5)",
        ),
    ],
)
def test_a_bad_file_value_is_an_error_naming_field_and_file(monkeypatch, tmp_path, text, expected):
    use_file(monkeypatch, tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert expected in str(caught.value)


def test_a_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("TRIBUNAL_UNCERTAINTY_BAND", "-0.1")
    with pytest.raises(SettingsError, match="environment TRIBUNAL_UNCERTAINTY_BAND: uncertainty_band"):
        load_settings()


@pytest.mark.parametrize(
    ("text", "expected"), [("port: [\n", "not valid YAML"), ("- 1\n", "expected a mapping")]
)
def test_a_malformed_file_is_explained(monkeypatch, tmp_path, text, expected):
    use_file(monkeypatch, tmp_path, text)
    with pytest.raises(SettingsError, match=expected):
        load_settings()


def test_a_named_but_missing_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(CONFIG_FILE_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(SettingsError, match="settings file not found"):
        GatewaySettings()


def test_log_level_is_case_insensitive(monkeypatch):
    monkeypatch.setenv("TRIBUNAL_LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"


def test_the_attribution_floor_takes_any_share_from_0_to_1(monkeypatch):
    for value in ("0", "1", "0.5"):
        monkeypatch.setenv("TRIBUNAL_ATTRIBUTION_MIN_SHARE", value)
        assert load_settings().attribution_min_share == float(value)
    monkeypatch.setenv("TRIBUNAL_ATTRIBUTION_MIN_SHARE", "-0.1")
    with pytest.raises(
        SettingsError, match="environment TRIBUNAL_ATTRIBUTION_MIN_SHARE: attribution_min_share"
    ):
        load_settings()


def test_the_video_section_is_set_in_the_file_and_its_flat_variables_still_win(monkeypatch, tmp_path):
    defaults = load_settings().video
    assert (defaults.max_duration_s, defaults.keyframes) == (600.0, 6)
    use_file(monkeypatch, tmp_path, "video:\n  max_duration_s: 120\n  keyframes: 3\n")
    video = load_settings().video
    assert (video.max_duration_s, video.keyframes, video.max_frames) == (120.0, 3, defaults.max_frames)
    # The variables the video settings always had override one key each; the rest still come from the file.
    monkeypatch.setenv("TRIBUNAL_VIDEO_KEYFRAMES", "0")
    monkeypatch.setenv("TRIBUNAL_MAX_VIDEO_FRAME_PIXELS", "1000")
    video = load_settings().video
    assert (video.max_duration_s, video.keyframes, video.max_frame_pixels) == (120.0, 0, 1000)
    assert video.limits().max_frame_pixels == 1000
    assert load_settings(video={"keyframes": 2}).video.keyframes == 2


def test_a_bad_video_setting_names_the_key_and_its_source(monkeypatch, tmp_path):
    path = use_file(monkeypatch, tmp_path, "video:\n  keyframe: 3\n")
    with pytest.raises(SettingsError, match=f"{path}: video.keyframe: unknown setting"):
        load_settings()
    use_file(monkeypatch, tmp_path, "video:\n  keyframes: 3\n")
    monkeypatch.setenv("TRIBUNAL_MAX_VIDEO_DURATION_S", "-5")
    with pytest.raises(
        SettingsError,
        match=r"environment TRIBUNAL_MAX_VIDEO_DURATION_S: video\.max_duration_s: Input should be greater",
    ):
        load_settings()
