// The manual-match workbench: running totals, difference and currency check as boxes are
// ticked. Amounts are exact decimal strings; they are summed as BigInt micro-units (the
// amount columns hold at most 6 decimals), never as floating-point numbers.
(function () {
  "use strict";
  var SCALE = 6;

  function micro(text) {
    var negative = text.charAt(0) === "-";
    var parts = text.replace("-", "").split(".");
    var fraction = (parts[1] || "").padEnd(SCALE, "0").slice(0, SCALE);
    var value = BigInt(parts[0] || "0") * 1000000n + BigInt(fraction || "0");
    return negative ? -value : value;
  }

  function format(value, decimals) {
    var negative = value < 0n;
    if (negative) value = -value;
    var divisor = 10n ** BigInt(SCALE - decimals);
    var rounded = value / divisor;  // the totals of exact amounts: nothing to round away
    var digits = rounded.toString().padStart(decimals + 1, "0");
    var whole = digits.slice(0, digits.length - decimals) || "0";
    var fraction = decimals ? "." + digits.slice(digits.length - decimals) : "";
    whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (negative ? "-" : "") + whole + fraction;
  }

  function tally(form, side) {
    var boxes = form.querySelectorAll('input[type=checkbox][data-side="' + side + '"]:checked');
    var total = 0n, currencies = {}, decimals = 2;
    boxes.forEach(function (box) {
      total += micro(box.dataset.amount);
      currencies[box.dataset.currency] = true;
      decimals = parseInt(box.dataset.decimals, 10);
    });
    return { count: boxes.length, total: total, currencies: Object.keys(currencies), decimals: decimals };
  }

  function update(form) {
    var bank = tally(form, "bank"), gl = tally(form, "gl");
    var currencies = bank.currencies.concat(gl.currencies).filter(function (c, i, all) {
      return all.indexOf(c) === i;
    });
    var decimals = bank.count ? bank.decimals : gl.decimals;
    document.getElementById("bank-count").textContent = bank.count;
    document.getElementById("gl-count").textContent = gl.count;
    document.getElementById("bank-total").textContent = bank.count ? format(bank.total, bank.decimals) : "—";
    document.getElementById("gl-total").textContent = gl.count ? format(gl.total, gl.decimals) : "—";
    var difference = bank.total - gl.total;
    var mixed = currencies.length > 1;
    document.getElementById("difference").textContent =
      (bank.count || gl.count) && !mixed ? (difference > 0n ? "+" : "") + format(difference, decimals) : "—";
    document.getElementById("currency").textContent = mixed ? "" : (currencies[0] || "");
    var check = document.getElementById("currency-check");
    check.textContent = mixed ? "Currencies differ: a match needs one currency." : "";
    check.className = mixed ? "recon-diff" : "recon-none";
    var button = document.getElementById("match-button");
    if (!button.hasAttribute("data-closed")) {
      button.disabled = mixed || bank.count === 0 || (gl.count === 0 && bank.total !== 0n);
    }
    form.querySelectorAll("input[type=checkbox][data-side]").forEach(function (box) {
      box.closest("tr").classList.toggle("selected", box.checked);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("manual-match-form");
    if (!form) return;
    var button = document.getElementById("match-button");
    if (button.disabled) button.setAttribute("data-closed", "");
    form.addEventListener("change", function (event) {
      if (event.target.matches("input[type=checkbox][data-side]")) update(form);
    });
    update(form);
  });
})();
