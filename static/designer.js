// Template page: the designer's live preview. The progress of the last saved
// change is followed by progress.js.
(function () {
  "use strict";

  var form = document.getElementById("design-form");
  if (form) {
    livePreview(form);
  }

  // Each edit redraws the preview from the server, which applies the form
  // without storing it.
  function livePreview(form) {
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

    function schedule(event) {
      // Inputs outside the form (the preview language) belong to it by id.
      if (event.target.form === form) {
        clearTimeout(timer);
        timer = setTimeout(refresh, 250);
      }
    }

    document.addEventListener("input", schedule);
    document.addEventListener("change", schedule);
  }
})();
