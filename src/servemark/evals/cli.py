"""``servemark eval gsm8k|agreement``: the accuracy checks against any OpenAI-compatible endpoint.

Exit status: 0 when the check ran and passed (or had no threshold), 1 when it ran and failed its
gate, 2 for bad input or an endpoint that answered nothing (a ServemarkError).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from servemark.cli_options import DB_OPTION, db_path, json_option
from servemark.errors import ServemarkError
from servemark.evals.agreement import AgreementConfig, run_agreement
from servemark.evals.client import Endpoint
from servemark.evals.gsm8k import Gsm8kConfig, run_gsm8k
from servemark.evals.result import EvalResult
from servemark.evals.store import GATE_FLAG, flag_points, save_eval
from servemark.store.db import Store

app = typer.Typer(help="Accuracy checks: GSM8K and agreement with a reference deployment.", no_args_is_help=True)
console = Console()

BASE_URL = typer.Option(..., "--base-url", help="Endpoint under test, e.g. http://127.0.0.1:8000 (with or without /v1).")
MODEL = typer.Option(..., "--model", help="Served model name at --base-url.")
API = typer.Option("completions", "--api", help="completions (raw prompt) or chat (prompt as one user message).")
API_KEY_ENV = typer.Option("SERVEMARK_API_KEY", "--api-key-env", help="Environment variable holding the API key, if any.")
NO_STORE = typer.Option(False, "--no-store", help="Print only; write nothing to the store.")
POINT = typer.Option(None, "--point", help="Point id this check belongs to (repeatable); flagged gate_failed on failure.")
SAMPLES = typer.Option(None, "--samples", help="Write per-prompt outcomes to this JSONL file.")
JSON_OUT = json_option("Print the result as JSON.")
EXTRA_BODY = typer.Option(None, "--extra-body", help='JSON object merged into every request, e.g. \'{"top_k": 1}\'.')


def _api(value: str) -> str:
    if value not in ("completions", "chat"):
        raise ServemarkError(f"--api must be completions or chat, got {value!r}")
    return value


def _extra(value: str | None) -> dict:
    if not value:
        return {}
    try:
        d = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ServemarkError(f"--extra-body is not valid JSON: {exc}") from None
    if not isinstance(d, dict):
        raise ServemarkError("--extra-body must be a JSON object")
    return d


def _key(env_name: str) -> str | None:
    return os.environ.get(env_name) or None


def _finish(result: EvalResult, db: Optional[Path], no_store: bool, points: list[str] | None,
            samples: Optional[Path], as_json: bool, title: str) -> None:
    if samples is not None:
        samples.parent.mkdir(parents=True, exist_ok=True)
        with samples.open("w", encoding="utf-8") as f:
            for s in result.samples:
                f.write(json.dumps(s) + "\n")
    if not no_store:
        result.run_id = result.run_id or f"eval-{uuid.uuid4().hex[:12]}"
        result.point_ids = list(points or [])
        with Store(db_path(db)) as store:
            save_eval(store, result)
            if result.passed is False and result.point_ids:
                flag_points(store, result.point_ids, GATE_FLAG)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), sort_keys=True, default=str))
    else:
        _table(result, title)
    if result.passed is False:
        raise typer.Exit(1)


def _fmt(v: object) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("-" if v is None else str(v))


def _table(r: EvalResult, title: str) -> None:
    t = Table(title=title, show_header=False)
    t.add_row("score", f"{r.score:.4f}" + (f" ± {r.stderr:.4f}" if r.stderr is not None else ""))
    t.add_row("n", str(r.n))
    if r.kind == "gsm8k":
        d = r.details
        t.add_row("strict", f"{_fmt(d['em_strict'])} ± {_fmt(d['em_strict_se'])}")
        t.add_row("flexible", f"{_fmt(d['em_flexible'])} ± {_fmt(d['em_flexible_se'])}")
    else:
        t.add_row("identical completions", _fmt(r.details.get("identical")))
        t.add_row("median common prefix (tokens)", _fmt(r.details.get("median_prefix_tokens")))
        t.add_row("compared as", ", ".join(r.details.get("compared_as", [])))
    t.add_row("errors", str(r.details.get("errors", 0)))
    t.add_row("reference", r.reference)
    verdict = "no gate" if r.passed is None else ("[green]passed[/]" if r.passed else "[red]FAILED[/]")
    t.add_row("gate", f"{verdict} (threshold {_fmt(r.threshold)})")
    console.print(t)


@app.command("gsm8k")
def gsm8k_cmd(
    base_url: str = BASE_URL,
    model: str = MODEL,
    api: str = API,
    limit: Optional[int] = typer.Option(None, "--limit", help="First N test problems (default: all 1,319)."),
    shots: int = typer.Option(5, "--shots", help="Few-shot examples from the train split."),
    concurrency: int = typer.Option(8, "--concurrency", help="Requests in flight."),
    max_tokens: int = typer.Option(256, "--max-tokens"),
    metric: str = typer.Option("strict", "--metric", help="strict (#### N) or flexible (last number): the gated score."),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="Gate: fail (exit 1) below this score."),
    data: Optional[Path] = typer.Option(None, "--data", help="Local test.jsonl or a folder with test/train (default: cached download)."),
    api_key_env: str = API_KEY_ENV,
    db: Optional[Path] = DB_OPTION,
    no_store: bool = NO_STORE,
    point: Optional[list[str]] = POINT,
    samples: Optional[Path] = SAMPLES,
    as_json: bool = JSON_OUT,
    extra_body: Optional[str] = EXTRA_BODY,
) -> None:
    """5-shot GSM8K (lm-eval prompt and filters) at temperature 0 against an endpoint."""
    ep = Endpoint(base_url, model, api=_api(api), api_key=_key(api_key_env), extra_body=_extra(extra_body))
    cfg = Gsm8kConfig(limit=limit, shots=shots, max_tokens=max_tokens, concurrency=concurrency,
                      metric=metric, min_score=min_score, data=data)
    _finish(run_gsm8k(ep, cfg), db, no_store, point, samples, as_json, f"GSM8K {model}")


@app.command("agreement")
def agreement_cmd(
    base_url: str = BASE_URL,
    model: str = MODEL,
    api: str = API,
    reference_url: Optional[str] = typer.Option(None, "--reference-url", help="Reference endpoint (greedy)."),
    reference_model: Optional[str] = typer.Option(None, "--reference-model", help="Served name at --reference-url (default: --model)."),
    reference_file: Optional[Path] = typer.Option(None, "--reference-file", help="A reference saved with --save-reference."),
    save_reference: Optional[Path] = typer.Option(None, "--save-reference", help="Also save the live reference's outputs here."),
    limit: int = typer.Option(32, "--limit", help="Prompts compared."),
    tokens: int = typer.Option(64, "--tokens", help="N: generated tokens compared per prompt."),
    shots: int = typer.Option(5, "--shots"),
    concurrency: int = typer.Option(8, "--concurrency"),
    temperature: float = typer.Option(0.0, "--temperature", help="Sampling of the endpoint under test (a deliberate perturbation when > 0)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Sampling seed of the endpoint under test (vLLM CPU 0.32.0 can crash on seeded requests under load)."),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="tokenizer.json (or its folder) to re-tokenise when the server returns no tokens."),
    min_token_agreement: Optional[float] = typer.Option(None, "--min-token-agreement", help="Gate on the mean first-N-token agreement."),
    min_identical: Optional[float] = typer.Option(None, "--min-identical", help="Gate on the share of identical completions."),
    data: Optional[Path] = typer.Option(None, "--data"),
    api_key_env: str = API_KEY_ENV,
    db: Optional[Path] = DB_OPTION,
    no_store: bool = NO_STORE,
    point: Optional[list[str]] = POINT,
    samples: Optional[Path] = SAMPLES,
    as_json: bool = JSON_OUT,
    extra_body: Optional[str] = EXTRA_BODY,
) -> None:
    """Greedy first-N-token agreement of an endpoint with a reference deployment."""
    key = _key(api_key_env)
    extra = _extra(extra_body)
    test = Endpoint(base_url, model, api=_api(api), temperature=temperature, seed=seed, api_key=key, extra_body=extra)
    ref = Endpoint(reference_url, reference_model or model, api=test.api, api_key=key, extra_body=extra) if reference_url else None
    cfg = AgreementConfig(limit=limit, tokens=tokens, shots=shots, concurrency=concurrency,
                          min_token_agreement=min_token_agreement, min_identical=min_identical,
                          data=data, tokenizer=tokenizer)
    result = run_agreement(test, cfg, reference=ref, reference_file=reference_file, save_reference_to=save_reference)
    _finish(result, db, no_store, point, samples, as_json, f"Agreement {model}")


@app.command("show")
def show_cmd(
    run: Optional[str] = typer.Option(None, "--run", help="Only this run's checks."),
    db: Optional[Path] = DB_OPTION,
    as_json: bool = JSON_OUT,
) -> None:
    """List stored checks: kind, score ± stderr, gate verdict, the points they cover (--json: all,
    with the reference and details)."""
    from servemark.evals.store import evals as stored_evals

    with Store(db_path(db), read_only=True) as store:
        rows = stored_evals(store, run)
    if as_json:
        typer.echo(json.dumps(rows, sort_keys=True, default=str))
        return
    if not rows:
        console.print("no checks stored" + (f" for run {run}" if run else ""))
        return
    t = Table(title="Accuracy checks")
    for col in ("run", "kind", "conc", "score", "n", "threshold", "gate", "points"):
        t.add_column(col)
    for r in rows:
        se = f" ± {r['stderr']:.3f}" if r["stderr"] is not None else ""
        gate = "-" if r["passed"] is None else ("[green]pass[/]" if r["passed"] else "[red]FAIL[/]")
        t.add_row(r["run_id"] or "", r["kind"], _fmt(r["details"].get("concurrency")),
                  f"{r['score']:.3f}{se}", str(r["n"]), _fmt(r["threshold"]), gate, ", ".join(r["point_ids"]))
    console.print(t)


@app.command("reference")
def reference_cmd(
    recipe_path: Path = typer.Argument(..., help="Recipe of the reference deployment (e.g. BF16, TP1)."),
    out: Path = typer.Option(..., "--out", help="Reference file to write (use it as evals.agreement.reference.file)."),
    layout: int = typer.Option(0, "--layout", help="Which of the recipe's layouts to start."),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Use the server already running here instead of starting one."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Prompts (default: the recipe's evals.agreement, else 32)."),
    tokens: Optional[int] = typer.Option(None, "--tokens", help="N tokens per prompt (default: recipe, else 64)."),
    shots: Optional[int] = typer.Option(None, "--shots"),
    data: Optional[Path] = typer.Option(None, "--data"),
    api_key_env: str = API_KEY_ENV,
) -> None:
    """Start a recipe's engine, decode the agreement prompts greedily into a reference file, stop it."""
    from servemark.evals.agreement import load_reference
    from servemark.evals.reference import agreement_config_from, build_reference
    from servemark.engines.check import load_recipe

    recipe = load_recipe(recipe_path)
    cfg = agreement_config_from(recipe, limit=limit, tokens=tokens, shots=shots, data=data)
    path = build_reference(recipe, out, cfg, layout_index=layout, endpoint=endpoint, api_key=_key(api_key_env))
    _, rows = load_reference(path)
    errors = sum(1 for r in rows if r.get("error"))
    console.print(f"reference of {len(rows)} prompts x {cfg.tokens} tokens written to {path}"
                  + (f" ([red]{errors} failed[/])" if errors else ""))
