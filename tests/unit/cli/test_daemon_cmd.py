"""``shoal daemon``'s process set-up."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import click
import pytest

from shoal.cli import daemon_cmd
from shoal.frontdoor.docker.app import warn_if_open


def test_malloc_arenas_are_capped_unless_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert daemon_cmd.few_malloc_arenas() is False  # the operator's setting stands
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert daemon_cmd.few_malloc_arenas(8) is True  # glibc took it (8: the process keeps its default headroom)


def test_tls_files_default_to_docker_cert_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path))
    assert daemon_cmd.docker_cert_path() == tmp_path
    monkeypatch.delenv("DOCKER_CERT_PATH")
    assert daemon_cmd.docker_cert_path() == Path.home() / ".docker"


def test_missing_tls_files_stop_the_daemon_with_their_names(tmp_path: Path) -> None:
    with pytest.raises(click.UsageError, match="could not load X509 key pair") as e:
        daemon_cmd.tls_context(True, tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")
    assert str(tmp_path / "cert.pem") in e.value.message


def test_tcp_without_tlsverify_warns_as_dockerd(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="shoal")
    warn_if_open("tcp://127.0.0.1:2375", None)
    assert ("Binding to IP address without --tlsverify is insecure and gives root access on this machine to "
            "everyone who has access to your network.") in caplog.text
    caplog.clear()
    verified = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    verified.verify_mode = ssl.CERT_REQUIRED
    warn_if_open("tcp://127.0.0.1:2376", verified)
    assert caplog.text == ""
