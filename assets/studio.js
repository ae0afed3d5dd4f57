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
