"""Settings of the Director, its expander and moderation (config sections ``director`` and ``moderation``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

from installation.config.base import PathText, Settings, related


class ExpanderSettings(Settings):
    """Turns a visitor's few words into richer descriptions before interpretation."""

    type: Literal["offline", "http", "transformers", "none"] = Field(
        "offline",
        description="offline: built in; http: an OpenAI-compatible server; transformers: a local "
        "causal LM; none: the words as they are",
    )
    url: StrictStr = Field("", description="OpenAI-compatible endpoint (llama.cpp server, Ollama) for type http")
    model: StrictStr = Field("", description="the model name the endpoint serves")
    model_dir: PathText = Field("", description="a local transformers causal LM folder for type transformers")
    timeout_s: StrictFloat = Field(2.0, gt=0, description="longest wait for an expansion (then the offline one)")

    @model_validator(mode="after")
    def _needs(self) -> ExpanderSettings:
        if self.type == "http" and not self.url:
            raise related("url", "an OpenAI-compatible endpoint URL for expander type 'http'")
        if self.type == "transformers" and not self.model_dir:
            raise related("model_dir", "a local model folder for expander type 'transformers'")
        return self


class DirectorSettings(Settings):
    """Pacing and the fair queue of visitors' prompts, and how words choose styles."""

    min_show_s: StrictFloat = Field(20.0, ge=0, description="each visitor's prompt is shown at least this long")
    max_queue: StrictInt = Field(50, ge=1, le=10000, description="prompts waiting at once (more are declined)")
    max_age_s: StrictFloat = Field(600.0, gt=0, description="prompts waiting longer than this are dropped")
    newcomer_rate: StrictFloat = Field(
        0.2, gt=0, description="prompts a second from newcomers (connected under server.settle_s ago), all together"
    )
    newcomer_burst: StrictInt = Field(10, ge=1, description="newcomers' prompts accepted at once")
    newcomer_share: StrictFloat = Field(
        0.5, ge=0, le=1, description="part of the queue newcomers may hold; the rest stays open to visitors who stayed"
    )
    temperature: StrictFloat = Field(
        0.05, gt=0, description="softmax temperature of words -> style weights (lower: fewer styles per prompt)"
    )
    top_k: StrictInt = Field(3, ge=1, description="styles mixed for one prompt, at most")
    expansions: StrictInt = Field(3, ge=0, description="expanded descriptions asked for per prompt")
    tick_s: StrictFloat = Field(0.05, gt=0, description="how often the Director looks at its queue")
    expander: ExpanderSettings = Field(default_factory=ExpanderSettings, description="the expander")


class ModerationSettings(Settings):
    """Words (and, optionally, meanings) that keep a prompt off the wall."""

    blocklist: PathText = Field("", description="a file of extra blocked words/phrases, one per line")
    block: tuple[StrictStr, ...] = Field((), description="extra blocked words/phrases")
    default_list: StrictBool = Field(True, description="use the shipped English list")
    semantic: StrictBool = Field(True, description="also refuse prompts close in meaning to `concepts`")
    concepts: tuple[StrictStr, ...] = Field(
        (),
        description="blocked concepts for semantic moderation; empty: the "
        "shipped list, installation/prompts/data/concepts_en.txt",
    )
    threshold: StrictFloat = Field(0.5, gt=0, le=1, description="similarity at which a prompt is refused")
