"""The upscalers of engine.upscale (and engine.upscale_torch): edges kept, flat colours kept, CPU == torch."""

import logging

import cv2
import numpy as np
import pytest

from engine.errors import ConfigError
from engine.upscale import GuidedUpscaler, ResizeUpscaler, bands
from installation.bench.upscale import gradient_correlation

FULL = (384, 216)
WORK = (128, 72)


def edge_picture() -> np.ndarray:
    """A synthetic picture with crisp edges: rectangles, a disc and thin lines at full size."""
    img = np.full((FULL[1], FULL[0], 3), (40, 60, 90), np.uint8)
    cv2.rectangle(img, (30, 20), (170, 120), (230, 200, 60), -1)
    cv2.circle(img, (280, 110), 60, (200, 40, 50), -1)
    for x in range(20, 380, 9):
        cv2.line(img, (x, 150), (x + 30, 210), (250, 250, 250), 1)
    return img


def styled_like(small: np.ndarray) -> np.ndarray:
    """Something a style network might make of ``small``: a colour shift plus brush-like noise."""
    noise = np.random.default_rng(0).integers(-20, 20, small.shape)
    shifted = small.astype(np.int32)[:, :, ::-1] // 2 + 60 + noise
    return np.clip(shifted, 0, 255).astype(np.uint8)


def three_pictures():
    source = edge_picture()
    small = cv2.resize(source, WORK, interpolation=cv2.INTER_AREA)
    return source, small, styled_like(small)


@pytest.mark.parametrize("form", ["detail", "filter"])
def test_guided_keeps_more_edges_than_a_resize(form):
    """On a synthetic edge picture the guided output's gradients correlate with the full-size source's
    clearly more than a plain resize's do."""
    source, small, styled = three_pictures()
    guided = GuidedUpscaler(form=form).upscale(styled, small, source, FULL)
    plain = ResizeUpscaler().upscale(styled, small, source, FULL)
    assert guided.shape == plain.shape == (FULL[1], FULL[0], 3)
    assert gradient_correlation(guided, source) > gradient_correlation(plain, source) + 0.1


@pytest.mark.parametrize("form", ["detail", "filter"])
@pytest.mark.parametrize("guide", ["rgb", "luma"])
def test_flat_regions_keep_the_stylised_colour(form, guide):
    """Where the source is flat, the output is the stylised colour, to within a level."""
    source = np.full((FULL[1], FULL[0], 3), (90, 140, 200), np.uint8)
    small = cv2.resize(source, WORK, interpolation=cv2.INTER_AREA)
    styled = np.full((WORK[1], WORK[0], 3), (210, 35, 120), np.uint8)
    out = GuidedUpscaler(guide=guide, form=form).upscale(styled, small, source, FULL)
    assert np.abs(out.astype(int) - (210, 35, 120)).max() <= 1


def reference_detail(styled: np.ndarray, small: np.ndarray, source: np.ndarray, detail: float) -> np.ndarray:
    """The detail form written out in float numpy with one brightness gain fitted at the working size (r=4):
    ``up(p) + detail * A_up * (Y_full - up(Y_low))``, the same detail in all three colours."""
    k = (9, 9)
    y_low = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    p_y = cv2.cvtColor(styled, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    mean_g, mean_p = cv2.boxFilter(y_low, -1, k), cv2.boxFilter(p_y, -1, k)
    var = cv2.boxFilter(y_low * y_low, -1, k) - mean_g * mean_g
    cov = cv2.boxFilter(y_low * p_y, -1, k) - mean_g * mean_p
    gain = cv2.boxFilter(cov / (var + 1e-3), -1, k) * detail
    y_full = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY).astype(np.float32)
    up = cv2.resize(styled.astype(np.float32), FULL)
    extra = cv2.resize(gain, FULL) * (y_full - cv2.resize(y_low * 255, FULL))
    return np.clip(up + extra[:, :, None], 0, 255)


def test_the_luma_detail_form_adds_one_brightness_detail_to_all_three_colours():
    """With the luminance guide the detail form is the stylised picture enlarged plus one gain times the
    source's brightness detail, the same in R, G and B (checked against the formula in float)."""
    source, small, styled = three_pictures()
    out = GuidedUpscaler(guide="luma", coarse=1, detail=2.0).upscale(styled, small, source, FULL)
    ref = reference_detail(styled, small, source, 2.0)
    diff = np.abs(out - ref)
    assert diff.max() <= 2.5 and diff.mean() < 0.5
    added = out.astype(int) - ResizeUpscaler().upscale(styled, small, None, FULL)
    inside = ((out > 8) & (out < 247)).all(axis=2)  # (saturation clips channels apart)
    assert np.abs(added[inside] - added[inside][:, :1]).max() <= 2
    assert np.abs(added).max() > 20  # and there is detail to add


def test_detail_zero_is_a_resize():
    """With detail 0 the detail form adds nothing: the output is the bilinear enlargement, to within a level."""
    source, small, styled = three_pictures()
    out = GuidedUpscaler(detail=0.0).upscale(styled, small, source, FULL)
    plain = ResizeUpscaler().upscale(styled, small, source, FULL)
    assert np.abs(out.astype(int) - plain).max() <= 1


