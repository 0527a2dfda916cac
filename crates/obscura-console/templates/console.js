// Obscura console: the review's progress (server-sent events), the frame
// viewer's scrubber, and boxes drawn on the frame with the mouse. No
// dependencies, nothing fetched but the console's own pages.
(function () {
  "use strict";
  var root = document.getElementById("review");
  if (!root) { return; }
  var sid = root.getAttribute("data-sid");

  var bar = document.getElementById("progress");
  if (bar) {
    var text = document.getElementById("progress-text");
    var events = new EventSource("/review/" + sid + "/events");
    events.addEventListener("progress", function (e) {
      var p = JSON.parse(e.data);
      if (p.frames === undefined) { return; }
      bar.max = p.total || 1;
      bar.value = p.frames;
      text.textContent = p.frames + " of " + p.total + " frames";
    });
    events.addEventListener("end", function () {
      events.close();
      window.location.reload();
    });
  }

  var img = document.getElementById("viewer");
  var scrub = document.getElementById("scrub");
  if (!img || !scrub) { return; }
  var label = document.getElementById("frame-no");
  var field = function (name) { return document.getElementById("box-" + name); };
  var timer = null;
  function show(n) {
    label.textContent = n;
    img.src = "/review/" + sid + "/frame/" + n;
    field("first").value = n;
    if (Number(field("last").value) < n) { field("last").value = n; }
  }
  scrub.addEventListener("input", function () {
    window.clearTimeout(timer);
    var n = scrub.value;
    timer = window.setTimeout(function () { show(n); }, 60);
  });
  document.querySelectorAll("a[data-frame]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      scrub.value = a.getAttribute("data-frame");
      show(scrub.value);
      img.scrollIntoView();
    });
  });

  // A box dragged on the picture fills the box form, in video pixels.
  var start = null;
  var outline = document.getElementById("outline");
  function at(e) {
    var r = img.getBoundingClientRect();
    var sx = img.naturalWidth / r.width, sy = img.naturalHeight / r.height;
    return {
      x: Math.max(0, Math.round((e.clientX - r.left) * sx)),
      y: Math.max(0, Math.round((e.clientY - r.top) * sy)),
      cx: e.clientX - r.left, cy: e.clientY - r.top
    };
  }
  img.addEventListener("mousedown", function (e) { e.preventDefault(); start = at(e); });
  img.addEventListener("mouseup", function (e) {
    if (!start) { return; }
    var end = at(e);
    var x = Math.min(start.x, end.x), y = Math.min(start.y, end.y);
    var w = Math.max(1, Math.abs(end.x - start.x)), h = Math.max(1, Math.abs(end.y - start.y));
    field("x").value = x; field("y").value = y; field("w").value = w; field("h").value = h;
    outline.style.left = Math.min(start.cx, end.cx) + "px";
    outline.style.top = Math.min(start.cy, end.cy) + "px";
    outline.style.width = Math.abs(end.cx - start.cx) + "px";
    outline.style.height = Math.abs(end.cy - start.cy) + "px";
    outline.style.display = "block";
    start = null;
  });
}());
