// Forms that do something hard to undo carry data-confirm="question": the
// browser asks it before sending, and a "Cancel" keeps the form unsent.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.dataset ? form.dataset.confirm : null;
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
})();
