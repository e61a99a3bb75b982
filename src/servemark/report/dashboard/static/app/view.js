/* servemark dashboard, view: DOM helpers, the charts, the Pareto, history and cost-calculator
 * views, the tooltip and the exports. It reads S (state.js) and never changes the view state.
 *
 * Every string that comes from the data reaches the page through textContent, option.text or a
 * canvas, never through innerHTML; links are made only from http(s) URLs. Frontiers come from
 * calc.js frontierIndices over one series (meta.group_by) with flagged points left out
 * (meta.excluded_flags): the rule of `servemark frontier`.
 */
import { C, LEVEL_FIELDS, STATS, ceilingOf, fieldHeader, loadDetail, yMetrics, xIntvty, xLatency } from "./data.js";
import { S, atTarget } from "./state.js";

// Tableau 10: ten colours designed to stay apart on white. Series beyond ten keep the colours
// and change marker shape and line dash, so no two series on a chart look the same.
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const SHAPES = ["circle", "triangle", "rect", "rectRot", "star", "crossRot"];
const DASHES = [[], [7, 3], [2, 2], [10, 3, 2, 3], [4, 4], [1, 3]];
export const MAX_LABELS = 80;       // frontier labels drawn at most; beyond that they overlap into noise
const LEGEND_RIGHT_MAX = 14; // more series than this: legend below the chart, in rows

