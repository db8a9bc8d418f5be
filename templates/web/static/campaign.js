// Refresh the progress while the campaign goes out; reload once when it ends or changes state.
(function () {
  var box = document.getElementById("progress");
  if (!box || box.dataset.finished === "true" || !window.fetch) return;
  function show(p) {
    box.dataset.percent = p.percent;
    box.querySelector("progress").value = p.percent;
    document.getElementById("progress-text").textContent = p.percent + " %";
    Object.keys(p.counts).forEach(function (k) {
      var cell = document.getElementById("count-" + k);
      if (cell) cell.textContent = p.counts[k];
    });
    document.getElementById("count-total").textContent = p.total;
  }
  function tick() {
    fetch(box.dataset.url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (p) {
        show(p);
        if (p.finished || p.status !== box.dataset.status) { location.reload(); return; }
        setTimeout(tick, p.scheduled ? 30000 : 2000);
      })
      .catch(function () { setTimeout(tick, 10000); });
  }
  setTimeout(tick, 1000);
})();
