"""Benchmark: question → final reply over the labelled scenarios, real Prometheus.

Two passes in one run: without an LLM, then with Claude refinement through the
SDK against the loopback Messages API stub answering after a fixed delay L (one
``submit_analysis`` per question). Prints one JSON line:
``{"n", "p50_s", "p95_s", "llm_delay_s", "llm_p50_s", "llm_p95_s", "llm_refined", "top1"}``.

Run from the repository root: ``python bench/investigate.py [--dir tests/scenarios] [--delay 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from agents.config import LLMConfig
from agents.llm import ClaudeAnalyst
from bot.scenario_eval import evaluate_scenarios
from tests.stubs.anthropic_api import STUB_API_KEY, serve_anthropic_stub, submit_analysis


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("tests/scenarios"))
    parser.add_argument("--delay", type=float, default=2.0, help="stub answer delay L in seconds")
    args = parser.parse_args()

    _, plain = await evaluate_scenarios(args.dir, source="prometheus")
    with serve_anthropic_stub() as stub:
        stub.script(
            submit_analysis(
                "Refined by the benchmark stub.",
                [{"index": 0, "confidence": 0.9, "rationale": "bench"}],
            )
            .delayed(args.delay)
            .repeat(None)
        )
        config = LLMConfig(api_key=SecretStr(STUB_API_KEY), base_url=stub.base_url)
        async with ClaudeAnalyst(config, tools=[]) as analyst:
            _, llm = await evaluate_scenarios(args.dir, source="prometheus", refiner=analyst)
    plain_s = [r.seconds for r in plain]
    llm_s = [r.seconds for r in llm]
    print(
        json.dumps(
            {
                "n": len(plain_s),
                "p50_s": round(statistics.median(plain_s), 3),
                "p95_s": round(pct(plain_s, 0.95), 3),
                "llm_delay_s": args.delay,
                "llm_p50_s": round(statistics.median(llm_s), 3),
                "llm_p95_s": round(pct(llm_s, 0.95), 3),
                "llm_refined": sum(
                    any(n.startswith("Analysis refined by Claude") for n in r.notes) for r in llm
                ),
                "top1": round(sum(r.top1 for r in plain) / len(plain), 3),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
