"""WebRTC viewers of the live picture: offer/answer signalling over the ``/rtc`` websocket (aiortc).

The protocol (docs/protocol.md, "WebRTC signalling"): the client gathers its ICE candidates first
(non-trickle), then sends ``{"type": "offer", "sdp": "...", "output": "<name>"}`` (``output`` optional:
the first stream output). The server answers ``{"type": "answer", "sdp": "..."}`` with its own candidates
in the SDP, or ``{"type": "error", "reason": "full" | "disabled" | "bad offer", "message": "..."}`` with
a sentence a visitor can read. One websocket may carry several offers in turn; each makes a new peer.

Each peer is a stream viewer of the ``FanoutSink`` (``add_viewer("webrtc", ...)``): counted against
``streams.max_viewers`` and, because each peer encodes for itself, against ``streams.webrtc.max_viewers``;
listed on the operator panel and closable there. A peer is closed when the operator closes it, when
ICE fails or the connection drops, when it has not connected ``connect_timeout_s`` after its answer,
and when the server stops (``aclose``). The websocket going away does not end a connected peer: the
picture keeps flowing until the peer itself goes.

``parse_offer`` is the sans-I/O half: it validates a client message and raises ``BadOffer``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from engine.errors import SinkError
from engine.sinks.fanout import FanoutSink, ViewerHandle, ViewerLimit
from installation.server.rtc_settings import WebRtcSettings

log = logging.getLogger(__name__)

RTC_PATH = "/rtc"
RTC_SESSION = "rtc"
MAX_SDP = 64 * 1024
KIND = "webrtc"
MESSAGES = {
    "disabled": "Live video over WebRTC is not available at this show.",
    "full": "Too many people are watching the live video right now. Try again in a minute.",
    "bad offer": "Your browser's video request could not be read.",
}


class BadOffer(ValueError):
    """A signalling message that is not a usable offer."""


@dataclass(frozen=True)
class Offer:
    sdp: str
    output: str


def parse_offer(text: str | bytes) -> Offer:
    """A client's ``{"type": "offer", "sdp", "output"?}`` message; ``BadOffer`` saying what is wrong."""
    if isinstance(text, bytes) or len(text) > MAX_SDP:
        raise BadOffer("expected a JSON text message of at most 64 KiB")
    try:
        message = json.loads(text)
    except ValueError:
        raise BadOffer("expected JSON") from None
    if not isinstance(message, dict) or message.get("type") != "offer":
        raise BadOffer('expected {"type": "offer", ...}')
    sdp, output = message.get("sdp"), message.get("output", "")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise BadOffer("expected an SDP offer in 'sdp'")
    if "m=video" not in sdp:
        raise BadOffer("the offer asks for no video")
    if output is None:
        output = ""
    if not isinstance(output, str):
        raise BadOffer("expected 'output' to be a stream output's name")
    return Offer(sdp, output)


def error(reason: str, message: str | None = None) -> dict[str, str]:
    """The error reply for ``reason`` ("full", "disabled", "bad offer")."""
    return {"type": "error", "reason": reason, "message": message or MESSAGES[reason]}


