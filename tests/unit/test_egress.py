"""The egress guard (services/infra/egress.py): every notation of an internal address
refused without connecting, a name resolving to loopback refused, credentials and plain
http refused, the operator's allowlist honoured; and the Credit China endpoint held to
the same guard at start-up. No packet leaves the machine: literal addresses are never
resolved, names come from a test hosts table (or /etc/hosts for ``localhost``)."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from services.disclosure.application import DisclosureSettings
from services.disclosure.publisher import CreditChinaPublisher
from services.infra.egress import (
    EgressPolicy,
    EgressRefused,
    hosts_file_resolver,
    hosts_file_resolver_sync,
    literal_address,
)
from services.infra.settings import Settings
from tests.unit.hosts import PUBLIC_ADDRESS, Hosts

# Every form issue 16 found accepted, and the other notations of the same addresses.
INTERNAL = {
    "http://127.0.0.1:5432/": "loopback",
    "http://[::1]:8104/": "loopback",
    "http://0.0.0.0:8101/": "unspecified",
    "http://[::]:8101/": "unspecified",
    "http://2130706433:8101/": "loopback",  # decimal
    "http://127.1:8104/": "loopback",  # short form
    "http://0177.0.0.1/": "loopback",  # octal
    "http://0x7f.0.0.1/": "loopback",  # hex parts
    "http://0x7f000001/": "loopback",  # hex
    "http://017700000001/": "loopback",  # octal, one part
    "http://127.0.0.1./": "loopback",  # trailing dot
    "http://169.254.169.254/latest/meta-data/": "cloud-metadata",
    "http://[::ffff:169.254.169.254]/": "cloud-metadata",  # IPv4-mapped
    "http://[::ffff:7f00:1]/": "loopback",  # IPv4-mapped, hex
    "http://[64:ff9b::a9fe:a9fe]/": "cloud-metadata",  # NAT64
    "http://[2002:7f00:1::]/": "loopback",  # 6to4
    "http://[fd00:ec2::254]/": "cloud-metadata",
    "http://100.100.100.200/latest/meta-data/": "cloud-metadata",  # Alibaba Cloud
    "http://10.0.0.8/": "private",
    "http://172.16.5.4/": "private",
    "http://192.168.1.1/": "private",
    "http://0xc0a80101/": "private",
    "http://100.64.0.1/": "not-global",  # shared address space (CGNAT)
    "http://169.254.10.1/": "link-local",
    "http://[fe80::1]/": "link-local",
    "http://[fd12:3456::1]/": "unique-local",
    "http://224.0.0.1/": "multicast",
    "http://[ff02::1]/": "multicast",
    "http://240.0.0.1/": "reserved",
    "http://198.51.100.7/": "private",  # documentation (TEST-NET-2)
}


def refusal(policy: EgressPolicy, url: str) -> EgressRefused:
    with pytest.raises(EgressRefused) as refused:
        asyncio.run(policy.resolve(url))
    return refused.value


@pytest.mark.parametrize(("url", "kind"), INTERNAL.items())
def test_every_notation_of_an_internal_address_is_refused_without_resolving_it(url: str, kind: str) -> None:
    hosts = Hosts()  # knows no name: a literal address must never be looked up
    # http allowed, to show the address rule on its own (production refuses http first).
    refused = refusal(EgressPolicy(allow_http=True, resolver=hosts.resolve), url)
    assert refused.rule == "address-not-public"
    assert f"is a {kind} address" in refused.detail
    assert hosts.asked == []


def test_numeric_looking_hosts_that_are_no_address_are_refused_not_resolved() -> None:
    hosts = Hosts()
    refused = refusal(EgressPolicy(resolver=hosts.resolve), "https://256.256.256.256/")
    assert refused.rule == "host-invalid"
    assert hosts.asked == []
    assert literal_address("hooks.example.org") is None


def test_a_name_that_resolves_to_loopback_is_refused() -> None:
    # The machine's own resolver: localhost comes from /etc/hosts, nothing is sent.
    refused = refusal(EgressPolicy(allow_http=True), "http://localhost:8101/")
    assert refused.rule == "address-not-public"
    assert "localhost (" in refused.detail and "loopback" in refused.detail


def test_a_name_is_refused_if_any_of_its_addresses_is_internal() -> None:
    hosts = Hosts({"mixed.example.org": [PUBLIC_ADDRESS, "10.1.2.3"], "gone.example.org": []})
    policy = EgressPolicy(resolver=hosts.resolve)
    assert refusal(policy, "https://mixed.example.org/").rule == "address-not-public"
    assert refusal(policy, "https://gone.example.org/").rule == "host-unresolvable"
    assert refusal(policy, "https://unknown.example.org/").rule == "host-unresolvable"


def test_credentials_in_a_url_are_refused() -> None:
    policy = EgressPolicy(resolver=Hosts({"hooks.example.org": [PUBLIC_ADDRESS]}).resolve)
    for url in ("https://user:password@hooks.example.org/", "https://token@hooks.example.org/"):
        assert refusal(policy, url).rule == "no-credentials-in-url"


def test_production_requires_https_and_the_allowlist_admits_what_an_operator_names() -> None:
    hosts = Hosts({"hooks.example.org": [PUBLIC_ADDRESS]})
    production = EgressPolicy.from_settings(Settings(), resolver=hosts.resolve)
    assert refusal(production, "http://hooks.example.org/").rule == "https-required"
    assert refusal(production, "ftp://hooks.example.org/").rule == "https-required"
    target, address = asyncio.run(production.resolve("https://hooks.example.org/caseledger"))
    assert (target.host, target.port, str(address)) == ("hooks.example.org", 443, PUBLIC_ADDRESS)
    development = EgressPolicy.from_settings(
        Settings(egress_allow_http=True, egress_allowlist=["127.0.0.0/8", "::1"]), resolver=hosts.resolve
    )
    for url in ("http://127.0.0.1:8104/", "http://2130706433:8104/", "http://[::1]:8104/"):
        assert asyncio.run(development.resolve(url))[1] in {
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::1"),
        }
    # Allowlisting loopback does not open the metadata service or private networks.
    assert refusal(development, "http://169.254.169.254/").rule == "address-not-public"
    assert refusal(development, "http://10.0.0.8/").rule == "address-not-public"


def test_a_bad_allowlist_entry_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="not a network"):
        Settings(egress_allowlist=["127.0.0.0/8", "intranet"])


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://127.0.0.1:8109", "https-required"),  # the default: production must set it
        ("https://169.254.169.254/", "address-not-public"),
        ("https://2130706433/", "address-not-public"),
        ("https://user:secret@203.0.113.9/", "no-credentials-in-url"),
    ],
)
def test_the_publisher_refuses_to_start_with_a_credit_china_url_it_may_not_reach(
    tmp_path: Path, url: str, rule: str
) -> None:
    settings = DisclosureSettings(service_name="disclosure", data_dir=tmp_path, credit_china_url=url)
    with pytest.raises(ValueError, match=f"CREDIT_CHINA_URL .*{rule}"):
        CreditChinaPublisher(None, settings)  # type: ignore[arg-type]  # refused before it is used


def test_the_publisher_starts_with_an_allowlisted_local_simulator(tmp_path: Path) -> None:
    settings = DisclosureSettings(
        service_name="disclosure",
        data_dir=tmp_path,
        credit_china_url="http://127.0.0.1:8109",
        egress_allow_http=True,
        egress_allowlist=["127.0.0.1/32"],
    )
    assert CreditChinaPublisher(None, settings).egress.allow_http  # type: ignore[arg-type]


def test_with_hosts_file_only_a_name_resolves_from_the_hosts_file_and_never_by_dns(tmp_path: Path) -> None:
    """Development and tests (EGRESS_HOSTS_FILE_ONLY): a generated host name is refused as
    unresolvable instead of becoming a DNS query; names in the hosts file still resolve."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost receiver.test  # local\n::1 localhost\n", encoding="utf-8")
    assert hosts_file_resolver_sync("receiver.test", 80, hosts) == ["127.0.0.1"]
    assert hosts_file_resolver_sync("LOCALHOST.", 80, hosts) == ["127.0.0.1", "::1"]
    assert hosts_file_resolver_sync("example.org", 80, hosts) == []

    settings = Settings(egress_allow_http=True, egress_hosts_file_only=True, egress_allowlist=["127.0.0.0/8"])
    policy = EgressPolicy.from_settings(settings)
    assert policy.resolver is hosts_file_resolver and policy.sync_resolver is hosts_file_resolver_sync
    # A name no hosts file lists: refused at once, no resolver asked.
    with pytest.raises(EgressRefused) as refused:
        policy.resolve_sync("http://no-such-host.example.invalid/hook")
    assert refused.value.rule == "host-unresolvable"
    _, address = policy.resolve_sync("http://localhost:8104/hook")  # /etc/hosts: 127.0.0.1
    assert address == ipaddress.ip_address("127.0.0.1")
