import dataclasses
import logging
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.errors import ConfigError, ModelError, SourceError
from engine.manifest import Manifest, TensorSpec, file_sha256, load_manifest
from engine.sources.generator import GeneratorSource, LatentWalk
from tests.conftest import ROOT
from tests.engine.sources.scripted import ManualClock
from tests.exporters.tiny_gan import tiny_generator


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """A tiny trained 16x16 generator (latent 8), exported to ONNX with its manifest."""
    return tiny_generator(tmp_path_factory.mktemp("generator"))


class Constant(torch.nn.Module):
    """A 'generator' whose picture is one value everywhere, whatever the latent."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, z):
        return torch.zeros(1, 3, 8, 8) + z.sum() * 0 + self.value


def constant_model(
    tmp_path, value: float, out_range: tuple[float, float], name: str = "const", input_name: str = "z", size: int = 4
) -> Manifest:
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(
        Constant(value),
        (torch.zeros(1, size),),
        str(path),
        input_names=[input_name],
        output_names=["img"],
        opset_version=17,
        dynamo=False,
    )
    manifest = Manifest(
        name,
        path.name,
        "generator",
        (TensorSpec(input_name, (1, size)),),
        (TensorSpec("img", (1, 3, 8, 8), range=out_range),),
        sha256=file_sha256(path),
        path=tmp_path / f"{name}.json",
    )
    manifest.save()
    return manifest


def latents(source: GeneratorSource, clock: ManualClock, frames: int, fps: float = 30.0) -> np.ndarray:
    out = []
    for _ in range(frames):
        clock.advance(1.0001 / fps)
        assert source.read() is not None
        out.append(source.latent())
    return np.array(out)


def test_walk_is_continuous_even_while_steered(generator):
    """At 30 fps consecutive latents are close, before, during and after a steer()."""
    clock = ManualClock()
    with GeneratorSource(generator, 64, 36, fps=30, seed=0, clock=clock) as source:
        before = latents(source, clock, 300)
        source.steer(np.full(8, -1.0, np.float32), seconds=2.0)  # a latent of the prior's length
        after = latents(source, clock, 300)
    path = np.concatenate([before, after])
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1) / math.sqrt(8)
    assert steps.max() < 0.05
    assert np.linalg.norm(path[0] - path[-1]) > 1.0  # and it does go somewhere


def test_walk_has_the_priors_spread_and_does_not_come_back():
    """The free walk has unit variance per dimension and does not return to its start within an hour."""
    walk = LatentWalk(64, seed=3)
    taus = np.arange(0.0, 3600.0, 0.5)
    path = np.array([walk.wander(t) for t in taus])
    assert np.mean(path**2) == pytest.approx(1.0, abs=0.15)
    far = np.linalg.norm(path[60:] - path[0], axis=1) / math.sqrt(64)  # from 30 s on
    assert far.min() > 0.3


def test_same_seed_same_dream_other_seed_other_dream(generator):
    """Two sources with one seed and one clock show identical frames; another seed shows others."""
    frames = {}
    for key, seed in (("a", 5), ("b", 5), ("c", 6)):
        clock = ManualClock()
        with GeneratorSource(generator, 48, 32, fps=10, seed=seed, clock=clock) as source:
            shown = []
            for _ in range(5):
                clock.advance(0.7)
                shown.append(source.read().pixels)
        frames[key] = np.stack(shown)
    assert np.array_equal(frames["a"], frames["b"])
    assert not np.array_equal(frames["a"], frames["c"])


def test_steer_glides_to_the_target_and_wanders_around_it():
    """After steer(target, 2 s) the latent starts where it was, is halfway-ish at 1 s, and then stays near target."""
    walk = LatentWalk(32, seed=0)
    target = np.random.default_rng(9).standard_normal(32).astype(np.float32)
    start = walk.latent(10.0, 100.0)
    walk.steer(target, 2.0, now=100.0)
    assert np.allclose(walk.latent(10.0, 100.0), start, atol=1e-5)
    cos = lambda a, b: float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))  # noqa: E731
    mid = walk.latent(11.0, 101.0)
    assert cos(start, target) < cos(mid, target) < 0.9
    arrived = [walk.latent(tau, 100.0 + tau) for tau in (12.0, 30.0, 60.0)]
    assert all(cos(z, target) > 0.9 for z in arrived)
    assert not np.allclose(arrived[1], arrived[2])  # still moving, around the target
    assert all(abs(np.linalg.norm(z) / np.linalg.norm(target) - 1) < 0.2 for z in arrived)


def test_steering_again_mid_glide_is_continuous_and_release_returns_to_wandering():
    """A second steer() during a glide starts from where the walk is; release() ends at the free walk."""
    walk = LatentWalk(16, seed=1)
    rng = np.random.default_rng(0)
    walk.steer(rng.standard_normal(16), 4.0, now=0.0)
    here = walk.latent(5.0, 1.0)
    walk.steer(rng.standard_normal(16), 4.0, now=1.0)
    assert np.allclose(walk.latent(5.0, 1.0), here, atol=1e-5)
    walk.release(2.0, now=10.0)
    assert np.allclose(walk.latent(7.0, 12.5), walk.wander(7.0), atol=1e-6)


def test_steer_refuses_a_latent_of_the_wrong_size(generator):
    """steer() with the wrong number of values is a SourceError saying how many it needs."""
    source = GeneratorSource(generator, 32, 32)
    with pytest.raises(SourceError, match="8 finite numbers"):
        source.steer(np.zeros(5), 1.0)


def test_frames_are_uint8_at_the_requested_size_for_every_fit(generator):
    """Frames are RGB uint8 at the working size whether cropped, letterboxed or stretched."""
    for fit in ("fill", "fit", "stretch"):
        with GeneratorSource(generator, 160, 90, fps=30, fit=fit, clock=ManualClock()) as source:
            frame = source.read()
        assert frame.pixels.shape == (90, 160, 3) and frame.pixels.dtype == np.uint8
        assert frame.source == "generator"
        if fit == "fit":
            assert frame.pixels[:, :30].max() == 0  # black bars beside a square picture


def test_read_is_paced_at_fps(generator):
    """read() gives a new frame once per 1/fps seconds and None in between."""
    clock = ManualClock()
    with GeneratorSource(generator, 32, 32, fps=10, clock=clock) as source:
        assert source.read().seq == 0
        assert source.read() is None
        clock.advance(0.31)
        assert source.read().seq == 3


@pytest.mark.parametrize(
    "value, out_range, pixel",
    [(0.0, (-1.0, 1.0), 128), (0.5, (0.0, 1.0), 128), (51.0, (0.0, 255.0), 51), (-3.0, (-1.0, 1.0), 0)],
)
def test_the_manifests_output_range_maps_to_pixels(tmp_path, value, out_range, pixel):
    """The output range in the manifest ([-1, 1], [0, 1] or [0, 255]) maps to 0..255; beyond it saturates."""
    manifest = constant_model(tmp_path, value, out_range)
    with GeneratorSource(manifest, 32, 18, clock=ManualClock()) as source:
        frame = source.read()
    assert np.all(frame.pixels == pixel)


def test_an_imported_generator_runs(tmp_path):
    """A model probed by import-model (latent input named 'z', output 'img') plays as a generator source."""
    from exporters.import_model import import_model
    from tests.exporters.test_import_model import Generator as ImportedGenerator

    path = tmp_path / "zoo_gan.onnx"
    torch.onnx.export(
        ImportedGenerator(),
        (torch.randn(1, 16),),
        str(path),
        input_names=["z"],
        output_names=["img"],
        opset_version=17,
        dynamo=False,
    )
    import_model(path)
    with GeneratorSource(tmp_path / "zoo_gan.json", 64, 36, clock=ManualClock()) as source:
        frame = source.read()
        source.steer(np.ones(16), 1.0)
    assert source.latent_dim == 16 and frame.pixels.shape == (36, 64, 3)


def test_a_style_network_is_not_a_generator(tiny_model):
    """Giving the generator source a style network's manifest is a ModelError naming the manifest."""
    with pytest.raises(ModelError, match=r"tiny\.json.*not 'generator'"):
        GeneratorSource(tiny_model)


