"""Remote inference on an NVIDIA Triton Inference Server over gRPC (``tritonclient[grpc]``, extra ``triton``).

The picture travels as uint8 when the served model takes it so (``laterna export-triton`` writes it
that way by default: a quarter of float32's bytes, exact to 1/255), as float32 otherwise.

The render node keeps the manifest (style names, ranges, and the model file for its local fallback);
the frames and the style weights travel to the server, which may batch frames from several nodes into
one pass (``laterna export-triton`` writes the model repository with dynamic batching on). Every call
has a deadline (``timeout_s``): a server that is down or stalls costs one frame's timeout, raises
``BackendError``, and after a few in a row the ``Stylizer`` moves on to the next backend in the
configured order. The gRPC channel reconnects by itself, so the same backend works again as soon as the
server is back. Error messages are stable texts (server, model and the gRPC status), so the operator is
told once per kind of failure, not once per frame.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np

from engine.backends.base import Backend, BackendOptions, FloatArray
from engine.errors import BackendError
from engine.manifest import Manifest

log = logging.getLogger(__name__)

SHA_PARAMETER = "laterna_sha256"  # written into config.pbtxt by exporters.triton_repo
MAX_MESSAGE = 2**31 - 1  # a 4K float32 frame is ~100 MB; gRPC's default cap is 4 MB
RECONNECT_MAX_MS = 2000  # a restarted server is found again within ~2 s (gRPC's default backs off to 120 s)
CHANNEL_ARGS = [  # tritonclient's own defaults, plus a short reconnect back-off
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.keepalive_time_ms", MAX_MESSAGE),
    ("grpc.keepalive_timeout_ms", 20000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 2),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", RECONNECT_MAX_MS),
]


# tritonclient ships no type hints: these Protocols are the part of its API this backend uses.
class _InferInput(Protocol):
    def set_data_from_numpy(self, input_tensor: FloatArray) -> object: ...


class _InferResult(Protocol):
    def as_numpy(self, name: str) -> np.ndarray[Any, np.dtype[Any]] | None: ...


class _Client(Protocol):
    """A ``tritonclient.grpc.InferenceServerClient`` (thread-safe for unary calls)."""

    def is_server_live(self, headers: None = None, client_timeout: float | None = None) -> bool: ...

    def is_model_ready(
        self, model_name: str, model_version: str = "", headers: None = None, client_timeout: float | None = None
    ) -> bool: ...

    def get_model_metadata(
        self,
        model_name: str,
        model_version: str = "",
        headers: None = None,
        as_json: bool = False,
        client_timeout: float | None = None,
    ) -> dict[str, Any]: ...

    def get_model_config(
        self,
        model_name: str,
        model_version: str = "",
        headers: None = None,
        as_json: bool = False,
        client_timeout: float | None = None,
    ) -> dict[str, Any]: ...

    def infer(
        self,
        model_name: str,
        inputs: list[_InferInput],
        model_version: str = "",
        outputs: list[object] | None = None,
        client_timeout: float | None = None,
    ) -> _InferResult: ...

    def close(self) -> None: ...


def _status(exc: Exception) -> str:
    """The gRPC status of a tritonclient error (StatusCode.UNAVAILABLE ...), stable from frame to frame."""
    status = getattr(exc, "status", None)
    code = status() if callable(status) else None
    return str(code) if code else type(exc).__name__


class TritonBackend(Backend):
    """Sends each frame and its style weights to a model on a Triton Inference Server."""

    name = "triton"
    retry_after_failure = True  # a restarted server is worth going back to (Stylizer retry_s)

    def __init__(self, manifest: Manifest, options: BackendOptions = BackendOptions()) -> None:
        super().__init__(manifest, options)
        target = options.triton
        self.url = target.url
        self.model = target.model or manifest.name
        self.version = str(target.version) if target.version else ""
        self.timeout_s = target.timeout_s
        self._image_name = manifest.image_input.name
        self._style_name = manifest.style_input.name if manifest.style_input is not None else None
        self._output_name = manifest.outputs[0].name
        self._client: _Client | None = None
        self.max_batch_size = 0
        self.wire = "FP32"  # the picture's type on the network, as the served model declares it (UINT8 or FP32)

    @property
    def where(self) -> str:
        return f"Triton {self.url} model {self.model}" + (f" v{self.version}" if self.version else "")

    def _load(self) -> None:
        target = self.options.triton
        if not self.url:
            raise BackendError("the triton backend needs model.triton.url (the server's gRPC host:port)")
        try:
            import tritonclient.grpc as grpcclient
            from tritonclient.utils import InferenceServerException
        except ImportError as exc:
            raise BackendError(f"the triton backend needs tritonclient: pip install 'laterna[triton]' ({exc})") from exc
        self._grpc = grpcclient
        self._server_error: type[Exception] = InferenceServerException
        client: _Client = grpcclient.InferenceServerClient(url=self.url, channel_args=CHANNEL_ARGS)
        t = target.connect_timeout_s
        try:
            if not client.is_server_live(client_timeout=t):
                raise BackendError(f"{self.where}: the server is not live")
            if not client.is_model_ready(self.model, self.version, client_timeout=t):
                raise BackendError(
                    f"{self.where}: the server does not serve this model (not loaded, or no such version)"
                )
            meta = client.get_model_metadata(self.model, self.version, as_json=True, client_timeout=t)
            config = client.get_model_config(self.model, self.version, as_json=True, client_timeout=t).get("config", {})
        except InferenceServerException as exc:
            client.close()
            raise BackendError(f"{self.where}: server unreachable ({_status(exc)}: {exc.message()})") from exc
        except BackendError:
            client.close()
            raise
        try:
            self._check_model(meta, config)
        except BackendError:
            client.close()
            raise
        self._client = client

    def _check_model(self, meta: dict[str, Any], config: dict[str, Any]) -> None:
        """The served model must take what the local manifest says (names, style count), and be the same file."""
        inputs = {i.get("name"): i for i in meta.get("inputs", [])}
        outputs = {o.get("name") for o in meta.get("outputs", [])}
        wanted = [self._image_name] + ([self._style_name] if self._style_name else [])
        missing = [n for n in wanted if n not in inputs]
        if missing or self._output_name not in outputs:
            raise BackendError(
                f"{self.where}: serves inputs {sorted(inputs)} and outputs {sorted(outputs)}, but the manifest "
                f"{self.manifest.path} needs inputs {wanted} and output {self._output_name!r}"
            )
        self.wire = str(inputs[self._image_name].get("datatype", "FP32"))
        out_type = next(str(o.get("datatype")) for o in meta.get("outputs", []) if o.get("name") == self._output_name)
        if self.wire not in ("FP32", "UINT8") or out_type != self.wire:
            raise BackendError(
                f"{self.where}: the picture goes in as {self.wire} and comes back as {out_type}; expected FP32 or "
                "UINT8 both ways (a repository from `laterna export-triton`)"
            )
        if self._style_name:
            shape = inputs[self._style_name].get("shape", [])
            n = int(shape[-1]) if shape else -1
            if n not in (-1, self.n_styles):
                raise BackendError(
                    f"{self.where}: the served model has {n} styles, the manifest {self.manifest.path} {self.n_styles}"
                )
        self.max_batch_size = int(config.get("max_batch_size", 0) or 0)
        params = config.get("parameters", {})
        served_sha = params.get(SHA_PARAMETER, {}).get("string_value", "") if isinstance(params, dict) else ""
        if served_sha and self.manifest.sha256 and served_sha != self.manifest.sha256:
            raise BackendError(
                f"{self.where}: serves a different model file (sha256 {served_sha[:12]}) than the manifest "
                f"{self.manifest.path} describes ({self.manifest.sha256[:12]}); export the repository again"
            )
        if not served_sha:
            log.info("%s: the server's config names no %s; checked the inputs only", self.where, SHA_PARAMETER)

    def _infer(self, image: FloatArray, style: FloatArray | None) -> FloatArray:
        client = self._client
        if client is None:
            raise BackendError(f"{self.where}: the backend is closed")
        grpc = self._grpc
        if self.max_batch_size and image.shape[0] > self.max_batch_size:
            raise BackendError(f"{self.where}: takes at most {self.max_batch_size} frames a call, got {image.shape[0]}")
        picture: np.ndarray[Any, np.dtype[Any]] = image if self.wire == "FP32" else self._to_uint8(image)
        feeds: list[tuple[str, np.ndarray[Any, np.dtype[Any]], str]] = [(self._image_name, picture, self.wire)]
        if self._style_name and style is not None:
            feeds.append((self._style_name, style, "FP32"))
        inputs: list[_InferInput] = []
        for name, arr, dtype in feeds:
            item: _InferInput = grpc.InferInput(name, list(arr.shape), dtype)
            item.set_data_from_numpy(arr)
            inputs.append(item)
        outputs = [grpc.InferRequestedOutput(self._output_name)]
        try:
            result = client.infer(self.model, inputs, self.version, outputs, client_timeout=self.timeout_s)
        except self._server_error as exc:
            log.debug("%s: %s", self.where, exc)  # the full text varies from call to call; the error does not
            raise BackendError(f"{self.where}: inference failed ({_status(exc)})") from exc
        out = result.as_numpy(self._output_name)
        if out is None or out.shape[0] != image.shape[0] or out.ndim != 4:
            got = None if out is None else out.shape
            raise BackendError(f"{self.where}: answered output {self._output_name!r} of shape {got}")
        if self.wire == "UINT8":
            scale = np.float32((self._out_hi - self._out_lo) / 255.0)
            return out.astype(np.float32) * scale + np.float32(self._out_lo)
        return np.ascontiguousarray(out, dtype=np.float32)

    def _to_uint8(self, image: FloatArray) -> np.ndarray[Any, np.dtype[np.uint8]]:
        """The model-range float picture as 0..255 (rounded, saturated: cv2 is ~20x numpy's speed)."""
        import cv2

        n, c, h, w = image.shape
        alpha = 255.0 / (self._in_hi - self._in_lo)
        flat = image.reshape(n * c * h, w)
        u8 = np.asarray(cv2.convertScaleAbs(flat, alpha=alpha, beta=-self._in_lo * alpha), dtype=np.uint8)
        return u8.reshape(n, c, h, w)

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def describe(self) -> str:
        return f"triton[{self.url}/{self.model}]"
