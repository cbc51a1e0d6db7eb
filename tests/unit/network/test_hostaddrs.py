"""``--listen-addr``, ``--advertise-addr`` and ``--data-path-addr`` as Docker resolves them, over a fake
host's interfaces: IPs, IP:port, interface names (with a port), Docker's refusals, and the system's
address when none is given."""

from __future__ import annotations

import pytest

from shoal.network.hostaddrs import (
    ERR_BAD_ADVERTISE,
    ERR_BAD_DATA_PATH,
    ERR_BAD_LISTEN,
    ERR_NO_IP,
    AddrError,
    Interface,
    normalize_listen,
    resolve_advertise,
    resolve_data_path,
    resolve_listen,
    system_addr,
)

LO = Interface("lo", ("127.0.0.1", "::1"), loopback=True)
ETH0 = Interface("eth0", ("10.213.5.2", "fe80::1"))
HOST = [LO, ETH0, Interface("eth1", ()), Interface("eth2", ("10.213.6.2", "10.213.6.3")),
        Interface("eth3", ("fd00::3", "fd00::4")), Interface("v6only", ("fd00::9", "fe80::9")),
        Interface("shb-default", ("10.213.240.1",))]


@pytest.mark.parametrize(("given", "listen_port", "want"), [
    ("10.1.2.3", "2377", ("10.1.2.3", "2377")),
    ("10.1.2.3:4000", "2377", ("10.1.2.3", "4000")),
    ("10.1.2.3", "2999", ("10.1.2.3", "2999")),  # the port defaults to the listen port
    ("eth0", "2377", ("10.213.5.2", "2377")),
    ("eth0:2377", "2377", ("10.213.5.2", "2377")),
    ("eth0:4000", "2377", ("10.213.5.2", "4000")),
])
def test_advertise_accepts_ips_and_interfaces(given: str, listen_port: str, want: tuple[str, str]) -> None:
    assert resolve_advertise(given, listen_port, HOST) == want


def test_advertise_ipv6_with_a_port() -> None:
    assert resolve_advertise("[fd00::7]:2400", "2377", HOST) == ("fd00::7", "2400")
    assert resolve_advertise("fd00::7", "2377", HOST) == ("fd00::7", "2377")


@pytest.mark.parametrize("given", ["node01", "node01:2377", "0.0.0.0", "0.0.0.0:2377", "nosuch0"])
def test_advertise_refuses_other_names_in_dockers_words(given: str) -> None:
    with pytest.raises(AddrError) as e:
        resolve_advertise(given, "2377", HOST)
    assert str(e.value) == ERR_BAD_ADVERTISE
    assert ERR_BAD_ADVERTISE == ("advertise address must be a non-zero IP address or network interface "
                                 "(with optional port number)")


def test_an_interface_without_one_address() -> None:
    with pytest.raises(AddrError, match=r"^interface eth1 has no usable IPv4 or IPv6 address$"):
        resolve_advertise("eth1", "2377", HOST)
    with pytest.raises(AddrError, match=r"^interface eth2 has more than one IPv4 address \(10\.213\.6\.2 and "
                                        r"10\.213\.6\.3\)$"):
        resolve_advertise("eth2:2377", "2377", HOST)
    with pytest.raises(AddrError, match=r"^interface eth3 has more than one IPv6 address"):
        resolve_data_path("eth3", HOST)
    # As Docker's (Go lists link-local addresses too): a global IPv6 and a link-local one are two.
    with pytest.raises(AddrError, match=r"^interface v6only has more than one IPv6 address \(fd00::9 and fe80::9\)$"):
        resolve_advertise("v6only", "2377", HOST)


def test_listen_address() -> None:
    assert normalize_listen("") == "0.0.0.0:2377"
    assert normalize_listen(":2400") == "0.0.0.0:2400"
    assert normalize_listen("eth0") == "eth0:2377"
    assert resolve_listen("", HOST) == ("0.0.0.0", "2377")
    assert resolve_listen("127.0.0.1:2400", HOST) == ("127.0.0.1", "2400")
    assert resolve_listen("eth0:2400", HOST) == ("10.213.5.2", "2400")
    assert resolve_listen("eth0", HOST) == ("10.213.5.2", "2377")
    with pytest.raises(AddrError) as e:
        resolve_listen("node01:2377", HOST)
    assert str(e.value) == ERR_BAD_LISTEN


def test_data_path_address() -> None:
    assert resolve_data_path("", HOST) == ""
    assert resolve_data_path("eth0", HOST) == "10.213.5.2"
    assert resolve_data_path("10.9.9.9", HOST) == "10.9.9.9"
    for bad in ("node01", "10.9.9.9:4789", "0.0.0.0"):
        with pytest.raises(AddrError) as e:
            resolve_data_path(bad, HOST)
        assert str(e.value) == ERR_BAD_DATA_PATH


def test_the_systems_address_when_none_is_given() -> None:
    # One interface with addresses besides loopback (IPv4 preferred, link-local left out), shoal's own
    # bridges and interfaces that are down left out.
    host = [LO, Interface("eth0", ("10.213.5.2", "fd00::2", "fe80::1")), Interface("eth9", ("10.9.9.9",), up=False),
            Interface("shb-default", ("10.213.240.1",)), Interface("shi-x", ("10.0.0.1",))]
    assert system_addr(host) == "10.213.5.2"
    assert resolve_advertise("", "2400", host) == ("10.213.5.2", "2400")
    assert system_addr([LO, Interface("eth0", ("fd00::2", "fe80::1"))]) == "fd00::2"


def test_dockers_message_when_it_cannot_choose() -> None:
    with pytest.raises(AddrError) as e:
        system_addr([LO, Interface("eth0", ("10.213.5.2",)), Interface("eth1", ("10.213.7.2",))])
    assert str(e.value) == ("could not choose an IP address to advertise since this system has multiple addresses "
                            "on different interfaces (10.213.5.2 on eth0 and 10.213.7.2 on eth1)")
    with pytest.raises(AddrError) as e:
        system_addr([LO, Interface("eth1", ("10.213.78.2", "10.213.78.3"))])
    assert str(e.value) == ("could not choose an IP address to advertise since this system has multiple addresses "
                            "on interface eth1 (10.213.78.2 and 10.213.78.3)")
    with pytest.raises(AddrError) as e:
        system_addr([LO, Interface("eth0", ("fe80::1",))])
    assert str(e.value) == ERR_NO_IP
