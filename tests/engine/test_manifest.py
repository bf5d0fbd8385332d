import json

import pytest

from engine.errors import ModelError
from engine.manifest import load_manifest, manifest_from_dict


def test_manifest_round_trip(tiny_model, tmp_path):
    """A manifest saved and loaded again is the same: specs, styles, hash and extra sections."""
    again = load_manifest(tiny_model.path)
    assert again.to_dict() == tiny_model.to_dict()
    assert again.style_names == ["ink", "ember", "moss"]
    assert again.image_input.shape == (1, 3, "height", "width")
    assert again.style_input.shape == (1, 3)
    assert again.extra["training"]["steps"] == 0


def test_manifest_beside_model_is_found(tiny_model):
    """Loading by the model file's path finds the JSON manifest beside it."""
    assert load_manifest(tiny_model.model_path).name == "tiny"


@pytest.mark.parametrize(
    "text,match",
    [
        ("{not json", "not valid JSON"),
        ("[]", "expected a JSON object"),
        (json.dumps({"name": "x", "file": "x.onnx", "inputs": [], "outputs": [{"name": "o", "shape": [1]}]}), "inputs"),
        (
            json.dumps(
                {
                    "name": "x",
                    "file": "x.onnx",
                    "kind": "toaster",
                    "inputs": [{"name": "i", "shape": [1]}],
                    "outputs": [{"name": "o", "shape": [1]}],
                }
            ),
            "kind",
        ),
    ],
)
def test_broken_manifest_names_file_and_problem(tmp_path, text, match):
    """A malformed manifest raises ModelError naming the file and what is wrong."""
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(ModelError, match=match) as err:
        load_manifest(path)
    assert "broken.json" in str(err.value)


def test_style_count_must_match_style_input():
    """A manifest whose style input length disagrees with its style list is rejected."""
    with pytest.raises(ModelError, match="2 weights but 1 styles"):
        manifest_from_dict(
            {
                "name": "x",
                "file": "x.onnx",
                "inputs": [{"name": "image", "shape": [1, 3, 8, 8]}, {"name": "style", "shape": [1, 2]}],
                "outputs": [{"name": "o", "shape": [1, 3, 8, 8]}],
                "styles": [{"name": "a"}],
            }
        )


def test_missing_or_replaced_model_file_is_detected(model_copy):
    """verify_file names the model file when it is missing or its sha256 differs from the manifest."""
    model_copy.model_path.write_bytes(model_copy.model_path.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="sha256 does not match"):
        model_copy.verify_file()
    model_copy.model_path.unlink()
    with pytest.raises(ModelError, match="tiny.onnx.*not found"):
        model_copy.verify_file()


@pytest.mark.parametrize(
    "variants,expected",
    [
        ({"torchscript": {"file": "tiny.ts.pt"}}, "tiny.ts.pt"),
        ({"tensorrt": {"file": "tiny.engine"}}, None),
        ({"torchscript": "tiny.ts.pt"}, None),
        ({"torchscript": {"file": 3}}, None),
        (["torchscript"], None),
    ],
)
def test_variant_file_lies_beside_the_manifest_or_is_none(tmp_path, variants, expected):
    """``variant_file`` gives the listed variant's path beside the manifest; absent or malformed entries give None."""
    data = {
        "name": "x",
        "file": "x.onnx",
        "inputs": [{"name": "image", "shape": [1, 3, 8, 8]}],
        "outputs": [{"name": "o", "shape": [1, 3, 8, 8]}],
        "variants": variants,
    }
    manifest = manifest_from_dict(data, tmp_path / "x.json")
    found = manifest.variant_file("torchscript")
    assert found == (tmp_path / expected if expected else None)
