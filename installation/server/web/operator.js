// Laterna operator panel: state pushed over /operator/ws about twice a second (JSON text, then the
// preview as a binary JPEG); commands go back as JSON. Routes, auth and commands: docs/operator.md.
// Everything visitors wrote is put on the page as text, never as HTML.
"use strict";

(() => {
  const KEY = "laterna.operator.token";
  const HISTORY_S = 120; // the graph's window
  const STRENGTH_SEND_MS = 150; // at most this often while the slider moves

  // The sign-in page put the token in this tab's sessionStorage before it loaded the panel in its place.
  const token = sessionStorage.getItem(KEY) || "";

  let socket = null;
  let attempt = 0;
  let everOpened = false;
  let nextRef = 1;
  let previewUrl = null;
  let strengthTimer = null;
  let strengthHeld = false; // the operator's hand is on the slider: do not move it under them
  const pendingRefs = new Map();
  const samples = []; // {t, fps, latency}: what the graph draws

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  ready(() => {
    const $ = (id) => document.getElementById(id);
    const el = {
      connection: $("connection"), preview: $("preview"), badge: $("preview-badge"),
      mode: $("mode"), fps: $("fps"), latency: $("latency"), source: $("source"), sources: $("sources"),
      backend: $("backend"), dropped: $("dropped"),
      errors: $("errors"), graph: $("graph"), prompt: $("prompt"), skip: $("skip"), queue: $("queue"),
      queueCount: $("queue-count"), queueEmpty: $("queue-empty"), blockForm: $("block-form"),
      blockPhrase: $("block-phrase"), blocked: $("blocked"), styles: $("styles"), unpin: $("unpin"),
      strength: $("strength"), strengthValue: $("strength-value"), transitionForm: $("transition-form"),
      transition: $("transition"), blackout: $("blackout"), freeze: $("freeze"), snapshot: $("snapshot"),
      feedback: $("feedback"), warnings: $("warnings"), warningsEmpty: $("warnings-empty"),
      streamsCard: $("streams-card"), streamCount: $("stream-count"), streamOutputs: $("stream-outputs"),
      streamViewers: $("stream-viewers"), streamEmpty: $("stream-empty"),
    };

    // -- talking to the server ------------------------------------------------------------------------
    function setConnection(state, text) {
      el.connection.dataset.state = state;
      el.connection.textContent = text;
    }

    function socketUrl() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      return `${scheme}//${location.host}/operator/ws?token=${encodeURIComponent(token)}`;
    }

    function connect() {
      setConnection("connecting", "Connecting…");
      const ws = new WebSocket(socketUrl());
      ws.binaryType = "blob";
      socket = ws;
      ws.addEventListener("open", () => {
        attempt = 0;
        everOpened = true;
        setConnection("open", "Connected");
      });
      ws.addEventListener("message", (event) => {
        if (typeof event.data === "string") onMessage(JSON.parse(event.data));
        else showPreview(event.data);
      });
      ws.addEventListener("close", () => {
        if (socket !== ws) return;
        socket = null;
        attempt += 1;
        if (!everOpened && attempt >= 3) {
          // a refused handshake (wrong or missing token) looks like any other failure to a page
          setConnection("closed", "Not connected. Is the token right? Reload /operator to sign in again.");
        } else {
          setConnection("closed", "Disconnected; reconnecting…");
        }
        const delay = Math.min(30000, 1000 * 2 ** Math.min(attempt, 5)) * (0.75 + Math.random() * 0.5);
        setTimeout(connect, delay);
      });
    }

    function send(command) {
      if (socket === null || socket.readyState !== WebSocket.OPEN) {
        say("error", "Not connected.");
        return;
      }
      const ref = nextRef++;
      pendingRefs.set(ref, command.cmd);
      socket.send(JSON.stringify({ ...command, ref }));
    }

    function say(kind, text) {
      el.feedback.dataset.kind = kind;
      el.feedback.textContent = text;
    }

    function onMessage(message) {
      if (message.type === "state") render(message);
      else if (message.type === "result") onResult(message);
    }

    function onResult(result) {
      const cmd = pendingRefs.get(result.ref) || result.cmd || "";
      pendingRefs.delete(result.ref);
      if (!result.ok) say("error", `${cmd}: ${result.error}`);
      else if (result.cmd === "snapshot") say("ok", `Snapshot saved to ${result.path}`);
      else if (result.cmd === "block") say("ok", result.added ? "Blocked." : "That phrase was already blocked.");
      else if (result.cmd !== "strength") say("ok", "Done.");
    }

    function showPreview(blob) {
      const url = URL.createObjectURL(blob);
      el.preview.src = url;
      if (previewUrl !== null) URL.revokeObjectURL(previewUrl);
      previewUrl = url;
    }

    // -- drawing the state ----------------------------------------------------------------------------
    function ms(value) {
      return typeof value === "number" ? `${value.toFixed(0)} ms` : "–";
    }

    function seconds(value) {
      if (typeof value !== "number") return "";
      if (value < 90) return `${Math.round(value)} s`;
      return `${Math.floor(value / 60)} min`;
    }

    function render(state) {
      const stats = state.stats || {};
      const latency = stats.latency_ms ? stats.latency_ms.p50 : null;
      el.mode.textContent = state.mode || "–";
      el.fps.textContent = typeof stats.fps === "number" ? stats.fps.toFixed(1) : "–";
      el.latency.textContent = ms(latency);
      el.source.textContent = stats.source || "–";
      el.backend.textContent = stats.backend || "–";
      el.dropped.textContent = stats.dropped ?? "–";
      el.errors.textContent = stats.errors ?? "–";
      const badge = state.blackout ? "BLACKOUT" : state.frozen ? "FROZEN" : "";
      el.badge.hidden = badge === "";
      el.badge.textContent = badge;

      samples.push({ t: performance.now() / 1000, fps: stats.fps, latency });
      while (samples.length && samples[samples.length - 1].t - samples[0].t > HISTORY_S) samples.shift();
      drawGraph();

      if (state.prompt) {
        el.prompt.dataset.kind = "showing";
        el.prompt.textContent = `“${state.prompt.text}” · ${seconds(state.prompt.shown_s)}`;
      } else {
        el.prompt.dataset.kind = "idle";
        el.prompt.textContent = state.mode === "attract" ? "Attract mode: drifting through the styles."
          : "No prompt is showing.";
      }
      el.skip.disabled = !state.prompt;
      renderQueue(state.queue || []);
      renderBlocked(state.blocked_here || []);
      renderStyles(state);
      renderSources(state);
      if (!strengthHeld && typeof state.strength === "number") {
        el.strength.value = state.strength;
        el.strengthValue.textContent = state.strength.toFixed(2);
      }
      if (document.activeElement !== el.transition && typeof state.transition_s === "number") {
        el.transition.value = state.transition_s;
      }
      el.blackout.setAttribute("aria-pressed", String(Boolean(state.blackout)));
      el.freeze.setAttribute("aria-pressed", String(Boolean(state.frozen)));
      renderWarnings(state.warnings || []);
      renderStreams(state.streams || null);
      renderNodes(state.nodes || []);
      document.getElementById("calibrate-link").hidden = !state.projectors; // a show with projector windows
    }

    // A cluster hub's render nodes: a row each (green / late / gone) with its preview, fetched every 2 s.
    const nodePictures = {};
    function renderNodes(nodes) {
      const card = document.getElementById("nodes-card");
      card.hidden = nodes.length === 0;
      document.getElementById("nodes").replaceChildren(...nodes.map((n) => {
        const li = document.createElement("li");
        li.dataset.health = n.health;
        const img = document.createElement("img");
        img.alt = `${n.name}: preview`;
        if (nodePictures[n.name]) img.src = nodePictures[n.name].url;
        const fps = typeof n.fps === "number" ? `${n.fps.toFixed(1)} fps` : "";
        const p99 = typeof n.frame_p99 === "number" ? `p99 ${n.frame_p99.toFixed(0)} ms` : "";
        li.append(img, document.createTextNode(`${n.name} (${n.zone}) ${n.health} ${fps} ${p99} errors ${n.errors ?? 0}`));
        if (n.health !== "gone") refreshNodePicture(n.name);
        return li;
      }));
    }

    function refreshNodePicture(name) {
      const known = nodePictures[name];
      if (known && (known.busy || Date.now() - known.at < 2000)) return;
      nodePictures[name] = { ...(known || {}), busy: true, at: Date.now() };
      fetch(`/operator/preview.jpg?node=${encodeURIComponent(name)}`, { headers: { Authorization: `Bearer ${token}` } })
        .then((reply) => (reply.ok ? reply.blob() : null))
        .then((blob) => {
          if (blob) {
            if (known && known.url) URL.revokeObjectURL(known.url);
            nodePictures[name] = { url: URL.createObjectURL(blob), at: Date.now(), busy: false };
          } else {
            nodePictures[name].busy = false;
          }
        })
        .catch(() => { nodePictures[name].busy = false; });
    }

    // Stream viewers (MJPEG, JPEG websocket, WebRTC, NDI...): per output what it costs, and each viewer with
    // a Close button; rows are kept while the same viewers watch, like the queue's.
    function renderStreams(streams) {
      el.streamsCard.hidden = !streams;
      if (!streams) return;
      const viewers = streams.viewers || [];
      el.streamCount.textContent = String(viewers.length);
      el.streamEmpty.hidden = viewers.length > 0;
      el.streamOutputs.replaceChildren(...Object.values(streams.outputs || {}).map((o) => {
        const li = document.createElement("li");
        li.textContent = `${o.name} ${o.width}×${o.height}: ${o.viewers} watching · ${o.fps.toFixed(1)} fps · `
          + `encode ${o.encode_ms.toFixed(1)} ms · ${(o.bytes_per_s / 1e6).toFixed(2)} MB/s · `
          + `dropped ${o.dropped + o.viewer_dropped}`;
        return li;
      }));
      const same = el.streamViewers.childElementCount === viewers.length
        && [...el.streamViewers.children].every((li, i) => li.dataset.id === viewers[i].id);
      if (!same) {
        el.streamViewers.replaceChildren(...viewers.map((v) => {
          const li = document.createElement("li");
          li.dataset.id = v.id;
          const text = document.createElement("span");
          text.className = "text";
          const age = document.createElement("span");
          age.className = "waited";
          const close = document.createElement("button");
          close.type = "button";
          close.className = "small";
          close.textContent = "Close";
          close.addEventListener("click", () => send({ cmd: "close_viewer", id: v.id }));
          li.append(text, age, close);
          return li;
        }));
      }
      viewers.forEach((v, i) => {
        const li = el.streamViewers.children[i];
        li.querySelector(".text").textContent = `${v.kind} · ${v.output} · ${v.peer}`;
        li.querySelector(".waited").textContent = `${seconds(v.watching_s)} · dropped ${v.dropped}`;
      });
    }

    // The state comes five times a second: rows (and their Remove buttons) are kept while the queue holds
    // the same prompts, so a click never lands on a button that was replaced under the pointer.
    function renderQueue(queue) {
      el.queueCount.textContent = String(queue.length);
      el.queueEmpty.hidden = queue.length > 0;
      const same = el.queue.childElementCount === queue.length
        && [...el.queue.children].every((li, i) => li.dataset.id === queue[i].id);
      if (!same) {
        el.queue.replaceChildren(...queue.map((p) => {
          const li = document.createElement("li");
          li.dataset.id = p.id;
          const position = document.createElement("span");
          position.className = "position";
          const text = document.createElement("span");
          text.className = "text";
          text.textContent = p.text;
          const waited = document.createElement("span");
          waited.className = "waited";
          const remove = document.createElement("button");
          remove.type = "button";
          remove.className = "small";
          remove.textContent = "Remove";
          remove.addEventListener("click", () => send({ cmd: "remove", id: p.id }));
          li.append(position, text, waited, remove);
          return li;
        }));
      }
      queue.forEach((p, i) => {
        const li = el.queue.children[i];
        li.querySelector(".position").textContent = String(p.position);
        li.querySelector(".waited").textContent = seconds(p.waited_s);
      });
    }

    function renderBlocked(phrases) {
      if (el.blocked.childElementCount === phrases.length
          && [...el.blocked.children].every((li, i) => li.dataset.phrase === phrases[i])) return;
      el.blocked.replaceChildren(...phrases.map((phrase) => {
        const li = document.createElement("li");
        li.dataset.phrase = phrase;
        const text = document.createElement("span");
        text.textContent = phrase;
        const undo = document.createElement("button");
        undo.type = "button";
        undo.className = "small";
        undo.textContent = "Unblock";
        undo.addEventListener("click", () => send({ cmd: "unblock", phrase }));
        li.append(text, undo);
        return li;
      }));
    }

    function renderStyles(state) {
      const names = state.styles || [];
      if (el.styles.childElementCount !== names.length
          || [...el.styles.children].some((b, i) => b.dataset.style !== names[i])) {
        el.styles.replaceChildren(...names.map((name) => {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "style";
          b.dataset.style = name;
          b.setAttribute("aria-pressed", "false");
          const label = document.createElement("span");
          label.textContent = name;
          const weight = document.createElement("span");
          weight.className = "weight";
          b.append(label, weight);
          b.addEventListener("click", () => send({ cmd: "pin", style: name }));
          return b;
        }));
      }
      const mix = state.mix || {};
      for (const b of el.styles.children) {
        b.setAttribute("aria-pressed", String(state.pinned === b.dataset.style));
        b.lastElementChild.style.width = `${Math.round((mix[b.dataset.style] || 0) * 100)}%`;
      }
      el.unpin.disabled = !state.pinned;
    }

    const SOURCE_LABELS = { live: "Live picture", generator: "Dream (generator)" };

    function renderSources(state) {
      const names = state.sources || [];
      el.sources.hidden = names.length < 2;
      if (el.sources.childElementCount !== names.length
          || [...el.sources.children].some((b, i) => b.dataset.source !== names[i])) {
        el.sources.replaceChildren(...names.map((name) => {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "toggle";
          b.dataset.source = name;
          b.textContent = name;
          b.addEventListener("click", () => send({ cmd: "source", name }));
          return b;
        }));
      }
      const labels = state.source_labels || {};
      for (const b of el.sources.children) {
        // what the input is now ("Live: pattern" when there is no camera), from the show, not assumed
        const label = labels[b.dataset.source] || SOURCE_LABELS[b.dataset.source] || b.dataset.source;
        if (b.textContent !== label) b.textContent = label;
        b.setAttribute("aria-pressed", String(state.selected_source === b.dataset.source));
      }
    }

    function renderWarnings(warnings) {
      el.warningsEmpty.hidden = warnings.length > 0;
      el.warnings.replaceChildren(...warnings.map((w) => {
        const li = document.createElement("li");
        li.dataset.level = w.level;
        const time = document.createElement("time");
        const when = new Date(w.time * 1000);
        time.dateTime = when.toISOString();
        time.textContent = when.toLocaleTimeString();
        const logger = document.createElement("span");
        logger.className = "logger";
        logger.textContent = w.logger;
        li.append(time, logger, document.createTextNode(w.message));
        return li;
      }));
    }

    function drawGraph() {
      const canvas = el.graph;
      const ratio = window.devicePixelRatio || 1;
      const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
      const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
      }
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, width, height);
      if (samples.length < 2) return;
      const css = getComputedStyle(document.documentElement);
      const now = samples[samples.length - 1].t;
      const x = (t) => width - ((now - t) / HISTORY_S) * width;
      const pad = 6 * ratio;
      const line = (key, top, colour) => {
        const y = (v) => height - pad - (Math.min(v, top) / top) * (height - 2 * pad);
        ctx.strokeStyle = colour;
        ctx.lineWidth = 2 * ratio;
        ctx.beginPath();
        let drawing = false;
        for (const point of samples) {
          const v = point[key];
          if (typeof v !== "number") { drawing = false; continue; }
          if (drawing) ctx.lineTo(x(point.t), y(v));
          else ctx.moveTo(x(point.t), y(v));
          drawing = true;
        }
        ctx.stroke();
      };
      const peak = (key, floor) => Math.max(floor, ...samples.map((p) => (typeof p[key] === "number" ? p[key] : 0)));
      const fpsTop = Math.ceil((peak("fps", 30) * 1.2) / 10) * 10; // headroom: lines never hug the top
      const latencyTop = Math.ceil((peak("latency", 100) * 1.2) / 50) * 50;
      ctx.fillStyle = css.getPropertyValue("--ink-faint").trim() || "#8f7f6a";
      ctx.font = `${11 * ratio}px system-ui, sans-serif`;
      ctx.fillText(`${fpsTop} fps`, pad, pad + 10 * ratio);
      const label = `${latencyTop} ms`;
      ctx.fillText(label, width - pad - ctx.measureText(label).width, pad + 10 * ratio);
      line("fps", fpsTop, css.getPropertyValue("--lantern").trim() || "#ffb347");
      line("latency", latencyTop, css.getPropertyValue("--sky").trim() || "#8ec5ff");
    }

    // -- controls -------------------------------------------------------------------------------------
    el.skip.addEventListener("click", () => send({ cmd: "skip" }));
    el.unpin.addEventListener("click", () => send({ cmd: "pin", style: null }));
    el.snapshot.addEventListener("click", () => send({ cmd: "snapshot" }));
    el.blackout.addEventListener("click", () => {
      send({ cmd: "blackout", on: el.blackout.getAttribute("aria-pressed") !== "true" });
    });
    el.freeze.addEventListener("click", () => {
      send({ cmd: "freeze", on: el.freeze.getAttribute("aria-pressed") !== "true" });
    });
    el.blockForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const phrase = el.blockPhrase.value.trim();
      if (!phrase) return;
      send({ cmd: "block", phrase });
      el.blockPhrase.value = "";
    });
    el.transitionForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = Number(el.transition.value);
      if (el.transition.value === "" || !Number.isFinite(value)) return;
      send({ cmd: "transition", seconds: value });
      el.transition.blur();
    });

    function sendStrength() {
      strengthTimer = null;
      send({ cmd: "strength", value: Number(el.strength.value) });
    }
    el.strength.addEventListener("pointerdown", () => { strengthHeld = true; });
    el.strength.addEventListener("input", () => {
      strengthHeld = true;
      el.strengthValue.textContent = Number(el.strength.value).toFixed(2);
      if (strengthTimer === null) strengthTimer = setTimeout(sendStrength, STRENGTH_SEND_MS);
    });
    el.strength.addEventListener("change", () => {
      clearTimeout(strengthTimer);
      sendStrength();
      strengthHeld = false;
    });
    window.addEventListener("resize", drawGraph);

    if (!token) {
      setConnection("closed", "No operator token in this tab.");
      location.replace("/operator"); // the sign-in page
      return;
    }
    connect();
  });
})();
