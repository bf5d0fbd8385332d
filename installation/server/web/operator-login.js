// Laterna operator sign-in. The token never goes into an address: the form's token (or the one this
// tab already holds in sessionStorage) is sent as an Authorization header to /operator (or
// /operator/calibrate, whichever was asked for), and the page that comes back replaces this one. A
// wrong token is forgotten, so the tab never loops.
// See docs/operator.md.
"use strict";

(() => {
  const KEY = "laterna.operator.token";
  const PAGES = ["/operator", "/operator/calibrate"]; // the page asked for comes back in this one's place
  const PAGE = PAGES.includes(location.pathname) ? location.pathname : "/operator";

  function say(text) {
    const feedback = document.querySelector(".feedback");
    if (feedback) feedback.textContent = text;
  }

  async function open(token) {
    let reply;
    try {
      reply = await fetch(PAGE, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store",
        credentials: "omit", redirect: "error" });
    } catch {
      say("The show could not be reached. Try again in a moment.");
      return;
    }
    const html = await reply.text();
    if (reply.ok) {
      sessionStorage.setItem(KEY, token);
      document.open(); // the panel replaces this page; its CSP hashes are allowed by this page's header
      document.write(html);
      document.close();
      return;
    }
    sessionStorage.removeItem(KEY);
    const input = document.getElementById("token");
    if (input) input.value = ""; // a wrong token is cleared, as a page load used to
    // the refusal is this same sign-in page with the server's reason in it (parsed, never run)
    const reason = new DOMParser().parseFromString(html, "text/html").querySelector(".feedback");
    say(reason ? reason.textContent : "That did not work.");
  }

  function start() {
    const form = document.querySelector("form");
    const input = document.getElementById("token");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (input.value) open(input.value);
    });
    const saved = sessionStorage.getItem(KEY);
    if (saved) open(saved);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
