// Progressive enhancement for the booking pages; every step works without it.
// Forms marked .js-once send once: the button is disabled while the request is on
// its way (the server is idempotent anyway, so a double click never books twice).
(function () {
  "use strict";

  function guard(form) {
    form.addEventListener("submit", function () {
      var buttons = form.querySelectorAll("button[type=submit]");
      buttons.forEach(function (button) {
        button.setAttribute("data-label", button.textContent);
        if (button.dataset.busyText) {
          button.textContent = button.dataset.busyText;
        }
        // Disable after the browser has taken the submission.
        window.setTimeout(function () { button.disabled = true; }, 0);
      });
      form.setAttribute("aria-busy", "true");
    });
  }

  function restore() {
    // Coming back with the Back button (page cache): make the buttons usable again.
    document.querySelectorAll("form.js-once").forEach(function (form) {
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = false;
        if (button.hasAttribute("data-label")) {
          button.textContent = button.getAttribute("data-label");
        }
      });
    });
  }

  document.querySelectorAll("form.js-once").forEach(guard);
  window.addEventListener("pageshow", restore);
})();
