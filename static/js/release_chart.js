// Counts chart on the release page; the data comes from a json_script block, never from inline JS.
document.addEventListener("DOMContentLoaded", function () {
  var canvas = document.getElementById("release-chart");
  var source = document.getElementById("release-chart-data");
  if (!canvas || !source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: data.public_label, data: data.public, backgroundColor: "#1f5fbf" },
        { label: data.holdout_label, data: data.holdout, backgroundColor: "#a86400" }
      ]
    },
    options: { responsive: true, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }
  });
});
