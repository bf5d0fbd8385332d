import dataclasses
import logging
from types import SimpleNamespace

import pytest

from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.manifest import file_sha256
from engine.pipeline import Stylizer
from installation.ops.supervision import Health
from installation.ops.unstyled import UnstyledReminder


@pytest.fixture()
def broken_model(model_copy):
    """A manifest whose model file is not ONNX at all, with a matching sha256 (it was exported broken)."""
    model_copy.model_path.write_bytes(b"not an onnx file" * 64)
    manifest = dataclasses.replace(model_copy, sha256=file_sha256(model_copy.model_path))
    manifest.save()
    return manifest


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and "UNSTYLED" in r.getMessage()]


def test_unstyled_show_is_reported_now_and_reminded_every_minute(broken_model, caplog):
    """No model loads: an ERROR on the first tick, none again within 60 s, another after (a manual clock)."""
    stylizer = Stylizer([lambda: OnnxRuntimeBackend(broken_model)], (96, 54))
    assert stylizer.backend is None and str(broken_model.model_path) in stylizer.unstyled_reason
    now = [100.0]
    loop = SimpleNamespace(clock=lambda: now[0])
    reminder = UnstyledReminder(stylizer, every_s=60.0)
    with caplog.at_level(logging.ERROR):
        reminder(loop)
        assert len(_errors(caplog)) == 1 and str(broken_model.model_path) in _errors(caplog)[0]
        now[0] += 59.0
        reminder(loop)
        assert len(_errors(caplog)) == 1
        now[0] += 2.0
        reminder(loop)
    assert len(_errors(caplog)) == 2 and "reminder 2" in _errors(caplog)[1]


def test_healthz_says_degraded_while_the_picture_is_unstyled(broken_model, model_copy):
    """/healthz's report is 'degraded' with the reason (HTTP 200: the loop runs) while no model loads."""
    reminder = UnstyledReminder(Stylizer([lambda: OnnxRuntimeBackend(broken_model)], (96, 54)))
    health = Health(lambda: 10.0, clock=lambda: 10.5, degraded=reminder.reasons)
    report = health.report()
    assert report["status"] == "degraded" and health.status_code() == 200
    assert "unstyled" in report["degraded"][0] and broken_model.file in report["degraded"][0]


def test_a_working_model_is_not_degraded(tiny_model, caplog):
    """With a model that loads, no reminder is logged and /healthz says ok."""
    reminder = UnstyledReminder(Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (96, 54)))
    with caplog.at_level(logging.ERROR):
        reminder(SimpleNamespace(clock=lambda: 0.0))
    assert not _errors(caplog) and reminder.reasons() == []
    assert Health(lambda: 1.0, clock=lambda: 1.0, degraded=reminder.reasons).report()["status"] == "ok"


def test_a_running_show_without_its_model_goes_on_and_says_so(broken_model, caplog):
    """A real headless show whose model will not load shows its frames unstyled and logs the ERROR reminder."""
    from installation.app import Installation
    from installation.config.schema import config_from_dict

    cfg = config_from_dict(
        {
            "source": {"type": "pattern", "width": 96, "height": 54},
            "model": {"manifest": str(broken_model.path), "sessions": 1},
            "pipeline": {"width": 96, "height": 54, "workers": 1},
            "style": {"start": {"moss": 1.0}},
            "display": {"type": "headless", "width": 96, "height": 54},
            "server": {"enabled": False},
            "attract": {"enabled": False},
        },
        "test.yaml",
    )
    inst = Installation(cfg, headless=True, server=False)
    with caplog.at_level(logging.ERROR):
        stats = inst.run(frames=3)
    assert stats["frames"] == 3 and stats["backend"] == "none (passthrough)"
    assert len(_errors(caplog)) == 1 and inst.unstyled.reasons()
