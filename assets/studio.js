// Records when each preview frame is shown, so tests (and curious users, via the console) can measure
// the delay from a frame's production on the server to its display: window.studioFrameLog.
(function () {
  window.studioFrameLog = [];
  document.addEventListener("load", function (event) {
    var img = event.target;
    if (img && img.id === "preview-image" && img.src) {
      var m = /seq=(\d+)/.exec(img.src);
      window.studioFrameLog.push({seq: m ? +m[1] : null, shownAt: Date.now() / 1000});
    }
  }, true);
})();

// Weight sliders hold log10(weight); this shows the weight itself (slider tooltips and read-outs).
window.dccFunctions = window.dccFunctions || {};
window.dccFunctions.tenToThe = function (v) {
  var x = Math.pow(10, v);
  if (x >= 100) return Math.round(x).toLocaleString("en");
  return x >= 1 ? String(+x.toPrecision(3)) : String(+x.toPrecision(2));
};
