// Files go to the server by themselves, never inside a callback: a file chosen or dropped on an upload zone
// (a dcc.Upload, the studio's or /quick's) is posted to /api/uploads as multipart, and the zone's
// `contents` becomes the address the server answers with — what the callbacks then send. The zone never
// reads the file into the page. Over the server's size limit, it is not sent at all and the message comes
// at once. /quick loads this file from the studio's assets.
(function () {
  // zone id -> [where its messages go, what it holds, its preview]; /quick's lines say only what went wrong
  var ZONES = {"content-upload": ["content-message", "photo", "content-preview"],
               "style-upload": ["style-message", "painting", "style-preview"],
               "style2-upload": ["style2-message", "painting", "style2-preview"],
               "photo": ["quick-photo-message", "photo", null],
               "painting": ["quick-painting-message", "painting", null]};
  var SELECTOR = Object.keys(ZONES).map(function (id) { return "#" + id; }).join(", ");

  function limit() {
    var el = document.getElementById("studio-limits");
    return el ? +el.dataset.maxUpload : Infinity;  // /quick: the server says
  }
  function say(zone, text, kind) {
    if (window.dash_clientside && window.dash_clientside.set_props && document.getElementById(ZONES[zone][0])) {
      window.dash_clientside.set_props(ZONES[zone][0], {children: text, className: "upload-message " + kind});
    }
  }
  function refuse(zone, text) {  // the zone holds nothing now: Start must not use the file before this one
    window.dash_clientside.set_props(zone, {contents: null, filename: null});
    if (ZONES[zone][2]) window.dash_clientside.set_props(ZONES[zone][2], {src: null});
    say(zone, text, "error");
  }
  function send(zone, file) {
    var name = file.name || ZONES[zone][1], form = new FormData();
    form.append("file", file, name);
    if (ZONES[zone][2]) say(zone, "Sending " + name + "…", "");
    fetch("/api/uploads", {method: "POST", body: form, credentials: "same-origin"}).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { refuse(zone, body.error || name + ": the upload was refused"); return; }
        // the zone's check (a server callback) says what the image is
        window.dash_clientside.set_props(zone, {contents: body.url, filename: body.name});
        // /quick's zones have no check to say what the image is: an earlier refusal just goes
        if (!ZONES[zone][2]) say(zone, "", "");
      });
    }).catch(function () {
      refuse(zone, name + ": the upload did not reach the server; check the connection and try again");
    });
  }
  function take(event, files) {
    var zone = event.target && event.target.closest && event.target.closest(SELECTOR);
    if (!zone || !files || !files.length) return;
    event.stopImmediatePropagation();  // the dcc.Upload never sees it
    event.preventDefault();
    var file = files[0], max = limit();
    if (event.target.type === "file") event.target.value = "";  // the same file can be chosen again
    if (event.type === "drop") {  // the zone's "active" look ends as if the drag had left
      event.target.dispatchEvent(new DragEvent("dragleave", {bubbles: true}));
    }
    if (file.size > max) {
      refuse(zone.id, (file.name || ZONES[zone.id][1]) + ": " + (file.size / 1048576).toFixed(1) +
             " MB is over the upload limit of " + Math.round(max / 1048576) + " MB; save it smaller (JPEG) and try again");
      return;
    }
    send(zone.id, file);
  }
  document.addEventListener("change", function (e) { take(e, e.target && e.target.files); }, true);
  document.addEventListener("drop", function (e) { take(e, e.dataTransfer && e.dataTransfer.files); }, true);
})();
