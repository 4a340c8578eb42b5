// Template page: the designer's live preview, and the progress of the last
// saved change while its passes are re-signed and pushed.
(function () {
  "use strict";

  var form = document.getElementById("design-form");
  if (form) {
    livePreview(form);
  }
  var progress = document.getElementById("template-update");
  if (progress && progress.dataset.finished !== "true") {
    followProgress(progress);
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

  function followProgress(section) {
    var bar = section.querySelector("progress");

    function show(state) {
      ["done", "total", "sent", "failed", "removed"].forEach(function (name) {
        section.querySelector('[data-progress="' + name + '"]').textContent =
          state[name];
      });
      bar.max = state.total || 1;
      bar.value = state.total ? state.done : state.finished ? 1 : 0;
      if (state.finished) {
        section.querySelector('[data-progress="state"]').textContent = "Finished";
        section.dataset.finished = "true";
      }
    }

    function poll() {
      fetch(section.dataset.progressUrl, { credentials: "same-origin" })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (state) {
          if (state) {
            show(state);
          }
          if (!state || !state.finished) {
            setTimeout(poll, 1000);
          }
        })
        .catch(function () {
          setTimeout(poll, 5000);
        });
    }

    poll();
  }
})();
