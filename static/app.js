// Klaxon's only script. Every page works without it; it adds copy buttons,
// confirmations, select-all and live updates of the alert list.
(function () {
  "use strict";

  // Copy buttons: data-copy-target names the element whose text is copied.
  // navigator.clipboard needs a secure context (https or localhost); on
  // plain http elsewhere fall back to a selected textarea and execCommand.
  function fallbackCopy(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(ta);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy-target]");
    if (!btn) return;
    var src = document.getElementById(btn.getAttribute("data-copy-target"));
    if (!src) return;
    var status = document.getElementById(btn.getAttribute("data-copy-status"));
    copyText(src.textContent.trim()).then(function () {
      if (status) status.textContent = "Copied to the clipboard";
      btn.textContent = "Copied";
    }, function () {
      if (status) status.textContent = "Press Ctrl+C to copy";
      var range = document.createRange();
      range.selectNodeContents(src);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    });
    setTimeout(function () { btn.textContent = "Copy"; }, 2500);
  });

  // Forms with data-confirm ask first.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  // Select-all checkbox for bulk actions.
  document.addEventListener("change", function (ev) {
    if (ev.target.matches("[data-select-all]")) {
      document.querySelectorAll("input[name=ids]").forEach(function (cb) { cb.checked = ev.target.checked; });
    }
    updateBulk();
  });
  function updateBulk() {
    var n = document.querySelectorAll("input[name=ids]:checked").length;
    var out = document.getElementById("selected-count");
    if (out) out.textContent = n === 0 ? "" : n + " selected";
  }

  // Live alert list: reload the rows of the current view every few seconds,
  // keeping the filters (they are in the URL) and any checked boxes.
  // The rows' ids and statuses: when they change, so do the tab counts.
  function rowsSignature(root) {
    return Array.prototype.map.call(root.querySelectorAll("tr[data-id]"), function (tr) {
      var badge = tr.querySelector("[class*=status-]");
      return tr.getAttribute("data-id") + ":" + (badge ? badge.className : "");
    }).join(",");
  }
  // The rows poll stays light; the counts come from the page itself, fetched
  // only when the rows changed.
  function refreshTabs() {
    var tabs = document.querySelector("nav.tabs");
    if (!tabs) return;
    fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" }).then(function (r) {
      if (r.status === 200) return r.text();
      throw new Error("status " + r.status);
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("nav.tabs");
      if (fresh) tabs.replaceWith(fresh);
    }).catch(function () {});
  }

  var body = document.querySelector("tbody[data-live]");
  if (body) {
    var url = body.getAttribute("data-live");
    var indicator = document.getElementById("live-indicator");
    var shown = rowsSignature(body);
    var refresh = function () {
      if (document.hidden) return;
      fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" }).then(function (r) {
        // A session that ended answers with the log-in page.
        if (r.redirected && r.url.indexOf("/login") >= 0) throw new Error("logged out");
        if (r.status === 200) return r.text();
        throw new Error("status " + r.status);
      }).then(function (html) {
        var checked = {};
        body.querySelectorAll("input[name=ids]:checked").forEach(function (cb) { checked[cb.value] = true; });
        var known = {};
        body.querySelectorAll("tr[data-id]").forEach(function (tr) { known[tr.getAttribute("data-id")] = true; });
        var tpl = document.createElement("template");
        tpl.innerHTML = html;
        var fresh = tpl.content.querySelector("tbody");
        if (!fresh) return;
        fresh.querySelectorAll("tr[data-id]").forEach(function (tr) {
          var cb = tr.querySelector("input[name=ids]");
          if (cb && checked[cb.value]) cb.checked = true;
          if (Object.keys(known).length && !known[tr.getAttribute("data-id")]) tr.classList.add("fresh");
        });
        body.replaceChildren.apply(body, Array.prototype.slice.call(fresh.children));
        var now = rowsSignature(body);
        if (now !== shown) { shown = now; refreshTabs(); }
        var empty = document.getElementById("alerts-empty");
        var table = document.getElementById("alerts-table");
        if (table && empty) {
          var any = body.querySelector("tr[data-id]") !== null;
          empty.hidden = any;
          table.hidden = !any;
        }
        if (indicator) indicator.textContent = "Live · updated " + new Date().toLocaleTimeString();
        updateBulk();
      }).catch(function (err) {
        if (!indicator) return;
        indicator.textContent = err && err.message === "logged out"
          ? "Live updates stopped: your session ended. Reload to log in again."
          : "Live updates paused: Klaxon did not answer";
      });
    };
    setInterval(refresh, 3000);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  }

  // Insights: without a zone in the URL, show the viewer's own (the page
  // works in UTC without this).
  var tz = document.querySelector("[data-insights-tz]");
  if (tz && !new URLSearchParams(location.search).get("tz") && window.Intl) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && zone !== "UTC") {
      var params = new URLSearchParams(location.search);
      params.set("tz", zone);
      location.replace(location.pathname + "?" + params.toString());
    }
  }
})();
