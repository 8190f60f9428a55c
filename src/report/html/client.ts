/**
 * The page's own script (plain ES2020, runs in the browser after Chart.js):
 * draws every chart from the inline data and makes tables sortable. Charts
 * are registered on `window.pullbenchCharts` by id so tests can count series.
 */
export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var model = JSON.parse(document.getElementById('pb-data').textContent);
  var css = getComputedStyle(document.documentElement);
  var v = function (name) { return css.getPropertyValue(name).trim(); };
  var palette = ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6'].map(v);
  var color = function (i) { return palette[i % palette.length]; };
  Chart.defaults.color = v('--fg');
  Chart.defaults.borderColor = v('--grid');
  Chart.defaults.font.family = v('--font');
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  // Room at the edges, so that the first and last tick labels (and rotated category labels) are not cut off.
  Chart.defaults.layout.padding = { top: 4, right: 16, bottom: 4, left: 8 };
  var charts = {};
  window.pullbenchCharts = charts;
  var fmtMs = function (ms) { return ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(2) + ' s'; };
  var fmtBytes = function (n) { var u = ['B', 'kB', 'MB', 'GB']; var i = 0; while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; } return (i ? n.toFixed(1) : Math.round(n)) + ' ' + u[i]; };
  function make(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    charts[id] = new Chart(canvas, config);
  }
  var withPulls = model.arms.filter(function (a) { return a.box; });
  var baseWithPulls = model.baselineArms.filter(function (a) { return a.box; });

  // Box plot: whisker (min..max) and box (q1..q3) as floating bars, the true median as a point.
  var boxArms = withPulls.map(function (a) { return { label: a.name, box: a.box }; })
    .concat(baseWithPulls.map(function (a) { return { label: 'baseline: ' + a.name, box: a.box }; }));
  make('chart-box', {
    type: 'bar',
    data: {
      labels: boxArms.map(function (a) { return a.label; }),
      datasets: [
        { label: 'min-max', data: boxArms.map(function (a) { return [a.box.min, a.box.max]; }), backgroundColor: v('--muted'), barPercentage: 0.08, grouped: false, order: 3, pointStyle: 'rect' },
        { label: 'q1-q3', data: boxArms.map(function (a) { return [a.box.q1, a.box.q3]; }), backgroundColor: boxArms.map(function (a, i) { return color(i); }), barPercentage: 0.5, grouped: false, order: 2, pointStyle: 'rect' },
        { type: 'scatter', label: 'median', data: boxArms.map(function (a) { return { x: a.box.median, y: a.label }; }), pointStyle: 'line', pointRadius: 14, borderWidth: 3, borderColor: v('--fg'), order: 1 },
      ],
    },
    options: { indexAxis: 'y', scales: { x: { title: { display: true, text: 'pull time (ms)' } }, y: { type: 'category', ticks: { autoSkip: false } } },
      // Point styles in the legend: the median swatch is the line drawn on the boxes, not an empty box.
      plugins: { legend: { labels: { usePointStyle: true, pointStyleWidth: 28 } }, tooltip: { callbacks: { label: function (c) { var b = boxArms[c.dataIndex].box; return 'min ' + fmtMs(b.min) + ', q1 ' + fmtMs(b.q1) + ', median ' + fmtMs(b.median) + ', q3 ' + fmtMs(b.q3) + ', max ' + fmtMs(b.max) + ' (n=' + b.n + ')'; } } } } },
  });

  // CDF of pull times, one line per arm (baseline arms dashed).
  var cdf = function (a, i, dashed) {
    return { label: (dashed ? 'baseline: ' : '') + a.name, showLine: true, stepped: true, pointRadius: 0, borderColor: color(i), backgroundColor: color(i), borderDash: dashed ? [6, 4] : [],
      data: a.pulls.map(function (x, k) { return { x: x, y: (k + 1) / a.pulls.length }; }) };
  };
  make('chart-cdf', {
    type: 'scatter',
    data: { datasets: withPulls.map(function (a, i) { return cdf(a, i, false); }).concat(baseWithPulls.map(function (a, i) { return cdf(a, i, true); })) },
    options: { scales: { x: { title: { display: true, text: 'pull time (ms)' } }, y: { min: 0, max: 1, title: { display: true, text: 'share of pulls' } } } },
  });

  // Bytes by source, stacked per arm.
  // Peers only when an arm ran topology p2p.
  var withPeers = model.arms.concat(model.baselineArms).some(function (a) { return a.bytes.peers !== undefined; });
  var sources = [['registry', 'registry'], ['mirror', 'mirror']].concat(withPeers ? [['peers', 'peers']] : []).concat([['nodeCache', 'node cache']]);
  make('chart-bytes', {
    type: 'bar',
    data: { labels: model.arms.map(function (a) { return a.name; }),
      datasets: sources.map(function (s, i) { return { label: s[1], data: model.arms.map(function (a) { return a.bytes[s[0]] || 0; }), backgroundColor: color(i) }; }) },
    options: { scales: { x: { stacked: true, ticks: { autoSkip: false, maxRotation: 40 } }, y: { stacked: true, title: { display: true, text: model.bytesChart.axis }, ticks: { callback: function (x) { return fmtBytes(x); } } } },
      plugins: { title: { display: Boolean(model.bytesChart.title), text: model.bytesChart.title || '' } } },
  });

  // With pools: each pool's pull p50 (solid) and p95 (light) per arm, a bar per pool.
  var poolArms = model.arms.filter(function (a) { return a.pools; });
  var poolNames = [];
  poolArms.forEach(function (a) { a.pools.forEach(function (p) { if (poolNames.indexOf(p.name) < 0) poolNames.push(p.name); }); });
  var poolValue = function (a, name, key) { var p = a.pools.filter(function (x) { return x.name === name; })[0]; return p && p[key] !== undefined ? p[key] : null; };
  if (poolArms.length) make('chart-pools', {
    type: 'bar',
    data: { labels: poolArms.map(function (a) { return a.name; }),
      datasets: poolNames.map(function (n, i) { return { label: n + ' p50', data: poolArms.map(function (a) { return poolValue(a, n, 'p50'); }), backgroundColor: color(i), stack: n + ' p50' }; })
        .concat(poolNames.map(function (n, i) { return { label: n + ' p95', data: poolArms.map(function (a) { return poolValue(a, n, 'p95'); }), backgroundColor: color(i) + '66', stack: n + ' p95' }; })) },
    options: { scales: { x: { ticks: { autoSkip: false, maxRotation: 40 } }, y: { title: { display: true, text: 'pull time (ms)' } } },
      plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ': ' + fmtMs(c.parsed.y); } } } } },
  });

  // Topology p2p: the spread of bytes each node uploaded to its peers (min-max, q1-q3, median), per p2p arm.
  var upArms = model.arms.filter(function (a) { return a.uploads; });
  if (upArms.length) make('chart-uploads', {
    type: 'bar',
    data: { labels: upArms.map(function (a) { return a.name; }),
      datasets: [
        { label: 'min-max', data: upArms.map(function (a) { return [a.uploads.min, a.uploads.max]; }), backgroundColor: v('--grid'), barPercentage: 0.15, grouped: false, order: 3 },
        { label: 'q1-q3', data: upArms.map(function (a) { return [a.uploads.q1, a.uploads.q3]; }), backgroundColor: upArms.map(function (a, i) { return color(i); }), barPercentage: 0.5, grouped: false, order: 2 },
        { type: 'scatter', label: 'median', data: upArms.map(function (a) { return { x: a.uploads.median, y: a.name }; }), pointStyle: 'line', pointRadius: 14, borderWidth: 3, borderColor: v('--fg'), order: 1 },
      ] },
    options: { indexAxis: 'y', scales: { x: { title: { display: true, text: 'bytes uploaded per node' }, ticks: { callback: function (x) { return fmtBytes(x); } } }, y: { type: 'category' } },
      plugins: { title: { display: true, text: 'upload per node (' + upArms[0].uploads.n + ' nodes x repetitions per arm)' } } },
  });

  // Requests that reached the upstream registry, and 429s.
  var kinds = [['upstreamPulls', 'upstream manifest GETs'], ['registryBlobGet', 'registry blob GETs'], ['tooManyRequests', '429s']];
  make('chart-requests', {
    type: 'bar',
    data: { labels: model.arms.map(function (a) { return a.name; }),
      datasets: kinds.map(function (k, i) { return { label: k[1], data: model.arms.map(function (a) { return a.requests[k[0]]; }), backgroundColor: color(i + 3) }; }) },
    options: { scales: { x: { ticks: { autoSkip: false, maxRotation: 40 } }, y: { title: { display: true, text: 'per repetition' } } } },
  });

  // Load stage: what the registry and mirror served per arm, the rollout's share beside each storm's (log scale: storms dwarf rollouts).
  var loaded = model.arms.filter(function (a) { return a.load; });
  var stormNames = [];
  loaded.forEach(function (a) { a.load.storms.forEach(function (s) { if (stormNames.indexOf(s.name) < 0) stormNames.push(s.name); }); });
  var stormCount = function (a, name) { var s = a.load.storms.filter(function (x) { return x.name === name; })[0]; return s ? s.requests : 0; };
  make('chart-load', {
    type: 'bar',
    data: { labels: loaded.map(function (a) { return a.name; }),
      datasets: [{ label: 'rollout', data: loaded.map(function (a) { return a.load.rollout; }), backgroundColor: color(0) }]
        .concat(stormNames.map(function (n, i) { return { label: 'storm ' + n, data: loaded.map(function (a) { return stormCount(a, n); }), backgroundColor: color(i + 1) }; })) },
    options: { indexAxis: 'y', scales: { x: { type: 'logarithmic', title: { display: true, text: 'requests served per repetition (log)' } } } },
  });

  // Waterfall of the chosen arm (first repetition): waiting, pulling, starting per pod.
  var select = document.getElementById('waterfall-arm');
  function drawWaterfall() {
    var arm = model.arms[Number(select.value)] || model.arms[0];
    if (!arm) return;
    if (charts['chart-waterfall']) charts['chart-waterfall'].destroy();
    var rows = arm.waterfall;
    var phase = function (key, label, i) { return { label: label, data: rows.map(function (r) { return r[key] || null; }), backgroundColor: color(i), grouped: false, barPercentage: 0.8 }; };
    document.getElementById('waterfall-box').style.height = Math.max(160, rows.length * 18 + 80) + 'px';
    make('chart-waterfall', {
      type: 'bar',
      data: { labels: rows.map(function (r) { return r.pod + ' @' + r.node; }), datasets: [phase('waiting', 'waiting', 5), phase('pulling', 'pulling', 0), phase('starting', 'starting', 2)] },
      options: { indexAxis: 'y', scales: { x: { title: { display: true, text: 'ms since the first pod was created' } }, y: { ticks: { autoSkip: false } } } },
    });
  }
  if (select) { select.addEventListener('change', drawWaterfall); drawWaterfall(); }

  // Sortable tables: click a header; numbers sort by data-value.
  document.querySelectorAll('table.sortable th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var table = th.closest('table');
      var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
      var body = table.tBodies[0];
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var key = function (tr) { var td = tr.children[idx]; var d = td && td.getAttribute('data-value'); return d !== null && d !== undefined ? Number(d) : (td ? td.textContent : ''); };
      Array.prototype.slice.call(body.rows).sort(function (a, b) { var x = key(a), y = key(b); var r = x < y ? -1 : x > y ? 1 : 0; return asc ? r : -r; })
        .forEach(function (tr) { body.appendChild(tr); });
    });
  });
})();
`;
