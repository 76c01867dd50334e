"""Slack ack latency: `sre-copilot serve` vs a bare Bolt app that only acks, side by side.

    .venv/bin/python bench/slack_ack.py [--n 1000] [--concurrency 50]

Starts the loopback Slack Web API stub (tests/stubs/slack_api.py) in this process,
then two servers on 127.0.0.1, each a real subprocess under uvicorn:

* `sre-copilot serve` (SQLite in a temp dir, nothing but Slack configured, the Web
  API pointed at the stub through SRE_COPILOT_SLACK__API_BASE_URL);
* a bare Bolt AsyncApp whose only listener acks `app_mention` (same stub, same
  uvicorn + Starlette adapter), the baseline.

Each gets a short warm-up. Then:

1. acks, side by side: R rounds (``--rounds``, default 5); in each, N/R signed
   ``app_mention`` events (one new thread each) at concurrency C go to the bare app,
   then N/R to `sre-copilot serve`, which then finishes answering them before the next
   round (so its leftover work never lands on the baseline's turn). Ack latency is
   the HTTP round trip of each event; alternating rounds keeps machine noise out of
   the ratio.
2. answers: one burst of N events at concurrency C to `sre-copilot serve`; mention →
   answer is the time from sending an event to the stub receiving the ``chat.update``
   that replaces its placeholder. A burst of N queues behind the answering pool, so
   this figure is throughput-bound: N / (answers per second) for the last ones.

Errors: non-200 acks, transport errors, events never answered, events answered more
than once (both phases).

Prints one JSON line:
{"n", "concurrency", "ack_p50_ms", "ack_p99_ms", "errors", "baseline_ack_p99_ms",
 "mention_to_answer_p95_s"}; details go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scenario import slack_payloads as sp  # noqa: E402
from tests.servers.process import free_port  # noqa: E402
from tests.stubs.slack_api import BOT_TOKEN, SIGNING_SECRET, SlackApiStub  # noqa: E402

QUESTION = "what's wrong with checkout?"
WARMUP = 20


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))  # ceil
    return ordered[min(rank, len(ordered)) - 1]


# --- the baseline: a bare Bolt app that only acks --------------------------------------


def serve_bare(port: int, api_base_url: str) -> None:
    app = AsyncApp(
        name="bare",
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(token=BOT_TOKEN, base_url=api_base_url),
    )

    @app.event("app_mention")
    async def ack_only(ack: Any) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_request: Request) -> Response:
        return Response("ok")

    asgi = Starlette(
        routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)]
    )
    uvicorn.run(asgi, host="127.0.0.1", port=port, log_level="warning", ws="none")


# --- driver ------------------------------------------------------------------------------


def start_copilot(
    port: int, stub: SlackApiStub, data_dir: Path, workers: int, database_url: str | None
) -> subprocess.Popen[bytes]:
    # The bench is the server's launcher: it sets the server's environment.
    inherited = os.environ.items()
    env = {k: v for k, v in inherited if not k.startswith("SRE_COPILOT_")}
    env.update(
        {
            "SRE_COPILOT_DATA_DIR": str(data_dir),
            "SRE_COPILOT_LOG_LEVEL": "WARNING",
            "SRE_COPILOT_SLACK__BOT_TOKEN": BOT_TOKEN,
            "SRE_COPILOT_SLACK__SIGNING_SECRET": SIGNING_SECRET,
            "SRE_COPILOT_SLACK__API_BASE_URL": stub.base_url,
            "SRE_COPILOT_SLACK__WORKERS": str(workers),
        }
    )
    if database_url:
        env["SRE_COPILOT_DATABASE__URL"] = database_url
    exe = Path(sys.executable).parent / "sre-copilot"
    return subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stderr=subprocess.PIPE,
    )


def start_bare(port: int, stub: SlackApiStub) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--serve-bare", str(port), "--api-base-url", stub.base_url],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )


async def wait_healthy(
    session: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"server exited: {err[-2000:]}")
        try:
            async with session.get(f"{url}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def fire(
    session: aiohttp.ClientSession, url: str, n: int, concurrency: int
) -> tuple[list[float], int, dict[str, float]]:
    """Send n signed app_mention events; (ack latencies ms, errors, sent-at by event ts)."""
    bodies = []
    for _ in range(n):
        ev = sp.mention(QUESTION)
        bodies.append((ev["ts"], json.dumps(sp.event_body(ev))))
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    errors = 0
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            ts, body = queue.get_nowait()
            headers = sp.signed_headers(body, content_type=sp.JSON)
            start = time.monotonic()
            sent_at[ts] = start
            try:
                async with session.post(
                    f"{url}/slack/events", data=body.encode(), headers=headers
                ) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except aiohttp.ClientError:
                ok = False
            latencies.append((time.monotonic() - start) * 1000)
            if not ok:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, sent_at


def answers(stub: SlackApiStub, sent_at: dict[str, float]) -> tuple[list[float], int, int]:
    """(mention → final chat.update seconds, events never answered, duplicate answers)."""
    durations, missing, duplicates, _ = timings(stub, sent_at)
    return durations, missing, duplicates


def timings(
    stub: SlackApiStub, sent_at: dict[str, float]
) -> tuple[list[float], int, int, list[float]]:
    """answers() plus mention → placeholder seconds."""
    placeholder_of: dict[str, str] = {}
    posts_per_thread: dict[str, int] = {}
    placed: dict[str, float] = {}
    for call in stub.calls("chat.postMessage"):
        thread = str(call.params.get("thread_ts"))
        if thread in sent_at and call.response and call.response.get("ok"):
            placeholder_of[str(call.response["ts"])] = thread
            posts_per_thread[thread] = posts_per_thread.get(thread, 0) + 1
            placed.setdefault(thread, call.at)
    done: dict[str, float] = {}
    for call in stub.calls("chat.update"):
        thread = placeholder_of.get(str(call.params.get("ts")))
        if thread is not None:
            done[thread] = max(done.get(thread, 0.0), call.at)
    durations = [done[t] - sent_at[t] for t in done]
    missing = len(sent_at) - len(done)
    duplicates = sum(c - 1 for c in posts_per_thread.values() if c > 1)
    return durations, missing, duplicates, [placed[t] - sent_at[t] for t in placed]


async def wait_answered(stub: SlackApiStub, sent_at: dict[str, float], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while answers(stub, sent_at)[1] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # the stub records from another thread: poll it


async def run(
    n: int, concurrency: int, workers: int, rounds: int = 5, database_url: str | None = None
) -> dict[str, Any]:
    with SlackApiStub() as stub, tempfile.TemporaryDirectory(prefix="slack-ack-") as tmp:
        stub.record_calls = False  # keep only chat.postMessage / chat.update
        copilot_port, bare_port = free_port(), free_port()
        copilot = start_copilot(copilot_port, stub, Path(tmp), workers, database_url)
        bare = start_bare(bare_port, stub)
        copilot_url = f"http://127.0.0.1:{copilot_port}"
        bare_url = f"http://127.0.0.1:{bare_port}"
        lat: list[float] = []
        base_lat: list[float] = []
        err = base_err = missing = duplicates = 0
        try:
            connector = aiohttp.TCPConnector(limit=2 * concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                await wait_healthy(session, copilot_url, copilot)
                await wait_healthy(session, bare_url, bare)
                # warm-up: imports, auth.test, connection pools, the first answers
                await fire(session, bare_url, WARMUP, min(concurrency, WARMUP))
                _, _, warm = await fire(session, copilot_url, WARMUP, min(concurrency, WARMUP))
                await wait_answered(stub, warm, 60)
                stub.clear()
                # The load generator's own GC pauses would count as server latency.
                gc.collect()
                gc.freeze()
                gc.disable()

                # 1. acks, side by side, in alternating rounds
                per_round = max(1, n // rounds)
                for _ in range(rounds):
                    b_lat, b_err, _ = await fire(session, bare_url, per_round, concurrency)
                    r_lat, r_err, sent_at = await fire(session, copilot_url, per_round, concurrency)
                    await wait_answered(stub, sent_at, max(60.0, per_round / 5))
                    _, r_missing, r_dup = answers(stub, sent_at)
                    base_lat += b_lat
                    lat += r_lat
                    base_err += b_err
                    err += r_err + r_missing + r_dup
                    stub.clear()

                # 2. mention -> answer, one burst of n
                burst_lat, burst_err, sent_at = await fire(session, copilot_url, n, concurrency)
                await wait_answered(stub, sent_at, max(60.0, n / 5))
                durations, missing, duplicates, placing = timings(stub, sent_at)
        finally:
            gc.enable()
            stop(copilot)
            stop(bare)
    result = {
        "n": n,
        "concurrency": concurrency,
        "ack_p50_ms": round(percentile(lat, 50), 2),
        "ack_p99_ms": round(percentile(lat, 99), 2),
        "errors": err + burst_err + missing + duplicates,
        "baseline_ack_p99_ms": round(percentile(base_lat, 99), 2),
        "mention_to_answer_p95_s": round(percentile(durations, 95), 3),
    }
    details = {
        "rounds": rounds,
        "baseline_ack_p50_ms": round(percentile(base_lat, 50), 2),
        "baseline_errors": base_err,
        "ack_p99_over_baseline": round(percentile(lat, 99) / percentile(base_lat, 99), 2),
        "burst_ack_p50_ms": round(percentile(burst_lat, 50), 2),
        "burst_ack_p99_ms": round(percentile(burst_lat, 99), 2),
        "burst_ack_errors": burst_err,
        "burst_unanswered": missing,
        "burst_duplicate_answers": duplicates,
        "mention_to_placeholder_p95_s": round(percentile(placing, 95), 3),
        "mention_to_answer_p50_s": round(percentile(durations, 50), 3),
        "mention_to_answer_max_s": round(max(durations, default=float("nan")), 3),
        "answers_per_s": round(len(durations) / max(durations, default=float("inf")), 1),
        "workers": workers,
        "database": "postgresql" if database_url else "sqlite",
        "cpus": os.cpu_count(),
    }
    print(json.dumps(details), file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="events per server")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    parser.add_argument("--workers", type=int, default=16, help="SRE_COPILOT_SLACK__WORKERS")
    parser.add_argument("--rounds", type=int, default=5, help="alternating ack rounds")
    parser.add_argument(
        "--database-url", help="SRE_COPILOT_DATABASE__URL (an empty database; default SQLite)"
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--api-base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.api_base_url)
        return
    print(
        json.dumps(
            asyncio.run(run(args.n, args.concurrency, args.workers, args.rounds, args.database_url))
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
