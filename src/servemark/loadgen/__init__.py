"""The load generator: closed and open loop, exact SSE timing, worker processes.

Entry point: :func:`run_load` (synchronous) with a :class:`LoadSpec`; it returns a
:class:`LoadResult` whose ``records`` feed :func:`servemark.metrics.summarize`.
"""

from servemark.loadgen.load_point import run_load, run_load_async
from servemark.loadgen.spec import LoadResult, LoadSpec

__all__ = ["LoadSpec", "LoadResult", "run_load", "run_load_async"]
