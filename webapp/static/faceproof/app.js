// Progressive enhancement: live job progress and refreshed training previews. Pages work without it.
"use strict";
(function () {
  function text(el, value) { if (el) el.textContent = value; }
  function poll(card) {
    var url = card.getAttribute("data-job-status");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (job) {
        var f = function (name) { return card.querySelector('[data-field="' + name + '"]'); };
        text(f("state_text"), job.state_text);
        f("state_text").className = "state " + job.state;
        var bar = f("fraction"); if (bar) { bar.value = job.fraction; }
        text(f("done"), job.done); text(f("total"), job.total); text(f("detail"), job.detail);
        text(f("eta"), job.eta_seconds === null ? "–" : job.eta_seconds + " s");
        var err = f("error"); if (err) { err.hidden = !job.error; err.textContent = job.error; }
        var log = document.querySelector('pre[data-field="log"]'); if (log) { log.textContent = job.log; }
        document.querySelectorAll("img[data-refresh]").forEach(function (img) {
          img.src = img.src.split("?")[0] + "?t=" + Date.now();
        });
        if (["succeeded", "failed", "cancelled", "stopped"].indexOf(job.state) >= 0) {
          if (card.hasAttribute("data-reload-done") || document.querySelector(".actions")) { window.location.reload(); }
          return;
        }
        setTimeout(function () { poll(card); }, 1500);
      })
      .catch(function () { setTimeout(function () { poll(card); }, 5000); });
  }
  function megabytes(bytes) { return Math.ceil(bytes / 1048576) + " MB"; }
  // An oversize file is refused here, before it is sent, with the limit named (the server refuses it too).
  function checkSizes(event) {
    var limit = Number(document.body.getAttribute("data-max-upload-bytes"));
    var inputs = event.target.querySelectorAll('input[type="file"]');
    for (var i = 0; i < inputs.length; i++) {
      var files = inputs[i].files || [];
      for (var j = 0; j < files.length; j++) {
        if (limit && files[j].size > limit) {
          event.preventDefault();
          var note = event.target.querySelector(".upload-refused") || document.createElement("p");
          note.className = "error upload-refused"; note.setAttribute("role", "alert");
          note.textContent = files[j].name + " is " + megabytes(files[j].size) + "; the upload limit is " +
            megabytes(limit) + ".";
          event.target.appendChild(note);
          return;
        }
      }
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll('form[enctype="multipart/form-data"]').forEach(function (form) {
      form.addEventListener("submit", checkSizes);
    });
    document.querySelectorAll("[data-job-status]").forEach(function (card) {
      var state = card.querySelector('[data-field="state_text"]');
      if (state && /(queued|running)/.test(state.className)) { poll(card); }
    });
    document.querySelectorAll("img[data-refresh]").forEach(function (img) {
      img.addEventListener("error", function () { img.hidden = true; });
    });
  });
})();
