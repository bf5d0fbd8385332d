"""Start-up checks of the bus's security settings, the client's options, and what the operator is told
when Redis says no: each names the setting to look at and never the password."""

import ssl

import pytest

from engine.errors import ConfigError
from installation.bus import connect
from installation.bus.settings import BusSettings

SECRET = "hunter2-bus"


def test_tls_files_for_a_plain_url_are_refused(tmp_path):
    """bus.tls_ca with a redis:// URL would speak plain text: a ConfigError naming the key, at start-up."""
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(ConfigError, match="bus.tls_ca .* not rediss://"):
        connect.check(BusSettings(tls_ca=str(ca)), "redis://hub:6379/0")


def test_missing_tls_files_and_a_lone_key_are_named(tmp_path):
    """A CA file that is not there, or a client key without its certificate, is named before anything starts."""
    with pytest.raises(ConfigError, match="bus.tls_ca: .*nope.pem is not a file"):
        connect.check(BusSettings(tls_ca=str(tmp_path / "nope.pem")), "rediss://hub:6380/0")
    key = tmp_path / "k.pem"
    key.write_text("x")
    with pytest.raises(ConfigError, match="bus.tls_key is set without bus.tls_cert"):
        connect.check(BusSettings(tls_key=str(key)), "rediss://hub:6380/0")


def test_an_unreadable_password_file_is_named_not_read_out(tmp_path):
    """A password file that cannot be read is a ConfigError naming the file; a readable one is used, stripped."""
    with pytest.raises(ConfigError, match="bus.password_file .*missing.txt cannot be read"):
        connect.check(BusSettings(password_file=str(tmp_path / "missing.txt")), "redis://hub:6379/0")
    secret = tmp_path / "pw.txt"
    secret.write_text(SECRET + "\n")
    options = connect.client_options(BusSettings(password_file=str(secret), username="show"), "redis://hub/0")
    assert options == {"password": SECRET, "username": "show"}


def test_tls_files_come_from_the_environment_first(tmp_path, monkeypatch):
    """$LATERNA_BUS_TLS_CA / _CERT / _KEY override the config's files; the server is always verified."""
    monkeypatch.setenv("LATERNA_BUS_TLS_CA", "/etc/laterna/ca.pem")
    monkeypatch.setenv("LATERNA_BUS_TLS_CERT", "/etc/laterna/node.pem")
    settings = BusSettings(tls_ca="/from/file/ca.pem", tls_key="/from/file/node.key")
    assert settings.tls_files() == ("/etc/laterna/ca.pem", "/etc/laterna/node.pem", "/from/file/node.key")
    options = connect.client_options(settings, "rediss://hub:6380/0")
    assert options["ssl_ca_certs"] == "/etc/laterna/ca.pem" and options["ssl_cert_reqs"] == "required"
    assert options["ssl_check_hostname"] is True
    assert (options["ssl_certfile"], options["ssl_keyfile"]) == ("/etc/laterna/node.pem", "/from/file/node.key")
    assert "ssl_ca_certs" not in connect.client_options(settings, "redis://hub:6379/0")


def test_failures_are_explained_by_the_setting_to_look_at(monkeypatch):
    """A refused password names where it came from (not what it is); an untrusted certificate names the CA
    file; anything else is 'unreachable'."""
    from redis.exceptions import AuthenticationError, ConnectionError

    monkeypatch.setenv("LATERNA_BUS_PASSWORD", SECRET)
    where = "rediss://show@hub:6380/0"
    said = connect.explain(AuthenticationError("invalid username-password pair"), where, BusSettings())
    assert "refused the user and password" in said and "$LATERNA_BUS_PASSWORD" in said and SECRET not in said
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error = ConnectionError("Error 1 connecting to hub:6380. [SSL: CERTIFICATE_VERIFY_FAILED]")
    error.__cause__ = cause
    said = connect.explain(error, where, BusSettings(tls_ca="/etc/laterna/ca.pem"))
    assert "not trusted by bus.tls_ca /etc/laterna/ca.pem" in said
    said = connect.explain(
        ConnectionError("Error 111 connecting to hub:6379. Connection refused."), where, BusSettings()
    )
    assert "is unreachable" in said
