// Mail batch page: follow the batch's progress while its emails are sent,
// and reload once it finishes with new failures to list.
(function () {
  "use strict";

  var section = document.getElementById("mail-batch");
  if (!section || section.dataset.finished === "true") {
    return;
  }
  var bar = section.querySelector("progress");
  var failedAtLoad = Number(section.dataset.failed);

  function show(state) {
    ["done", "total", "sent", "failed"].forEach(function (name) {
      section.querySelector('[data-progress="' + name + '"]').textContent =
        state[name];
    });
    bar.max = state.total || 1;
    bar.value = state.total ? state.done : state.finished ? 1 : 0;
    if (state.finished) {
      section.querySelector('[data-progress="state"]').textContent = "Finished";
      section.dataset.finished = "true";
      if (state.failed !== failedAtLoad) {
        window.location.reload();
      }
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
})();
