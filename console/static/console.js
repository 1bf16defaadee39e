// Sluice console: the live parts of a run's page. The pages work without
// it; with it, a run's log follows as it is written and its status part is
// fetched again whenever the run moves on.
"use strict";
(function () {
  var log = document.getElementById("log");
  var status = document.getElementById("status");
  if (!log || !status) { return; }
  var maxLines = 2000;
  var source = new EventSource(log.dataset.events);
  function append(text) {
    var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.appendChild(document.createTextNode(text + "\n"));
    while (log.childNodes.length > maxLines) { log.removeChild(log.firstChild); }
    if (atEnd) { log.scrollTop = log.scrollHeight; }
  }
  source.onmessage = function (e) { append(e.data); };
  source.addEventListener("reset", function () { log.textContent = ""; });
  source.addEventListener("skipped", function (e) {
    append("… " + e.data + " earlier lines: read them page by page");
  });
  source.addEventListener("problem", function (e) { append("(" + e.data + ")"); });
  source.addEventListener("state", function () { refresh(); });
  source.addEventListener("end", function () { source.close(); refresh(); });
  function refresh() {
    fetch("/run/status?id=" + encodeURIComponent(status.dataset.run), { credentials: "same-origin" })
      .then(function (r) { if (r.redirected || !r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        // the server rendered and escaped it: same origin, same templates
        var focused = document.activeElement && document.activeElement.id;
        var typed = {};
        status.querySelectorAll("input[id]").forEach(function (i) { typed[i.id] = i.value; });
        status.innerHTML = html;
        status.querySelectorAll("input[id]").forEach(function (i) { if (typed[i.id]) { i.value = typed[i.id]; } });
        if (focused && document.getElementById(focused)) { document.getElementById(focused).focus(); }
      })
      .catch(function () { /* the next event tries again */ });
  }
})();
