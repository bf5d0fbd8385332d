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
