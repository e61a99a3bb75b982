"""Prefix-cache hits from an engine's Prometheus ``/metrics``: the fallback when responses do not
carry ``usage.prompt_tokens_details.cached_tokens``.

The counters are sampled right before and right after a point's load; the difference is the
point's cached prompt tokens. Warmup requests fall inside that interval, which is why session and
trace workloads warm up with salted random prompts (they cannot hit the cache). Counters of
every label set (model, engine index) are summed.
"""

from __future__ import annotations

import urllib.error
import urllib.request

HIT_COUNTERS = ("vllm:prefix_cache_hits_total", "vllm:prefix_cache_hits", "sglang:cached_tokens_total")
"""Counters of prompt tokens served from the prefix cache, by engine (the first present is used)."""


def parse_counters(text: str) -> dict[str, float]:
    """``{"hits": tokens}`` from Prometheus text exposition; empty when no known counter is present."""
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in HIT_COUNTERS:
            try:
                sums[name] = sums.get(name, 0.0) + float(line.rsplit(" ", 1)[-1])
            except ValueError:
                continue
    for name in HIT_COUNTERS:
        if name in sums:
            return {"hits": sums[name]}
    return {}


def sample(base_url: str, metrics_path: str | None = "/metrics", timeout_s: float = 5.0) -> dict[str, float]:
    """The hit counter now, or ``{}`` when the server has no metrics endpoint or no such counter."""
    if not metrics_path:
        return {}
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + metrics_path, timeout=timeout_s) as resp:  # noqa: S310
            return parse_counters(resp.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError, ValueError):
        return {}
