"""Outgoing requests to a URL someone else chose (a webhook callback) or configured (the
Credit China endpoint): only to public addresses, and only to the address that was checked.

A URL passes when its scheme is https (http only when ``EGRESS_ALLOW_HTTP`` is set, for
local development), it carries no credentials (``user:password@``), and *every* address
its host resolves to is public: not loopback, private, shared (100.64/10), link-local,
unique-local, multicast, unspecified, reserved, documentation, nor a cloud metadata
address, in whatever notation the host is written (``2130706433``, ``127.1``,
``0177.0.0.1``, ``0x7f.0.0.1``, ``[::ffff:169.254.169.254]``). An operator allowlist
(``EGRESS_ALLOWLIST``, networks in CIDR notation) admits addresses that are not public.

Checking a URL once is not enough: a DNS answer may change between the check and the
connection. ``pinned_async_client`` and ``pinned_client`` build httpx clients whose
transport resolves the host, checks the addresses and connects to the checked one, with
the Host header and the TLS server name (SNI, certificate check) still the URL's host.
They never follow redirects.

No rule of any domain lives here: callers say which field the URL came from
(``EgressRefused.rule`` and ``detail`` name what was wrong with it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses it resolves to (as strings); injectable for tests.
Resolver = Callable[[str, int], Awaitable[list[str]]]
SyncResolver = Callable[[str, int], list[str]]

# Cloud instance metadata services: AWS, GCP, Azure, OpenStack (169.254.169.254, already
# link-local), AWS ECS task metadata, AWS IMDS over IPv6, Alibaba Cloud, Tencent Cloud.
CLOUD_METADATA: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "169.254.0.23")
)
# IPv4 written the way inet_aton reads it (decimal, octal, hex, 1 to 4 parts).
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)


class EgressRefused(ValueError):
    """A URL an outgoing request may not go to: ``rule`` says which check it failed."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The allowlist's networks ("127.0.0.1/32", "10.8.0.0/16", "::1"); ValueError names a bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not a network in CIDR notation") from None
    return tuple(networks)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, in any notation a resolver accepts; None for a name."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])  # an IPv6 zone id is not part of it
    except ValueError:
        pass
    if _LEGACY_IPV4.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare.rstrip(".")))
        except OSError:
            # Looks numeric but is no address (e.g. a part over 255): never send it to DNS.
            raise EgressRefused("host-invalid", f"{host!r} is neither an address nor a host name") from None
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in ipaddress.ip_network("::/96") and int(address) > 1:  # IPv4-compatible (deprecated)
        return ipaddress.IPv4Address(int(address))
    return None


def non_public_kind(address: IPAddress) -> str | None:
    """Why an address is not a public one ("loopback", "private" ...), or None if it is."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        kind = non_public_kind(embedded)
        return kind or None
    if address in CLOUD_METADATA:
        return "cloud-metadata"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unique-local", isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("fc00::/7")),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not-global", not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


@dataclass(frozen=True)
class Target:
    """A checked URL's parts: where the request goes and what it is called."""

    scheme: str
    host: str  # as written in the URL (for Host and SNI), brackets stripped
    port: int
    literal: IPAddress | None


