"""Peer load generators (AIPerf, GuideLLM, inference-perf, ``vllm bench serve``): installed in their
own environments, run against the same servers as servemark, their results imported and compared
with the truth (``servemark conformance``, docs/conformance.md)."""
