import pytest

from installation.server.origins import OriginPolicy, normalise


def policy(*extra: str, url: str = "http://192.168.1.20:8765/", secure: bool = False) -> OriginPolicy:
    return OriginPolicy(extra, lambda: url, lambda: 8765, secure=secure)


@pytest.mark.parametrize(
    "origin, host",
    [
        (None, None),  # not a browser
        ("http://192.168.1.20:8765", None),  # the address the show hands out (the QR code's)
        ("HTTP://192.168.1.20:8765", "192.168.1.20:8765"),
        ("http://127.0.0.1:8765", "127.0.0.1:8765"),  # a kiosk browser on this machine
        ("http://localhost:8765", None),
        ("http://[::1]:8765", None),
        ("http://10.1.2.3:8765", "10.1.2.3:8765"),  # a phone that typed another of this machine's addresses
    ],
)
def test_the_shows_own_origins_are_allowed(origin, host):
    """No Origin, the handed-out address, the address typed (an IP) and localhost forms are the show's own."""
    assert policy().allows(origin, host)


@pytest.mark.parametrize(
    "origin, host",
    [
        ("http://evil.example", "192.168.1.20:8765"),  # a page on another site, in a visitor's browser
        ("http://evil.example:8765", "evil.example:8765"),  # DNS rebinding: the Host is the attacker's name
        ("null", "192.168.1.20:8765"),  # a sandboxed frame or a file
        ("https://192.168.1.20:8765", "192.168.1.20:8765"),  # other scheme
        ("http://127.0.0.1:9999", "127.0.0.1:8765"),  # another port on this machine
        ("not a url", None),
    ],
)
def test_other_origins_are_refused(origin, host):
    """Another site, a rebinding name, 'null', another scheme or port, or junk is refused."""
    assert not policy().allows(origin, host)


def test_configured_origins_and_the_wildcard():
    """Listed origins are allowed beside the own ones; '*' allows any (the old behaviour, on request)."""
    assert policy("https://kiosk.local").allows("https://kiosk.local:443")
    assert not policy("https://kiosk.local").allows("https://evil.example")
    assert policy("*").allows("https://evil.example")


def test_the_public_url_counts_with_its_name_and_tls_changes_the_scheme():
    """A public_url with a host name is the show's own; with TLS the own origins are https."""
    assert policy(url="https://lantern.example/", secure=True).allows("https://lantern.example", "lantern.example")
    assert policy(secure=True).allows("https://127.0.0.1:8765") and not policy(secure=True).allows(
        "http://127.0.0.1:8765"
    )
    assert normalise("http://Example.org:80/") == "http://example.org" and normalise("ftp://x") is None
