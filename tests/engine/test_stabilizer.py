import numpy as np

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
