// The prompt box, shared by the visitor page (visitor.js) and the WebXR viewer (xr.js): send a prompt over
// the websocket at /ws and show what happens to it. Protocol: docs/protocol.md. No external resources;
// works without the microphone. The page provides the elements by id: prompt-form, prompt, counter, send,
// mic, feedback, connection, reconnect, notice.

// onFeedback(kind, text): told each line the visitor is shown (kind: queued, showing, declined, error,
// sending, idle); onConnection(state, text): told the connection's state (connecting, open, closed).
export function startPromptBox({ onFeedback = () => {}, onConnection = () => {} } = {}) {
  const MAX_CHARS = 280;
  const COOLDOWN_MS = 1500; // a short pause after each send keeps well inside the server's rate limit
  const CLOSE_TEXT = {
    1003: "This page only sends text.",
    1007: "That message could not be read.",
    1008: "Too many messages. Reconnecting in a little while.",
    1009: "That message is too long.",
    1013: "The installation is busy right now.",
  };

  const $ = (id) => document.getElementById(id);
  const form = $("prompt-form");
  const input = $("prompt");
  const counter = $("counter");
  const sendButton = $("send");
  const micButton = $("mic");
  const feedback = $("feedback");
  const connection = $("connection");
  const reconnectButton = $("reconnect");
  const notice = $("notice");

  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let coolingDown = false;
  let waitForVisitor = false; // after an idle close, reconnect only when the visitor comes back
  let accepting = true; // false while the installation is closed (a "status" message says so)
  const showing = new Set(); // ids already shown: a late "queued" for them is ignored
  // The "resume" token of our waiting prompt: if the connection drops (a phone locks its screen, the
  // page reloads), the next connection sends it and gets the prompt's place in the queue back.
  const RESUME_KEY = "laterna.resume";

  function resumeToken(token) {
    try {
      if (token === undefined) return sessionStorage.getItem(RESUME_KEY);
      if (token === null) sessionStorage.removeItem(RESUME_KEY);
      else sessionStorage.setItem(RESUME_KEY, token);
    } catch { // storage off (private mode): resuming simply does not happen
    }
    return null;
  }

  function say(kind, text) {
    feedback.dataset.kind = kind;
    feedback.textContent = text;
    onFeedback(kind, text);
  }

  function setConnection(state, text) {
    connection.dataset.state = state;
    connection.textContent = text;
    onConnection(state, text);
    reconnectButton.hidden = state !== "closed";
    updateSendButton();
  }

  function isOpen() {
    return socket !== null && socket.readyState === WebSocket.OPEN;
  }

  function updateSendButton() {
    sendButton.disabled = !isOpen() || coolingDown || !accepting;
  }

  function updateCounter() {
    const n = input.value.length;
    counter.textContent = `${n} / ${MAX_CHARS}`;
    counter.dataset.near = String(n >= MAX_CHARS - 30);
    counter.dataset.full = String(n >= MAX_CHARS);
  }

  function socketUrl() {
    // a room's kiosk or QR code opens /?zone=room-2: its prompts steer that room (docs/cluster.md)
    const zone = new URLSearchParams(location.search).get("zone");
    const query = zone ? `?zone=${encodeURIComponent(zone)}` : "";
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws${query}`;
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    waitForVisitor = false;
    if (socket !== null && socket.readyState <= WebSocket.OPEN) return;
    setConnection("connecting", "Connecting…");
    const ws = new WebSocket(socketUrl());
    socket = ws;
    ws.addEventListener("open", () => {
      attempt = 0;
      setConnection("open", "Connected");
      const token = resumeToken();
      if (token) ws.send(JSON.stringify({ type: "resume", token }));
    });
    ws.addEventListener("message", (event) => onMessage(event.data));
    ws.addEventListener("close", (event) => onClose(ws, event));
  }

  function onClose(ws, event) {
    if (socket !== ws) return;
    socket = null;
    if (CLOSE_TEXT[event.code]) say("error", event.reason || CLOSE_TEXT[event.code]);
    if (event.code === 1000) { // closed after a quiet spell: come back when the visitor does
      waitForVisitor = true;
      setConnection("closed", event.reason || "Disconnected.");
      return;
    }
    // Back off: 1 s, 2 s, 4 s ... up to 30 s, with jitter; longer after a flood or when busy.
    const base = event.code === 1008 ? 15000 : event.code === 1013 ? 8000 : 1000;
    const delay = Math.min(30000, base * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    attempt = Math.min(attempt + 1, 6);
    setConnection("closed", `Reconnecting in ${Math.round(delay / 1000)} s…`);
    retryTimer = setTimeout(connect, delay);
  }

  function onMessage(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    switch (msg.type) {
      case "queued":
        if (!showing.has(msg.id)) {
          say("queued", `Queued (position ${msg.position})`);
          if (typeof msg.resume === "string") resumeToken(msg.resume);
        }
        break;
      case "showing":
        showing.add(msg.id);
        resumeToken(null);
        say("showing", `Now showing: “${msg.text}”`);
        break;
      case "rejected":
        resumeToken(null);
        say("declined", `Declined: ${msg.reason}`);
        break;
      case "error":
        say("error", msg.reason);
        break;
      case "status": // the show itself: closed (prompts refused), warming up or a pinned look (prompts wait)
        showStatus(msg);
        break;
      default: // "pong" and anything newer than this page
        break;
    }
  }

  function showStatus(msg) {
    accepting = msg.accepting !== false;
    notice.dataset.note = typeof msg.note === "string" ? msg.note : "";
    notice.textContent = typeof msg.text === "string" ? msg.text : "";
    notice.hidden = !msg.note || !notice.textContent;
    updateSendButton();
  }

  function submit(event) {
    event.preventDefault();
    const text = input.value.replace(/\s+/g, " ").trim();
    if (!text) {
      say("error", "Type a few words first.");
      input.focus();
      return;
    }
    if (!isOpen()) {
      say("error", "Not connected yet. Trying again…");
      connect();
      return;
    }
    socket.send(JSON.stringify({ type: "prompt", text }));
    say("sending", "Sending…");
    coolingDown = true;
    updateSendButton();
    setTimeout(() => {
      coolingDown = false;
      updateSendButton();
    }, COOLDOWN_MS);
  }

  function comeBack() { // after an idle close, the visitor's next touch reconnects
    if (waitForVisitor && document.visibilityState === "visible") {
      attempt = 0;
      connect();
    }
  }

  function setUpMicrophone() {
    const Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
    if (!Recognition || !window.isSecureContext) return; // browsers allow the microphone only on https or localhost
    const recognition = new Recognition();
    recognition.lang = document.documentElement.lang || navigator.language || "en";
    recognition.interimResults = true;
    recognition.continuous = false;
    recognition.maxAlternatives = 1;
    let listening = false;
    let before = "";

    recognition.addEventListener("result", (event) => {
      let heard = "";
      for (const result of event.results) heard += result[0].transcript;
      input.value = `${before}${before && heard ? " " : ""}${heard.trim()}`.slice(0, MAX_CHARS);
      updateCounter();
    });
    recognition.addEventListener("end", () => {
      listening = false;
      micButton.setAttribute("aria-pressed", "false");
      micButton.setAttribute("aria-label", "Speak your prompt");
    });
    recognition.addEventListener("error", (event) => {
      if (event.error === "not-allowed" || event.error === "service-not-allowed") {
        micButton.hidden = true;
        say("error", "The microphone isn't available here. Type your prompt instead.");
      } else if (event.error !== "no-speech" && event.error !== "aborted") {
        say("error", "Didn't catch that. Try again, or type your prompt.");
      }
    });
    micButton.addEventListener("click", () => {
      if (listening) {
        recognition.stop();
        return;
      }
      before = input.value.trim();
      try {
        recognition.start();
        listening = true;
        micButton.setAttribute("aria-pressed", "true");
        micButton.setAttribute("aria-label", "Stop listening");
        say("sending", "Listening…");
      } catch {
        listening = false;
      }
    });
    micButton.hidden = false;
  }

  form.addEventListener("submit", submit);
  input.addEventListener("input", updateCounter);
  input.addEventListener("keydown", (event) => {
    comeBack();
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("focus", comeBack);
  reconnectButton.addEventListener("click", () => {
    attempt = 0;
    connect();
  });
  document.addEventListener("visibilitychange", comeBack);

  input.maxLength = MAX_CHARS;
  updateCounter();
  setUpMicrophone();
  connect();
}
