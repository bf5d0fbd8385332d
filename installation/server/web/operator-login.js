// Laterna operator sign-in: a tab that already holds the token (sessionStorage) goes straight back
// to the panel; a wrong token is forgotten so the tab never loops. See docs/operator.md.
"use strict";

(() => {
  const KEY = "laterna.operator.token";
  const access = document.documentElement.dataset.access; // "missing" or "wrong"
  if (access === "wrong") {
    sessionStorage.removeItem(KEY);
    history.replaceState(null, "", location.pathname); // the wrong token out of the address bar
    return;
  }
  const saved = sessionStorage.getItem(KEY);
  if (saved && !new URLSearchParams(location.search).has("token")) {
    location.replace(`/operator?token=${encodeURIComponent(saved)}`);
  }
})();
