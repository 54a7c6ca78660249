// Alpha-by-week line chart of the agreement dashboard. Data comes from a json_script element, so
// nothing from the database is ever written into script text.
(function () {
  "use strict";
  var COLOURS = ["#1f5fbf", "#b3261e", "#1d7a3a", "#a86400", "#6b3fa0", "#00838f"];
  var THRESHOLD_COLOUR = "#8a93a6";
  var chart = null;

  // The thresholds are drawn across the whole plot area rather than as datasets: a dataset needs two
  // weeks to become a line, so with one week of data the thresholds did not show at all.
  var thresholdLines = {
    id: "thresholdLines",
    afterDatasetsDraw: function (chartInstance, args, options) {
      var area = chartInstance.chartArea;
      var y = chartInstance.scales.y;
      var ctx = chartInstance.ctx;
      (options.lines || []).forEach(function (line) {
        var py = y.getPixelForValue(line.value);
        if (py < area.top || py > area.bottom) { return; }
        ctx.save();
        ctx.strokeStyle = THRESHOLD_COLOUR;
        ctx.lineWidth = 1.5;
        ctx.setLineDash([6, 4]);
        ctx.beginPath();
        ctx.moveTo(area.left, py);
        ctx.lineTo(area.right, py);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = "#5b6577";
        ctx.font = "12px system-ui, sans-serif";
        ctx.textAlign = "right";
        ctx.textBaseline = "bottom";
        ctx.fillText(line.label, area.right - 4, py - 2);
        ctx.restore();
      });
    }
  };

  function draw() {
    var source = document.getElementById("agreement-weekly-data");
    var canvas = document.getElementById("agreement-weekly");
    if (!source || !canvas || !window.Chart) { return; }
    var data = JSON.parse(source.textContent);
    if (chart) { chart.destroy(); chart = null; }
    if (!data.weeks.length) { return; }
    // A point with no neighbour is all there is of its series: make it big enough to see.
    var few = data.weeks.length <= 2;
    var datasets = data.datasets.map(function (series, i) {
      return {
        label: series.label, data: series.alpha, n: series.n, spanGaps: true,
        borderColor: COLOURS[i % COLOURS.length], backgroundColor: COLOURS[i % COLOURS.length],
        borderWidth: 2, pointRadius: few ? 6 : 3, pointHoverRadius: few ? 8 : 5, tension: 0.15
      };
    });
    chart = new window.Chart(canvas, {
      type: "line",
      data: { labels: data.weeks, datasets: datasets },
      plugins: [thresholdLines],
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          // offset: each week gets a band of its own and its points sit in the middle of it, so one week
          // is centred instead of pinned to the left edge.
          x: { offset: true },
          y: { suggestedMin: 0, suggestedMax: 1, title: { display: true, text: data.y_label } }
        },
        plugins: {
          thresholdLines: { lines: data.thresholds },
          tooltip: {
            callbacks: {
              afterLabel: function (ctx) {
                var n = ctx.dataset.n;
                if (!n) { return ""; }
                return "n = " + n[ctx.dataIndex] + " " + (n[ctx.dataIndex] === 1 ? data.n_label_one : data.n_label);
              }
            }
          }
        }
      }
    });
    canvas.setAttribute("data-drawn", "1");
  }

  // Each heat-map cell's colour comes in data-colour; set through the CSSOM because the CSP refuses style="…".
  function paint() {
    document.querySelectorAll("#kappa-heatmap td[data-colour]").forEach(function (cell) {
      cell.style.background = cell.getAttribute("data-colour");
    });
  }

  function render() { paint(); draw(); }

  document.addEventListener("DOMContentLoaded", render);
  // The filters swap the results (canvas and heat map included) in place: draw again on the new ones.
  document.addEventListener("htmx:afterSettle", render);
})();
