"""Runbook steps recognised as catalogue actions (the Propose button's source)."""

from __future__ import annotations

from pathlib import Path

from agents.sources import RunbookStoreSearcher
from memory.vectorstore import HashEmbedder, InMemoryVectorStore
from tools.actions.commands import parse_annotation, suggestions
from tools.runbooks import RunbookStore

RUNBOOK = """\
## Mitigate

1. Restart the pods:

   ```
   kubectl -n shop rollout restart deployment/checkout
   kubectl --namespace=shop scale deploy checkout --replicas=5
   kubectl rollout restart deployment/checkout
   kubectl -n $NAMESPACE rollout restart deployment/$SERVICE
   ```
"""


def test_concrete_kubectl_commands_become_actions() -> None:
    found = suggestions(RUNBOOK)
    assert [(s.action, s.params) for s in found] == [
        ("kubernetes.rollout_restart", {"namespace": "shop", "deployment": "checkout"}),
        ("kubernetes.scale", {"namespace": "shop", "deployment": "checkout", "replicas": 5}),
    ]
    assert found[0].command == "kubectl -n shop rollout restart deployment/checkout"


def test_amtool_inline_code_becomes_a_silence() -> None:
    text = "- Silence it: `amtool silence add -d 1h30m --comment='deploy' service=\"checkout\"`"
    [s] = suggestions(text)
    assert s.action == "alertmanager.silence_create"
    assert s.params == {
        "matchers": ["service=checkout"],
        "duration_minutes": 90,
        "comment": "deploy",
    }


def test_annotation_wins_and_keeps_types() -> None:
    text = (
        "<!-- copilot:propose webhook.trigger webhook=disk-cleanup "
        "payload='{\"keep_days\": 3}' environment=staging -->\n"
        "`kubectl -n shop rollout restart deploy/cart`"
    )
    first, second = suggestions(text)
    assert (first.action, first.params, first.environment) == (
        "webhook.trigger",
        {"webhook": "disk-cleanup", "payload": {"keep_days": 3}},
        "staging",
    )
    assert second.params == {"namespace": "shop", "deployment": "cart"}


def test_unknown_or_malformed_annotations_are_ignored() -> None:
    assert parse_annotation("kubernetes.explode namespace=shop") is None
    assert parse_annotation("kubernetes.scale namespace") is None
    both = parse_annotation("alertmanager.silence_create matchers=a=b matchers=c=d")
    assert both is not None and both.params == {"matchers": ["a=b", "c=d"]}
    assert suggestions("kubectl -n shop get pods\namtool silence query") == []


async def test_runbook_search_hits_carry_their_sections_actions(tmp_path: Path) -> None:
    (tmp_path / "crash.md").write_text(
        "# Checkout crash loop\n\n## Mitigate\n\nRestart checkout when it crash-loops:\n\n"
        "<!-- copilot:propose kubernetes.rollout_restart namespace=shop deployment=checkout -->\n"
        "`kubectl -n shop rollout restart deployment/checkout`\n"
    )
    store = await RunbookStore.open(InMemoryVectorStore(embedder=HashEmbedder()))
    await store.ingest(tmp_path)
    [hit] = await store.search("checkout crash loop restart", k=1)
    assert [(a.action, a.params) for a in hit.actions] == [
        ("kubernetes.rollout_restart", {"namespace": "shop", "deployment": "checkout"})
    ]
    refs = await RunbookStoreSearcher(store).search_runbooks("checkout crash loop restart", k=1)
    assert refs[0].actions[0].action == "kubernetes.rollout_restart"
