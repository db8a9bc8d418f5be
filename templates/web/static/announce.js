// Live recipient count: the "Count" button does the same without JavaScript.
(function () {
  var form = document.getElementById("announce-form"), out = document.getElementById("audience-count");
  if (!form || !out || !window.fetch || !window.URLSearchParams) return;
  var names = ["list_slug", "country", "sector", "language", "organisation"], timer = null;
  function update() {
    var data = new FormData(form), query = new URLSearchParams();
    names.forEach(function (n) { data.getAll(n).forEach(function (v) { query.append(n, v); }); });
    fetch(form.dataset.countUrl + "?" + query, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) { out.textContent = j && typeof j.count === "number" ? j.count : "—"; })
      .catch(function () {});
  }
  function changed(e) {
    if (names.indexOf(e.target.name) < 0) return;
    clearTimeout(timer); timer = setTimeout(update, 250);
  }
  form.addEventListener("change", changed);
  form.addEventListener("input", changed);
  if (out.textContent === "—") update();
})();
