import numpy as np
import pytest

from engine import convert, stabilizer
from engine.stabilizer import Stabilizer


def _noisy(base, rng, sigma=4):
    return np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)


def test_static_scene_flicker_is_reduced():
    """On a static scene with noise in the output, smoothing lowers the frame-to-frame change."""
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (90, 160, 3)).astype(np.float64)
    stab = Stabilizer(amount=0.6)
    raw, smooth = [], []
    for _ in range(8):
        inp = _noisy(scene, rng, 1)
        out = _noisy(scene, rng, 10)  # a flickering network output
        raw.append(out.astype(np.float32))
        smooth.append(stab.apply(inp, out).astype(np.float32))
    change = lambda xs: np.mean([np.abs(b - a).mean() for a, b in zip(xs[1:], xs[2:])])  # noqa: E731
    assert change(smooth) < 0.7 * change(raw)


def test_motion_is_not_smeared():
    """Where the input moved, the new output is used as it is (no ghost of the previous frame)."""
    stab = Stabilizer(amount=0.8)
    a = np.zeros((64, 64, 3), np.uint8)
    b = np.full((64, 64, 3), 255, np.uint8)
    stab.apply(a, a)
    out = stab.apply(b, b)  # everything changed
    assert out.min() >= 250


def _pictures(seed, shape=(64, 96, 3)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape).astype(np.uint8) for _ in range(2)]


def test_a_still_input_blends_the_whole_picture_with_the_smoothing_amount():
    """When the input did not change at all, every pixel is (1 - amount) * new + amount * previous output."""
    stab = Stabilizer(amount=0.6)
    scene = np.full((64, 96, 3), 90, np.uint8)
    first, second = _pictures(1)
    stab.apply(scene, first.copy())
    got = stab.apply(scene, second.copy())
    want = 0.4 * second.astype(np.float64) + 0.6 * first
    assert np.abs(got - want).max() <= 1.0


def test_where_the_input_moved_the_new_output_is_kept_and_elsewhere_smoothed():
    """A moving left half keeps the new output exactly; the still right half is blended with the amount."""
    stab = Stabilizer(amount=0.5, scale=8)
    before = np.full((64, 96, 3), 40, np.uint8)
    after = before.copy()
    after[:, :40] = 220  # the left part changed a lot
    first, second = _pictures(2)
    stab.apply(before, first.copy())
    got = stab.apply(after, second.copy()).astype(np.float64)
    assert np.array_equal(got[:, :16], second[:, :16])  # far inside the moving part
    want = 0.5 * second.astype(np.float64) + 0.5 * first
    assert np.abs(got[:, 72:] - want[:, 72:]).max() <= 1.0  # far inside the still part
    mid = got[:, 44:60]  # the weight ramps between the two: neither picture exactly
    assert not np.array_equal(mid, second[:, 44:60])


def test_smoothing_never_changes_the_picture_it_handed_out_before():
    """The previous result (which the sinks may still be showing) is left untouched by the next frame."""
    stab = Stabilizer(amount=0.5)
    rng = np.random.default_rng(3)
    inputs = [rng.integers(0, 256, (48, 64, 3)).astype(np.uint8) for _ in range(2)]
    inputs[1][:, :32] = inputs[0][:, :32]  # half still, half moving: the per-pixel blend
    first, second = _pictures(4, (48, 64, 3))
    shown = stab.apply(inputs[0], first)
    kept = shown.copy()
    for frame in (second, _pictures(5, (48, 64, 3))[0]):
        result = stab.apply(inputs[1], frame)
        assert np.array_equal(shown, kept)
        shown, kept = result, result.copy()


def _tensor(pixels):
    return pixels.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)


@pytest.mark.parametrize("fused", [True, False])
def test_the_models_output_is_smoothed_as_a_finished_picture_is(fused, monkeypatch):
    """apply_tensor (the model's float output, converted and blended in one pass where engine._frames is built)
    gives the pictures apply gives on the converted output, within two grey levels, frame after frame: the first
    as it is, a still scene blended, a moved one kept."""
    if fused and not convert.FUSED:
        pytest.skip("engine._frames is not built")
    if not fused:
        monkeypatch.setattr(stabilizer, "FUSED", False)
    rng = np.random.default_rng(5)
    scene = np.kron(rng.integers(0, 80, (6, 10, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # dark 8x8 tiles
    moved = 255 - scene  # every tile changed by far more than the motion threshold
    inputs = [scene, scene, scene, moved, moved]
    outputs = [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8) for _ in inputs]
    by_tensor, by_picture = Stabilizer(0.6), Stabilizer(0.6)
    results = []
    for i, (inp, out) in enumerate(zip(inputs, outputs)):
        a = by_tensor.apply_tensor(_tensor(out), by_tensor.motion_picture(inp))
        b = by_picture.apply(inp, out.copy())
        assert np.abs(a.astype(int) - b).max() <= 2, f"frame {i}"
        results.append(a.astype(float))
    assert np.abs(results[0] - outputs[0]).max() <= 1  # nothing to blend with yet
    assert np.abs(results[1] - (0.4 * outputs[1] + 0.6 * results[0])).max() <= 2  # a still scene: blended
    assert np.abs(results[3] - outputs[3]).max() <= 1  # everything moved: the new output as it is


def test_a_finished_picture_after_model_outputs_blends_with_the_last_one():
    """Mixing the two ways (a frame handed over as a picture between model outputs) blends with whichever picture
    came last: the kept colour planes are not reused once apply has run."""
    rng = np.random.default_rng(6)
    scene = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    stab = Stabilizer(0.5)
    first = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    stab.apply_tensor(_tensor(first), stab.motion_picture(scene))
    second = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    shown = stab.apply(scene, second.copy())
    third = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    out = stab.apply_tensor(_tensor(third), stab.motion_picture(scene))
    expected = 0.5 * third.astype(float) + 0.5 * shown
    assert np.abs(out - expected).max() <= 2
