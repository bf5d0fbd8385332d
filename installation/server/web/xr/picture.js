// The live picture for the WebXR viewer: WebRTC first (signalling on the /rtc websocket, docs/protocol.md),
// falling back by itself to the JPEG websocket when WebRTC is off, refused, or does not deliver a frame in
// time. What the show offers comes from /xr/offer.json, so the page never knocks on a route that is not there.
//
//   const picture = new LivePicture(offer, { onsource, onframe, onstate });
//   picture.start();
//   picture.element  // a <video> (WebRTC) or a <canvas> (JPEG), ready to be a texture
//   picture.via      // "WebRTC" | "JPEG" | "none"

const RTC_FIRST_FRAME_MS = 8000; // ICE + DTLS + the first key frame on a LAN: a second or two; then give up
const ICE_GATHER_MS = 3000; // non-trickle: wait for candidates at most this long, then offer what we have
const JPEG_RETRY_MS = [1000, 2000, 4000, 8000, 15000];

function socketUrl(path, kind) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (kind) url.searchParams.set("kind", kind);
  return url.href;
}

function within(ms, promise, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

export class LivePicture {
  constructor(offer, { kind = "xr", onsource = () => {}, onframe = () => {}, onstate = () => {} } = {}) {
    this.offer = offer;
    this.kind = kind; // how this viewer is listed on the operator panel
    this.onsource = onsource; // (element, via): a new element to draw from
    this.onframe = onframe; // a new JPEG frame was drawn (video textures update by themselves)
    this.onstate = onstate; // (text): a short line for the page
    this.element = null;
    this.via = "none";
    this.frames = 0;
    this.width = offer.width || 16;
    this.height = offer.height || 9;
    this._closers = [];
    this._jpegAttempt = 0;
    this._stopped = false;
  }

  async start() {
    if (this.offer.rtc) {
      try {
        await this._viaRtc();
        return;
      } catch (error) {
        this._closeAll();
        console.info(`Laterna: WebRTC is not available (${error.message}); using the JPEG stream`);
      }
    }
    if (this.offer.jpeg) {
      this._viaJpeg();
    } else {
      this.onstate(this.offer.rtc ? "The live picture could not be reached." : "This show streams no picture.");
    }
  }

  stop() {
    this._stopped = true;
    this._closeAll();
  }

  _closeAll() {
    for (const close of this._closers.splice(0)) {
      try {
        close();
      } catch {
        // already closed
      }
    }
  }

  async _viaRtc() {
    this.onstate("Connecting (WebRTC)…");
    const pc = new RTCPeerConnection({ iceServers: [] });
    this._closers.push(() => pc.close());
    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    // Offer only what the show's encoder can send (aiortc: VP8, H.264, with retransmission): a smaller offer
    // than the browser's dozen codecs, well inside the server's message limit.
    const codecs = (RTCRtpReceiver.getCapabilities?.("video")?.codecs ?? []).filter(
      (c) =>
        c.mimeType === "video/VP8" ||
        (c.mimeType === "video/H264" && /packetization-mode=1/.test(c.sdpFmtpLine) && /42e01f/.test(c.sdpFmtpLine)),
    );
    if (codecs.length && transceiver.setCodecPreferences) transceiver.setCodecPreferences(codecs);
    const track = new Promise((resolve) => {
      pc.addEventListener("track", (event) => resolve(event.streams[0] || new MediaStream([event.track])));
    });
    await pc.setLocalDescription(await pc.createOffer());
    await within(
      ICE_GATHER_MS,
      new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") resolve();
        pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
      }),
      "gathering network addresses",
    ).catch(() => {}); // offer the candidates we have
    const answer = await within(RTC_FIRST_FRAME_MS, this._signal(pc.localDescription.sdp), "the WebRTC answer");
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.autoplay = true;
    video.srcObject = await within(RTC_FIRST_FRAME_MS, track, "the video track");
    await within(
      RTC_FIRST_FRAME_MS,
      new Promise((resolve, reject) => {
        video.addEventListener("loadeddata", resolve, { once: true });
        pc.addEventListener("connectionstatechange", () => pc.connectionState === "failed" && reject(new Error("failed")));
        video.play().catch(() => {}); // muted video may autoplay; loadeddata is what counts
      }),
      "the first WebRTC frame",
    );
    pc.addEventListener("connectionstatechange", () => {
      if (this._stopped || !["failed", "closed"].includes(pc.connectionState)) return;
      console.info("Laterna: the WebRTC connection ended; using the JPEG stream");
      this._closeAll();
      if (this.offer.jpeg) this._viaJpeg();
    });
    this.width = video.videoWidth || this.width;
    this.height = video.videoHeight || this.height;
    video.addEventListener("resize", () => {
      this.width = video.videoWidth;
      this.height = video.videoHeight;
      this.onsource(video, this.via);
    });
    this.element = video;
    this.via = "WebRTC";
    this.frames = 1;
    if ("requestVideoFrameCallback" in video) {
      const count = () => {
        this.frames += 1;
        video.requestVideoFrameCallback(count);
      };
      video.requestVideoFrameCallback(count);
    }
    this.onsource(video, this.via);
    this.onstate("");
  }

  _signal(sdp) {
    // The signalling socket stays open while the picture plays: closing it tells the show we have gone.
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(socketUrl(this.offer.rtc, this.kind));
      this._closers.push(() => ws.close());
      ws.addEventListener("open", () => {
        ws.send(JSON.stringify({ type: "offer", sdp, output: this.offer.output || undefined }));
      });
      ws.addEventListener("message", (event) => {
        let msg;
        try {
          msg = JSON.parse(event.data);
        } catch {
          return;
        }
        if (msg.type === "answer" && typeof msg.sdp === "string") resolve(msg);
        else if (msg.type === "error") reject(new Error(msg.message || msg.reason || "refused"));
      });
      ws.addEventListener("close", (event) => reject(new Error(event.reason || "the signalling socket closed")));
    });
  }

  _viaJpeg() {
    if (this._stopped) return;
    const canvas = this.via === "JPEG" && this.element ? this.element : document.createElement("canvas");
    if (canvas !== this.element) {
      canvas.width = this.width;
      canvas.height = this.height;
    }
    const context = canvas.getContext("2d");
    const ws = new WebSocket(socketUrl(this.offer.jpeg, this.kind));
    ws.binaryType = "blob";
    this._closers.push(() => ws.close());
    let decoding = false;
    let pending = null; // latest wins: while one frame decodes, only the newest waiting one is kept

    const draw = async (blob) => {
      decoding = true;
      try {
        const bitmap = await createImageBitmap(blob);
        if (bitmap.width !== canvas.width || bitmap.height !== canvas.height) {
          canvas.width = this.width = bitmap.width;
          canvas.height = this.height = bitmap.height;
          this.onsource(canvas, this.via);
        }
        context.drawImage(bitmap, 0, 0);
        bitmap.close();
        this.frames += 1;
        this.onframe();
      } catch {
        // a frame that does not decode is skipped; the next one replaces it
      } finally {
        decoding = false;
      }
      if (pending) {
        const next = pending;
        pending = null;
        draw(next);
      }
    };

    ws.addEventListener("open", () => {
      this._jpegAttempt = 0;
      this.onstate("");
    });
    ws.addEventListener("message", (event) => {
      if (typeof event.data === "string") {
        try {
          const hello = JSON.parse(event.data);
          if (hello.width && hello.height && !this.frames) {
            canvas.width = this.width = hello.width;
            canvas.height = this.height = hello.height;
            this.onsource(canvas, this.via);
          }
        } catch {
          // not a hello: nothing else comes as text
        }
        return;
      }
      if (decoding) pending = event.data;
      else draw(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (this._stopped) return;
      const delay = JPEG_RETRY_MS[Math.min(this._jpegAttempt, JPEG_RETRY_MS.length - 1)];
      this._jpegAttempt += 1;
      const why = event.reason ? `${event.reason} ` : "";
      this.onstate(`${why}Reconnecting in ${Math.round(delay / 1000)} s…`);
      setTimeout(() => this._viaJpeg(), delay);
    });
    if (this.element !== canvas) {
      this.element = canvas;
      this.via = "JPEG";
      this.onsource(canvas, this.via);
    }
  }
}
