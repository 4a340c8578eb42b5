// Progress of background work (a template update, a mail batch, a bulk
// import): every element with data-progress-url polls that URL for JSON
// counts until they say "finished".
//
// The element's data attributes say what to do:
//   data-progress-url      the JSON to poll: numbers plus "finished"
//   data-finished="true"   the work was done when the page was drawn: no polling
//   data-finished-label    text for its [data-progress="state"] once finished
//   data-progress-reload   "always": reload the page once finished, so it can
//                          show the outcome; a count's name ("failed"): reload
//                          only if that count differs from the one drawn
// Inside it, each [data-progress="NAME"] shows the answer's NAME, and a
// <progress> bar shows done out of total.
(function () {
  "use strict";

  document.querySelectorAll("[data-progress-url]").forEach(function (section) {
    if (section.dataset.finished !== "true") {
      follow(section);
    }
  });

  function follow(section) {
    var bar = section.querySelector("progress");
    var reload = section.dataset.progressReload;
    var drawn = reload && reload !== "always" ? countShown(section, reload) : null;

    function show(state) {
      section.querySelectorAll("[data-progress]").forEach(function (element) {
        var name = element.dataset.progress;
        if (name !== "state" && name in state) {
          element.textContent = state[name];
        }
      });
      if (bar) {
        bar.max = state.total || 1;
        bar.value = state.total ? state.done : state.finished ? 1 : 0;
      }
      if (state.finished) {
        finish(state);
      }
    }

    function finish(state) {
      var label = section.querySelector('[data-progress="state"]');
      if (label && section.dataset.finishedLabel) {
        label.textContent = section.dataset.finishedLabel;
      }
      section.dataset.finished = "true";
      if (reload === "always" || (drawn !== null && state[reload] !== drawn)) {
        window.location.reload();
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
          // Offline or the server is restarting: try again a little later.
          setTimeout(poll, 5000);
        });
    }

    poll();
  }

  function countShown(section, name) {
    var element = section.querySelector('[data-progress="' + name + '"]');
    return element ? Number(element.textContent) : null;
  }
})();
