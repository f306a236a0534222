// Worklist: the only script. Ask before a decision only an investigator may make.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("state-form");
  if (!form) { return; }
  form.addEventListener("submit", function (event) {
    var target = document.getElementById("state-select").value;
    if ((target === "not-eligible" || target === "enrolled") &&
        !window.confirm("Mark this patient as " + target + "?")) {
      event.preventDefault();
    }
  });
});
