import numpy as np

from engine.backends.base import Backend
from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.convert import to_pixels, to_tensor
from engine.errors import BackendError
from engine.frame import Frame
from engine.pipeline import Stylizer
from engine.style import StyleMix


class BrokenBackend(Backend):
    """A backend whose runtime fails at every frame (a lost GPU, a driver crash)."""

    name = "broken"

    def _load(self) -> None:
        pass

    def _infer(self, image, style):
        raise RuntimeError("device lost")


def _frame(h=72, w=128, seed=0):
    return Frame(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_tensor_conversions_round_trip():
    """uint8 HWC -> float NCHW -> uint8 HWC gives back the same picture."""
    px = _frame().pixels
    assert np.array_equal(to_pixels(to_tensor(px)), px)


def test_stylizer_resizes_stylises_and_blends(tiny_model):
    """A frame is resized to the working size, stylised, and strength 0.5 lies between photo and style."""
    stylizer = Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36))
    frame = _frame()
    full = stylizer.process(frame, StyleMix.single(3, 0))
    half = stylizer.process(frame, StyleMix.single(3, 0, strength=0.5))
    plain = stylizer.prepare(frame).astype(np.int32)
    assert full.styled and full.frame.pixels.shape == (36, 64, 3) and full.model_ms > 0
    d_full = np.abs(full.frame.pixels.astype(np.int32) - plain).mean()
    d_half = np.abs(half.frame.pixels.astype(np.int32) - plain).mean()
    assert 0.3 * d_full < d_half < 0.7 * d_full
    stylizer.close()


def test_failing_backend_passes_frames_through_then_falls_back(tiny_model):
    """A backend that raises never loses a frame: it passes through, and the next backend takes over."""
    stylizer = Stylizer(
        [lambda: BrokenBackend(tiny_model), lambda: OnnxRuntimeBackend(tiny_model)], (64, 36), max_consecutive_errors=3
    )
    results = [stylizer.process(_frame(seed=i), StyleMix.single(3, 1)) for i in range(5)]
    assert [r.styled for r in results] == [False, False, False, True, True]
    assert all(r.frame.pixels.shape == (36, 64, 3) for r in results)
    assert stylizer.errors == 3 and stylizer.backend_name.startswith("onnxruntime")
    stylizer.close()


def test_unloadable_backend_is_skipped(tiny_model, tmp_path):
    """If the first configured backend cannot load, the next one is used from the start."""
    from engine.backends.base import BackendOptions
    from engine.backends.tensorrt import TensorRTBackend

    missing = BackendOptions(engine_path=str(tmp_path / "none.engine"))
    stylizer = Stylizer(
        [lambda: TensorRTBackend(tiny_model, missing), lambda: OnnxRuntimeBackend(tiny_model)], (32, 32)
    )
    assert stylizer.backend_name.startswith("onnxruntime") and stylizer.errors == 1
    assert stylizer.process(_frame(), StyleMix.single(3, 2)).styled
    stylizer.close()


def test_no_backend_at_all_still_shows_the_picture(tiny_model):
    """With every backend broken at load time, frames pass through unstyled."""

    class Unloadable(BrokenBackend):
        def _load(self):
            raise BackendError("no such device")

    stylizer = Stylizer([lambda: Unloadable(tiny_model)], (32, 32))
    result = stylizer.process(_frame(), StyleMix.single(3, 0))
    assert not result.styled and result.frame.pixels.shape == (32, 32, 3)


def test_warmth_shifts_colour_temperature(tiny_model):
    """A warm mix raises red and lowers blue; a cold one does the opposite."""
    stylizer = Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36))
    frame = _frame()
    neutral, warm, cold = (
        stylizer.process(frame, StyleMix.single(3, 0, warmth=w)).frame.pixels.astype(int) for w in (0.0, 1.0, -1.0)
    )
    assert warm[..., 0].mean() > neutral[..., 0].mean() > cold[..., 0].mean()
    assert warm[..., 2].mean() < neutral[..., 2].mean() < cold[..., 2].mean()
    stylizer.close()


def test_to_tensor_is_contiguous_nchw_in_unit_range():
    """to_tensor gives the backend a C-contiguous 1x3xHxW float32 array equal to pixels / 255 (no further copy)."""
    px = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = to_tensor(px)
    assert t.shape == (1, 3, 5, 7) and t.dtype == np.float32 and t.flags.c_contiguous
    assert np.allclose(t[0], px.transpose(2, 0, 1) / 255.0)


