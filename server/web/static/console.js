// The console works without this file; it only saves a click on the filter forms.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.filters select").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.submit();
    });
  });
});
