import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from installation.prompts.embedding import SentenceEmbedder, onnx_path
from tests.conftest import ROOT

TEXTS = [
    "a stormy sea at night",
    "x",
    "warm golden light over wheat fields, thick brush strokes " * 30,
    "moss",
    "Nächtliche Stadt im Regen",
]


@pytest.fixture(scope="module")
def reference():
    """sentence-transformers' own embeddings of TEXTS: the reference the ONNX path must match."""
    return SentenceEmbedder(backend="sentence-transformers")(TEXTS)


def test_onnx_embeddings_match_sentence_transformers(embedder, reference):
    """The ONNX Runtime path gives the same unit vectors as sentence-transformers (cosine >= 0.999 each)."""
    vecs = embedder(TEXTS)
    assert embedder.load().backend == "onnxruntime"
    assert vecs.shape == reference.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert (vecs * reference).sum(1).min() >= 0.999


def test_onnx_path_does_not_import_torch(embedder):
    """Once exported, loading and using the embeddings imports neither torch nor transformers (fast start-up)."""
    embedder.load()  # the cached export exists from here on
    code = (
        "import sys, json; from installation.prompts.embedding import SentenceEmbedder; "
        "e = SentenceEmbedder(); e(['hello']); "
        "print(json.dumps([e.load().backend, 'torch' in sys.modules, 'transformers' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=300
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["onnxruntime", False, False]


def test_unwritable_cache_falls_back_to_sentence_transformers(tmp_path, reference, caplog):
    """If the ONNX export cannot be written, embeddings still work through sentence-transformers, with a warning."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="installation.prompts.embedding"):
        emb = SentenceEmbedder(onnx_dir=blocker)
        vecs = emb(TEXTS)
    assert emb.load().backend == "sentence-transformers"
    assert not onnx_path(emb.model_dir, blocker).exists()
    assert (vecs * reference).sum(1).min() >= 0.999
    assert sum("using sentence-transformers" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("cache_size", [0, 2])
def test_a_call_larger_than_the_cache_still_embeds_every_text(cache_size, reference):
    """Asking for more texts at once than the cache holds (or with no cache) returns every vector, in order."""
    small = SentenceEmbedder(cache_size=cache_size)
    out = small(TEXTS)
    assert out.shape == reference.shape
    assert np.allclose(out, reference, atol=1e-4)
    assert np.allclose(small(TEXTS[:1]), reference[:1], atol=1e-4)
