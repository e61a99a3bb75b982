/* servemark dashboard, data: decode the payload (data/core.js) and load its later parts.
 *
 * Everything the page knows about fields comes from the payload's `meta` (report/dashboard/data.py
 * dashboard_meta): labels, units, directions (which way is better), the frontier grouping key and
 * the flags that keep a point off a frontier. So a series here is exactly a group of
 * `servemark frontier`, and flagged points are drawn but never define a frontier.
 */
export const C = window.ServemarkCalc;
export const STATS = { median: "median", mean: "mean", p90: "p90", p99: "p99", p999: "p99.9" };

const detailCache = {};
const detailWaiters = {};
window.servemarkDetail = function (chunk) {
  detailCache[chunk.chunk] = chunk.columns;
  (detailWaiters[chunk.chunk] || []).forEach((f) => f(chunk.columns));
  delete detailWaiters[chunk.chunk];
};

function addColumns(cols, n, str, num) {
  for (const [k, v] of Object.entries(cols)) {
    if (Array.isArray(v)) num[k] = v;
    else if ("const" in v) num[k] = new Array(n).fill(v.const);
    else str[k] = v.codes === 0 ? { values: v.values, codes: new Int32Array(n) } : v;
  }
}

function script(src) {
  const s = document.createElement("script");
  s.setAttribute("src", src);
  return s;
}

// the percentiles the first chart does not need come in a second file (data/later.js)
let laterPromise = null;
export function loadLater(D) {
  if (!laterPromise) {
    laterPromise = new Promise((resolve, reject) => {
      window.servemarkLater = (raw) => { addColumns(raw.columns, D.n, D.str, D.num); D.laterLoaded = true; document.body.dataset.later = "1"; resolve(); };
      const s = script("data/later.js");
      s.onerror = () => reject(new Error("cannot load data/later.js"));
      document.body.appendChild(s);
    });
  }
  return laterPromise;
}
export function needsLater(D, stat) {
  const later = D.raw.later_columns || [];
  return !D.laterLoaded && ["intvty", "ttft", "e2el"].some((m) => later.includes(stat + "_" + m));
}

/* Every non-empty field of point i, from its detail chunk (loaded on first use). */
export function loadDetail(D, i) {
  const size = D.raw.detail_chunk, c = Math.floor(i / size), row = i % size;
  const pick = (cols) => Object.entries(cols).map(([k, v]) => [k, v[row]]).filter(([, v]) => v !== null && v !== "" && v !== "[]" && v !== "{}")
    .map(([k, v]) => [k, String(v)]);
  if (detailCache[c]) return Promise.resolve(pick(detailCache[c]));
  return new Promise((resolve, reject) => {
    (detailWaiters[c] = detailWaiters[c] || []).push((cols) => resolve(pick(cols)));
    const s = script("data/detail-" + String(c).padStart(4, "0") + ".js");
    s.onerror = () => reject(new Error("cannot load data/detail-" + c));
    document.body.appendChild(s);
  });
}

function parseFlags(f) {
  if (!f || f === "[]") return [];
  try { return JSON.parse(f); } catch (e) { return [f]; }
}

/* Per point, an integer code of one field's value, and the distinct values in code order. */
function fieldCodes(n, k, str, num) {
  if (str[k]) return { codes: str[k].codes, values: str[k].values };
  const codes = new Int32Array(n), index = new Map(), values = [];
  const col = num[k];
  for (let i = 0; i < n; i++) {
    const v = col ? col[i] : null;
    let c = index.get(v);
    if (c === undefined) { c = values.length; index.set(v, c); values.push(v); }
    codes[i] = c;
  }
  return { codes, values };
}

/* A series (one frontier) is one value of meta.group_by. Its key holds every grouping field; its
 * label leaves out the fields the page fixes (meta.population), skips empty and "none" values, and
 * shows a "flag" field by its name when set. Grouped on integer codes (one pass per field), since
 * 10^5 points would otherwise build 10^5 key strings. */
function groupSeries(n, meta, str, num) {
  const groupBy = meta.group_by, population = new Set(meta.population || []);
  const cols = groupBy.map((k) => fieldCodes(n, k, str, num));
  const combined = new Float64Array(n);
  let radix = 1;
  cols.forEach((c) => {
    const m = Math.max(c.values.length, 1);
    if (radix * m > Number.MAX_SAFE_INTEGER) throw new Error("too many distinct values in meta.group_by to group");
    for (let i = 0; i < n; i++) combined[i] += c.codes[i] * radix;
    radix *= m;
  });
  const index = new Map(), series = [], seriesOf = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let idx = index.get(combined[i]);
    if (idx === undefined) {
      idx = series.length;
      index.set(combined[i], idx);
      const vals = cols.map((c) => c.values[c.codes[i]]);
      const bits = [];
      groupBy.forEach((k, j) => {
        const v = vals[j], f = meta.fields[k] || {};
        if (population.has(k) || v === null || v === undefined || v === "" || v === "none") return;
        if (f.format === "flag") { if (v) bits.push(k); } else bits.push(String(v));
      });
      const key = vals.map((v) => (v === null || v === undefined ? "" : String(v))).join("|");
      series.push({ key, label: bits.join(" "), first: i });
    }
    seriesOf[i] = idx;
  }
  return { series, seriesOf };
}

