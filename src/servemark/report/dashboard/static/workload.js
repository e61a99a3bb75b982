/* servemark dashboard: the workload filter (issue 16), a module for app.js to wire in.
 *
 * The payload's core columns carry two dictionary-encoded strings per point:
 *   "workload"      the point's workload identity key: "random", or "<kind>:<hash>" of its parameters
 *                   and prefix-cache setting (the same key frontiers group by in analysis.frontier);
 *   "workload_kind" "random" | "dataset" | "multi_turn" | "trace".
 * Read them as app.js reads any string column: D.s("workload", i). Points stored before workloads
 * existed have no such column (a store from before the change): they count as "random".
 *
 * Wiring (for app.js): add "wl" to the URL-state list keys; call workloadOptions() where the other
 * checkbox groups are filled, keepWorkloads() where the other filters are applied; and put
 * workloadOf(D, i) into the series key so a frontier never joins points of two workloads.
 */
"use strict";

(function (root) {
  /** The workload key of point i ("random" when the payload predates workloads). */
  function workloadOf(D, i) {
    return (D.str && D.str.workload) ? (D.s("workload", i) || "random") : "random";
  }

  /** A short readable label for a key: "random", "multi_turn 3f9a…"; the kind comes first. */
  function workloadLabel(key) {
    if (!key || key === "random") return "random";
    const cut = key.indexOf(":");
    return cut < 0 ? key : key.slice(0, cut) + " " + key.slice(cut + 1, cut + 7) + "\u2026";
  }

  /** [[key, count], ...] over the indexes idx, most points first (for a checkbox group). */
  function workloadOptions(D, idx) {
    const n = new Map();
    for (const i of idx) { const k = workloadOf(D, i); n.set(k, (n.get(k) || 0) + 1); }
    return [...n.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  }

  /** The indexes whose workload is in `selected` (an array of keys); none selected keeps all. */
  function keepWorkloads(D, idx, selected) {
    if (!selected || !selected.length) return idx;
    const want = new Set(selected);
    return idx.filter((i) => want.has(workloadOf(D, i)));
  }

  const api = { workloadOf, workloadLabel, workloadOptions, keepWorkloads };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.ServemarkWorkload = api;
})(typeof window !== "undefined" ? window : globalThis);
