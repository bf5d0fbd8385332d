import onnx
import pytest

from engine.errors import ExportError
from exporters.onnx_export import check_parity, export_onnx
from tests.conftest import tiny_net


def test_export_has_named_inputs_and_dynamic_size(tmp_path):
    """The ONNX file has inputs image and style, opset >= 17, and dynamic height and width."""
    path = export_onnx(tiny_net(), tmp_path / "m.onnx", 3)
    model = onnx.load(str(path))
    names = [i.name for i in model.graph.input]
    assert names == ["image", "style"]
    assert model.opset_import[0].version >= 17
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[2].dim_param and dims[3].dim_param


def test_parity_report_on_random_and_real_images(tmp_path, tiny_model):
    """ONNX Runtime reproduces PyTorch on random and real images; the report says so with numbers."""
    parity = tiny_model.extra["parity"]
    assert parity["passed"] is True
    assert parity["max_abs_error"] < 1e-4
    assert any(c["name"].startswith("photo") for c in parity["cases"])
    assert any(c["name"].startswith("random") for c in parity["cases"])


def test_parity_failure_is_loud(tmp_path):
    """An ONNX file that does not match its PyTorch model fails the check with ExportError."""
    path = export_onnx(tiny_net(seed=0), tmp_path / "m.onnx", 3)
    other = tiny_net(seed=1)
    report = check_parity(other, path, 3)
    assert not report.passed
    with pytest.raises(ExportError, match="parity check"):
        report.require()
