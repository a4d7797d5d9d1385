/* A shop's task list: the "Show finished tasks" box applies at once (without
   scripts, its Apply button does the same). */
(function () {
  "use strict";

  var box = document.getElementById("show-finished");
  if (box) {
    box.addEventListener("change", function () {
      box.form.submit();
    });
  }
})();
