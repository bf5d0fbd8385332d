import shutil
import tempfile
from pathlib import Path

import pytest

from tests.installation.bus.redis_child import REDIS, WHY_NOT, RedisChild, redis_client_missing


@pytest.fixture()
def redis_server():
    """A fresh redis-server child on a unix socket in a short temp dir (AOF on); skipped, saying why, without one."""
    if REDIS is None:
        pytest.skip(WHY_NOT)
    missing = redis_client_missing()
    if missing:
        pytest.skip(missing)
    folder = Path(tempfile.mkdtemp(prefix="laterna-redis-"))
    child = RedisChild(folder)
    child.start()
    yield child
    child.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _tls_redis(auth_clients: str):
    from tests.installation.bus.tls_redis import TlsRedis, TlsUnavailable, tls_missing

    missing = tls_missing() or redis_client_missing()
    if missing:
        pytest.skip(missing)
    folder = Path(tempfile.mkdtemp(prefix="laterna-tls-redis-"))
    child = TlsRedis(folder, auth_clients)
    try:
        child.start()
    except TlsUnavailable as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"this redis-server cannot serve TLS: {exc}")
    return child, folder


@pytest.fixture()
def tls_redis():
    """redis-server speaking TLS only (client certificates optional), default user off, one ACL user."""
    child, folder = _tls_redis("optional")
    yield child
    child.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def tls_redis_client_certs():
    """The same, but Redis asks every client for a certificate signed by its CA (--tls-auth-clients yes)."""
    child, folder = _tls_redis("yes")
    yield child
    child.stop()
    shutil.rmtree(folder, ignore_errors=True)