def test_the_working_size_look_is_kept():
    """Shrunk back to the working size, the detail form's output is close to the stylised picture (the style's
    own strokes are kept, not smoothed away as the published filter form does)."""
    source, small, styled = three_pictures()
    detail = GuidedUpscaler(form="detail").upscale(styled, small, source, FULL)
    filtered = GuidedUpscaler(form="filter").upscale(styled, small, source, FULL)

    def error(out: np.ndarray) -> float:
        return float(np.abs(cv2.resize(out, WORK, interpolation=cv2.INTER_AREA).astype(int) - styled).mean())

    assert error(detail) < 0.6 * error(filtered)


def test_bands_cover_every_row_once_and_match_the_whole_picture():
    """Banded enlargement covers each output row exactly once and gives exactly the whole-picture result."""
    for low, high, rows in ((72, 216, 48), (360, 1080, 48), (360, 2160, 96), (72, 216, 7)):
        covered = np.zeros(high, int)
        for (y0, y1), (r0, r1), skip in bands(low, high, rows):
            covered[y0:y1] += 1
            assert 0 <= r0 < r1 <= low and skip >= 0
        assert (covered == 1).all()
    assert bands(72, 200, 48) == [((0, 200), (0, 72), -1)]  # not a whole factor: one band
    source, small, styled = three_pictures()
    for kwargs in ({"guide": "rgb"}, {"guide": "luma"}, {"form": "filter"}):
        whole = GuidedUpscaler(band_rows=0, **kwargs).upscale(styled, small, source, FULL)
        banded = GuidedUpscaler(band_rows=12, **kwargs).upscale(styled, small, source, FULL)
        assert np.array_equal(whole, banded), kwargs


def test_a_source_of_the_wrong_size_falls_back_to_a_resize_and_says_so_once(caplog):
    """Without a full-size guide the guided upscaler still delivers the output size (a plain resize) and
    warns once, not every frame."""
    source, small, styled = three_pictures()
    upscaler = GuidedUpscaler()
    with caplog.at_level(logging.WARNING, logger="engine.upscale"):
        outs = [upscaler.upscale(styled, small, small, FULL) for _ in range(3)]
    assert all(o.shape == (FULL[1], FULL[0], 3) for o in outs)
    assert np.array_equal(outs[0], ResizeUpscaler().upscale(styled, small, None, FULL))
    assert sum("guided upscaling needs the source" in r.message for r in caplog.records) == 1


def test_same_size_is_left_alone():
    """When the output size is the working size, both upscalers hand the picture back untouched."""
    _, small, styled = three_pictures()
    assert GuidedUpscaler().upscale(styled, small, small, WORK) is styled
    assert ResizeUpscaler().upscale(styled, small, None, WORK) is styled


@pytest.mark.parametrize(
    "kwargs", [{"radius": 0}, {"eps": 0.0}, {"guide": "hsv"}, {"form": "magic"}, {"detail": -1.0}, {"coarse": 3}]
)
def test_bad_parameters_are_refused(kwargs):
    """Nonsense parameters raise ConfigError naming the parameter."""
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        GuidedUpscaler(**kwargs)


@pytest.mark.parametrize("form", ["detail", "filter"])
@pytest.mark.parametrize("guide", ["rgb", "luma"])
@pytest.mark.parametrize("coarse", [1, 2])
def test_torch_version_equals_the_cpu_version(form, guide, coarse):
    """The PyTorch upscaler (here on the CPU device) gives the OpenCV one's output to within a level (two at a
    few pixels of the luma detail form, where OpenCV's 8-bit enlargement rounds the other way)."""
    pytest.importorskip("torch")
    from engine.upscale_torch import TorchGuidedUpscaler

    source, small, styled = three_pictures()
    kwargs = {"radius": 4, "eps": 1e-3, "guide": guide, "form": form, "detail": 2.0, "coarse": coarse}
    cpu = GuidedUpscaler(**kwargs).upscale(styled, small, source, FULL)
    torch_out = TorchGuidedUpscaler(device="cpu", **kwargs).upscale(styled, small, source, FULL)
    assert torch_out.dtype == np.uint8 and torch_out.shape == cpu.shape
    diff = np.abs(cpu.astype(int) - torch_out)
    assert diff.max() <= (2 if (form, guide) == ("detail", "luma") else 1)
    assert (diff > 1).mean() < 0.002


@pytest.mark.gpu
def test_torch_version_on_cuda_equals_the_cpu_version():
    """On a CUDA device the PyTorch upscaler gives the OpenCV one's output to within a level (two at a few
    rounding ties), with either guide."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from engine.upscale_torch import TorchGuidedUpscaler

    source, small, styled = three_pictures()
    for guide in ("rgb", "luma"):
        cpu = GuidedUpscaler(guide=guide).upscale(styled, small, source, FULL)
        gpu = TorchGuidedUpscaler(guide=guide, device="cuda").upscale(styled, small, source, FULL)
        diff = np.abs(cpu.astype(int) - gpu)
        assert diff.max() <= 2 and (diff > 1).mean() < 0.002


def test_torch_version_without_cuda_is_a_config_error():
    """Asking for CUDA where PyTorch sees none is a ConfigError (the show then upscales on the CPU)."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from engine.upscale_torch import TorchGuidedUpscaler

    with pytest.raises(ConfigError, match="CUDA"):
        TorchGuidedUpscaler(device="cuda")
