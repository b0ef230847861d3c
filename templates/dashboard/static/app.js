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

  // Beredskaps-SMS: progress every 2 s until every recipient is settled: delivered
  // or failed, or sent and still without a delivery report after 10 minutes (a
  // gateway need not report every delivery).
  var progress = document.querySelector("[data-progress]");
  if (progress) {
    var url = progress.getAttribute("data-progress");
    var started = Date.now();
    var timer = setInterval(function () {
      refresh(url, function (s) {
        var st = progress.querySelector("[data-field=status]");
        if (st) st.textContent = s.status_nb || s.status;
        var raw = progress.querySelector("[data-field=status-raw]");
        if (raw) raw.textContent = s.status;
        var list = progress.querySelector(".progress");
        // A status nobody is in any more (all sent ones delivered) reads 0.
        progress.querySelectorAll("[data-recipients]").forEach(function (el) {
          if (!(el.getAttribute("data-recipients") in s.recipients)) el.textContent = "0";
        });
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
        var unreported = (s.recipients.sent || 0) > 0 && Date.now() - started < 600000;
        if (open === 0 && !unreported && s.status !== "awaiting_approval" && s.status !== "approved") clearInterval(timer);
      });
    }, 2000);
  }

  // Beredskaps-SMS: segments and cost as the principal types, counted by the
  // server with the same counter as `dokflyt sms count` (the text is posted,
  // never put in a URL); characters that force UCS-2 can be replaced.
  var text = document.querySelector("textarea[data-segments]");
  var out = document.getElementById("telling");
  var sami = document.querySelector("textarea[data-sami]");
  if (text && out) {
    var form = text.form;
    var pending = null;
    var show = function (c) {
      out.textContent = "";
      var line = document.createElement("p");
      line.id = "telling-linje";
      line.textContent = c.characters + " tegn · " + c.segments + " SMS per mottaker (" +
        (c.encoding === "ucs2" ? "UCS-2, " : "") + c.per_segment + " tegn per SMS) · " +
        (c.sami ? "med " + c.sami.language_nb + " tekst · " : "") +
        c.numbers + " mobilnumre · " + c.cost + " (" + c.price + " per SMS)";
      if (c.too_long) line.className = "alarm";
      out.appendChild(line);
      if (c.too_long) {
        var warn = document.createElement("p");
        warn.className = "alarm";
        warn.textContent = "Meldingen er for lang: høyst " + c.max_segments + " SMS er tillatt.";
        out.appendChild(warn);
      }
      if (c.sami_forces_ucs2) {
        var s = document.createElement("p");
        s.id = "samisk-ucs2";
        s.textContent = "Den samiske teksten har bokstaver utenfor GSM-alfabetet, så hver SMS rommer bare 70 tegn.";
        out.appendChild(s);
      }
      if (c.ucs2.length > 0) {
        var p = document.createElement("p");
        p.id = "ucs2";
        p.textContent = "Disse tegnene gjør at hver SMS rommer bare 70 tegn: " +
          c.ucs2.map(function (u) { return "«" + u.char + "»"; }).join(" ") + ". ";
        c.ucs2.forEach(function (u) {
          if (!u.replacement) return;
          var b = document.createElement("button");
          b.type = "button";
          b.className = "secondary replace";
          b.textContent = "Bytt «" + u.char + "» med «" + u.replacement + "»";
          b.addEventListener("click", function () {
            text.value = text.value.split(u.char).join(u.replacement);
            text.dispatchEvent(new Event("input"));
            text.focus();
          });
          p.appendChild(b);
        });
        out.appendChild(p);
      }
    };
    var ask = function () {
      var body = new URLSearchParams();
      body.set("_csrf", form.elements._csrf.value);
      body.set("school", form.elements.school.value);
      body.set("tekst", text.value);
      if (sami) body.set("samisk", sami.value);
      fetch(out.getAttribute("data-count"), {
        method: "POST", credentials: "same-origin", body: body,
        headers: { Accept: "application/json" }
      })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (c) { if (c) show(c); })
        .catch(function () { /* the preview counts anyway */ });
    };
    var later = function () {
      if (pending) clearTimeout(pending);
      pending = setTimeout(ask, 250);
    };
    text.addEventListener("input", later);
    if (sami) sami.addEventListener("input", later);
    if (text.value) ask();
  }
})();
