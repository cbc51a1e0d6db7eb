"""The web console's login tokens (``pki``): signed with a secret of the root CA key, with an expiry."""

from __future__ import annotations

from shoal import pki
from shoal.manager.ca import new_root_ca


def test_a_token_is_valid_until_it_expires() -> None:
    secret = pki.ui_token_secret(new_root_ca()[1])
    token = pki.make_ui_token(secret, 60, now=1000.0)
    assert token.startswith("shoalui-1.1060.")
    assert pki.check_ui_token(secret, token, now=1059.0)
    assert not pki.check_ui_token(secret, token, now=1060.0)


def test_another_ca_or_a_changed_token_is_refused() -> None:
    secret = pki.ui_token_secret(new_root_ca()[1])
    token = pki.make_ui_token(secret, 60, now=1000.0)
    assert not pki.check_ui_token(pki.ui_token_secret(new_root_ca()[1]), token, now=1000.0)
    prefix, expiry, nonce, mac = token.split(".")
    assert not pki.check_ui_token(secret, f"{prefix}.9999999999.{nonce}.{mac}", now=1000.0)  # a later expiry
    changed = ("1" if mac[0] == "0" else "0") + mac[1:]  # always another MAC (its last digit was 0 in 1 of 16)
    assert not pki.check_ui_token(secret, f"{prefix}.{expiry}.{nonce}.{changed}", now=1000.0)
    for bad in ("", "x", "shoalui-1..", "shoalui-1.abc.00.ff", "shoalui-1.1060.00.é"):
        assert not pki.check_ui_token(secret, bad, now=1000.0)


def test_the_secret_is_not_the_key() -> None:
    key = new_root_ca()[1]
    secret = pki.ui_token_secret(key)
    assert len(secret) == 32 and secret != pki.ui_token_secret(new_root_ca()[1])
    assert secret.hex() not in key
