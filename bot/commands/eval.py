"""``sre-copilot eval``: measure components against labelled data sets."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from memory.errors import CopilotError
from tools.runbook_eval import evaluate_runbooks

app = typer.Typer(help="Evaluations against labelled data sets.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Keep ``eval`` a command group even while it has a single command."""


def _table(result: dict[str, Any]) -> str:
    rows = [
        ("queries", f"{result['n']}"),
        ("runbooks", f"{result['runbooks']}"),
        ("field", str(result["field"])),
        ("recall@1", f"{result['recall_at_1']:.3f}"),
        ("recall@3", f"{result['recall_at_3']:.3f}"),
        ("MRR@10", f"{result['mrr']:.3f}"),
        ("search p50", f"{result['p50_ms']:.1f} ms"),
        ("search p95", f"{result['p95_ms']:.1f} ms"),
    ]
    lines = [f"{name:<12} {value}" for name, value in rows]
    for miss in result["misses"]:
        rank = miss["rank"] or ">10"
        lines.append(f"miss: {miss['expected']} at rank {rank} (top: {miss['top'][0]})")
    return "\n".join(lines)


@app.command("runbooks")
def runbooks(
    queries: Annotated[Path, typer.Option("--queries", help="JSON Lines query records.")],
    corpus: Annotated[Path, typer.Option("--corpus", help="Directory of runbooks.")],
    field: Annotated[
        str, typer.Option("--field", help="Record field holding the query text.")
    ] = "query_without_name",
    store_dir: Annotated[
        Path | None,
        typer.Option("--store-dir", help="Scratch directory for the store (default: temporary)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line.")] = False,
) -> None:
    """Runbook retrieval: recall@1, recall@3, MRR@10 and search latency."""

    async def _run(directory: Path) -> dict[str, Any]:
        return await evaluate_runbooks(
            queries=queries, corpus=corpus, field=field, store_dir=directory
        )

    try:
        if store_dir is not None:
            result = asyncio.run(_run(store_dir))
        else:
            with tempfile.TemporaryDirectory(prefix="sre-copilot-eval-") as scratch:
                result = asyncio.run(_run(Path(scratch)))
    except CopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(json.dumps(result) if as_json else _table(result))


@app.command("scenarios")
def scenarios(
    directory: Annotated[
        Path, typer.Option("--dir", help="Directory of scenario folders (each with scenario.yaml).")
    ] = Path("tests/scenarios"),
    source: Annotated[
        str,
        typer.Option(
            help="prometheus: backfill each scenario into a throwaway Prometheus; "
            "file: evaluate PromQL over the OpenMetrics files."
        ),
    ] = "prometheus",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line.")] = False,
) -> None:
    """Investigate every labelled scenario without an LLM and score the top hypotheses."""
    from bot.scenario_eval import CaseResult, evaluate_scenarios  # noqa: PLC0415

    if source not in ("prometheus", "file"):
        print("error: --source must be prometheus or file", file=sys.stderr)
        raise typer.Exit(2)

    def progress(case: CaseResult) -> None:
        mark = "ok  " if case.top1 else ("top3" if case.top3 else "MISS")
        top = case.answer[0] if case.answer else (None, None, 0.0)
        print(
            f"{mark} {case.name:<34} truth {case.truth_service}/{case.truth_fault:<15} "
            f"top {top[0]}/{top[1]} ({top[2]:.2f})  {case.seconds:.2f}s",
            file=sys.stderr,
        )

    try:
        summary, _ = asyncio.run(
            evaluate_scenarios(directory, source=source, progress=progress)  # type: ignore[arg-type]
        )
    except CopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:<14} {value}")


@app.command("nab")
def nab(
    data: Annotated[Path, typer.Option("--data", help="NAB data directory (CSV series).")],
    labels: Annotated[
        Path, typer.Option("--labels", help="NAB labels file (combined_windows.json).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line.")] = False,
) -> None:
    """Run our anomaly detector in streaming order over every series and score it as NAB does."""
    from jobs.nab_eval import evaluate_nab  # noqa: PLC0415

    def progress(name: str, done: int, total: int) -> None:
        print(f"[{done}/{total}] {name}", file=sys.stderr)

    try:
        result = evaluate_nab(data=data, labels=labels, progress=progress)
    except (CopilotError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<14} {value}")


@app.command("forecast")
def forecast(
    data: Annotated[Path, typer.Option("--data", help="NAB directory (its realXXX series).")],
    horizon: Annotated[str, typer.Option(help="Forecast horizon, e.g. 12h or 90m.")] = "12h",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line.")] = False,
) -> None:
    """Rolling-origin forecast evaluation: our model vs seasonal naive vs linear (sMAPE)."""
    from datetime import timedelta  # noqa: PLC0415

    from jobs.forecast_eval import evaluate_forecast  # noqa: PLC0415

    units = {"m": 60, "h": 3600, "d": 86400}
    if len(horizon) < 2 or horizon[-1] not in units or not horizon[:-1].isdigit():
        print(
            f"error: --horizon {horizon!r}: expected a number and m/h/d, e.g. 12h", file=sys.stderr
        )
        raise typer.Exit(2)
    span = timedelta(seconds=int(horizon[:-1]) * units[horizon[-1]])
    try:
        result = evaluate_forecast(data=data, horizon=span)
    except (CopilotError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    summary = {
        k: result[k]
        for k in ("series", "horizon", "smape_model", "smape_seasonal_naive", "smape_linear")
    }
    if as_json:
        print(json.dumps(summary))
    else:
        for key, value in result.items():
            if key != "per_series":
                print(f"{key:<22} {value}")
