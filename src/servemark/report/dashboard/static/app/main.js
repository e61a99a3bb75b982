/* servemark dashboard, main: the filter panel, the update loop, the bindings and boot.
 *
 * One direction: an input changes S.state, update() recomputes the selected points (state.js),
 * the active view draws them (view.js) and the URL hash records the state.
 */
import { STATS, decode, loadLater, needsLater, yMetrics } from "./data.js";
import { S, freshState, readHash, writeHash, counts, allIdx, baseIndices, latestOnly, compareFilter, workloadOf } from "./state.js";
import { MAX_LABELS, el, setStatus, makeScatter, whiteBackground, renderPareto, renderHistory, renderCalc, exportCsv, exportPng } from "./view.js";

window.servemarkData = function (raw) {
  try { boot(raw); } catch (e) { setStatus("could not start: " + e.message, true); throw e; }
};

function fillSelect(sel, values, current) {
  sel.replaceChildren();
  for (const [v, label] of values) { const o = el("option", { value: v }, label); sel.appendChild(o); }
  sel.value = current;
}
function fillChecks(fs, key, values) {
  fs.querySelectorAll("label").forEach((l) => l.remove());
  for (const [v, n] of values) {
    const lab = el("label");
    const cb = el("input", { type: "checkbox", "data-key": key });
    cb.value = v;
    cb.checked = S.state[key].length === 0 || S.state[key].includes(v);
    cb.addEventListener("change", () => {
      const on = [...fs.querySelectorAll("input:checked")].map((c) => c.value);
      const all = fs.querySelectorAll("input").length;
      S.state[key] = on.length === all ? [] : on;
      if (on.length === 0) S.state[key] = ["\u0000none"];
      update();
    });
    lab.appendChild(cb);
    lab.appendChild(document.createTextNode(v + " (" + n + ")"));
    fs.appendChild(lab);
  }
}
function renderFilters() {
  const all = allIdx();
  const models = [...counts((i) => S.D.s("model", i), all)].sort((a, b) => b[1] - a[1]);
  if (!models.some(([m]) => m === S.state.model)) S.state.model = models.length ? models[0][0] : "";
  fillSelect(document.getElementById("f-model"), models.map(([m, n]) => [m, m + " (" + n + ")"]), S.state.model);
  const inModel = all.filter((i) => S.D.s("model", i) === S.state.model);
  const seqs = [...counts((i) => S.D.seq(i), inModel)].sort((a, b) => b[1] - a[1]);
  if (!seqs.some(([s]) => s === S.state.seq)) S.state.seq = seqs.length ? seqs[0][0] : "";
  fillSelect(document.getElementById("f-seq"), seqs.map(([s, n]) => [s, s + " (" + n + ")"]), S.state.seq);
  const pop = inModel.filter((i) => S.D.seq(i) === S.state.seq);
  const sorted = (m) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  fillChecks(document.getElementById("f-prec"), "prec", sorted(counts((i) => S.D.s("precision", i), pop)));
  fillChecks(document.getElementById("f-hw"), "hw", sorted(counts((i) => S.D.s("hardware", i), pop)));
  fillChecks(document.getElementById("f-eng"), "eng", sorted(counts((i) => S.D.s("engine", i), pop)));
  fillChecks(document.getElementById("f-spec"), "spec", sorted(counts((i) => S.D.s("spec_method", i) || "none", pop)));
  fillChecks(document.getElementById("f-mode"), "mode", sorted(counts((i) => S.D.mode(i), pop)));
  fillChecks(document.getElementById("f-wl"), "wl", sorted(counts(workloadOf, pop)));
  const ym = yMetrics(S.D, S.state.tier);
  fillSelect(document.getElementById("f-y"), Object.entries(ym).map(([k, m]) => [k, m.label + " (" + m.unit + ")"]), S.state.y);
  if (!ym[S.state.y]) S.state.y = "tput";
  const tiers = Object.entries(S.D.prices.tiers || {});
  if (!tiers.some(([t]) => t === S.state.tier)) S.state.tier = tiers.length ? tiers[0][0] : "";
  fillSelect(document.getElementById("f-tier"), tiers, S.state.tier);
  for (const k of ["stat", "lat", "dates", "from", "to", "at"]) document.getElementById("f-" + k).value = S.state[k];
  for (const k of ["log", "front", "labels", "sol", "ceil"]) document.getElementById("f-" + k).checked = S.state[k] === "1";
  document.getElementById("f-sol").disabled = !(S.D.raw.sol && S.D.raw.sol.frontiers && S.D.raw.sol.frontiers.length);
  document.getElementById("f-ceil").disabled = !S.D.num.ceiling_tput_per_gpu;
  // compare: four selects over the series present in this population
  const fs = document.getElementById("f-cmp");
  fs.querySelectorAll("select").forEach((s) => s.remove());
  const present = [...new Set(pop.map((i) => S.D.seriesOf[i]))].map((s) => S.D.series[s]).sort((a, b) => (a.label < b.label ? -1 : 1));
  for (let k = 0; k < 4; k++) {
    const sel = el("select", { "data-slot": String(k), "aria-label": "compare " + (k + 1) });
    fillSelect(sel, [["", "—"], ...present.map((s) => [s.key, s.label])], S.state.cmp[k] || "");
    sel.addEventListener("change", () => {
      const picks = [...fs.querySelectorAll("select")].map((s) => s.value).filter((x) => x);
      S.state.cmp = [...new Set(picks)];
      update();
    });
    fs.appendChild(sel);
  }
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.view === S.state.view));
}

