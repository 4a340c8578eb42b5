// Live preview for the template designer: each edit redraws the pass preview
// from the server, which applies the form without storing it.
(function () {
  "use strict";

  var form = document.getElementById("design-form");
  if (!form) {
    return;
  }
  var target = document.getElementById(form.dataset.previewTarget);
  var url = form.dataset.previewUrl;
  var token = form.querySelector('input[name="csrf_token"]').value;
  var timer = null;
  // Only the newest request may draw: an older, slower answer is dropped.
  var latest = 0;

  function refresh() {
    var number = ++latest;
    fetch(url, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-CSRFToken": token },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && number === latest) {
          target.innerHTML = html;
        }
      })
      .catch(function () {
        // Offline or the server is restarting: keep the last preview.
      });
  }

  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
})();
