// Keeps the live part of a dashboard page (<main data-refresh="ms">) up to date: every couple
// of seconds it fetches the same page and puts the new <main> in place of the old one. It waits
// while the tab is hidden, while a form on the page is being filled in, and stops once the new
// page says there is nothing left to watch (no data-refresh). Forms work without it.
(function () {
  "use strict";
  function busy(main) {
    var active = document.activeElement;
    if (active && active !== document.body && main.contains(active) && active.form) return true;
    return main.querySelector("input[type=checkbox]:checked") !== null;
  }
  function schedule() {
    var main = document.getElementById("live");
    var every = main && parseInt(main.getAttribute("data-refresh") || "", 10);
    if (every > 0) window.setTimeout(refresh, every);
  }
  function refresh() {
    var main = document.getElementById("live");
    if (!main || document.hidden || busy(main)) return schedule();
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Salvo-Refresh": "1" } })
      .then(function (response) {
        if (response.redirected || response.status === 401) {
          window.location.reload();
          return null;
        }
        return response.text();
      })
      .then(function (text) {
        if (text === null) return;
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("live");
        var now = document.getElementById("live");
        if (fresh && now && !busy(now)) {
          now.innerHTML = fresh.innerHTML;
          if (fresh.hasAttribute("data-refresh")) {
            now.setAttribute("data-refresh", fresh.getAttribute("data-refresh"));
          } else {
            now.removeAttribute("data-refresh");
          }
        }
        schedule();
      })
      .catch(schedule);
  }
  document.addEventListener("DOMContentLoaded", schedule);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh();
  });
})();