class RtcService:
    """The show's WebRTC peers (module docstring). All its methods run on the server's event loop."""

    def __init__(self, sink: FanoutSink, settings: WebRtcSettings) -> None:
        self.sink = sink
        self.settings = settings
        self._peers: dict[Any, ViewerHandle] = {}  # RTCPeerConnection -> its viewer
        self._watchers: set[asyncio.Task[None]] = set()  # connect timeouts
        self._closing: set[asyncio.Task[None]] = set()  # peers being closed
        self._ready: bool | None = None

    # -- availability --------------------------------------------------------------------------------
    def available(self) -> bool:
        """aiortc imports and WebRTC is on; the first failure is told once."""
        if not self.settings.enabled:
            return False
        if self._ready is None:
            try:
                from engine.sinks.webrtc_track import set_bitrates
            except ImportError as exc:
                log.warning("WebRTC is off: aiortc is not installed (pip install '.[xr]'): %s", exc)
                self._ready = False
            else:
                s = self.settings
                set_bitrates(s.bitrate_kbps * 1000, s.min_bitrate_kbps * 1000, s.max_bitrate_kbps * 1000)
                self._ready = True
        return self._ready

    @property
    def peers(self) -> int:
        return len(self._peers)

    # -- signalling ----------------------------------------------------------------------------------
    async def serve(self, ws: ServerConnection, peer: str, kind: str = KIND) -> None:
        """One signalling websocket: answer each offer until the client closes it. ``kind``: how its peers are
        listed (``"xr"`` for the WebXR viewer, else ``"webrtc"``)."""
        try:
            async for message in ws:
                reply = await self.answer(message, peer, kind)
                await ws.send(json.dumps(reply))
        except ConnectionClosed:
            pass

    async def answer(self, text: str | bytes, peer: str, kind: str = KIND) -> dict[str, str]:
        """The reply to one client message: an answer (a new peer, already gathering done) or an error."""
        if not self.available():
            return error("disabled")
        try:
            offer = parse_offer(text)
        except BadOffer as exc:
            log.info("a WebRTC offer was refused: %s", exc)
            return error("bad offer", f"{MESSAGES['bad offer']} ({exc})")
        try:
            output = self.sink.output(offer.output)
        except SinkError:
            return error("bad offer", f"There is no stream called {offer.output!r} here.")
        if self.peers >= self.settings.max_viewers:  # every peer encodes for itself, whatever it is listed as
            log.info("a WebRTC viewer was turned away: %d watching", self.settings.max_viewers)
            return error("full")
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

        from engine.sinks.webrtc_track import OutputTrack

        loop = asyncio.get_running_loop()
        servers = [
            RTCIceServer(urls=list(s.urls), username=s.username or None, credential=s.credential or None)
            for s in self.settings.ice_servers
        ]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        try:
            handle = output.add_viewer(
                kind, peer, on_close=lambda reason: _call_soon(loop, lambda: self._close(pc, reason))
            )
        except ViewerLimit as full:
            await pc.close()
            return error("full", str(full))
        self._peers[pc] = handle

        @pc.on("connectionstatechange")
        def _state() -> None:
            state = pc.connectionState
            log.debug("WebRTC viewer %s: %s", handle.id, state)
            if state in ("failed", "closed"):
                handle.close("the connection failed" if state == "failed" else "left")

        try:
            # the transceiver and its codec order exist before the offer is applied: aiortc picks the codecs then
            transceiver = pc.addTransceiver(OutputTrack(output, handle), direction="sendonly")
            codecs = RTCRtpSender.getCapabilities("video").codecs
            first = "video/h264" if self.settings.codec == "h264" else "video/vp8"
            transceiver.setCodecPreferences(sorted(codecs, key=lambda c: c.mimeType.lower() != first))
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())  # gathers the candidates: non-trickle
        except Exception as exc:  # a malformed or unusable SDP: this client's problem, the show goes on
            log.info("a WebRTC offer could not be answered: %s", exc)
            handle.close("bad offer")
            return error("bad offer", f"{MESSAGES['bad offer']} ({type(exc).__name__})")
        watcher = asyncio.ensure_future(self._watch_connect(pc, handle))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        log.info("WebRTC viewer %s (%s) answered: %s", handle.id, peer, self.settings.codec)
        return {"type": "answer", "sdp": pc.localDescription.sdp}

    async def _watch_connect(self, pc: Any, handle: ViewerHandle) -> None:
        """Close a peer that has not connected ``connect_timeout_s`` after its answer."""
        await asyncio.sleep(self.settings.connect_timeout_s)
        if pc.connectionState != "connected" and not handle.closed:
            log.info("WebRTC viewer %s did not connect in %.0f s", handle.id, self.settings.connect_timeout_s)
            handle.close("did not connect")

    # -- closing -------------------------------------------------------------------------------------
    def _close(self, pc: Any, reason: str) -> None:
        """(the event loop) The viewer closed: close its peer connection (stops its track and encoder)."""
        if self._peers.pop(pc, None) is None:
            return
        task = asyncio.ensure_future(pc.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        log.info("WebRTC peer closed: %s", reason)

    async def aclose(self) -> None:
        """Close every peer and wait for them (the server is stopping)."""
        for pc, handle in list(self._peers.items()):
            handle.close("the show is stopping")
            self._close(pc, "the show is stopping")
        for watcher in list(self._watchers):
            watcher.cancel()
        pending = list(self._closing) + list(self._watchers)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # that loop has closed: the server stopped, its peers with it
        pass
