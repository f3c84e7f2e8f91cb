"""Whose X-Forwarded-For the gateway believes: the trusted_proxies setting and the client it yields."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from gateway.proxies import TrustedProxies, parse_address
from gateway.settings import SettingsError, load_settings


def proxies(*networks: str) -> TrustedProxies:
    return TrustedProxies(ip_network(network) for network in networks)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("198.51.100.7", "198.51.100.7"),
        (" 198.51.100.7:5678 ", "198.51.100.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("unknown", None),
        ("", None),
    ],
)
def test_addresses_are_read_as_proxies_write_them(text, expected):
    parsed = parse_address(text)
    assert (str(parsed) if parsed else None) == expected


def test_nothing_is_trusted_by_default():
    none = TrustedProxies([])
    assert not none and "127.0.0.1" not in none
    assert none.client_of("127.0.0.1", "198.51.100.7") == "127.0.0.1"


def test_the_client_is_the_last_hop_no_trusted_proxy_added():
    trusted = proxies("10.0.0.0/8", "::1")
    assert "10.2.3.4" in trusted and "::1" in trusted and "11.0.0.1" not in trusted
    # A client may write anything on the left; the trusted proxies append on the right.
    assert trusted.client_of("10.0.0.1", "1.1.1.1, 203.0.113.9, 10.0.0.2") == "203.0.113.9"
    assert trusted.client_of("::1", "203.0.113.9:4444") == "203.0.113.9"
    assert trusted.client_of("10.0.0.1", "10.0.0.3, 10.0.0.2") == "10.0.0.3"  # all proxies: the first
    assert trusted.client_of("10.0.0.1", "") == "10.0.0.1"
    assert trusted.client_of("10.0.0.1", " , ") == "10.0.0.1"
    assert trusted.client_of("203.0.113.1", "10.0.0.5") == "203.0.113.1"  # not from a proxy: ignored


def test_the_setting_takes_a_comma_list_a_json_list_or_yaml(monkeypatch, tmp_path):
    monkeypatch.setenv("TRIBUNAL_TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16 ,::1")
    assert [str(n) for n in load_settings().trusted_proxies] == ["10.0.0.5/32", "10.1.0.0/16", "::1/128"]
    monkeypatch.setenv("TRIBUNAL_TRUSTED_PROXIES", '["192.0.2.1"]')
    assert [str(n) for n in load_settings().trusted_proxies] == ["192.0.2.1/32"]
    monkeypatch.setenv("TRIBUNAL_TRUSTED_PROXIES", "")
    assert load_settings().trusted_proxies == []
    monkeypatch.setenv("TRIBUNAL_TRUSTED_PROXIES", "10.0.0.5/8")
    with pytest.raises(SettingsError, match=r"TRIBUNAL_TRUSTED_PROXIES: trusted_proxies\.0"):
        load_settings()
    monkeypatch.delenv("TRIBUNAL_TRUSTED_PROXIES")
    config = tmp_path / "gateway.yaml"
    config.write_text("trusted_proxies:\n  - 172.16.0.0/12\n")
    monkeypatch.setenv("TRIBUNAL_CONFIG_FILE", str(config))
    assert [str(n) for n in load_settings().trusted_proxies] == ["172.16.0.0/12"]


def test_the_repository_default_trusts_no_proxy(monkeypatch):
    monkeypatch.delenv("TRIBUNAL_TRUSTED_PROXIES", raising=False)
    monkeypatch.delenv("TRIBUNAL_CONFIG_FILE", raising=False)
    assert load_settings().trusted_proxies == []
