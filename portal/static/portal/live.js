// The live tail: the portal's event stream (Server-Sent Events), each event added as text, never
// as HTML, so nothing an event carries can run here.
(function () {
  "use strict";
  var list = document.getElementById("live-events");
  var state = document.getElementById("live-state");
  if (!list || !window.EventSource) return;
  var KEEP = 200;
  var source = new EventSource(list.dataset.url);

  function show(event) {
    var envelope;
    try { envelope = JSON.parse(event.data); } catch (error) { return; }
    var item = document.createElement("li");
    item.className = "live-event";
    item.dataset.type = envelope.type;
    var head = document.createElement("p");
    var type = document.createElement("code");
    type.textContent = envelope.type;
    var when = document.createElement("time");
    when.dateTime = envelope.timestamp;
    when.textContent = " " + envelope.timestamp + " · " + envelope.subject + " #" + envelope.sequence;
    head.appendChild(type);
    head.appendChild(when);
    var body = document.createElement("pre");
    body.textContent = JSON.stringify(envelope.data, null, 2);
    item.appendChild(head);
    item.appendChild(body);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > KEEP) list.removeChild(list.lastChild);
  }

  source.onopen = function () { state.textContent = "live"; state.className = "badge ok"; };
  source.onerror = function () {
    state.textContent = source.readyState === EventSource.CLOSED ? "ended: open a new portal link" : "reconnecting…";
    state.className = "badge off";
  };
  // The stream names each message by its event type (`event: order.created`): listen to each type
  // of the catalog, which the page lists.
  list.dataset.types.split(" ").forEach(function (type) { source.addEventListener(type, show); });
  window.addEventListener("beforeunload", function () { source.close(); });
  list.dataset.ready = "true";
})();