def test_to_tensor_writes_into_a_buffer_of_the_right_shape_only():
    """to_tensor fills the given float32 1x3xHxW buffer in place; a buffer of another size gets a new array."""
    px = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    buf = np.full((1, 3, 5, 7), -1.0, np.float32)
    assert to_tensor(px, buf) is buf and np.array_equal(buf, to_tensor(px))
    other = np.zeros((1, 3, 4, 7), np.float32)
    fresh = to_tensor(px, other)
    assert fresh is not other and fresh.shape == (1, 3, 5, 7) and not other.any()


def test_each_frame_is_stylised_from_its_own_picture_with_the_reused_tensor(tiny_model):
    """Frames of different pictures and sizes in turn on one thread give what a fresh stylizer gives for each."""
    mix = StyleMix.single(3, 2)
    frames = [_frame(seed=1), _frame(seed=2), _frame(h=36, w=64, seed=3), _frame(seed=1)]
    reused = Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36))
    got = [reused.process(f, mix).frame.pixels for f in frames]
    for frame, pixels in zip(frames, got):
        fresh = Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36))
        assert np.array_equal(pixels, fresh.process(frame, mix).frame.pixels)
        fresh.close()
    reused.close()


class FlakyBackend(BrokenBackend):
    """A backend that fails with a different cause every third frame."""

    name = "flaky"
    calls = 0

    def _infer(self, image, style):
        FlakyBackend.calls += 1
        raise RuntimeError("out of memory" if FlakyBackend.calls % 3 == 0 else "device lost")


def test_every_cause_of_a_counted_error_is_logged_once(tiny_model, caplog):
    """Each distinct cause of a backend error is logged the first time (however the errors interleave), and
    repeats of a known cause are not: the error count is never unexplained, the log never floods."""
    import logging

    stylizer = Stylizer([lambda: FlakyBackend(tiny_model)], (64, 36), max_consecutive_errors=1000)
    with caplog.at_level(logging.WARNING, logger="engine.pipeline"):
        for i in range(9):
            stylizer.process(_frame(seed=i), StyleMix.single(3, 1))
    messages = [r.getMessage() for r in caplog.records]
    assert stylizer.errors == 9
    assert sum("device lost" in m for m in messages) == 1 and sum("out of memory" in m for m in messages) == 1
    stylizer.close()


def test_stylizer_with_an_upscaler_delivers_the_output_size(tiny_model):
    """With a guided upscaler, a full-size source frame is stylised at the working size and comes out at the
    output size; an unstyled frame comes out as the source itself (no round trip through the working size)."""
    from engine.upscale import GuidedUpscaler

    stylizer = Stylizer(
        [lambda: OnnxRuntimeBackend(tiny_model)], (64, 36), upscaler=GuidedUpscaler(), output_size=(192, 108)
    )
    frame = _frame(108, 192)
    styled = stylizer.process(frame, StyleMix.single(3, 0))
    unstyled = stylizer.process(frame, StyleMix.single(3, 0, strength=0.0))
    assert styled.styled and styled.frame.pixels.shape == (108, 192, 3)
    assert styled.frame.seq == frame.seq and styled.frame.t_capture == frame.t_capture
    assert not unstyled.styled and unstyled.frame.pixels is frame.pixels
    assert stylizer.unstyled(frame) is frame.pixels
    stylizer.close()


def test_stylizer_without_an_upscaler_keeps_the_working_size(tiny_model):
    """Without an upscaler the stylised picture stays at the working size (the loop enlarges it), as before."""
    stylizer = Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36), output_size=(192, 108))
    result = stylizer.process(_frame(108, 192), StyleMix.single(3, 0))
    assert result.frame.pixels.shape == (36, 64, 3) and stylizer.output_size is None
    stylizer.close()


class RemoteBackend(Backend):
    """A backend on a server that can go away and come back (as the triton backend's server does)."""

    name = "remote"
    retry_after_failure = True

    def __init__(self, manifest, up, loads):
        super().__init__(manifest)
        self.up, self.loads = up, loads

    def _load(self) -> None:
        self.loads.append(self.up.is_set())
        if not self.up.is_set():
            raise BackendError("server down")

    def _infer(self, image, style):
        if not self.up.is_set():
            raise BackendError("server down")
        return image


def _join_retries():
    import threading

    for t in threading.enumerate():
        if t.name == "backend-retry":
            t.join(timeout=60)


