// The dashboard's live figures (Server-Sent Events) and the charts (Chart.js, vendored).
// The page is complete without JavaScript; this only keeps it current.
"use strict";

(() => {
  const FONT = 'system-ui, -apple-system, "Hiragino Sans", "Noto Sans CJK JP", "Noto Sans JP", "Yu Gothic UI", Meiryo, sans-serif';
  const BRAND = "#0b4f8a";
  const charts = {};

  const readJson = (id) => {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  };

  const makeChart = (canvas, series) => {
    if (!window.Chart || !canvas) return null;
    const horizontal = canvas.dataset.kind === "hbar";
    window.Chart.defaults.font.family = FONT;
    window.Chart.defaults.color = "#1f2933";
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: series.labels,
        datasets: [{ label: "件数", data: series.values, backgroundColor: BRAND, borderRadius: 2 }],
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (ctx) => `${ctx.formattedValue}件` } },
        },
        scales: {
          [horizontal ? "x" : "y"]: { beginAtZero: true, ticks: { precision: 0 } },
          [horizontal ? "y" : "x"]: { ticks: { autoSkip: !horizontal } },
        },
      },
    });
  };

  const drawCharts = (data) => {
    if (!data || !data.charts) return;
    document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const series = data.charts[canvas.dataset.chart];
      if (!series) return;
      canvas.dataset.total = String(series.total);
      const chart = charts[canvas.id];
      if (!chart) {
        charts[canvas.id] = makeChart(canvas, series);
        return;
      }
      chart.data.labels = series.labels;
      chart.data.datasets[0].data = series.values;
      chart.update();
    });
  };

  // -- the dashboard ---------------------------------------------------------------------
  const initial = readJson("dashboard-data");
  if (initial) {
    const stale = document.getElementById("stale");
    const figures = document.getElementById("figures");
    const status = document.getElementById("live-status");
    let lastGood = initial.stale ? null : initial;
    let lastAt = new Date(initial.at);

    const showStale = (message) => {
      stale.textContent = message;
      stale.hidden = !message;
      figures.classList.toggle("is-stale", Boolean(message));
    };

    const apply = (data) => {
      const view = data.view || {};
      document.querySelectorAll("[data-k]").forEach((el) => {
        const key = el.dataset.k;
        if (key in view) el.textContent = view[key];
      });
      document.querySelectorAll("[data-state]").forEach((el) => {
        const state = view[el.dataset.state];
        if (state) el.className = `health-${state}`;
      });
      ["transfer", "sms"].forEach((name) => {
        const unset = Boolean(view[`${name}_unset`]);
        document.querySelectorAll(`[data-k="${name}_unset"]`).forEach((el) => { el.hidden = !unset; });
        document.querySelectorAll(`[data-unset="${name}"]`).forEach((el) => { el.hidden = unset; });
      });
      const pill = document.getElementById("calendar-state");
      if (pill && data.calendar_state) pill.className = `state-pill state-${data.calendar_state}`;
      drawCharts(data);
    };

    const receive = (data) => {
      if (data.view && Object.keys(data.view).length) apply(data);
      if (data.stale) {
        showStale(data.stale.message);
      } else {
        lastGood = data;
        lastAt = new Date(data.at);
        showStale("");
      }
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    };

    drawCharts(initial);
    let source = null;
    let retry = 2000;
    const connect = () => {
      source = new EventSource("/api/dashboard/stream");
      source.addEventListener("snapshot", (event) => {
        retry = 2000;
        status.textContent = "";
        receive(JSON.parse(event.data));
      });
      source.addEventListener("error", () => {
        // The site itself is out of reach (or the session ended): say how old the figures are.
        const since = lastAt.toLocaleTimeString("ja-JP");
        if (!lastGood || !stale.hidden) {
          status.textContent = "再接続しています…";
        } else {
          showStale(`データが古い: ${since} 時点の数値です（管理画面のサーバーに接続できません）`);
        }
        if (source.readyState === EventSource.CLOSED) {
          // Refused (e.g. signed out): ask once whether we are still signed in.
          fetch("/api/dashboard", { credentials: "same-origin" }).then((r) => {
            if (r.status === 401 || r.redirected) window.location.reload();
          }).catch(() => {});
          setTimeout(connect, retry);
          retry = Math.min(retry * 2, 60000);
        }
      });
    };
    connect();
  }

  // Printing (A4): redraw the charts at the paper's width.
  window.addEventListener("beforeprint", () => {
    Object.values(charts).forEach((chart) => { if (chart) chart.resize(); });
  });

  // -- other pages with one chart (the monthly report) --------------------------------------
  const single = readJson("chart-data");
  if (single) {
    document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const series = single[canvas.dataset.chart];
      if (series) charts[canvas.id] = makeChart(canvas, series);
    });
  }
})();

document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
