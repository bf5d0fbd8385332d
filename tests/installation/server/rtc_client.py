"""An aiortc client peer for the WebRTC tests and the bench: offers to receive video over ``/rtc`` (non-trickle,
as a browser page does) and hands back decoded pictures. Also ``loopback_ice``: lets aioice offer 127.0.0.1
host candidates, which it leaves out by default, so two peers on one machine meet with no network at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np


@contextlib.contextmanager
def loopback_ice() -> Iterator[None]:
    """(tests and benches only) aioice gathers 127.0.0.1 too, while this block runs."""
    import aioice.ice

    original = aioice.ice.get_host_addresses

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1", *original(use_ipv4, use_ipv6)] if use_ipv4 else original(use_ipv4, use_ipv6)

    aioice.ice.get_host_addresses = with_loopback
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


class RtcClient:
    """One receiving peer: ``await connect(port)`` -> the server's reply; ``await picture()`` -> RGB uint8."""

    def __init__(self) -> None:
        from aiortc import RTCPeerConnection

        self.pc = RTCPeerConnection()
        self.pc.addTransceiver("video", direction="recvonly")
        self.track: Any = None
        self._got_track = asyncio.Event()

        @self.pc.on("track")
        def _on_track(track: Any) -> None:
            self.track = track
            self._got_track.set()

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers: non-trickle
        return str(self.pc.localDescription.sdp)

    async def connect(self, port: int, output: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Offer over ``/rtc``; on an answer, apply it. The server's reply either way."""
        from aiortc import RTCSessionDescription
        from websockets.asyncio.client import connect

        message: dict[str, Any] = {"type": "offer", "sdp": await self.offer()}
        if output is not None:
            message["output"] = output
        async with connect(f"ws://127.0.0.1:{port}/rtc") as ws:
            await ws.send(json.dumps(message))
            reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if reply["type"] == "answer":
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        return reply

    async def picture(self, timeout: float = 30.0) -> np.ndarray:
        """The next decoded frame as RGB uint8."""
        await asyncio.wait_for(self._got_track.wait(), timeout)
        frame = await asyncio.wait_for(self.track.recv(), timeout)
        return np.asarray(frame.to_ndarray(format="rgb24"))

    async def close(self) -> None:
        await self.pc.close()
