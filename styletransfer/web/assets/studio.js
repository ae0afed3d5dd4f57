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

// Weight sliders hold log10(weight); this shows the weight itself (slider tooltips and read-outs): the
// one formatting of a weight on the page.
window.dccFunctions = window.dccFunctions || {};
window.dccFunctions.tenToThe = function (v) {
  var x = Math.pow(10, v);
  if (x >= 100) return Math.round(x).toLocaleString("en");
  return x >= 1 ? String(+x.toPrecision(3)) : String(+x.toPrecision(2));
};

// The studio's clientside callbacks (styletransfer/web/callbacks/client.py wires them).
window.dash_clientside = Object.assign({}, window.dash_clientside, {studio: {
  weightReadout: function (v) { return window.dccFunctions.tenToThe(v); },
  iterationsReadout: function (position, stops) { return stops[position] + " iterations"; },
  blendReadout: function (v) { return Math.round(v * 100) + "% second"; },
  compareClip: function (v) { return {clipPath: "inset(0 " + (100 - v) + "% 0 0)"}; },
  // After Start (or a job chosen) the stage comes into view; on the page's load only for a job still at work,
  // and only where the stage is below the form (a phone).
  scrollToStage: function (job) {
    var stage = document.querySelector(".stage"), anchor = document.getElementById("scroll-anchor");
    var loading = !window.studioLoaded;
    window.studioLoaded = true;
    if (job && stage && (!loading || (anchor && anchor.dataset.active === "1"
                                      && stage.getBoundingClientRect().top > window.innerHeight / 2))) {
      stage.scrollIntoView({block: "start"});
    }
    return window.dash_clientside.no_update;
  }
}});

// A callback the server refuses says so next to Start instead of doing nothing: too large (413), or a
// fault of the server's own (500: its log has the details; the answer carries one plain line); the job
// service away (503) is said in the notice above the page.
(function () {
  var fetch0 = window.fetch, failing = {};  // outputs of the callbacks answered 503 and not yet again
  function callbackOutput(init) {
    try { return JSON.parse(init && init.body).output; } catch (e) { return "?"; }
  }
  window.fetch = function () {
    var url = String(arguments[0] && arguments[0].url || arguments[0]), arguments_ = arguments;
    return fetch0.apply(this, arguments).then(function (response) {
      if (url.indexOf("_dash-update-component") < 0 || !window.dash_clientside.set_props) return response;
      var output = callbackOutput(arguments_[1]);
      if (response.status === 503) {  // the job service (Redis) is away: said above everything, until it is back
        failing[output] = true;
        response.clone().json().then(function (body) {
          window.dash_clientside.set_props("service-notice", {children: body.error, hidden: false});
        }, function () {});
      } else if (response.ok && failing[output]) {  // a callback that needs the service goes through again
        delete failing[output];
        if (!Object.keys(failing).length) window.dash_clientside.set_props("service-notice", {children: "", hidden: true});
      } else if (response.status === 413) {
        window.dash_clientside.set_props("start-message", {children:
          "The page sent more than this server takes: reload the page and try again"});
      } else if (response.status >= 500) {
        response.clone().json().then(function (body) {
          window.dash_clientside.set_props("start-message", {children: body.error});
        }, function () {
          window.dash_clientside.set_props("start-message", {children:
            "Something went wrong on the server; it has been logged. Try again."});
        });
      }
      return response;
    });
  };
})();