def test_a_manifest_with_the_wrong_latent_size_names_the_model(tmp_path):
    """A manifest that promises another latent size than the model takes fails at open(), naming the file."""
    manifest = constant_model(tmp_path, 0.0, (-1.0, 1.0), size=4)
    wrong = dataclasses.replace(manifest, inputs=(TensorSpec("z", (1, 6)),))
    source = GeneratorSource(wrong, 32, 32)
    with pytest.raises(ModelError, match=r"const\.onnx.*size 4.*says 6"):
        source.open()


def test_a_manifest_with_the_wrong_input_name_names_the_model(tmp_path):
    """A manifest naming an input the model does not have fails at open(), naming the file and the real inputs."""
    manifest = constant_model(tmp_path, 0.0, (-1.0, 1.0))
    wrong = dataclasses.replace(manifest, inputs=(TensorSpec("latent", (1, 4)),))
    with pytest.raises(ModelError, match=r"const\.onnx.*'latent'.*\['z'\]"):
        GeneratorSource(wrong, 32, 32).open()


def test_a_missing_model_file_names_it(tmp_path):
    """A manifest whose model file is gone is a ModelError naming the file, before anything opens."""
    manifest = constant_model(tmp_path, 0.0, (-1.0, 1.0))
    manifest.model_path.unlink()
    with pytest.raises(ModelError, match=r"const\.onnx.*not found"):
        GeneratorSource(load_manifest(manifest.path), 32, 32)
    with pytest.raises(ModelError, match="nothing.json"):
        GeneratorSource(tmp_path / "nothing.json")