@dataclass(frozen=True)
class EgressPolicy:
    """Which URLs outgoing requests may go to (see the module docstring)."""

    allow_http: bool = False
    allowlist: tuple[IPNetwork, ...] = ()
    resolver: Resolver | None = field(default=None, compare=False)
    sync_resolver: SyncResolver | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> EgressPolicy:
        if getattr(settings, "egress_hosts_file_only", False):
            # Development and tests: names from the hosts file only, so no DNS query leaves
            # a machine whose only network is loopback.
            overrides.setdefault("resolver", hosts_file_resolver)
            overrides.setdefault("sync_resolver", hosts_file_resolver_sync)
        return cls(
            allow_http=settings.egress_allow_http, allowlist=parse_networks(settings.egress_allowlist), **overrides
        )

    # -- the checks ------------------------------------------------------------------
    def target(self, url: str) -> Target:
        """The checks that need no resolution: scheme, credentials, host, port."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise EgressRefused("url-invalid", f"not a valid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            raise EgressRefused("https-required", f"scheme {scheme!r}: only https is allowed")
        if scheme == "http" and not self.allow_http:
            raise EgressRefused("https-required", "http is not allowed: use https")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise EgressRefused("no-credentials-in-url", "a URL must not carry credentials (user:password@)")
        host = parts.hostname or ""
        if not host:
            raise EgressRefused("url-invalid", "the URL has no host")
        return Target(scheme, host, port or (443 if scheme == "https" else 80), literal_address(host))

    def check_address(self, host: str, address: IPAddress) -> None:
        if any(address in network for network in self.allowlist):
            return
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        if mapped is not None and any(mapped in network for network in self.allowlist):
            return  # ::ffff:a.b.c.d is a.b.c.d itself (6to4, NAT64 are other hosts)
        kind = non_public_kind(address)
        if kind is not None:
            shown = host if str(address) == host else f"{host} ({address})"
            raise EgressRefused("address-not-public", f"{shown} is a {kind} address, not a public one")

    def _checked(self, target: Target, answers: Sequence[str]) -> IPAddress:
        if not answers:
            raise EgressRefused("host-unresolvable", f"{target.host} does not resolve")
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
        for address in addresses:  # every answer: a resolver may rotate them
            self.check_address(target.host, address)
        return addresses[0]

    async def resolve(self, url: str) -> tuple[Target, IPAddress]:
        """The URL's target and the checked address to connect to; raises EgressRefused."""
        target = self.target(url)
        if target.literal is not None:
            return target, self._checked(target, [str(target.literal)])
        resolver = self.resolver or system_resolver
        try:
            answers = await resolver(target.host, target.port)
        except OSError:
            answers = []
        return target, self._checked(target, answers)

    def resolve_sync(self, url: str) -> tuple[Target, IPAddress]:
        target = self.target(url)
        if target.literal is not None:
            return target, self._checked(target, [str(target.literal)])
        resolver = self.sync_resolver or system_resolver_sync
        try:
            answers = resolver(target.host, target.port)
        except OSError:
            answers = []
        return target, self._checked(target, answers)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


HOSTS_FILE = Path("/etc/hosts")


def hosts_file_resolver_sync(host: str, port: int, hosts_file: Path = HOSTS_FILE) -> list[str]:
    """The addresses the hosts file gives ``host``, asking no DNS server (none if absent)."""
    answers: list[str] = []
    try:
        lines = hosts_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and host.lower().rstrip(".") in (name.lower() for name in fields[1:]):
            answers.append(fields[0])
    return list(dict.fromkeys(answers))


async def hosts_file_resolver(host: str, port: int) -> list[str]:
    return hosts_file_resolver_sync(host, port)


def system_resolver_sync(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _pin(request: httpx.Request, target: Target, address: IPAddress) -> None:
    """Point the request at the checked address; Host and SNI stay the URL's host."""
    request.url = request.url.copy_with(host=str(address))
    if target.scheme == "https" and target.literal is None:
        request.extensions = {**request.extensions, "sni_hostname": target.host}


class PinnedAsyncTransport(httpx.AsyncBaseTransport):
    """Resolves, checks and connects to the checked address, for every request."""

    def __init__(self, policy: EgressPolicy, **transport: Any) -> None:
        self.policy = policy
        self._inner = httpx.AsyncHTTPTransport(**transport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target, address = await self.policy.resolve(str(request.url))
        _pin(request, target, address)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class PinnedTransport(httpx.BaseTransport):
    """``PinnedAsyncTransport`` for a synchronous client."""

    def __init__(self, policy: EgressPolicy, **transport: Any) -> None:
        self.policy = policy
        self._inner = httpx.HTTPTransport(**transport)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target, address = self.policy.resolve_sync(str(request.url))
        _pin(request, target, address)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def pinned_async_client(policy: EgressPolicy, **client: Any) -> httpx.AsyncClient:
    """An httpx client that only reaches what ``policy`` allows, and follows no redirect."""
    # No proxy from the environment: it would connect somewhere other than the checked address.
    return httpx.AsyncClient(transport=PinnedAsyncTransport(policy), follow_redirects=False, trust_env=False, **client)


def pinned_client(policy: EgressPolicy, **client: Any) -> httpx.Client:
    return httpx.Client(transport=PinnedTransport(policy), follow_redirects=False, trust_env=False, **client)
