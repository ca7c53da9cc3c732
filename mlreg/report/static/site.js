// mlreg report: the index's filter box (no server, no network). Every word typed must appear in a row.
(function () {
  "use strict";
  var box = document.getElementById("filter");
  if (!box) { return; }
  var table = document.querySelector(box.getAttribute("data-filter"));
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var count = document.getElementById("filter-count");
  var empty = document.getElementById("filter-empty");
  function apply() {
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (row, i) {
      var hit = words.every(function (w) { return texts[i].indexOf(w) !== -1; });
      row.hidden = !hit;
      if (hit) { shown += 1; }
    });
    count.textContent = words.length ? shown + " of " + rows.length : "";
    empty.hidden = shown !== 0;
  }
  box.addEventListener("input", apply);
  var q = new URLSearchParams(window.location.search).get("q");
  if (q) { box.value = q; }
  apply();
}());
