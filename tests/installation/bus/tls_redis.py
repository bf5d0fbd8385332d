"""A real ``redis-server`` speaking only TLS, with an ACL user and a password, for the security tests.

``Certificates`` makes a throwaway CA, a server certificate for 127.0.0.1 / localhost and a client
certificate, all signed by it (python ``cryptography``), plus a second, stranger CA that signed nothing
the server shows. ``TlsRedis`` starts ``redis-server --port 0 --tls-port <free>`` (no plain port at all)
with the default user switched off and one ACL user, and stops it by its PID."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.installation.bus.redis_child import REDIS, WHY_NOT

USER = "laterna"
PASSWORD = "s3cret-bus-pass-4711"  # the tests look for this exact text in the logs


def tls_missing() -> str | None:
    """Why the TLS tests cannot run here (no redis-server, no cryptography), or None."""
    if REDIS is None:
        return WHY_NOT
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return "python cryptography is not installed (it makes the test certificates)"
    return None


class Certificates:
    """PEM files in ``folder``: ca.pem, server.pem + server.key, client.pem + client.key, stranger-ca.pem."""

    def __init__(self, folder: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        self.folder = folder
        now = dt.datetime.now(dt.UTC)

        def name(cn: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def write(path: str, data: bytes) -> Path:
            out = folder / path
            out.write_bytes(data)
            return out

        def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
            return key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )

        def ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = (
                x509.CertificateBuilder()
                .subject_name(name(cn))
                .issuer_name(name(cn))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(
                    x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
                )
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256())
            )
            return key, cert

        def leaf(cn: str, ca_key, ca_cert, usage, san: list[x509.GeneralName]):
            key = ec.generate_private_key(ec.SECP256R1())
            builder = (
                x509.CertificateBuilder()
                .subject_name(name(cn))
                .issuer_name(ca_cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            )
            if san:
                builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
            return key, builder.sign(ca_key, hashes.SHA256())

        ca_key, ca_cert = ca("laterna test CA")
        self.ca = write("ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))
        _, stranger = ca("a stranger's CA")
        self.stranger_ca = write("stranger-ca.pem", stranger.public_bytes(serialization.Encoding.PEM))
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        key, cert = leaf("redis", ca_key, ca_cert, ExtendedKeyUsageOID.SERVER_AUTH, san)
        self.server_cert = write("server.pem", cert.public_bytes(serialization.Encoding.PEM))
        self.server_key = write("server.key", key_pem(key))
        key, cert = leaf("render node", ca_key, ca_cert, ExtendedKeyUsageOID.CLIENT_AUTH, [])
        self.client_cert = write("client.pem", cert.public_bytes(serialization.Encoding.PEM))
        self.client_key = write("client.key", key_pem(key))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TlsUnavailable(RuntimeError):
    """redis-server would not start with these TLS options (built without TLS?): the log says why."""


class TlsRedis:
    """redis-server on 127.0.0.1 with TLS only; ``auth_clients``: "no", "optional" or "yes" (client certificates)."""

    def __init__(self, folder: Path, auth_clients: str = "optional") -> None:
        self.folder = folder
        self.certs = Certificates(folder)
        self.auth_clients = auth_clients
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The URL without a password (the tests hand the password over the way an operator would)."""
        return f"rediss://{USER}@127.0.0.1:{self.port}/0"

    def start(self, deadline_s: float = 10.0) -> None:
        assert REDIS is not None
        import redis

        c = self.certs
        for _attempt in range(3):  # the free port could be taken between asking and binding it
            self.port = free_port()
            self.proc = subprocess.Popen(
                [
                    REDIS,
                    "--port",
                    "0",
                    "--bind",
                    "127.0.0.1",
                    "--tls-port",
                    str(self.port),
                    "--tls-cert-file",
                    str(c.server_cert),
                    "--tls-key-file",
                    str(c.server_key),
                    "--tls-ca-cert-file",
                    str(c.ca),
                    "--tls-auth-clients",
                    self.auth_clients,
                    "--dir",
                    str(self.folder),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--user",
                    "default",
                    "off",
                    "--user",
                    USER,
                    "on",
                    f">{PASSWORD}",
                    "~*",
                    "&*",
                    "+@all",
                ],
                stdout=open(self.folder / "redis.log", "ab"),  # noqa: SIM115 - the child owns it
                stderr=subprocess.STDOUT,
            )
            end = time.monotonic() + deadline_s
            while self.proc.poll() is None and time.monotonic() < end:
                try:
                    if self.client().ping():
                        return
                except (redis.RedisError, OSError):
                    time.sleep(0.05)
            self.stop()
        raise TlsUnavailable(f"redis-server with TLS did not start: {(self.folder / 'redis.log').read_text()[-500:]}")

    def client(self):
        import redis

        c = self.certs
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            username=USER,
            password=PASSWORD,
            ssl=True,
            ssl_ca_certs=str(c.ca),
            ssl_certfile=str(c.client_cert),
            ssl_keyfile=str(c.client_key),
            socket_timeout=2,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
