// siamese-edge web view: confirm removals, refresh the latest identifications,
// reconnect the live stream. Plain DOM, text only (never innerHTML).
"use strict";

document.querySelectorAll("form[data-confirm]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});

var stream = document.getElementById("stream");
if (stream) {
  stream.addEventListener("error", function () {
    setTimeout(function () { stream.src = stream.src.split("?")[0] + "?t=" + Date.now(); }, 2000);
  });
}

var recent = document.getElementById("recent");
function clock(seconds) {
  return new Date(seconds * 1000).toTimeString().slice(0, 8);
}
function item(cls, text, meta) {
  var li = document.createElement("li"), name = document.createElement("span");
  li.className = cls;
  name.className = "name";
  name.textContent = text;
  li.appendChild(name);
  if (meta) {
    var m = document.createElement("span");
    m.className = "meta";
    m.textContent = meta;
    li.appendChild(m);
  }
  return li;
}
function refresh() {
  fetch(recent.dataset.source, {credentials: "same-origin"})
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (data) {
      if (!data) return;
      var items = data.recent.map(function (s) {
        var meta = clock(s.last_seen) + (s.distance === null ? "" : " · distance " + s.distance.toFixed(3));
        return item(s.name === "unknown" ? "unknown" : "known", s.name, meta);
      });
      if (!items.length) items = [item("empty", "No one seen yet.", "")];
      recent.replaceChildren.apply(recent, items);
    })
    .catch(function () {});
}
if (recent) setInterval(refresh, 2000);