export function decode(raw) {
  const n = raw.count, meta = raw.meta;
  const str = {}, num = {};
  addColumns(raw.columns, n, str, num);
  const s = (k, i) => (str[k] ? str[k].values[str[k].codes[i]] : "");
  const v = (k, i) => (num[k] ? num[k][i] : null);
  const val = (k, i) => (str[k] ? s(k, i) : v(k, i));
  const { series, seriesOf } = groupSeries(n, meta, str, num);
  // flags are dictionary-encoded: decide "excluded from frontiers" once per distinct value
  const flagValues = str.flags ? str.flags.values.map(parseFlags) : [];
  const flagExcluded = flagValues.map((f) => C.isExcluded(f, meta.excluded_flags));
  const excluded = new Uint8Array(n);
  if (str.flags) for (let i = 0; i < n; i++) excluded[i] = flagExcluded[str.flags.codes[i]] ? 1 : 0;
  const fraction = raw.sol && raw.sol.fraction ? raw.sol.fraction : null;
  return {
    raw, meta, n, str, num, s, v, series, seriesOf, excluded, fraction, prices: raw.prices || { tiers: {}, hardware: {} },
    val,
    flags: (i) => (str.flags ? flagValues[str.flags.codes[i]] : []),
    layout: (i) => s("layout", i) || "",
    seq: (i) => v("isl", i) + "/" + v("osl", i),
    mode: (i) => (v("disagg", i) ? "disaggregated" : "aggregated"),
  };
}

/* "name (unit)" for a measured field (meta.fields format "number"), else the bare name. */
export function fieldHeader(D, name) {
  const f = D.meta.fields[name];
  return f && f.format === "number" && f.unit ? name + " (" + f.unit + ")" : name;
}

// ---------- metrics ---------------------------------------------------------------------
/* A metric from a point field: label, unit and direction from meta.fields. */
function fieldMetric(D, key, get) {
  const f = D.meta.fields[key] || { label: key, unit: "", direction: "higher" };
  return { key, label: f.label, unit: f.unit, higher: f.direction === "higher", get: get || ((i) => D.v(key, i)) };
}
function hardwareOf(D, i) { return D.prices.hardware[D.s("hardware", i)]; }

/* The Y metrics: point fields, and the cost and energy figures calc.js derives from them with the
 * price table (their formulas and units are those of docs/metrics.md, Cost). */
export function yMetrics(D, tier) {
  const priceOf = (i) => { const h = hardwareOf(D, i); return h && h.usd_per_gpu_hour ? h.usd_per_gpu_hour[tier] : null; };
  const kwOf = (i) => { const h = hardwareOf(D, i); return h ? h.all_in_kw : null; };
  const tput = (k) => (i) => D.v(k, i);
  const m = {
    tput: fieldMetric(D, "tput_per_gpu"),
    tput_in: fieldMetric(D, "input_tput_per_gpu"),
    tput_out: fieldMetric(D, "output_tput_per_gpu"),
    cost_total: { label: "Cost per million total tokens", unit: "$/M tokens", higher: false, cost: true, get: (i) => C.costPerMtok(priceOf(i), tput("tput_per_gpu")(i)) },
    cost_in: { label: "Cost per million input tokens", unit: "$/M input tokens", higher: false, cost: true, get: (i) => C.costPerMtok(priceOf(i), tput("input_tput_per_gpu")(i)) },
    cost_out: { label: "Cost per million output tokens", unit: "$/M output tokens", higher: false, cost: true, get: (i) => C.costPerMtok(priceOf(i), tput("output_tput_per_gpu")(i)) },
    j_total: { label: "All-in provisioned energy per total token", unit: "J/token", higher: false, get: (i) => C.joulesPerToken(kwOf(i), tput("tput_per_gpu")(i)) },
    j_in: { label: "All-in provisioned energy per input token", unit: "J/input token", higher: false, get: (i) => C.joulesPerToken(kwOf(i), tput("input_tput_per_gpu")(i)) },
    j_out: { label: "All-in provisioned energy per output token", unit: "J/output token", higher: false, get: (i) => C.joulesPerToken(kwOf(i), tput("output_tput_per_gpu")(i)) },
    jm_total: fieldMetric(D, "joules_per_total_token"),
    tpmw: { label: "Token throughput per all-in MW", unit: "tok/s/MW", higher: true, get: (i) => C.tokPerSPerMw(kwOf(i), tput("tput_per_gpu")(i)) },
  };
  // the three levels (docs/ceiling.md): offered when some point has them
  if (D.num.ceiling_tput_per_gpu) m.ceiling = fieldMetric(D, "ceiling_tput_per_gpu");
  if (D.num.served_over_ceiling) m.served_ceiling = fieldMetric(D, "served_over_ceiling");
  if (D.num.ceiling_over_sol) m.ceiling_sol = fieldMetric(D, "ceiling_over_sol");
  if (D.fraction) m.sol_frac = { label: "Measured ÷ speed of light", unit: "fraction", higher: true, get: (i) => D.fraction[i] };
  return m;
}
/* The engine-ceiling field drawn beside a throughput Y metric (same unit), or null. */
export function ceilingOf(D, ym) {
  const k = { tput_per_gpu: "ceiling_tput_per_gpu", output_tput_per_gpu: "ceiling_output_tput_per_gpu" }[ym.key];
  return k && D.num[k] ? k : null;
}
export const LEVEL_FIELDS = ["sol_tput_per_gpu", "ceiling_tput_per_gpu", "ceiling_output_tput_per_gpu", "ceiling_intvty",
  "served_over_ceiling", "ceiling_over_sol", "served_over_sol"];
export function xIntvty(D, stat) { return fieldMetric(D, stat + "_intvty"); }
export function xLatency(D, stat, lat) { return fieldMetric(D, stat + "_" + lat); }
