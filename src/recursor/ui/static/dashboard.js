// Live updates of a dashboard page while its run is going.
//
// A page of a live run carries data-poll (its state endpoint) on <main>. Every data-every ms
// this asks for the page's parts and swaps each element [data-part] whose data-version
// changed, so nothing reloads and an unchanged plot is not redrawn. Once the state says the
// run (or node) is no longer live, it stops asking. window.recursorLive tells what it did.
(function () {
  "use strict";
  const main = document.querySelector("main[data-poll]");
  const live = (window.recursorLive = { active: false, polls: 0, swaps: 0, status: null });
  if (!main) return;
  const url = main.dataset.poll;
  const every = Math.max(250, Number(main.dataset.every) || 3000);
  const badge = document.querySelector("[data-live]");
  let failures = 0;

  function swap(parts) {
    for (const [name, part] of Object.entries(parts)) {
      for (const el of document.querySelectorAll('[data-part="' + name + '"]')) {
        if (el.dataset.version === part.version) continue;
        el.innerHTML = part.html;
        el.dataset.version = part.version;
        live.swaps += 1;
      }
    }
  }

  function stop(status) {
    live.active = false;
    if (badge) {
      badge.classList.remove("on");
      badge.textContent = "run " + status + ": live updates stopped";
    }
  }

  async function tick() {
    let state;
    try {
      const response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      state = await response.json();
      failures = 0;
    } catch (err) {
      // the server restarting, or a database busy for a moment: ask again, more slowly
      failures += 1;
      if (badge) badge.textContent = "live: no answer (" + err.message + "), retrying";
      setTimeout(tick, every * Math.min(10, 1 + failures));
      return;
    }
    live.polls += 1;
    live.status = state.status;
    swap(state.parts || {});
    if (state.live) {
      setTimeout(tick, every);
    } else {
      stop(state.status);
    }
  }

  live.active = true;
  setTimeout(tick, every);
})();
