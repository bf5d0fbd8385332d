// Laterna projector calibration page: for each projector, its corners or mesh points drawn over a
// thumbnail of what it shows. Drag a point (mouse, pen, touch) or nudge it with the arrow keys: every
// change goes to the running show as an operator `warp` command ({"to": [x, y]}), one at a time, the
// newest position winning. "Test pattern" and "Save" are the `pattern` and `warp_save` commands.
// The state (the points as the show has them) comes over /operator/ws like the panel's. docs/projectors.md.
"use strict";

(() => {
  const KEY = "laterna.operator.token";
  const STEP = 0.002; // an arrow key moves a point this much of the picture (Shift: 10x), as `laterna calibrate`
  const THUMB_EVERY_MS = 1500;
  const HIT_PX = 28; // a press this close to a point takes it
  const INSET = 12; // CSS px of black around the picture, so points on its edges can be seen and taken
  const token = sessionStorage.getItem(KEY) || "";

  let socket = null;
  let attempt = 0;
  let everOpened = false;
  let nextRef = 1;
  const pending = new Map(); // ref -> command
  let inFlight = null; // the warp command sent and not yet answered
  let queued = null; // the newest warp waiting for it
  let outputs = []; // [{number, size: [w, h], corners, mesh, canvas, thumb}]
  let mode = "mesh";
  let selected = { output: 1, point: 0 };
  let dragging = null; // {output, point, pointerId}
  let modeFromShow = true; // take the show's mode and selection once, at the first state
  let patternOn = false;

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  ready(() => {
    const $ = (id) => document.getElementById(id);
    const el = {
      connection: $("connection"), pattern: $("pattern"), save: $("save"), selected: $("selected"),
      feedback: $("feedback"), outputs: $("outputs"), none: $("none"),
      modes: Array.from(document.querySelectorAll(".mode")),
    };

    // -- talking to the show ------------------------------------------------------------------------
    function setConnection(state, text) {
      el.connection.dataset.state = state;
      el.connection.textContent = text;
    }

    function connect() {
      setConnection("connecting", "Connecting…");
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${location.host}/operator/ws?token=${encodeURIComponent(token)}`);
      socket = ws;
      ws.addEventListener("open", () => {
        attempt = 0;
        everOpened = true;
        setConnection("open", "Connected");
      });
      ws.addEventListener("message", (event) => {
        if (typeof event.data !== "string") return; // the panel's preview picture: this page fetches its own
        const message = JSON.parse(event.data);
        if (message.type === "state") render(message.projectors || null);
        else if (message.type === "result") onResult(message);
      });
      ws.addEventListener("close", () => {
        if (socket !== ws) return;
        socket = null;
        inFlight = null;
        attempt += 1;
        setConnection("closed", !everOpened && attempt >= 3
          ? "Not connected. Is the token right? Reload to sign in again." : "Disconnected; reconnecting…");
        const delay = Math.min(30000, 1000 * 2 ** Math.min(attempt, 5)) * (0.75 + Math.random() * 0.5);
        setTimeout(connect, delay);
      });
    }

    function send(command) {
      if (socket === null || socket.readyState !== WebSocket.OPEN) {
        say("error", "Not connected.");
        return false;
      }
      const ref = nextRef++;
      pending.set(ref, command);
      socket.send(JSON.stringify({ ...command, ref }));
      return ref;
    }

    // One warp at a time: while one is on its way, only the newest position waits (a drag sends dozens).
    function warp(output, point, to) {
      const command = { cmd: "warp", output, mode, point, to: [round(to[0]), round(to[1])] };
      if (inFlight !== null) {
        queued = command;
        return;
      }
      inFlight = send(command) || null;
    }

    function round(v) {
      return Math.round(Math.min(Math.max(v, -0.5), 1.5) * 10000) / 10000;
    }

    function say(kind, text) {
      el.feedback.dataset.kind = kind;
      el.feedback.textContent = text;
    }

    function onResult(result) {
      const command = pending.get(result.ref) || {};
      pending.delete(result.ref);
      if (command.cmd === "warp" && result.ref === inFlight) {
        inFlight = null;
        if (queued !== null) {
          const next = queued;
          queued = null;
          inFlight = send(next) || null;
        }
      }
      if (!result.ok) {
        say("error", `${command.cmd || "command"}: ${result.error}`);
        return;
      }
      if (result.cmd === "warp_save") say("ok", `Saved to ${result.saved}; the previous file is ${result.backup}.`);
      else if (result.cmd === "pattern") {
        patternOn = result.on;
        el.pattern.setAttribute("aria-pressed", String(patternOn));
        say("ok", patternOn ? "The projectors show the test pattern." : "The projectors show the show again.");
      } else if (result.cmd === "warp" && el.feedback.dataset.kind === "error") say("ok", "");
    }

    // -- the state ----------------------------------------------------------------------------------
    function render(projectors) {
      el.none.hidden = projectors !== null;
      if (projectors === null) {
        outputs = [];
        el.outputs.replaceChildren();
        return;
      }
      patternOn = Boolean(projectors.pattern);
      el.pattern.setAttribute("aria-pressed", String(patternOn));
      el.save.disabled = !projectors.can_save;
      el.save.title = projectors.can_save ? "" : "This show was not started from a config file.";
      if (modeFromShow && projectors.selected) {
        modeFromShow = false;
        setMode(projectors.selected.mode, projectors.selected.output, projectors.selected.point);
      }
      if (outputs.length !== projectors.outputs.length) build(projectors.outputs);
      projectors.outputs.forEach((o, i) => {
        const mine = outputs[i];
        mine.size = o.size;
        // the show's points, except where this page's own change is still on its way
        const busy = (dragging && dragging.output === o.number) || ((inFlight !== null || queued !== null)
          && selected.output === o.number);
        if (!busy) {
          mine.corners = o.corners;
          mine.mesh = o.mesh;
        }
      });
      drawAll();
    }

    function build(list) {
      outputs = list.map((o) => {
        const card = document.createElement("section");
        card.className = "card calibrate-output";
        const title = document.createElement("h2");
        title.textContent = `Projector ${o.number}`;
        const canvas = document.createElement("canvas");
        canvas.className = "calibrate-canvas";
        canvas.tabIndex = 0;
        canvas.dataset.output = String(o.number);
        canvas.dataset.inset = String(INSET);
        canvas.setAttribute("role", "application");
        canvas.setAttribute("aria-label", `Projector ${o.number}: its points over its picture. Drag a point, ` +
          "or use the arrow keys to move the selected one.");
        canvas.style.aspectRatio = `${o.size[0]} / ${o.size[1]}`;
        card.append(title, canvas);
        const mine = { number: o.number, size: o.size, corners: o.corners, mesh: o.mesh, canvas, thumb: null };
        listen(mine);
        return { card, mine };
      }).map(({ card, mine }) => {
        el.outputs.append(card);
        return mine;
      });
    }

    function pointsOf(o) {
      return mode === "corners" ? o.corners : o.mesh.flat();
    }

    function setMode(next, output, point) {
      mode = next === "corners" ? "corners" : "mesh";
      for (const b of el.modes) b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
      selected = { output: output || selected.output, point: point || 0 };
      drawAll();
    }

    // -- drawing --------------------------------------------------------------------------------------
    function drawAll() {
      for (const o of outputs) draw(o);
      const o = outputs[selected.output - 1];
      const p = o ? pointsOf(o)[selected.point] : null;
      el.selected.textContent = p
        ? `Projector ${selected.output} · ${mode === "corners" ? "corner" : "mesh point"} ${selected.point + 1}` +
          ` at ${p[0].toFixed(3)}, ${p[1].toFixed(3)}`
        : "–";
    }

    function draw(o) {
      const canvas = o.canvas;
      const ratio = window.devicePixelRatio || 1;
      const w = Math.max(1, Math.round(canvas.clientWidth * ratio));
      const h = Math.max(1, Math.round(canvas.clientHeight * ratio));
      if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w;
        canvas.height = h;
      }
      const g = canvas.getContext("2d");
      g.fillStyle = "#000";
      g.fillRect(0, 0, w, h);
      const m = INSET * ratio;
      if (o.thumb) g.drawImage(o.thumb, m, m, w - 2 * m, h - 2 * m); // the picture before the warp
      const at = (p) => [m + p[0] * (w - 1 - 2 * m), m + p[1] * (h - 1 - 2 * m)];
      g.lineWidth = Math.max(1, ratio);
      g.strokeStyle = "rgba(255, 179, 71, 0.9)";
      g.beginPath();
      if (mode === "corners") {
        o.corners.forEach((p, k) => (k === 0 ? g.moveTo(...at(p)) : g.lineTo(...at(p))));
        g.closePath();
      } else {
        for (const row of o.mesh) row.forEach((p, k) => (k === 0 ? g.moveTo(...at(p)) : g.lineTo(...at(p))));
        for (let c = 0; c < o.mesh[0].length; c++) {
          o.mesh.forEach((row, k) => (k === 0 ? g.moveTo(...at(row[c])) : g.lineTo(...at(row[c]))));
        }
      }
      g.stroke();
      pointsOf(o).forEach((p, k) => {
        const chosen = o.number === selected.output && k === selected.point;
        const [x, y] = at(p);
        g.beginPath();
        g.arc(x, y, (chosen ? 8 : 5) * ratio, 0, 2 * Math.PI);
        g.fillStyle = chosen ? "#ff3b30" : "#fff";
        g.fill();
        g.lineWidth = 2 * ratio;
        g.strokeStyle = "#000";
        g.stroke();
      });
    }

    // -- the hand -------------------------------------------------------------------------------------
    function where(o, event) {
      const box = o.canvas.getBoundingClientRect();
      return [
        (event.clientX - box.left - INSET) / Math.max(1, box.width - 1 - 2 * INSET),
        (event.clientY - box.top - INSET) / Math.max(1, box.height - 1 - 2 * INSET),
      ];
    }

    function nearest(o, xy) {
      const box = o.canvas.getBoundingClientRect();
      let best = -1;
      let bestPx = Infinity;
      pointsOf(o).forEach((p, k) => {
        const d = Math.hypot((p[0] - xy[0]) * (box.width - 2 * INSET), (p[1] - xy[1]) * (box.height - 2 * INSET));
        if (d < bestPx) {
          bestPx = d;
          best = k;
        }
      });
      return bestPx <= HIT_PX ? best : -1;
    }

    function listen(o) {
      const canvas = o.canvas;
      canvas.addEventListener("pointerdown", (event) => {
        const point = nearest(o, where(o, event));
        canvas.focus();
        if (point < 0) return;
        event.preventDefault();
        selected = { output: o.number, point };
        dragging = { output: o.number, point, pointerId: event.pointerId };
        canvas.setPointerCapture(event.pointerId);
        drawAll();
      });
      canvas.addEventListener("pointermove", (event) => {
        if (!dragging || dragging.pointerId !== event.pointerId || dragging.output !== o.number) return;
        const xy = where(o, event).map(round);
        const p = pointsOf(o)[dragging.point];
        p[0] = xy[0];
        p[1] = xy[1];
        warp(o.number, dragging.point, xy);
        drawAll();
      });
      const release = (event) => {
        if (!dragging || dragging.pointerId !== event.pointerId) return;
        const { point } = dragging;
        dragging = null;
        warp(o.number, point, pointsOf(o)[point]); // the selection (and the pattern's mark) follows a plain click too
      };
      canvas.addEventListener("pointerup", release);
      canvas.addEventListener("pointercancel", release);
      canvas.addEventListener("keydown", (event) => {
        const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
        if (selected.output !== o.number) selected = { output: o.number, point: 0 };
        const count = pointsOf(o).length;
        if (event.key in moves) {
          event.preventDefault();
          const step = STEP * (event.shiftKey ? 10 : 1);
          const p = pointsOf(o)[selected.point];
          p[0] = round(p[0] + moves[event.key][0] * step);
          p[1] = round(p[1] + moves[event.key][1] * step);
          warp(o.number, selected.point, p);
        } else if (event.key === "n" || event.key === "p") {
          selected.point = (selected.point + (event.key === "n" ? 1 : count - 1)) % count;
          warp(o.number, selected.point, pointsOf(o)[selected.point]);
        } else return;
        drawAll();
      });
    }

    el.pattern.addEventListener("click", () => send({ cmd: "pattern", on: !patternOn }));
    el.save.addEventListener("click", () => send({ cmd: "warp_save" }));
    for (const b of el.modes) b.addEventListener("click", () => setMode(b.dataset.mode, selected.output, 0));
    window.addEventListener("resize", drawAll);

    // -- thumbnails: each projector's part of the picture on screen, fetched with the token ------------
    async function fetchThumbs() {
      if (!document.hidden) {
        for (const o of outputs) {
          try {
            const width = Math.max(16, Math.min(960, Math.round(o.canvas.clientWidth * (window.devicePixelRatio || 1))));
            const reply = await fetch(`/operator/preview.jpg?output=${o.number}&width=${width}`,
              { headers: { Authorization: `Bearer ${token}` }, cache: "no-store", credentials: "omit" });
            if (!reply.ok) continue;
            o.thumb = await createImageBitmap(await reply.blob());
            draw(o);
          } catch {
            // the show is restarting or the network hiccuped: the next round tries again
          }
        }
      }
      setTimeout(fetchThumbs, THUMB_EVERY_MS);
    }

    connect();
    fetchThumbs();
  });
})();