def test_the_show_goes_back_to_a_remote_backend_when_it_returns(tiny_model):
    """After falling back from a remote backend, the Stylizer tries it again every retry_s (by its clock, in
    the background) and moves back once it loads; frames stay styled by the fallback meanwhile."""
    import threading

    up, loads, now = threading.Event(), [], [0.0]
    up.set()
    stylizer = Stylizer(
        [lambda: RemoteBackend(tiny_model, up, loads), lambda: OnnxRuntimeBackend(tiny_model)],
        (64, 36),
        retry_s=10.0,
        clock=lambda: now[0],
    )
    try:
        assert stylizer.backend_name == "remote" and stylizer.process(_frame(), StyleMix.single(3, 0)).styled
        up.clear()
        [stylizer.process(_frame(), StyleMix.single(3, 0)) for _ in range(3)]
        assert stylizer.backend_name.startswith("onnxruntime")
        now[0] = 5.0  # before retry_s: no attempt
        assert stylizer.process(_frame(), StyleMix.single(3, 0)).styled
        _join_retries()
        assert loads == [True]
        now[0] = 10.0  # an attempt while the server is still down: stays on the fallback
        assert stylizer.process(_frame(), StyleMix.single(3, 0)).styled
        _join_retries()
        assert loads == [True, False] and stylizer.backend_name.startswith("onnxruntime")
        up.set()
        now[0] = 20.0
        assert stylizer.process(_frame(), StyleMix.single(3, 0)).styled
        _join_retries()
        assert loads == [True, False, True] and stylizer.backend_name == "remote"
        assert stylizer.process(_frame(), StyleMix.single(3, 0)).styled
    finally:
        stylizer.close()


def test_a_local_backend_that_failed_is_not_retried(tiny_model):
    """A backend without retry_after_failure (a broken runtime) is never loaded again after the fallback."""
    loads = []

    class CountingBroken(BrokenBackend):
        def _load(self) -> None:
            loads.append(1)

    now = [0.0]
    stylizer = Stylizer(
        [lambda: CountingBroken(tiny_model), lambda: OnnxRuntimeBackend(tiny_model)],
        (64, 36),
        retry_s=1.0,
        clock=lambda: now[0],
    )
    try:
        [stylizer.process(_frame(), StyleMix.single(3, 0)) for _ in range(3)]
        assert stylizer.backend_name.startswith("onnxruntime")
        for t in (5.0, 10.0):
            now[0] = t
            stylizer.process(_frame(), StyleMix.single(3, 0))
            _join_retries()
        assert loads == [1] and stylizer.backend_name.startswith("onnxruntime")
    finally:
        stylizer.close()


class HeldBackend(Backend):
    """A backend whose first frame waits at a gate and whose later frames fail; it records when it is closed
    while a frame is still running on it (what a real session would crash on)."""

    name = "held"

    def __init__(self, manifest, gate, entered):
        super().__init__(manifest)
        self.gate, self.entered, self.calls, self.running = gate, entered, 0, 0
        self.closed_while_running = False

    def _load(self) -> None:
        pass

    def _infer(self, image, style):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("device lost")
        self.running += 1
        self.entered.set()
        self.gate.wait(timeout=60)
        self.running -= 1
        return image

    def _close(self) -> None:
        self.closed_while_running = self.running > 0


def test_a_backend_replaced_mid_frame_is_closed_only_after_that_frame(tiny_model):
    """When one worker's failures switch to the next backend while another worker is still inside the old
    one, the old backend stays open until that frame ends, then is closed (no session closed under a run)."""
    import threading

    gate, entered = threading.Event(), threading.Event()
    held = HeldBackend(tiny_model, gate, entered)
    stylizer = Stylizer([lambda: held, lambda: OnnxRuntimeBackend(tiny_model)], (64, 36), max_consecutive_errors=1)
    results = []
    worker = threading.Thread(target=lambda: results.append(stylizer.process(_frame(), StyleMix.single(3, 0))))
    worker.start()
    try:
        assert entered.wait(timeout=60)
        assert not stylizer.process(_frame(seed=1), StyleMix.single(3, 0)).styled  # fails: falls back
        assert stylizer.backend_name.startswith("onnxruntime") and held.loaded  # still running a frame
        gate.set()
        worker.join(timeout=60)
        assert results and results[0].styled and not held.loaded and not held.closed_while_running
        assert stylizer.process(_frame(seed=2), StyleMix.single(3, 0)).styled
    finally:
        gate.set()
        stylizer.close()