// ---------- main loop -------------------------------------------------------------------
function update() {
  if (needsLater(S.D, S.state.stat)) {
    setStatus("loading the " + STATS[S.state.stat] + " columns…");
    loadLater(S.D).then(update, (e) => setStatus(e.message, true));
    return;
  }
  const t0 = performance.now();
  const lap = {}; let tl = t0;
  const mark = (k) => { const t = performance.now(); lap[k] = +(t - tl).toFixed(1); tl = t; };
  renderFilters(); mark("filters");
  writeHash();
  const base = baseIndices(); mark("base");
  let idx = S.state.dates === "latest" && S.state.view !== "history" ? latestOnly(base) : base;
  idx = compareFilter(idx); mark("latest");
  S.visible = idx;
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === "view-" + S.state.view));
  if (S.state.at === "" && idx.length) {
    const xs = idx.map((i) => S.D.v(S.state.stat + "_intvty", i)).filter((v) => v !== null).sort((a, b) => a - b);
    if (xs.length) S.state.at = String(+xs[Math.floor(xs.length / 2)].toPrecision(2));
    document.getElementById("f-at").value = S.state.at;
    writeHash();
  }
  if (S.state.view === "pareto") renderPareto(idx);
  else if (S.state.view === "history") renderHistory(idx);
  else renderCalc(idx);
  mark("draw");
  document.body.dataset.laps = JSON.stringify(lap);
  const ms = performance.now() - t0;
  const nSeries = new Set(idx.map((i) => S.D.seriesOf[i])).size;
  let msg = idx.length + " points of " + nSeries + " configs shown, of " + S.D.n + " in the store (" + ms.toFixed(0) + " ms)";
  if (S.state.view === "pareto" && S.state.labels === "1") {
    const nFront = Object.values(S.lastFronts).reduce((a, f) => a + f.length, 0);
    if (nFront > MAX_LABELS) msg += " · layout labels hidden (" + nFront + " frontier points): narrow the filters or pick configs to compare";
  }
  setStatus(msg);
  document.body.dataset.shown = String(idx.length);
  document.body.dataset.renderMs = ms.toFixed(1);
  if (!document.body.dataset.readyMs) document.body.dataset.readyMs = performance.now().toFixed(1);
  document.body.dataset.ready = "1";
  caption();
}
function caption() {
  const ym = yMetrics(S.D, S.state.tier)[S.state.y];
  const meta = S.D.meta, pop = new Set(meta.population || []);
  const by = meta.group_by.filter((k) => !pop.has(k)).map((k) => (meta.fields[k] ? meta.fields[k].label : k).toLowerCase());
  let text = "Frontier: for each config (" + by.join(", ") + "), the points no other point of that config beats on both axes; all parallel layouts compete";
  text += meta.excluded_flags.length ? "; points flagged " + meta.excluded_flags.join(", ") + " are drawn but never define a frontier. " : ". ";
  if (ym.cost) text += "Cost = $/GPU-hour ÷ (tok/s/GPU × 3600) × 10^6, price table " + (S.D.prices.name || "?") + ". ";
  if (["j_total", "j_in", "j_out", "tpmw"].includes(S.state.y)) text += "All-in provisioned power per GPU from price table " + (S.D.prices.name || "?") + ". ";
  text += "Data built " + (S.D.raw.generated_at || "?") + ".";
  document.getElementById("caption").textContent = text;
}

