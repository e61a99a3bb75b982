"""The truth of a calibration run, in servemark's definitions.

The calibration server records, per request, when it received it, when it wrote each chunk and
how many tokens each chunk carried, and which fault it injected. Turning those into
:class:`~servemark.records.RequestRecord` objects and passing them through the one
implementation of every metric (:func:`servemark.metrics.summarize`) gives the true value of
each metric, so a tool's figure and the truth differ only by the tool's measurement and its
definition, never by a second implementation of the metric.

Latency starts at the server's receive time: a client's TTFT/E2EL also contain its own send path
and the loopback (tens of microseconds here), which the conformance table counts as the tool's
error.
"""

from __future__ import annotations

from typing import Any

from servemark.metrics import summarize
from servemark.records import RequestRecord

FAILED_FAULTS = ("http_500", "drop")
"""Faults after which the request cannot succeed (``stall`` only delays it)."""


def records_from_truth(truth: dict[str, Any], point_id: str = "truth") -> list[RequestRecord]:
    """One record per request the server saw, in arrival order."""
    reqs = sorted(truth["requests"].values(), key=lambda t: t["arrival"])
    out = []
    for t in reqs:
        ns = t["chunk_ns"]
        fault = t.get("fault")
        failed = fault in FAILED_FAULTS
        out.append(RequestRecord(
            point_id=point_id, request_id=t["arrival"], scheduled_at=t["received_ns"] / 1e9,
            sent_at=t["received_ns"] / 1e9,
            first_token_at=ns[0] / 1e9 if ns else None, last_token_at=ns[-1] / 1e9 if ns else None,
            done_at=(t["done_ns"] if t.get("done_ns") else (ns[-1] if ns else t["received_ns"])) / 1e9,
            output_tokens=None if failed else sum(t["chunk_tokens"]),
            chunk_times=[x / 1e9 for x in ns], chunk_tokens=list(t["chunk_tokens"]),
            error=fault if failed else None))
    return out


def truth_summary(truth: dict[str, Any]) -> dict[str, Any]:
    """Every Point metric of the run as the server really served it (seconds, tokens/s)."""
    return summarize(records_from_truth(truth))
