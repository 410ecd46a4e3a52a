// The review screen's keyboard: A / R / N decide or skip.
(function () {
  "use strict";
  if (!document.getElementById("decision-form")) return;
  // A / R / N decide or skip; never while typing in a field, never with a modifier key.
  var form = document.getElementById("decision-form");
  var sent = false;
  form.addEventListener("submit", function () { sent = true; });
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(el.tagName) && el.type !== "submit");
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    var target = event.target;
    if (typing(target)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    var key = (event.key || "").toLowerCase();
    var control = document.querySelector('[data-key="' + key + '"]');
    if (!control || sent) return;
    event.preventDefault();
    if (control.tagName === "BUTTON") {
      sent = true;
      if (form.requestSubmit) form.requestSubmit(control); else control.click();
    } else {
      sent = true;
      window.location.href = control.href;
    }
  });
})();
