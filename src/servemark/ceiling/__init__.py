"""The engine ceiling: each engine's own offline benchmark at the sweep's batch sizes and lengths.

Three levels per point: speed of light (the hardware, :mod:`servemark.sol`), the engine ceiling
(the engine's kernels and scheduler with no server in front: ``llama-batched-bench``, ``vllm bench
throughput``, ``sglang.bench_one_batch``) and served (what the load generator measured through
the HTTP API). Data flows one way: recipe -> :mod:`.render` (argv lists, pure) -> :mod:`.execute`
(runs them, keeps the raw output) -> :mod:`.parse` (one :class:`~.parse.CeilingResult` per batch)
-> :mod:`.store` (table ``engine_ceilings``) -> report and dashboard. docs/ceiling.md.
"""
