// The endpoint's health charts: its deliveries per hour by result, and latency p50/p95 per hour,
// read as JSON from the portal (Chart.js, vendored).
(function () {
  "use strict";
  var box = document.getElementById("health");
  if (!box || !window.Chart) return;
  var COLOURS = { succeeded: "#1a7f37", failed: "#cf222e", pending: "#9a6700" };

  function hourLabel(iso) { return iso.slice(11, 16); }

  fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
    .then(function (health) {
      var labels = health.hours.map(hourLabel);
      new Chart(document.getElementById("deliveries-chart"), {
        type: "bar",
        data: {
          labels: labels,
          datasets: Object.keys(health.deliveries).map(function (status) {
            return { label: status, data: health.deliveries[status], backgroundColor: COLOURS[status] || "#57606a" };
          }),
        },
        options: { animation: false, responsive: true, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
      });
      new Chart(document.getElementById("latency-chart"), {
        type: "line",
        data: {
          labels: labels,
          datasets: [
            { label: "p50 (ms)", data: health.latency.p50, borderColor: "#0969da", spanGaps: true },
            { label: "p95 (ms)", data: health.latency.p95, borderColor: "#8250df", spanGaps: true },
          ],
        },
        options: { animation: false, responsive: true, scales: { y: { beginAtZero: true } } },
      });
      box.dataset.ready = "true";
    })
    .catch(function () { box.dataset.ready = "failed"; });
})();
