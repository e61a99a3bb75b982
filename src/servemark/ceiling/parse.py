"""Each benchmark tool's output -> one :class:`CeilingResult` per batch size (plain, serialisable).

Units: throughputs in tokens per second for the whole engine instance (all its GPUs; per GPU is
the store's business), times in seconds. Definitions, the same for every tool (docs/metrics.md):

- ``output_tput`` = batch x OSL / wall time of the batch (prefill + decode): the ceiling of what
  the served ``output_tput_per_gpu`` counts;
- ``tput`` = batch x (ISL + OSL) / the same time: the ceiling of the served ``tput_per_gpu``;
- ``decode_tput`` = tokens per second over the decode phase alone, all sequences together;
  ``intvty`` = ``decode_tput`` / batch, the per-sequence decode rate (tok/s/user);
- ``prefill_tput`` = prompt tokens per second over the prefill phase.
A tool that does not report a phase leaves its fields ``None`` (vLLM's throughput benchmark has no
prefill/decode split). ``raw`` keeps the tool's own row, keys as the tool writes them.

Parsers accept whatever a run leaves: llama.cpp's JSON lines (``--output-format jsonl``) or its
markdown table (the default), among log lines; vLLM's ``--output-json`` plus its stdout (the output
token count is printed, not written); SGLang's result JSON lines. A file with no result row is an
error naming the file, never an empty success.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from servemark.errors import ServemarkError


@dataclass
class CeilingResult:
    tool: str
    batch: int
    isl: int
    osl: int
    elapsed_s: float
    output_tput: float
    tput: float
    decode_tput: float | None = None
    prefill_tput: float | None = None
    intvty: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- llama.cpp llama-batched-bench --------------------------------------------------------------
_MD_HEAD = ("PP", "TG", "B", "N_KV", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s")
_MD_KEYS = ("pp", "tg", "pl", "n_kv", "t_pp", "speed_pp", "t_tg", "speed_tg", "t", "speed")
_NUM = r"\s*(-?[0-9.]+(?:e[-+]?[0-9]+)?)\s*"
_MD_ROW = re.compile(r"^\|" + r"\|".join([_NUM] * 10) + r"\|\s*$")


def _batched_row(row: dict[str, Any], shared: bool = False) -> CeilingResult:
    pl, pp, tg, t = int(row["pl"]), int(row["pp"]), int(row["tg"]), float(row["t"])
    t_tg = float(row["t_tg"])
    decode = float(row["speed_tg"]) if t_tg > 0 else None
    shared = bool(row.get("is_pp_shared", shared))
    return CeilingResult(
        tool="llama-batched-bench", batch=pl, isl=pp, osl=tg, elapsed_s=t,
        output_tput=pl * tg / t if t > 0 else 0.0,
        tput=((pp if shared else pl * pp) + pl * tg) / t if t > 0 else 0.0,
        decode_tput=decode, prefill_tput=float(row["speed_pp"]) if float(row["t_pp"]) > 0 else None,
        intvty=decode / pl if decode else None, raw=dict(row),
    )


def parse_batched_bench(text: str, source: str = "llama-batched-bench output") -> list[CeilingResult]:
    """Rows of ``llama-batched-bench`` (JSON lines or the markdown table), in output order.

    The table's header line says whether prompts were shared (``is_pp_shared = 1``, ``-pps``);
    the throughput then counts the one shared prompt once, as the tool itself does.
    """
    out: list[CeilingResult] = []
    shared = False
    for line in text.splitlines():
        s = line.strip()
        if "is_pp_shared = " in s:
            shared = bool(int(re.search(r"is_pp_shared = (\d+)", s).group(1)))  # type: ignore[union-attr]
        if s.startswith("{") and '"speed_tg"' in s:
            try:
                out.append(_batched_row(json.loads(s)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ServemarkError(f"{source}: bad JSON line {s[:120]!r} ({exc})") from None
        elif m := _MD_ROW.match(s):
            out.append(_batched_row(dict(zip(_MD_KEYS, (float(g) for g in m.groups()))), shared))
    if not out:
        raise ServemarkError(f"{source}: no llama-batched-bench result rows (expected JSON lines with "
                             f"speed_tg, or a table | {' | '.join(_MD_HEAD)} |)")
    return out


# ---- vLLM bench throughput ----------------------------------------------------------------------
_OUT_TOKENS = re.compile(r"Total num output tokens:\s*([0-9]+)")
_PROMPT_TOKENS = re.compile(r"Total num prompt tokens:\s*([0-9]+)")


def parse_vllm_throughput(result_json: str, stdout: str, batch: int, isl: int, osl: int,
                          source: str = "vllm bench throughput output") -> CeilingResult:
    """One ``vllm bench throughput`` run (``--output-json`` file and the printed token counts).

    The JSON has the wall time and all tokens; the output token count is only printed. When the
    print is missing (a log cut short), output tokens are requests x OSL, exact here because the
    benchmark sets ``ignore_eos`` and servemark asks for ``--random-range-ratio 0``.
    """
    try:
        d = json.loads(result_json)
        elapsed = float(d["elapsed_time"])
        n = int(d["num_requests"])
        total = float(d["total_num_tokens"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ServemarkError(f"{source}: not a vLLM throughput result ({exc})") from None
    if elapsed <= 0:
        raise ServemarkError(f"{source}: elapsed_time {elapsed} is not positive")
    m = _OUT_TOKENS.search(stdout or "")
    out_tokens = float(m.group(1)) if m else float(n * osl)
    raw = {**d, "total_output_tokens": out_tokens}
    if p := _PROMPT_TOKENS.search(stdout or ""):
        raw["total_prompt_tokens"] = int(p.group(1))
    return CeilingResult(tool="vllm-bench-throughput", batch=batch, isl=isl, osl=osl, elapsed_s=elapsed,
                         output_tput=out_tokens / elapsed, tput=total / elapsed, raw=raw)


# ---- SGLang bench_one_batch ---------------------------------------------------------------------
def parse_sglang_one_batch(text: str, source: str = "sglang.bench_one_batch results") -> list[CeilingResult]:
    """The JSON lines ``bench_one_batch`` appends to ``--result-filename``, one per batch size."""
    out: list[CeilingResult] = []
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("{"):
            continue
        try:
            d = json.loads(s)
            b, il, ol = int(d["batch_size"]), int(d["input_len"]), int(d["output_len"])
            t = float(d["total_latency"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ServemarkError(f"{source}: bad result line {s[:120]!r} ({exc})") from None
        med = d.get("median_decode_latency")
        out.append(CeilingResult(
            tool="sglang-bench-one-batch", batch=b, isl=il, osl=ol, elapsed_s=t,
            output_tput=b * ol / t if t > 0 else 0.0, tput=float(d.get("overall_throughput") or (b * (il + ol) / t)),
            decode_tput=d.get("median_decode_throughput"), prefill_tput=d.get("prefill_throughput"),
            intvty=1.0 / float(med) if med else None, raw=d,
        ))
    if not out:
        raise ServemarkError(f"{source}: no result lines (JSON with batch_size, input_len, output_len, total_latency)")
    return out
