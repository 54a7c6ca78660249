// Leaderboard charts: scores per dimension (bars, with 95% intervals as whiskers for robust runs) and each model's rating round by round (lines). The data
// comes from a json_script element, so nothing from the database is ever written into script text.
(function () {
  "use strict";
  var COLOURS = ["#1f5fbf", "#b3261e", "#1d7a3a", "#a86400", "#6b3fa0", "#00838f", "#5d4037", "#c2185b",
                 "#455a64", "#827717"];
  var roundsChart = null;

  function colour(i) { return COLOURS[i % COLOURS.length]; }

  // Robust runs: each bar gets a whisker from the low to the high end of its 95% interval (dataset.low and
  // dataset.high, one value per category; null where there is none).
  var errorBars = {
    id: "errorBars",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx;
      var y = chart.scales.y;
      ctx.save();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#222";
      chart.data.datasets.forEach(function (dataset, i) {
        var meta = chart.getDatasetMeta(i);
        if (!dataset.low || !dataset.high || meta.hidden) { return; }
        meta.data.forEach(function (bar, j) {
          var low = dataset.low[j], high = dataset.high[j];
          if (low === null || high === null || low === undefined || high === undefined) { return; }
          var top = y.getPixelForValue(high), bottom = y.getPixelForValue(low);
          var cap = Math.max(2, Math.min(6, bar.width / 4));
          ctx.beginPath();
          ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
          ctx.moveTo(bar.x - cap, top); ctx.lineTo(bar.x + cap, top);
          ctx.moveTo(bar.x - cap, bottom); ctx.lineTo(bar.x + cap, bottom);
          ctx.stroke();
        });
      });
      ctx.restore();
    }
  };

  function fmt(v) { return v === null || v === undefined ? "—" : v.toFixed(1); }

  function drawBars(data) {
    var canvas = document.getElementById("chart-dimensions");
    if (!canvas || !data.models.length) { return; }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.categories,
        datasets: data.models.map(function (m, i) {
          return { label: m.name, data: m.values, backgroundColor: colour(i), low: m.low, high: m.high };
        })
      },
      plugins: data.robust ? [errorBars] : [],
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, suggestedMax: 100, title: { display: true, text: data.labels.score } } },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) {
                var ds = item.dataset;
                var text = ds.label + ": " + fmt(item.raw);
                if (ds.low && ds.high && ds.low[item.dataIndex] !== null) {
                  text += " [" + fmt(ds.low[item.dataIndex]) + ", " + fmt(ds.high[item.dataIndex]) + "] " +
                    data.labels.interval;
                }
                return text;
              }
            }
          }
        }
      }
    });
    canvas.setAttribute("data-drawn", "1");
    if (data.robust) { canvas.setAttribute("data-error-bars", "1"); }
  }

  function drawRounds(data, index) {
    var canvas = document.getElementById("chart-rounds");
    var dim = data.rounds[index];
    if (!canvas || !dim) { return; }
    if (roundsChart) { roundsChart.destroy(); }
    // One round (the start and its result) is two points: give them room and size, not the left edge.
    var few = dim.rounds.length <= 2;
    roundsChart = new window.Chart(canvas, {
      type: "line",
      data: {
        labels: dim.rounds,
        datasets: dim.series.map(function (s, i) {
          return { label: s.name, data: s.ratings, borderColor: colour(i), backgroundColor: colour(i),
                   borderWidth: 2, pointRadius: few ? 6 : 3, pointHoverRadius: few ? 8 : 5, tension: 0.1,
                   spanGaps: true };
        })
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          // offset: each round gets a band of its own with its points in the middle, so a single round is
          // drawn in the middle of the chart rather than pinned to its left edge.
          x: { offset: true, title: { display: true, text: data.labels.round } },
          y: { title: { display: true, text: data.labels.rating } }
        }
      }
    });
    canvas.setAttribute("data-drawn", "1");
    canvas.setAttribute("data-dimension", dim.code);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("leaderboard-chart-data");
    if (!source || !window.Chart) { return; }
    var data = JSON.parse(source.textContent);
    if (!data) { return; }
    drawBars(data);
    drawRounds(data, 0);
    var select = document.getElementById("rounds-dimension");
    if (select) {
      select.addEventListener("change", function () { drawRounds(data, parseInt(select.value, 10) || 0); });
    }
  });
})();
