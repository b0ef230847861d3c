// dokflyt dashboard: live tab counts and emergency-SMS progress. No build step;
// the pages work without this script (it only refreshes numbers).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // The menu collapses at phone width behind «Meny» (see app.css).
  var toggle = document.getElementById("meny-knapp");
  var header = document.querySelector("header.top");
  if (toggle && header) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var open = header.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  function refresh(url, apply) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) apply(data); })
      .catch(function () { /* the next tick tries again */ });
  }

  // Arkivlogg: tab counts every 15 s.
  var tabs = document.querySelector("[data-counts]");
  if (tabs) {
    var countsUrl = tabs.getAttribute("data-counts");
    setInterval(function () {
      refresh(countsUrl, function (c) {
        tabs.querySelectorAll("[data-count]").forEach(function (el) {
          var k = el.getAttribute("data-count");
          if (k in c) el.textContent = String(c[k]);
        });
      });
    }, 15000);
  }

  // Beredskaps-SMS: progress every 2 s until every recipient is settled.
  var progress = document.querySelector("[data-progress]");
  if (progress) {
    var url = progress.getAttribute("data-progress");
    var timer = setInterval(function () {
      refresh(url, function (s) {
        var st = progress.querySelector("[data-field=status]");
        if (st) st.textContent = s.status_nb || s.status;
        var raw = progress.querySelector("[data-field=status-raw]");
        if (raw) raw.textContent = s.status;
        var list = progress.querySelector(".progress");
        Object.keys(s.recipients).forEach(function (k) {
          var el = progress.querySelector('[data-recipients="' + k + '"]');
          if (!el && list) {
            var li = document.createElement("li");
            var name = document.createElement("span");
            name.textContent = (s.labels && s.labels[k]) || k;
            el = document.createElement("span");
            el.setAttribute("data-recipients", k);
            li.appendChild(name);
            li.appendChild(document.createTextNode(": "));
            li.appendChild(el);
            list.appendChild(li);
          }
          if (el) el.textContent = String(s.recipients[k]);
        });
        var open = (s.recipients.queued || 0) + (s.recipients.sending || 0);
        if (open === 0 && s.status !== "awaiting_approval" && s.status !== "approved") clearInterval(timer);
      });
    }, 2000);
  }

  // Message length as the principal types (segments are counted on the server).
  var text = document.querySelector("textarea[data-segments]");
  var out = document.getElementById("tegn");
  if (text && out) {
    text.addEventListener("input", function () {
      out.textContent = text.value.length + " tegn";
    });
  }
})();
