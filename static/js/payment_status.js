/* The pay page: debounce the Pay button, then follow the payment without a manual reload.
   Polls GET /api/mpesa/status/<checkout_request_id> (the server asks M-Pesa at most every few
   seconds) and reveals "Paid" with the receipt, or the plain-words failure with "Try again".
   Without JavaScript the page refreshes itself and offers a "Check again" button. */
(function () {
  "use strict";

  document.querySelectorAll("form[data-debounce]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        button.textContent = "Sending the request to your phone…";
      }
    });
  });

  var waiting = document.getElementById("pay-waiting");
  if (!waiting || !waiting.dataset.statusUrl) {
    return;
  }
  var url = waiting.dataset.statusUrl;
  var statusText = waiting.querySelector("[data-role=status-text]");
  var started = Date.now();
  var delay = 2500;
  var giveUpAfter = 5 * 60 * 1000;

  function reveal(id) {
    waiting.hidden = true;
    var panel = document.getElementById(id);
    panel.hidden = false;
    var heading = panel.querySelector("h2");
    if (heading) {
      heading.focus();
    }
    return panel;
  }

  function badges(data) {
    var status = document.querySelector("[data-role=session-status]");
    var payment = document.querySelector("[data-role=payment-status]");
    if (status && data.session_status) {
      status.className = "badge badge-" + data.session_status;
      status.textContent = data.session_status_label;
    }
    if (payment && data.payment_status) {
      payment.className = "badge badge-" + data.payment_status;
      payment.textContent = "Payment " + data.payment_status_label;
    }
  }

  function paid(data) {
    var panel = reveal("pay-done");
    panel.querySelector("[data-role=receipt]").textContent =
      data.mpesa_receipt_number || "will show here once M-Pesa sends it";
  }

  function failed(data) {
    var panel = reveal("pay-failed");
    panel.querySelector("[data-role=failure-message]").textContent =
      data.message || "M-Pesa did not complete the payment.";
    var payable = data.session_status === "approved" &&
      (data.payment_status === "pending" || data.payment_status === "failed");
    panel.querySelector("[data-role=retry]").hidden = !payable;
  }

  function schedule() {
    if (Date.now() - started > giveUpAfter) {
      statusText.textContent = "Still waiting for M-Pesa. Use Check again to look once more.";
      return;
    }
    delay = Math.min(Math.round(delay * 1.25), 8000);
    window.setTimeout(poll, delay);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        badges(data);
        if (data.payment_status === "paid") {
          paid(data);
        } else if (data.status === "processing" || data.status === "created") {
          statusText.textContent = "Waiting for you to enter your M-Pesa PIN…";
          schedule();
        } else {
          failed(data);
        }
      })
      .catch(function () {
        schedule();
      });
  }

  window.setTimeout(poll, delay);
})();
