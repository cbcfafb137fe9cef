// The error summary (templates/partials/error_summary.html), as the GOV.UK Design System does it:
// after a failed submit focus goes to the summary, so the first thing read and seen is what went wrong;
// each of its links moves focus to its field, scrolled so that the field's label (or legend) shows too.
// Loaded by base.html on every page; it does nothing where no summary is shown.
(function () {
  "use strict";

  var summary = document.querySelector("[data-error-summary]");
  if (!summary) {
    return;
  }

  function labelFor(input) {
    var fieldset = input.closest("fieldset");
    var legend = fieldset && fieldset.querySelector("legend");
    if (legend && input.type === "radio") {
      return legend;
    }
    return (input.labels && input.labels[0]) || legend || input;
  }

  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    if (!link) {
      return;
    }
    var input = document.getElementById(decodeURIComponent(link.hash.slice(1)));
    if (!input) {
      return;
    }
    event.preventDefault();
    var closed = input.closest("details:not([open])");
    if (closed) {
      closed.open = true;
    }
    labelFor(input).scrollIntoView({ block: "start" });
    input.focus({ preventScroll: true });
  });

  // The page title says so too, as GOV.UK pages do after a failed submit.
  if (document.title.indexOf("Error: ") !== 0) {
    document.title = "Error: " + document.title;
  }
  summary.focus();
})();