// ---------- helpers ---------------------------------------------------------------------
export function el(tag, attrs, text) {
  const e = document.createElement(tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
export function setStatus(msg, bad) {
  const s = document.getElementById("status");
  s.textContent = msg;
  s.className = bad ? "error" : "";
}
export function fmt(v, digits) {
  if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "–";
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return v.toLocaleString("en-US", { maximumSignificantDigits: digits || 4 });
}
function safeUrl(u) {
  try {
    const url = new URL(u);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch (e) { return null; }
}
function download(name, href) {
  const a = el("a", { href: href, download: name });
  document.body.appendChild(a); a.click(); a.remove();
}

// ---------- charts ----------------------------------------------------------------------
export const whiteBackground = {
  id: "whiteBackground",
  beforeDraw(chart) {
    const ctx = chart.ctx; ctx.save(); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, chart.width, chart.height); ctx.restore();
  },
};
const pointLabels = {
  id: "pointLabels",
  afterDatasetsDraw(chart) {
    if (S.state.labels !== "1") return;
    const ctx = chart.ctx;
    ctx.save(); ctx.font = "10px sans-serif"; ctx.fillStyle = "#333"; ctx.textBaseline = "bottom";
    let total = 0;
    chart.data.datasets.forEach((ds, di) => { if (ds.isFrontier && chart.isDatasetVisible(di)) total += ds.data.length; });
    if (total > MAX_LABELS) return; // unreadable: the status line says to narrow the filters
    // greedy: a label that would overlap one already drawn is skipped (hover still shows it)
    const boxes = [];
    const area = chart.chartArea;
    chart.data.datasets.forEach((ds, di) => {
      if (!ds.isFrontier || !chart.isDatasetVisible(di)) return;
      const meta = chart.getDatasetMeta(di);
      meta.data.forEach((pt, k) => {
        const r = ds.data[k];
        if (!r || !r.label) return;
        const w = ctx.measureText(r.label).width, h = 11;
        let x = pt.x + 4;
        if (x + w > area.right) x = pt.x - 4 - w;
        const b = { x0: x, y0: pt.y - 3 - h, x1: x + w, y1: pt.y - 3 };
        if (boxes.some((o) => b.x0 < o.x1 && b.x1 > o.x0 && b.y0 < o.y1 && b.y1 > o.y0)) return;
        boxes.push(b);
        ctx.fillText(r.label, x, pt.y - 3);
      });
    });
    ctx.restore();
  },
};

// each point's stored confidence interval (payload columns <metric>_low/_high) as error bars, and
// the frontier's band: the frontier points' intervals joined along the spline (the page has no
// trials; `servemark frontier --band` gives the bootstrap band over trials)
const errorBars = {
  id: "errorBars",
  beforeDatasetsDraw(chart) {
    const sx = chart.scales.x, sy = chart.scales.y, ctx = chart.ctx, area = chart.chartArea;
    ctx.save();
    ctx.beginPath(); ctx.rect(area.left, area.top, area.width, area.height); ctx.clip();
    chart.data.datasets.forEach((ds, di) => {
      if (!chart.isDatasetVisible(di)) return;
      if (ds.isFrontier && ds.$band) {
        const b = ds.$band;
        ctx.fillStyle = ds.borderColor + "26";
        ctx.beginPath();
        b.forEach((p, j) => { const X = sx.getPixelForValue(p.x), Y = sy.getPixelForValue(p.hi); if (j === 0) ctx.moveTo(X, Y); else ctx.lineTo(X, Y); });
        for (let j = b.length - 1; j >= 0; j--) ctx.lineTo(sx.getPixelForValue(b[j].x), sy.getPixelForValue(b[j].lo));
        ctx.closePath(); ctx.fill();
        return;
      }
      if (ds.isFrontier) return;
      ctx.strokeStyle = ds.borderColor; ctx.lineWidth = 1;
      ds.data.forEach((p) => {
        const X = sx.getPixelForValue(p.x), Y = sy.getPixelForValue(p.y);
        ctx.beginPath();
        if (p.ylo !== undefined) {
          const a = sy.getPixelForValue(p.ylo), c = sy.getPixelForValue(p.yhi);
          ctx.moveTo(X, a); ctx.lineTo(X, c); ctx.moveTo(X - 3, a); ctx.lineTo(X + 3, a); ctx.moveTo(X - 3, c); ctx.lineTo(X + 3, c);
        }
        if (p.xlo !== undefined) { ctx.moveTo(sx.getPixelForValue(p.xlo), Y); ctx.lineTo(sx.getPixelForValue(p.xhi), Y); }
        ctx.stroke();
      });
    });
    ctx.restore();
  },
};

/* Point i's interval of metric key, or null (payload columns key_low / key_high). */
export function intervalOf(key, i) {
  const lo = S.D.num[key + "_low"], hi = S.D.num[key + "_high"];
  if (!lo || !hi || lo[i] === null || hi[i] === null || lo[i] === undefined) return null;
  return [lo[i], hi[i]];
}

function withIntervals(p, xkey, ykey) {
  const yi = intervalOf(ykey, p.i), xi = intervalOf(xkey, p.i);
  if (yi) { p.ylo = yi[0]; p.yhi = yi[1]; }
  if (xi) { p.xlo = xi[0]; p.xhi = xi[1]; }
  return p;
}

// the band along a frontier: low and high ends of the frontier points' y intervals, each joined
// by the same monotone spline as the frontier line (null when a frontier point has no interval)
function frontierBand(front) {
  if (front.length < 2 || front.some((p) => p.ylo === undefined)) return null;
  const xs = front.map((p) => p.x);
  const lo = C.makeSpline(xs, front.map((p) => p.ylo)), hi = C.makeSpline(xs, front.map((p) => p.yhi));
  const out = [];
  for (let k = 0; k < xs.length - 1; k++) {
    for (let j = 0; j < 8; j++) {
      const x = xs[k] + (xs[k + 1] - xs[k]) * j / 8;
      out.push({ x, lo: lo.at(x).value, hi: hi.at(x).value });
    }
  }
  const last = front[front.length - 1];
  out.push({ x: last.x, lo: last.ylo, hi: last.yhi });
  return out;
}

function axisTitle(m) { return m.label + " (" + m.unit + ")"; }
export function makeScatter(canvas, title) {
  return new Chart(canvas, {
    type: "scatter",
    data: { datasets: [] },
    plugins: [whiteBackground, errorBars, splineLines, pointLabels],
    options: {
      animation: false, parsing: false, normalized: true, responsive: true, maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: true },
      plugins: {
        title: { display: true, text: title, font: { size: 15 } },
        tooltip: { enabled: false },
        legend: {
          position: "right",
          labels: { usePointStyle: true, filter: (item, data) => !data.datasets[item.datasetIndex].isFrontier, font: { size: 12 } },
          onClick: (e, item, legend) => {
            const ch = legend.chart;
            const ds = ch.data.datasets[item.datasetIndex];
            const show = !ch.isDatasetVisible(item.datasetIndex);
            ch.data.datasets.forEach((d, j) => { if (d.seriesKey === ds.seriesKey) ch.setDatasetVisibility(j, show); });
            ch.update("none");
          },
        },
      },
      scales: { x: { type: "linear", title: { display: true } }, y: { type: "linear", title: { display: true } } },
      onHover: (evt, els, chart) => onHover(evt, els, chart),
      onClick: (evt, els, chart) => onClick(evt, els, chart),
    },
  });
}

function seriesStyle(order) {
  const colour = PALETTE[order % PALETTE.length];
  const decade = Math.floor(order / PALETTE.length) % SHAPES.length;
  return { colour, shape: SHAPES[decade], dash: DASHES[decade] };
}

// the frontier line is drawn along the monotone spline the calculator interpolates with
// (calc.valueAt), sampled between knots, so what is read off the chart is what the tables say
function splineCurve(front) {
  if (front.length < 3) return null;
  const xs = front.map((p) => p.x), ys = front.map((p) => p.y);
  const sp = C.makeSpline(xs, ys);
  const out = [];
  for (let k = 0; k < xs.length - 1; k++) {
    for (let j = 0; j < 12; j++) {
      const x = xs[k] + (xs[k + 1] - xs[k]) * j / 12;
      out.push({ x, y: sp.at(x).value });
    }
  }
  out.push({ x: xs[xs.length - 1], y: ys[ys.length - 1] });
  return out;
}
const splineLines = {
  id: "splineLines",
  beforeDatasetsDraw(chart) {
    // swap the knots for the sampled curve while drawing; labels and hover keep the knots
    chart.data.datasets.forEach((ds, di) => {
      if (!ds.$curve || !chart.isDatasetVisible(di)) return;
      const sx = chart.scales.x, sy = chart.scales.y, ctx = chart.ctx;
      ctx.save();
      ctx.beginPath();
      ctx.rect(chart.chartArea.left, chart.chartArea.top, chart.chartArea.width, chart.chartArea.height);
      ctx.clip();
      ctx.strokeStyle = ds.borderColor; ctx.lineWidth = ds.borderWidth; ctx.setLineDash(ds.borderDash || []);
      ctx.beginPath();
      ds.$curve.forEach((p, j) => {
        if (p.y === null || p.y <= 0 && sy.type === "logarithmic") return;
        const X = sx.getPixelForValue(p.x), Y = sy.getPixelForValue(p.y);
        if (j === 0) ctx.moveTo(X, Y); else ctx.lineTo(X, Y);
      });
      ctx.stroke();
      ctx.restore();
    });
  },
};

function paretoDatasets(idx, xm, ym) {
  const bySeries = new Map();
  for (const i of idx) {
    const x = S.D.v(xm.key, i), y = ym.get(i);
    if (x === null || y === null || x === undefined || y === undefined) continue;
    if (S.state.log === "1" && (x <= 0 || y <= 0)) continue;
    const s = S.D.seriesOf[i];
    if (!bySeries.has(s)) bySeries.set(s, []);
    bySeries.get(s).push(withIntervals({ x, y, i }, xm.key, ym.key));
  }
  const order = [...bySeries.keys()].sort((a, b) => (S.D.series[a].label < S.D.series[b].label ? -1 : 1));
  const datasets = [], gate = [], fronts = {};
  order.forEach((s, k) => {
    const pts = bySeries.get(s);
    const { colour, shape, dash } = seriesStyle(k);
    const on = C.frontierIndices(pts.map((p) => p.x), pts.map((p) => p.y), pts.map((p) => S.D.excluded[p.i]), xm.higher, ym.higher);
    const onSet = new Set(on);
    const front = on.map((j) => ({ x: pts[j].x, y: pts[j].y, i: pts[j].i, ylo: pts[j].ylo, yhi: pts[j].yhi,
      label: S.D.layout(pts[j].i) + " c" + S.D.v("conc", pts[j].i) }));
    fronts[S.D.series[s].key] = front;
    const shown = S.state.front === "1" ? pts.filter((_, j) => onSet.has(j)) : pts;
    for (const p of shown) if (S.D.flags(p.i).includes("gate_failed")) gate.push(p);
    const key = S.D.series[s].key;
    datasets.push({ label: S.D.series[s].label, seriesKey: key, data: shown, pointStyle: shape, backgroundColor: colour + "99",
      borderColor: colour, pointRadius: 3.5, pointHoverRadius: 6 });
    datasets.push({ type: "line", label: S.D.series[s].label + " frontier", seriesKey: key, isFrontier: true, data: front,
      borderColor: colour, backgroundColor: colour, borderWidth: 2, borderDash: dash, pointRadius: 0, pointHitRadius: 0,
      fill: false, $curve: splineCurve(front), $band: frontierBand(front), showLine: front.length < 3 });
  });
  if (gate.length) datasets.push({ label: "accuracy gate failed", seriesKey: "__gate", data: gate, pointStyle: "crossRot",
    borderColor: "#b42318", backgroundColor: "#b42318", pointRadius: 7, borderWidth: 2 });
  return { datasets, fronts };
}

function ceilingDatasets(idx, xm, ym) {
  // each point's engine ceiling (the engine's offline benchmark at the same batch) straight above it:
  // the vertical gap is what serving costs (docs/ceiling.md); hovering shows the served point
  const k = ceilingOf(S.D, ym);
  if (S.state.ceil !== "1" || !k) return [];
  const data = [];
  for (const i of idx) {
    const x = S.D.v(xm.key, i), y = S.D.v(k, i);
    if (x === null || y === null || x === undefined || y === undefined) continue;
    if (S.state.log === "1" && (x <= 0 || y <= 0)) continue;
    data.push({ x, y, i });
  }
  if (!data.length) return [];
  return [{ label: "engine ceiling (offline benchmark, batch = concurrency)", seriesKey: "__ceiling", isCeiling: true, data,
    pointStyle: "triangle", backgroundColor: "#ffffff00", borderColor: "#444", borderWidth: 1.5, pointRadius: 5, pointHoverRadius: 7 }];
}

function solDatasets(ym) {
  // the SOL stage bounds tokens/s per GPU against interactivity: drawn only on that chart
  const sol = S.D.raw.sol;
  if (S.state.sol !== "1" || !sol || !sol.frontiers || S.state.y !== "tput") return [];
  const [isl, osl] = S.state.seq.split("/").map(Number);
  const hw = S.state.hw.length ? new Set(S.state.hw) : null, pr = S.state.prec.length ? new Set(S.state.prec) : null;
  const lines = sol.frontiers.filter((f) => f.model === S.state.model && f.isl === isl && f.osl === osl
    && (!hw || hw.has(f.hardware)) && (!pr || pr.has(f.precision)));
  const hwOrder = [...new Set(lines.map((f) => f.hardware + " " + f.precision))].sort();
  return lines.map((f, k) => ({
    type: "line", label: "speed of light (" + f.kind + "): " + f.hardware + " " + f.precision,
    seriesKey: "__sol" + k, data: f.x.map((x, j) => ({ x, y: f.y[j] })).filter((p) => p.x > 0 && p.y > 0),
    borderColor: PALETTE[(hwOrder.indexOf(f.hardware + " " + f.precision) + 5) % PALETTE.length],
    borderDash: f.kind === "strict" ? [8, 4] : [2, 3], borderWidth: 2, pointRadius: 0, pointHitRadius: 0,
    pointStyle: "line", fill: false,
  }));
}

// log axes: label only 1, 2 and 5 times a power of ten, so the labels do not collide
function logTick(v) {
  const m = v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
  return [1, 2, 5].some((k) => Math.abs(m - k) < 1e-6) ? v.toLocaleString("en-US", { maximumSignificantDigits: 3 }) : "";
}
function configureAxes(chart, xm, ym, title) {
  chart.options.plugins.title.text = title;
  for (const ax of ["x", "y"]) {
    const sc = chart.options.scales[ax];
    sc.type = S.state.log === "1" ? "logarithmic" : "linear";
    sc.ticks = S.state.log === "1" ? { callback: logTick, autoSkip: false, maxRotation: 0 } : { maxRotation: 0 };
  }
  const nSeries = chart.data.datasets.filter((d) => !d.isFrontier).length;
  chart.options.plugins.legend.position = nSeries > LEGEND_RIGHT_MAX ? "bottom" : "right";
  chart.options.scales.x.title.text = axisTitle(xm);
  chart.options.scales.y.title.text = axisTitle(ym);
}

export function renderPareto(idx) {
  const ym = yMetrics(S.D, S.state.tier)[S.state.y];
  const xi = xIntvty(S.D, S.state.stat), xl = xLatency(S.D, S.state.stat, S.state.lat);
  const a = paretoDatasets(idx, xi, ym);
  S.lastFronts = a.fronts;
  S.charts.intvty.data.datasets = a.datasets.concat(ceilingDatasets(idx, xi, ym), solDatasets(ym));
  configureAxes(S.charts.intvty, xi, ym, ym.label + " vs interactivity — " + S.state.model + " " + S.state.seq);
  S.charts.intvty.update("none");
  if (!document.body.dataset.firstChartMs) document.body.dataset.firstChartMs = performance.now().toFixed(1);
  S.charts.intvty.$drawMs = performance.now();
  const b = paretoDatasets(idx, xl, ym);
  S.charts.latency.data.datasets = b.datasets.concat(ceilingDatasets(idx, xl, ym));
  configureAxes(S.charts.latency, xl, ym, ym.label + " vs " + xl.label.toLowerCase() + " — " + S.state.model + " " + S.state.seq);
  S.charts.latency.update("none");
  renderCompare(ym);
}


function renderCompare(ym) {
  const out = document.getElementById("compare-out");
  out.replaceChildren();
  const at = atTarget();
  if (!S.state.cmp.length || at === null) return;
  const t = el("table", { class: "data", id: "compare-table" });
  const head = el("tr");
  ["config", ym.label + " at " + at + " tok/s/user (" + ym.unit + ")", "ratio to first", "status"].forEach((h) => head.appendChild(el("th", null, h)));
  t.appendChild(head);
  let ref = null;
  S.state.cmp.forEach((key, k) => {
    const front = S.lastFronts[key] || [];
    const r = C.valueAt(front.map((p) => p.x), front.map((p) => p.y), at);
    if (k === 0) ref = r.value;
    const tr = el("tr");
    const s = S.D.series.find((x) => x.key === key);
    tr.appendChild(el("td", null, s ? s.label : key));
    tr.appendChild(el("td", null, fmt(r.value)));
    tr.appendChild(el("td", null, r.value !== null && ref ? fmt(r.value / ref, 3) + "×" : "–"));
    tr.appendChild(el("td", r.status === "ok" ? null : { class: "bad" }, r.status === "ok" ? "interpolated" : r.status.replace("_", " ") + " (no extrapolation)"));
    t.appendChild(tr);
  });
  out.appendChild(t);
}

// history: each config's value at the target interactivity, per date, from that date's frontier
export function renderHistory(idx) {
  const ym = yMetrics(S.D, S.state.tier)[S.state.y], xi = xIntvty(S.D, S.state.stat);
  const at = atTarget();
  const rule = S.D.raw.history_rule;  // analysis/history.py REGRESSION_RULE, written by the build
  const out = document.getElementById("history-out");
  out.replaceChildren();
  const chart = S.charts.history;
  chart.data.datasets = [];
  if (at === null) { setStatus("pick a target interactivity (tok/s/user) to see history"); chart.update("none"); return; }
  const groups = new Map();
  for (const i of idx) {
    const k = S.D.seriesOf[i] + "\u0000" + S.D.s("date", i);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(i);
  }
  const perSeries = new Map();
  for (const [k, members] of groups) {
    const [s, date] = k.split("\u0000");
    const xs = members.map((i) => S.D.v(xi.key, i)), ys = members.map((i) => ym.get(i));
    const on = C.frontierIndices(xs, ys, members.map((i) => S.D.excluded[i]), xi.higher, ym.higher);
    const r = C.valueAt(on.map((j) => xs[j]), on.map((j) => ys[j]), at);
    if (!perSeries.has(+s)) perSeries.set(+s, []);
    perSeries.get(+s).push({ date, value: r.value, status: r.status });
  }
  const order = [...perSeries.keys()].sort((a, b) => (S.D.series[a].label < S.D.series[b].label ? -1 : 1));
  const regs = [];
  const day = (d) => Date.parse(d + "T00:00:00Z") / 86400000;
  order.forEach((s, k) => {
    const rows = perSeries.get(s).sort((a, b) => (a.date < b.date ? -1 : 1));
    const { colour, shape, dash } = seriesStyle(k);
    const vals = rows.map((r) => r.value);
    const data = rows.filter((r) => r.value !== null).map((r) => ({ x: day(r.date), y: r.value, date: r.date }));
    if (!data.length) return;
    chart.data.datasets.push({ type: "line", label: S.D.series[s].label, data, borderColor: colour, backgroundColor: colour,
      borderDash: dash, pointStyle: shape, pointRadius: 4, fill: false });
    C.regressions(vals, ym.higher, rule).forEach((f, j) => {
      if (f.regression) regs.push({ series: S.D.series[s].label, date: rows[j].date, value: rows[j].value, baseline: f.baseline, spread: f.spread });
    });
  });
  if (regs.length) chart.data.datasets.push({ type: "scatter", label: "regression (worse than baseline by > spread and > " + fmt(100 * rule.rel_tol, 3) + "%)",
    data: regs.map((r) => ({ x: day(r.date), y: r.value })), pointStyle: "triangle", rotation: 180, pointRadius: 9,
    borderColor: "#b42318", backgroundColor: "#b42318" });
  chart.options.plugins.title.text = ym.label + " at " + at + " tok/s/user over time — " + S.state.model + " " + S.state.seq;
  chart.options.scales.y.title.text = axisTitle(ym);
  chart.options.scales.y.type = S.state.log === "1" ? "logarithmic" : "linear";
  chart.update("none");
  const t = el("table", { class: "data", id: "regressions" });
  const head = el("tr");
  ["config", "date", "value (" + ym.unit + ")", "baseline: median of previous ≤ " + rule.window, "spread of those", "change vs baseline"]
    .forEach((h) => head.appendChild(el("th", null, h)));
  t.appendChild(head);
  for (const r of regs) {
    const tr = el("tr");
    [r.series, r.date, fmt(r.value), fmt(r.baseline), fmt(r.spread)].forEach((c) => tr.appendChild(el("td", null, c)));
    tr.appendChild(el("td", { class: "bad" }, fmt(100 * (r.value - r.baseline) / Math.abs(r.baseline), 3) + "%"));
    t.appendChild(tr);
  }
  out.appendChild(el("h3", null, regs.length ? "Regressions" : "No regressions in this range"));
  if (regs.length) out.appendChild(t);
}

// cost calculator: everything at one interactivity, interpolated on each frontier
export function renderCalc(idx) {
  const xi = xIntvty(S.D, S.state.stat);
  const at = atTarget();
  const out = document.getElementById("calc-out");
  out.replaceChildren();
  const bySeries = new Map();
  for (const i of idx) {
    const s = S.D.seriesOf[i];
    if (!bySeries.has(s)) bySeries.set(s, []);
    bySeries.get(s).push(i);
  }
  const rows = [];
  for (const [s, members] of bySeries) {
    const xs = members.map((i) => S.D.v(xi.key, i)), ys = members.map((i) => S.D.v("tput_per_gpu", i));
    const on = C.frontierIndices(xs, ys, members.map((i) => S.D.excluded[i]), xi.higher, true).map((j) => members[j]);
    const fx = on.map((i) => S.D.v(xi.key, i));
    const interp = (k) => C.valueAt(fx, on.map((i) => S.D.v(k, i)), at);
    const r = interp("tput_per_gpu");
    const rin = interp("input_tput_per_gpu"), rout = interp("output_tput_per_gpu");
    const rj = interp("joules_per_total_token");
    const hw = S.D.s("hardware", S.D.series[s].first);
    const pr = S.D.prices.hardware[hw] || {};
    const price = pr.usd_per_gpu_hour ? pr.usd_per_gpu_hour[S.state.tier] : null;
    let conc = "–";
    if (r.status === "ok") {
      const cs = [...new Set([S.D.v("conc", on[r.lo]), S.D.v("conc", on[r.hi])])].sort((a, b) => a - b);
      conc = cs.length === 1 ? "c" + cs[0] : "between c" + cs[0] + " and c" + cs[1];
    }
    rows.push({
      label: S.D.series[s].label, status: r.status, tput: r.value,
      cost: C.costPerMtok(price, r.value), costIn: C.costPerMtok(price, rin.value), costOut: C.costPerMtok(price, rout.value),
      jAllIn: C.joulesPerToken(pr.all_in_kw, r.value), jMeasured: rj.value, conc, range: r.xMin !== undefined ? fmt(r.xMin) + "–" + fmt(r.xMax) : "–",
    });
  }
  rows.sort((a, b) => (b.tput || -1) - (a.tput || -1));
  const t = el("table", { class: "data", id: "calc-table" });
  const head = el("tr");
  ["config", "tok/s/GPU", "$/M total tokens", "$/M input", "$/M output", "J/token (all-in)", "J/token (measured)",
    "operating point", "measured interactivity range (tok/s/user)", "status"].forEach((h) => head.appendChild(el("th", null, h)));
  t.appendChild(head);
  for (const r of rows) {
    const tr = el("tr");
    [r.label, fmt(r.tput), fmt(r.cost), fmt(r.costIn), fmt(r.costOut), fmt(r.jAllIn), fmt(r.jMeasured), r.conc, r.range].forEach((c) => tr.appendChild(el("td", null, c)));
    tr.appendChild(el("td", r.status === "ok" ? null : { class: "bad" }, r.status === "ok" ? "interpolated" : "outside measured range"));
    t.appendChild(tr);
  }
  const tierLabel = (S.D.prices.tiers || {})[S.state.tier] || S.state.tier;
  out.appendChild(el("p", { class: "note" }, "Values at " + (at === null ? "?" : at) + " tok/s/user (" + STATS[S.state.stat] +
    " interactivity), interpolated on each config's frontier with a monotone spline; never extrapolated. Price tier: " + tierLabel + "."));
  out.appendChild(t);
  const ok = rows.filter((r) => r.status === "ok");
  const chart = S.charts.calc;
  chart.data.labels = ok.map((r) => r.label);
  chart.data.datasets = [{ label: "Token throughput per GPU at " + at + " tok/s/user (tok/s/GPU)", data: ok.map((r) => r.tput),
    backgroundColor: ok.map((_, k) => seriesStyle(k).colour) }];
  chart.options.plugins.title.text = "Throughput per GPU at " + at + " tok/s/user — " + S.state.model + " " + S.state.seq;
  chart.update("none");
}

// ---------- tooltip and details ---------------------------------------------------------
function fieldLabel(k) {
  const f = S.D.meta.fields[k];
  return f ? f.label + (f.unit ? " (" + f.unit + ")" : "") : k;
}
function tipRows(i) {
  const ym = yMetrics(S.D, S.state.tier)[S.state.y];
  const url = safeUrl(S.D.s("run_url", i));
  const rows = [
    ["config", S.D.series[S.D.seriesOf[i]].label], ["model", S.D.s("model", i)], ["layout", S.D.layout(i)],
    ["concurrency", S.D.v("conc", i)], ["ISL/OSL", S.D.seq(i)],
    [ym.label + " (" + ym.unit + ")", fmt(ym.get(i))],
    ...(intervalOf(ym.key, i) ? [["confidence interval", fmt(intervalOf(ym.key, i)[0]) + " .. " + fmt(intervalOf(ym.key, i)[1])
      + " (" + (S.D.s("interval_method", i) || "?") + ", " + (S.D.v("trials", i) || 1) + " trial(s))"]] : []),
    ...["tput_per_gpu", "input_tput_per_gpu", "output_tput_per_gpu", S.state.stat + "_intvty", S.state.stat + "_ttft", S.state.stat + "_e2el"]
      .filter((k) => k !== ym.key).map((k) => [fieldLabel(k), fmt(S.D.v(k, i))]),  // the Y row already shows ym
    ["engine version", S.D.s("engine_version", i)], ["image", S.D.s("image", i)], ["date", S.D.s("date", i)],
    ["run", S.D.s("run_id", i)], ["source", S.D.s("source", i)],
  ];
  // the three levels and their ratios, where measured (speed of light -> engine ceiling -> served)
  for (const k of LEVEL_FIELDS) if (k !== ym.key && S.D.num[k] && S.D.v(k, i) !== null) rows.push([fieldLabel(k), fmt(S.D.v(k, i))]);
  if (S.D.fraction && S.D.fraction[i] !== null) rows.push(["measured ÷ speed of light", fmt(100 * S.D.fraction[i], 3) + "% (" + S.D.raw.sol.fraction_kind.values[S.D.raw.sol.fraction_kind.codes[i]] + ")"]);
  return { rows, url };
}
function showTip(i, evt, withDetail) {
  const tip = document.getElementById("tip");
  tip.replaceChildren();
  if (withDetail) {
    const b = el("button", { id: "tip-close" }, "close");
    b.addEventListener("click", () => { S.pinned = false; tip.hidden = true; });
    tip.appendChild(b);
  }
  tip.appendChild(el("h3", null, S.D.series[S.D.seriesOf[i]].label + " · c" + S.D.v("conc", i)));
  const flags = S.D.flags(i);
  if (flags.length) tip.appendChild(el("div", { class: "flag" }, "flags: " + flags.join(", ")));
  const { rows, url } = tipRows(i);
  const t = el("table");
  for (const [k, v] of rows) {
    if (v === "" || v === null || v === undefined) continue;
    const tr = el("tr"); tr.appendChild(el("td", null, k)); tr.appendChild(el("td", null, v)); t.appendChild(tr);
  }
  const runUrl = S.D.s("run_url", i);
  if (runUrl) {
    const tr = el("tr"); tr.appendChild(el("td", null, "run URL"));
    const td = el("td");
    if (url) { const a = el("a", { target: "_blank", rel: "noopener noreferrer" }, runUrl); a.href = url; td.appendChild(a); }
    else td.textContent = runUrl;
    tr.appendChild(td); t.appendChild(tr);
  }
  tip.appendChild(t);
  if (withDetail) {
    const box = el("div", { id: "tip-detail" }, "loading every field…");
    tip.appendChild(box);
    loadDetail(S.D, i).then((fields) => {
      box.replaceChildren(el("h3", null, "every field"));
      const dt = el("table");
      for (const [k, v] of fields) { const tr = el("tr"); tr.appendChild(el("td", null, k)); tr.appendChild(el("td", null, v)); dt.appendChild(tr); }
      box.appendChild(dt);
    }).catch((e) => { box.textContent = "details unavailable: " + e.message; });
  } else {
    tip.appendChild(el("div", { class: "note" }, "click the point for every field"));
  }
  tip.hidden = false;
  const x = Math.min(evt.native.clientX + 14, window.innerWidth - 470);
  const y = Math.min(evt.native.clientY + 14, window.innerHeight - 200);
  tip.style.left = Math.max(0, x) + "px";
  tip.style.top = Math.max(0, y) + "px";
}
function pointAt(els, chart) {
  const e = els.find((x) => { const ds = chart.data.datasets[x.datasetIndex]; return ds && !ds.isFrontier && ds.data[x.index] && ds.data[x.index].i !== undefined; });
  return e ? chart.data.datasets[e.datasetIndex].data[e.index].i : null;
}
function onHover(evt, els, chart) {
  if (S.pinned) return;
  const i = pointAt(els, chart);
  if (i === null) { document.getElementById("tip").hidden = true; return; }
  showTip(i, evt, false);
}
function onClick(evt, els, chart) {
  const i = pointAt(els, chart);
  if (i === null) { S.pinned = false; document.getElementById("tip").hidden = true; return; }
  S.pinned = true;
  showTip(i, evt, true);
}

// ---------- exports ---------------------------------------------------------------------
function csvCell(v) {
  if (v === null || v === undefined) return "";
  let s = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = "'" + s; // no formulas from data in spreadsheets
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
export function exportCsv() {
  const ym = yMetrics(S.D, S.state.tier)[S.state.y];
  const names = ["model", "isl", "osl", "hardware", "engine", "engine_version", "precision", "spec_method", "disagg", "layout", "conc",
    "date", "tput_per_gpu", "input_tput_per_gpu", "output_tput_per_gpu", S.state.stat + "_intvty", S.state.stat + "_ttft", S.state.stat + "_e2el",
    ...LEVEL_FIELDS.filter((k) => S.D.num[k])];
  const cols = names.map((k) => [fieldHeader(S.D, k), (i) => S.D.val(k, i)]).concat([[ym.label + " (" + ym.unit + ")", ym.get],
    ["flags", (i) => S.D.flags(i).join(" ")], ["run_id", (i) => S.D.s("run_id", i)], ["run_url", (i) => S.D.s("run_url", i)]]);
  const lines = [cols.map((c) => csvCell(c[0])).join(",")];
  for (const i of S.visible) lines.push(cols.map((c) => csvCell(c[1](i))).join(","));
  const blob = new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
  const url = URL.createObjectURL(blob);
  download("servemark-" + S.state.view + "-points.csv", url);
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}
export function exportPng() {
  const chart = S.state.view === "pareto" ? S.charts.intvty : S.state.view === "history" ? S.charts.history : S.charts.calc;
  download("servemark-" + S.state.view + ".png", chart.toBase64Image("image/png", 1));
}
