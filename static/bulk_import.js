// Bulk import page: follows a running import's progress, then shows its outcome.
(function () {
  "use strict";

  var section = document.getElementById("bulk-progress");
  if (!section || section.dataset.finished === "true") {
    return;
  }
  var bar = section.querySelector("progress");

  function show(state) {
    ["done", "total", "accepted", "refused"].forEach(function (name) {
      section.querySelector('[data-progress="' + name + '"]').textContent =
        state[name];
    });
    bar.max = state.total || 1;
    bar.value = state.done;
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
        if (state && state.finished) {
          // The page lists the refused rows and the next steps once done.
          window.location.reload();
        } else {
          setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        setTimeout(poll, 5000);
      });
  }

  poll();
})();
