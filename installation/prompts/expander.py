"""Expanding a visitor's short text T into richer descriptions T' (the seed design's LLM step).

- ``OfflineExpander`` (default): curated phrase banks (moods, palettes, light, art movements),
  ranked by sentence-embedding similarity to T; no network, no large model.
- ``HttpExpander``: an OpenAI-compatible chat endpoint (a local llama.cpp or Ollama server).
- ``TransformersExpander``: a local causal language model loaded from a directory.
The two LLM expanders have a timeout and fall back to the offline expander on any failure.
"""

from __future__ import annotations

import abc
import concurrent.futures
import json
import logging
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from engine.errors import ConfigError

log = logging.getLogger(__name__)

PHRASES = Path(__file__).resolve().parent / "data" / "phrases.yaml"
SYSTEM_PROMPT = (
    "You help an art installation. Given a visitor's short prompt, write {n} short, vivid, visual "
    "descriptions of how a painting of it could look (mood, colours, light, brushwork). One per line, "
    "no numbering, no commentary."
)


class Expander(abc.ABC):
    @abc.abstractmethod
    def expand(self, text: str, n: int = 3) -> list[str]:
        """Up to ``n`` richer descriptions of ``text``."""


class OfflineExpander(Expander):
    def __init__(self, embed: Callable[[list[str]], np.ndarray], phrases: str | Path = PHRASES) -> None:
        try:
            banks = yaml.safe_load(Path(phrases).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{phrases}: cannot read phrase banks ({exc})") from exc
        if not isinstance(banks, dict) or not all(isinstance(v, list) and v for v in banks.values()):
            raise ConfigError(f"{phrases}: expected categories each with a list of phrases")
        self.embed = embed
        self.banks = {k: [str(p) for p in v] for k, v in banks.items()}
        self._vecs = {k: embed(v) for k, v in self.banks.items()}

    def expand(self, text: str, n: int = 3) -> list[str]:
        q = self.embed([text])[0]
        best = []
        for cat, phrases in self.banks.items():
            sims = self._vecs[cat] @ q
            i = int(np.argmax(sims))
            best.append((float(sims[i]), phrases[i]))
        best.sort(reverse=True)
        return [f"{text}, {phrase}" for _, phrase in best[:n]]


def _lines(raw: str, n: int) -> list[str]:
    out = []
    for line in raw.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip('"')
        if 3 <= len(line) <= 300:
            out.append(line)
    return out[:n]


class _FallbackExpander(Expander):
    """Runs the LLM call with a timeout; any failure or empty answer falls back to offline phrases."""

    def __init__(self, fallback: Expander, timeout_s: float) -> None:
        self.fallback = fallback
        self.timeout_s = timeout_s
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="laterna-llm")

    @abc.abstractmethod
    def _generate(self, text: str, n: int) -> str: ...

    def expand(self, text: str, n: int = 3) -> list[str]:
        future = self._pool.submit(self._generate, text, n)
        try:
            lines = _lines(future.result(timeout=self.timeout_s), n)
            if lines:
                return lines
            log.warning("%s gave no usable lines; using offline phrases", type(self).__name__)
        except concurrent.futures.TimeoutError:
            log.warning("%s timed out after %.1f s; using offline phrases", type(self).__name__, self.timeout_s)
        except Exception as exc:  # network errors, bad JSON, model errors: the show goes on
            log.warning("%s failed (%s); using offline phrases", type(self).__name__, exc)
        return self.fallback.expand(text, n)


class HttpExpander(_FallbackExpander):
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint, e.g. llama.cpp's server or Ollama."""

    def __init__(self, url: str, model: str, fallback: Expander, timeout_s: float = 2.0, api_key: str = "") -> None:
        super().__init__(fallback, timeout_s)
        self.url = url.rstrip("/")
        if not self.url.endswith("/chat/completions"):
            self.url += "/v1/chat/completions"
        self.model = model
        self.api_key = api_key

    def _generate(self, text: str, n: int) -> str:
        body = json.dumps(
            {
                "model": self.model,
                "temperature": 0.8,
                "max_tokens": 160,
                "messages": [
                    {"role": "system", "content": SYSTEM_PROMPT.format(n=n)},
                    {"role": "user", "content": text},
                ],
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            data = json.loads(resp.read(1 << 20))
        return str(data["choices"][0]["message"]["content"])


class TransformersExpander(_FallbackExpander):
    """A local causal LM (``transformers``) loaded from a directory; never downloads."""

    def __init__(
        self, model_dir: str | Path, fallback: Expander, timeout_s: float = 4.0, max_new_tokens: int = 96
    ) -> None:
        super().__init__(fallback, timeout_s)
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise ConfigError(f"{self.model_dir}: not a transformers model folder (no config.json)")
        self.max_new_tokens = max_new_tokens
        self._tok: Any = None  # transformers tokenizer and model, loaded on first use
        self._model: Any = None

    def _generate(self, text: str, n: int) -> str:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self._model is None:
            self._tok = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            self._model = AutoModelForCausalLM.from_pretrained(self.model_dir, local_files_only=True).eval()
        prompt = f"{SYSTEM_PROMPT.format(n=n)}\nPrompt: {text}\nDescriptions:\n"
        ids = self._tok(prompt, return_tensors="pt")
        out = self._model.generate(
            **ids,
            max_new_tokens=self.max_new_tokens,
            do_sample=True,
            temperature=0.8,
            pad_token_id=self._tok.eos_token_id,
        )
        return self._tok.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)
