// Leaderboard charts: scores per dimension (bars) and each model's rating round by round (lines). The data
// comes from a json_script element, so nothing from the database is ever written into script text.
(function () {
  "use strict";
  var COLOURS = ["#1f5fbf", "#b3261e", "#1d7a3a", "#a86400", "#6b3fa0", "#00838f", "#5d4037", "#c2185b",
                 "#455a64", "#827717"];
  var roundsChart = null;

  function colour(i) { return COLOURS[i % COLOURS.length]; }

  function drawBars(data) {
    var canvas = document.getElementById("chart-dimensions");
    if (!canvas || !data.models.length) { return; }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.categories,
        datasets: data.models.map(function (m, i) {
          return { label: m.name, data: m.values, backgroundColor: colour(i) };
        })
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, suggestedMax: 100, title: { display: true, text: data.labels.score } } }
      }
    });
    canvas.setAttribute("data-drawn", "1");
  }

  function drawRounds(data, index) {
    var canvas = document.getElementById("chart-rounds");
    var dim = data.rounds[index];
    if (!canvas || !dim) { return; }
    if (roundsChart) { roundsChart.destroy(); }
    roundsChart = new window.Chart(canvas, {
      type: "line",
      data: {
        labels: dim.rounds,
        datasets: dim.series.map(function (s, i) {
          return { label: s.name, data: s.ratings, borderColor: colour(i), backgroundColor: colour(i),
                   borderWidth: 2, pointRadius: 3, tension: 0.1, spanGaps: true };
        })
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: { title: { display: true, text: data.labels.round } },
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