def test_bad_settings_are_config_errors(generator):
    """A tiny size, a non-positive fps, a negative speed or an unknown fit is refused at construction."""
    for kwargs in ({"width": 8}, {"fps": 0}, {"speed": -1.0}, {"amplitude": float("nan")}, {"fit": "zoom"}):
        with pytest.raises(ConfigError):
            GeneratorSource(generator, **kwargs)


def test_without_a_microphone_audio_reactivity_says_so_once_and_plays_on(generator, caplog, monkeypatch):
    """audio=True without sounddevice logs one INFO line and the frames keep coming."""
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if the package were not installed
    clock = ManualClock()
    with caplog.at_level(logging.INFO, logger="engine.audio"):
        with GeneratorSource(generator, 32, 32, clock=clock, audio=True) as source:
            for _ in range(3):
                clock.advance(0.1)
                assert source.read() is not None
    said = [r for r in caplog.records if "audio reactivity off" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO


def test_engine_generator_imports_without_torch():
    """The generator source, like all of engine/, imports and runs on ONNX Runtime alone."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import engine.sources.generator, engine.audio, engine.registry\n"
        "assert engine.registry.resolve(engine.registry.SOURCES, 'generator', 'source').__name__ == 'GeneratorSource'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_a_loud_room_speeds_the_walk(generator, monkeypatch):
    """With audio on, the room's loudness and a clap (onset) carry the walk further per second than silence."""
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # no microphone here: the blocks are fed by hand

    def walked(blocks: list[float]) -> float:
        clock = ManualClock()
        with GeneratorSource(generator, 32, 32, clock=clock, audio=True) as source:
            source.audio.active = True  # as if the microphone stream had started
            for amplitude in blocks:
                source.audio.feed(np.full(512, amplitude, np.float32), now=clock())
            for _ in range(10):
                clock.advance(1.0001 / 30)
                source.read()
            return source._tau

    silent = walked([0.0, 0.0])
    loud = walked([0.001, 0.3])  # quiet, then a block 300x louder: loud and an onset
    assert silent == pytest.approx(9 / 30, rel=0.01)  # speed 1: walk time follows the clock
    assert loud > 3 * silent


def test_release_generator_event_reaches_every_generator_in_the_chain(generator):
    """ReleaseGenerator lets the walk of each generator inside switch/fallback/transform wrappers go free."""
    from engine.events import ReleaseGenerator, SteerGenerator
    from engine.loop import apply_to_sources
    from engine.sources.crossfade import SwitchSource
    from engine.sources.fallback import FallbackSource
    from engine.sources.pattern import PatternSource
    from engine.sources.transform import TransformedSource

    a, b = GeneratorSource(generator, 32, 32), GeneratorSource(generator, 32, 32)
    chain = SwitchSource(
        {"live": TransformedSource(FallbackSource(PatternSource(width=32, height=32), a), 32, 32), "generator": b}
    )
    apply_to_sources(chain, SteerGenerator(tuple([1.0] * 8), seconds=0.0))
    assert a.walk.target is not None and b.walk.target is not None
    apply_to_sources(chain, ReleaseGenerator(seconds=0.0))
    assert a.walk.target is None and b.walk.target is None


def _edge_energy(pixels: np.ndarray) -> float:
    import cv2

    y = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(y - cv2.GaussianBlur(y, (0, 0), 1.5)).mean() / (y.std() + 1e-6))


def test_sharpen_crisps_the_enlarged_dream(generator):
    """With sharpen > 0 the dream enlarged to a projector's size has clearly more fine edge energy than the plain
    bicubic enlargement of the same latent; sharpen 0 is the plain enlargement."""
    pictures = {}
    for amount in (0.0, 4.0):
        with GeneratorSource(generator, 480, 270, sharpen=amount, clock=ManualClock()) as source:
            pictures[amount] = source.render(source.walk.wander(3.0))
    assert pictures[4.0].shape == pictures[0.0].shape == (270, 480, 3)
    assert _edge_energy(pictures[4.0]) > 1.1 * _edge_energy(pictures[0.0])


def test_sharpen_keeps_flat_colour(tmp_path):
    """Sharpening a flat dream leaves it flat and its colour unchanged (no halo, no shift)."""
    manifest = constant_model(tmp_path, 0.25, (-1.0, 1.0))
    with GeneratorSource(manifest, 320, 180, sharpen=4.0, clock=ManualClock()) as source:
        frame = source.render(source.walk.wander(0.0))
    plain = round((0.25 + 1.0) / 2.0 * 255.0)
    assert np.abs(frame.astype(int) - plain).max() <= 1


def test_sharpen_out_of_range_is_refused(generator):
    """A sharpen amount outside 0..8 is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="sharpen"):
        GeneratorSource(generator, 64, 36, sharpen=-1.0)
