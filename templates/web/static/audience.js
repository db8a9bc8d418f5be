// The audience builder's live recipient count, on every send form that carries data-count-url
// (announce, event invitations); the "Count" button or the confirmation step gives the same
// figure without JavaScript.
(function () {
  if (!window.fetch || !window.URLSearchParams) return;
  var names = ["list_slug", "country", "sector", "language", "organisation"];
  document.querySelectorAll("form[data-count-url]").forEach(function (form) {
    var out = form.querySelector("[data-audience-count]"), timer = null;
    if (!out) return;
    function update() {
      var data = new FormData(form), query = new URLSearchParams(), url = form.dataset.countUrl;
      names.forEach(function (n) { data.getAll(n).forEach(function (v) { query.append(n, v); }); });
      fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + query,
            {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (j) { out.textContent = j && typeof j.count === "number" ? j.count : (j && j.error) || "—"; })
        .catch(function () {});
    }
    function changed(e) {
      if (names.indexOf(e.target.name) < 0) return;
      clearTimeout(timer); timer = setTimeout(update, 250);
    }
    form.addEventListener("change", changed);
    form.addEventListener("input", changed);
    if (out.textContent === "—") update();
  });
})();
