"""Who the client is when reverse proxies stand in front of the gateway.

The client address is the TCP peer, unless that peer is one of the ``trusted_proxies`` named in the
settings: then ``X-Forwarded-For`` is read from the right (each proxy appends the address it saw),
skipping trusted proxies, and the first address not trusted is the client. ``X-Forwarded-Proto``
from a trusted proxy sets the scheme. Nothing else is read (not ``Forwarded``, not ``X-Real-IP``),
and with no trusted proxies (the default) no header can change who the client is: the sign-in limits
count per address, so an address a client could write itself would void them.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.types import ASGIApp, Receive, Scope, Send

Network = IPv4Network | IPv6Network


def parse_address(text: str) -> IPv4Address | IPv6Address | None:
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:5678``, ``::1``, ``[::1]:5678``; else None."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # IPv4 with a port; an IPv6 address has two colons or more
        text = text.split(":", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The networks whose forwarding headers are believed."""

    def __init__(self, networks: Iterable[Network]):
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, host: str | None) -> bool:
        address = parse_address(host) if host else None
        return address is not None and any(address in network for network in self.networks)

    def client_of(self, peer: str, forwarded_for: str | None) -> str:
        """The client behind ``peer`` given the request's (joined) X-Forwarded-For value."""
        if peer not in self or not forwarded_for:
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if hop not in self:
                address = parse_address(hop)
                # Written by a trusted proxy, so believed; a hop that is not an address is kept as sent.
                return str(address) if address is not None else hop
        return hops[0] if hops else peer  # every hop is a trusted proxy: the first one is the client


class ForwardedClientMiddleware:
    """Replace the ASGI ``client`` (and ``scheme``) with what trusted proxies say; untrusted peers are left alone."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies):
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.proxies:
            client = scope.get("client")
            if client and client[0] in self.proxies:
                scope = dict(scope)
                forwarded_for = _header(scope, b"x-forwarded-for")
                host = self.proxies.client_of(client[0], forwarded_for)
                if host != client[0]:
                    scope["client"] = (host, 0)
                proto = (_header(scope, b"x-forwarded-proto") or "").strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto if scope["type"] == "http" else proto.replace("http", "ws")
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    """Every value of header ``name`` joined by commas (a list header may be split over several lines)."""
    values = [value.decode("latin-1") for key, value in scope["headers"] if key == name]
    return ", ".join(values) if values else None