function bind() {
  const on = (id, ev, fn) => document.getElementById(id).addEventListener(ev, fn);
  on("f-model", "change", (e) => { S.state.model = e.target.value; S.state.seq = ""; S.state.cmp = []; update(); });
  on("f-seq", "change", (e) => { S.state.seq = e.target.value; S.state.cmp = []; update(); });
  for (const k of ["stat", "lat", "dates", "y", "tier", "from", "to"]) on("f-" + k, "change", (e) => { S.state[k] = e.target.value; update(); });
  on("f-at", "change", (e) => { S.state.at = e.target.value; update(); });
  for (const k of ["log", "front", "labels", "sol", "ceil"]) on("f-" + k, "change", (e) => { S.state[k] = e.target.checked ? "1" : "0"; update(); });
  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => { S.state.view = b.dataset.view; update(); }));
  on("btn-csv", "click", exportCsv);
  on("btn-png", "click", exportPng);
  on("btn-reset", "click", () => { S.state = freshState(); update(); });
  on("btn-link", "click", () => { if (navigator.clipboard) navigator.clipboard.writeText(location.href).catch(() => {}); setStatus("link: " + location.href); });
  window.addEventListener("hashchange", () => { S.state = readHash(); update(); });
  const pre = document.getElementById("presets");
  for (const p of S.D.raw.presets || []) {
    const b = el("button", { "data-preset": p.id, title: p.description || "" }, p.label);
    b.addEventListener("click", () => { S.state = Object.assign(freshState(), p.state); update(); });
    pre.appendChild(b);
  }
}

function boot(raw) {
  const tData = performance.now();
  S.D = decode(raw);
  document.body.dataset.dataMs = tData.toFixed(1);
  document.body.dataset.decodeMs = (performance.now() - tData).toFixed(1);
  S.state = readHash();
  document.getElementById("meta").textContent = S.D.n + " points · built " + (raw.generated_at || "");
  Chart.defaults.font.family = "system-ui, sans-serif";
  // show the view before its charts exist: a chart made in a hidden box is drawn twice (0 px, then a resize)
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === "view-" + S.state.view));
  S.charts.intvty = makeScatter(document.getElementById("chart-intvty"), "");
  S.charts.latency = makeScatter(document.getElementById("chart-latency"), "");
  S.charts.history = makeScatter(document.getElementById("chart-history"), "");
  S.charts.history.options.scales.x.title.text = "date (UTC)";
  S.charts.history.options.scales.x.ticks = { callback: (v) => new Date(v * 86400000).toISOString().slice(0, 10) };
  S.charts.history.options.onHover = null; S.charts.history.options.onClick = null;
  S.charts.calc = new Chart(document.getElementById("chart-calc"), {
    type: "bar", data: { labels: [], datasets: [] }, plugins: [whiteBackground],
    options: { indexAxis: "y", animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { title: { display: true, text: "" }, legend: { display: true } },
      scales: { x: { title: { display: true, text: "Token throughput per GPU (tok/s/GPU)" } } } },
  });
  bind();
  if (!S.D.n) { setStatus("the store has no points yet: run a sweep or `servemark import inferencex` and build again"); document.body.dataset.ready = "1"; return; }
  update();
  setTimeout(() => loadLater(S.D).catch((e) => setStatus(e.message, true)), 0);
}
