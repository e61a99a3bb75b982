/* servemark dashboard, state: the one shared object, the view state <-> URL, and which points
 * the view state selects.
 *
 * All mutable state of the page lives in `S` (the decoded data, the view state, the charts, the
 * points shown, the pinned tooltip, the frontiers last drawn), so a reader finds it in one place.
 * The view state has the keys of the URL hash; presets are partial view states.
 */
export const DEFAULTS = {
  view: "pareto", model: "", seq: "", prec: [], hw: [], eng: [], spec: [], mode: [], wl: [],
  from: "", to: "", dates: "latest", y: "tput", tier: "", stat: "median", lat: "e2el",
  log: "0", front: "0", labels: "1", sol: "0", ceil: "1", cmp: [], at: "",
};
const LIST_KEYS = ["prec", "hw", "eng", "spec", "mode", "wl", "cmp"];

export const S = {
  D: null,          // decoded data (data.js decode)
  state: null,      // the view state (keys of DEFAULTS)
  charts: {},       // Chart.js instances by name
  visible: [],      // point indices the current view shows (CSV export)
  pinned: false,    // a clicked point's tooltip stays open
  lastFronts: {},   // series key -> frontier points of the interactivity chart (compare table)
};

export function freshState() { return JSON.parse(JSON.stringify(DEFAULTS)); }

// ---------- state <-> URL ---------------------------------------------------------------
export function readHash() {
  const p = new URLSearchParams(location.hash.replace(/^#/, ""));
  const st = freshState();
  for (const k of Object.keys(DEFAULTS)) {
    if (LIST_KEYS.includes(k)) { if (p.has(k)) st[k] = p.getAll(k).filter((x) => x !== ""); }
    else if (p.has(k)) st[k] = p.get(k);
  }
  return st;
}
export function writeHash() {
  const p = new URLSearchParams();
  for (const k of Object.keys(DEFAULTS)) {
    if (LIST_KEYS.includes(k)) S.state[k].forEach((x) => p.append(k, x));
    else if (S.state[k] !== DEFAULTS[k]) p.set(k, S.state[k]);
  }
  const h = "#" + p.toString();
  if (location.hash !== h) history.replaceState(null, "", h);
}
// ---------- filters ---------------------------------------------------------------------
export function counts(keyFn, idx) {
  const m = new Map();
  for (const i of idx) { const k = keyFn(i); m.set(k, (m.get(k) || 0) + 1); }
  return m;
}
/* The workload key of point i (meta.group_by has it, so a series never spans two workloads):
 * "random" (the default) or "kind:hash" of the workload's parameters and prefix-cache setting. */
export function workloadOf(i) { return S.D.s("workload", i) || "random"; }
export function allIdx() { const a = new Array(S.D.n); for (let i = 0; i < S.D.n; i++) a[i] = i; return a; }
export function baseIndices() {
  // model and ISL/OSL pick one comparable population; the rest filter within it
  const model = S.state.model, seq = S.state.seq;
  const sets = {};
  for (const k of ["prec", "hw", "eng", "spec", "mode", "wl"]) sets[k] = S.state[k].length ? new Set(S.state[k]) : null;
  const out = [];
  for (let i = 0; i < S.D.n; i++) {
    if (S.D.s("model", i) !== model || S.D.seq(i) !== seq) continue;
    if (sets.prec && !sets.prec.has(S.D.s("precision", i))) continue;
    if (sets.hw && !sets.hw.has(S.D.s("hardware", i))) continue;
    if (sets.eng && !sets.eng.has(S.D.s("engine", i))) continue;
    if (sets.spec && !sets.spec.has(S.D.s("spec_method", i) || "none")) continue;
    if (sets.mode && !sets.mode.has(S.D.mode(i))) continue;
    if (sets.wl && !sets.wl.has(workloadOf(i))) continue;
    const d = S.D.s("date", i);
    if (S.state.from && d && d < S.state.from) continue;
    if (S.state.to && d && d > S.state.to) continue;
    out.push(i);
  }
  return out;
}
export function latestOnly(idx) {
  const best = new Map();
  for (const i of idx) {
    const k = S.D.seriesOf[i] + "|" + S.D.layout(i) + "|" + S.D.v("conc", i);
    const j = best.get(k);
    if (j === undefined || S.D.s("date", i) >= S.D.s("date", j)) best.set(k, i);
  }
  return [...best.values()].sort((a, b) => a - b);
}
export function compareFilter(idx) {
  if (!S.state.cmp.length) return idx;
  const keys = new Set(S.state.cmp);
  return idx.filter((i) => keys.has(S.D.series[S.D.seriesOf[i]].key));
}

/* The target interactivity (tok/s/user) the compare table, history and calculator read at. */
export function atTarget() {
  const v = parseFloat(S.state.at);
  return isFinite(v) ? v : null;
}
