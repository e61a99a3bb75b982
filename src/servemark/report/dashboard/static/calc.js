/* servemark dashboard: the pure functions the views compute with.
 *
 * These are the browser's copies of servemark.analysis: the Pareto frontier
 * (analysis/frontier.py pareto_indices), Steffen monotone interpolation that never extrapolates
 * (analysis/interpolate.py value_at), the per-token cost/energy formulas (analysis/cost.py) and
 * the history regression rule (analysis/history.py regression_flags).
 * They live in the browser because the frontier depends on choices made on the page (metric,
 * percentile, filters, dates). tests/test_dashboard_calc.py runs this file in Chromium and
 * checks every function against the Python implementation on the same data.
 * No DOM access here.
 */
(function (root) {
  "use strict";

  function finite(v) { return typeof v === "number" && isFinite(v); }

  /* Indices of the non-dominated points, ordered by ascending x (ties: index).
   * A point is on the frontier when nothing is at least as good on both axes and strictly
   * better on one; exact duplicates keep the first. Same rule as pareto_mask_grouped. */
  function paretoIndices(xs, ys, xHigher, yHigher) {
    if (xHigher === undefined) xHigher = true;
    if (yHigher === undefined) yHigher = true;
    const idx = [];
    for (let i = 0; i < xs.length; i++) if (finite(xs[i]) && finite(ys[i])) idx.push(i);
    const xk = (i) => (xHigher ? xs[i] : -xs[i]);
    const yk = (i) => (yHigher ? ys[i] : -ys[i]);
    idx.sort((a, b) => (xk(b) - xk(a)) || (yk(b) - yk(a)) || (a - b));
    const on = [];
    let best = -Infinity;
    for (const i of idx) {
      const y = yk(i);
      if (y > best) { on.push(i); best = y; }
    }
    on.sort((a, b) => (xs[a] - xs[b]) || (a - b));
    return on;
  }

  /* The frontier of one group by the rule of analysis/frontier.py frontiers(): points carrying any
   * of the payload's meta.excluded_flags never define it (excluded[i] true), the rest compete as in
   * paretoIndices. Indices into xs, ordered by ascending x. */
  function frontierIndices(xs, ys, excluded, xHigher, yHigher) {
    const keep = [];
    for (let i = 0; i < xs.length; i++) if (!excluded[i]) keep.push(i);
    return paretoIndices(keep.map((i) => xs[i]), keep.map((i) => ys[i]), xHigher, yHigher).map((j) => keep[j]);
  }

  /* True when a point's flags include one of `excludedFlags` (meta.excluded_flags). */
  function isExcluded(flags, excludedFlags) {
    return flags.some((f) => excludedFlags.includes(f));
  }

  function sign(v) { return (v > 0 ? 1 : 0) - (v < 0 ? 1 : 0); }

  /* Tangents at the knots: Steffen (1990) inside, d3 curveMonotoneX's rule at the ends. */
  function steffenSlopes(kx, ky) {
    const n = kx.length;
    const m = new Array(n).fill(0);
    if (n < 2) return m;
    const h = [], s = [];
    for (let i = 0; i < n - 1; i++) { h.push(kx[i + 1] - kx[i]); s.push((ky[i + 1] - ky[i]) / h[i]); }
    if (n === 2) { m[0] = m[1] = s[0]; return m; }
    for (let i = 1; i < n - 1; i++) {
      const h0 = h[i - 1], h1 = h[i], s0 = s[i - 1], s1 = s[i];
      const p = (s0 * h1 + s1 * h0) / (h0 + h1);
      m[i] = (sign(s0) + sign(s1)) * Math.min(Math.abs(s0), Math.abs(s1), 0.5 * Math.abs(p));
    }
    m[0] = (3 * s[0] - m[1]) / 2;
    m[n - 1] = (3 * s[n - 2] - m[n - 2]) / 2;
    return m;
  }

  /* Finite pairs sorted by x (stable); a repeated x keeps its first y. */
  function cleanKnots(xs, ys) {
    const idx = [];
    for (let i = 0; i < xs.length; i++) if (finite(xs[i]) && finite(ys[i])) idx.push(i);
    idx.sort((a, b) => (xs[a] - xs[b]) || (a - b));
    const kx = [], ky = [];
    for (const i of idx) {
      if (kx.length && xs[i] === kx[kx.length - 1]) continue;
      kx.push(xs[i]); ky.push(ys[i]);
    }
    return [kx, ky];
  }

  /* The monotone spline through (xs, ys), prepared once: .at(x) -> {value, status, lo, hi}. */
  function makeSpline(xs, ys) {
    const [kx, ky] = cleanKnots(xs, ys);
    const n = kx.length;
    const m = steffenSlopes(kx, ky);
    function at(x) {
      if (!n || !finite(x)) return { value: null, status: "empty", x: x };
      if (x < kx[0]) return { value: null, status: "below_range", x: x, hi: 0, xMin: kx[0], xMax: kx[n - 1] };
      if (x > kx[n - 1]) return { value: null, status: "above_range", x: x, lo: n - 1, xMin: kx[0], xMax: kx[n - 1] };
      let a = 0, b = n - 1;            // binary search: first knot >= x
      while (a < b) { const c = (a + b) >> 1; if (kx[c] < x) a = c + 1; else b = c; }
      const j = a;
      if (kx[j] === x) return { value: ky[j], status: "ok", x: x, lo: j, hi: j, xMin: kx[0], xMax: kx[n - 1] };
      const i = j - 1;
      const h = kx[j] - kx[i];
      const t = (x - kx[i]) / h;
      const h00 = (1 + 2 * t) * (1 - t) * (1 - t);
      const h10 = t * (1 - t) * (1 - t);
      const h01 = t * t * (3 - 2 * t);
      const h11 = t * t * (t - 1);
      let v = h00 * ky[i] + h10 * h * m[i] + h01 * ky[j] + h11 * h * m[j];
      v = Math.min(Math.max(v, Math.min(ky[i], ky[j])), Math.max(ky[i], ky[j]));
      return { value: v, status: "ok", x: x, lo: i, hi: j, xMin: kx[0], xMax: kx[n - 1] };
    }
    return { at: at, kx: kx, ky: ky };
  }

  /* {value, status, lo, hi}: the monotone-spline value at x; status "ok", "below_range",
   * "above_range" or "empty". Never extrapolates. */
  function valueAt(xs, ys, x) { return makeSpline(xs, ys).at(x); }

  /* $ per million tokens from $/GPU-hour and tokens/s/GPU (docs/metrics.md, Cost). */
  function costPerMtok(usdPerGpuHour, tokPerSPerGpu) {
    if (!finite(usdPerGpuHour) || !finite(tokPerSPerGpu) || tokPerSPerGpu <= 0) return null;
    return usdPerGpuHour / (tokPerSPerGpu * 3600) * 1e6;
  }

  /* All-in provisioned joules per token from kW per GPU and tokens/s/GPU. */
  function joulesPerToken(allInKw, tokPerSPerGpu) {
    if (!finite(allInKw) || !finite(tokPerSPerGpu) || tokPerSPerGpu <= 0) return null;
    return allInKw * 1000 / tokPerSPerGpu;
  }

  /* Tokens/s per all-in provisioned MW of utility power. */
  function tokPerSPerMw(allInKw, tokPerSPerGpu) {
    if (!finite(allInKw) || allInKw <= 0 || !finite(tokPerSPerGpu)) return null;
    return tokPerSPerGpu * 1000 / allInKw;
  }

  /* The history regression rule: the port of analysis/history.py regression_flags (one rule;
   * its parameters come from the build as core.history_rule). `values` are one config's values
   * at the target, dates in order, null where not measured. Per value: {baseline, spread, drop,
   * regression}. A value is a regression when at least rule.min_baseline earlier values exist and
   * it is worse than the median of the previous rule.window of them by more than their spread
   * (max - min) and by more than rule.rel_tol of that median. drop > 0 means worse: lower for
   * higher-better metrics, higher for lower-better ones. Nulls never enter a baseline. */
  function median(a) {
    const s = a.slice().sort((p, q) => p - q);
    const n = s.length, h = n >> 1;
    return n % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
  }

  function regressions(values, higherBetter, rule) {
    const out = [];
    const seen = [];
    for (const v of values) {
      const r = { baseline: null, spread: null, drop: null, regression: false };
      const ok = finite(v);
      if (ok && seen.length) {
        const prev = seen.slice(-rule.window);
        const base = median(prev);
        const spread = Math.max(...prev) - Math.min(...prev);
        const drop = higherBetter ? base - v : v - base;
        r.baseline = base; r.spread = spread; r.drop = drop;
        r.regression = prev.length >= rule.min_baseline && drop > Math.max(spread, rule.rel_tol * Math.abs(base));
      }
      if (ok) seen.push(v);
      out.push(r);
    }
    return out;
  }

  const api = { paretoIndices, frontierIndices, isExcluded, steffenSlopes, makeSpline, valueAt, costPerMtok, joulesPerToken, tokPerSPerMw, regressions };
  root.ServemarkCalc = api;
  if (typeof module !== "undefined") module.exports = api;
})(typeof window !== "undefined" ? window : globalThis);
