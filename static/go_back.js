// Error pages: a "Go back" button that returns to the previous page the way
// the browser's Back button does, with the values typed into its form.
(function () {
  "use strict";

  document.querySelectorAll("[data-go-back]").forEach(function (button) {
    if (window.history.length > 1) {
      button.hidden = false;
    }
    button.addEventListener("click", function () {
      window.history.back();
    });
  });
})();
