// Alpha-by-week line chart of the agreement dashboard. Data comes from a json_script element, so
// nothing from the database is ever written into script text.
(function () {
  "use strict";
  var COLOURS = ["#1f5fbf", "#b3261e", "#1d7a3a", "#a86400", "#6b3fa0", "#00838f"];
  var chart = null;

  function draw() {
    var source = document.getElementById("agreement-weekly-data");
    var canvas = document.getElementById("agreement-weekly");
    if (!source || !canvas || !window.Chart) { return; }
    var data = JSON.parse(source.textContent);
    if (chart) { chart.destroy(); chart = null; }
    if (!data.weeks.length) { return; }
    var datasets = data.datasets.map(function (series, i) {
      return {
        label: series.label, data: series.alpha, n: series.n, spanGaps: true,
        borderColor: COLOURS[i % COLOURS.length], backgroundColor: COLOURS[i % COLOURS.length],
        borderWidth: 2, pointRadius: 3, tension: 0.15
      };
    });
    data.thresholds.forEach(function (line) {
      datasets.push({
        label: line.label, data: data.weeks.map(function () { return line.value; }),
        borderColor: "#8a93a6", borderDash: [6, 4], borderWidth: 1, pointRadius: 0, n: null
      });
    });
    chart = new window.Chart(canvas, {
      type: "line",
      data: { labels: data.weeks, datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "nearest", intersect: false },
        scales: { y: { suggestedMin: 0, suggestedMax: 1, title: { display: true, text: data.y_label } } },
        plugins: {
          tooltip: {
            callbacks: {
              afterLabel: function (ctx) {
                var n = ctx.dataset.n;
                return n ? "n = " + n[ctx.dataIndex] + " " + data.n_label : "";
              }
            }
          }
        }
      }
    });
    canvas.setAttribute("data-drawn", "1");
  }

  document.addEventListener("DOMContentLoaded", draw);
  // The filters swap the results (canvas included) in place: draw again on the new canvas.
  document.addEventListener("htmx:afterSettle", draw);
})();
