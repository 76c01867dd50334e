"""Composition root: builds every client, repository and service from Settings.

Nothing is built at import time. ``async with Container(settings) as c:`` opens the
database (migrating it when allowed), builds the integrations and the chat
service, and closes everything on exit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from agents.gather import Sources
from agents.graph import InvestigationAgent, Refiner
from agents.reply import Capability
from agents.sources import (
    AlertmanagerAlertSource,
    AlertSource,
    PagerDutySource,
    PagingSource,
    RunbookStoreSearcher,
)
from bot.chat import ChatService
from bot.config import Settings
from jobs.policy import load_policy, validate
from jobs.remediation import RemediationService
from memory.config import VectorStoreConfig
from memory.db import Database
from memory.errors import ConfigError, SchemaMismatch
from memory.repositories import Repositories
from memory.vectorstore import ChromaVectorStore, MiniLMEmbedder
from tools.actions.base import ActionCatalogue
from tools.actions.catalogue import ACTION_SAFETY, build_catalogue
from tools.alertmanager import AlertmanagerIntegration
from tools.base import Health, HealthState, Integration, ToolRegistry
from tools.config import RemediationWebhookConfig
from tools.kubernetes import KubernetesIntegration
from tools.pagerduty import PagerDutyIntegration
from tools.prometheus import PrometheusIntegration
from tools.runbooks import RunbookIntegration, RunbookStore

logger = logging.getLogger(__name__)


def build_integrations(settings: Settings) -> list[Integration]:
    """Every read-only integration, configured or not (the registry disables the latter)."""
    return [
        PrometheusIntegration(settings.prometheus),
        AlertmanagerIntegration(settings.alertmanager),
        PagerDutyIntegration(settings.pagerduty),
        KubernetesIntegration(settings.kubernetes),
    ]


SETUP_HINTS = {
    "prometheus": "set SRE_COPILOT_PROMETHEUS__BASE_URL",
    "alertmanager": "set SRE_COPILOT_ALERTMANAGER__BASE_URL",
    "pagerduty": "set SRE_COPILOT_PAGERDUTY__API_TOKEN",
    "kubernetes": "set SRE_COPILOT_KUBERNETES__HOST (and __BEARER_TOKEN) for Deployment actions",
    "runbooks": "run `sre-copilot runbooks ingest PATH`",
}


def runbook_store_exists(settings: Settings) -> bool:
    """Whether a runbook store is configured: a Chroma server, or a local directory."""
    return settings.vector_store.mode == "http" or settings.chroma_path.exists()


async def open_runbook_store(*, data_dir: Path, config: VectorStoreConfig) -> RunbookStore:
    """Open the configured Chroma collection with the packaged MiniLM embedder."""
    vectors = await ChromaVectorStore.open(
        config=config, embedder=MiniLMEmbedder(), data_dir=data_dir
    )
    return await RunbookStore.open(vectors)


def build_action_catalogue(
    registry: ToolRegistry, webhooks: dict[str, RemediationWebhookConfig] | None = None
) -> ActionCatalogue:
    """Mutating actions of the configured integrations (run only via approved proposals).

    A misconfigured integration (e.g. an unreadable CA bundle) loses its actions with
    a warning instead of stopping the process; ``doctor`` reports why.
    """
    alertmanager, pagerduty, kubernetes = None, None, None
    for integ in registry.integrations:
        if not integ.configured:
            continue
        if isinstance(integ, AlertmanagerIntegration):
            alertmanager = integ.client
        elif isinstance(integ, PagerDutyIntegration):
            try:
                pagerduty = integ.client
            except ConfigError as exc:  # e.g. an unreadable CA bundle: doctor reports it
                logger.warning("PagerDuty actions disabled: %s", exc)
        elif isinstance(integ, KubernetesIntegration):
            try:
                kubernetes = integ.deployments
            except ConfigError as exc:
                logger.warning("Kubernetes actions disabled: %s", exc)
    hooks = {
        name: (hook.url, hook.secret.get_secret_value()) for name, hook in (webhooks or {}).items()
    }
    return build_catalogue(
        alertmanager=alertmanager, pagerduty=pagerduty, kubernetes=kubernetes, webhooks=hooks
    )


async def check_kubernetes_actions(registry: ToolRegistry, catalogue: ActionCatalogue) -> None:
    """Probe the cluster once at start; unusable → its actions leave the catalogue (warned).

    A proposal of a removed action is refused as unknown, rather than posted with
    Approve buttons that could only fail; ``doctor`` says what is wrong.
    """
    for integ in registry.integrations:
        if not isinstance(integ, KubernetesIntegration) or not integ.configured:
            continue
        health = await integ.health()
        if health.usable:
            return
        removed = [n for n in catalogue.names() if n.startswith("kubernetes.")]
        for name in removed:
            catalogue.remove(name)
        if removed:
            logger.warning(
                "Kubernetes actions disabled (%s): %s", ", ".join(removed), health.reason
            )


def build_refiner(
    settings: Settings,
    registry: ToolRegistry,
    remediation: RemediationService | None = None,
    catalogue: ActionCatalogue | None = None,
) -> Refiner | None:
    """Claude over the read-only tools, when an API key is configured.

    With a remediation service (and ``llm.propose_remediation`` on), Claude may also
    propose catalogued actions; they wait for human approval, never executing.
    """
    if not settings.llm.configured:
        return None
    from agents.llm import ClaudeAnalyst, RemediationAccess  # noqa: PLC0415  (SDK loaded when used)

    access = None
    if remediation is not None and catalogue is not None:
        access = RemediationAccess(
            service=remediation,
            catalogue=catalogue,
            workspace_id=settings.workspace_id,
            environment=settings.environment,
        )
    return ClaudeAnalyst(settings.llm, tools=registry.read_only_tools(), remediation=access)


def build_registry(settings: Settings) -> ToolRegistry:
    """A registry over every integration, with setup hints for unconfigured ones."""
    return ToolRegistry(integrations=build_integrations(settings), setup_hints=SETUP_HINTS)


def live_sources(settings: Settings, registry: ToolRegistry, repos: Repositories) -> Sources:
    """Evidence sources over the configured live integrations."""
    metrics = None
    alerts: list[AlertSource] = []
    paging: PagingSource | None = None
    for integ in registry.integrations:
        if not integ.configured:
            continue
        if isinstance(integ, PrometheusIntegration):
            metrics = integ.client
        elif isinstance(integ, AlertmanagerIntegration):
            alerts.append(AlertmanagerAlertSource(integ.client))
        elif isinstance(integ, PagerDutyIntegration):
            paging = PagerDutySource(integ.client, base_url=settings.pagerduty.base_url)
    return Sources(metrics=metrics, alerts=alerts, paging=paging, alert_store=repos)


class Container:
    """Owns the lifetime of everything the process uses.

    ``sources``, ``clock`` and ``lookback`` replace the live evidence sources (the demo
    and the scenario evals read files and answer "as of" the scenario's end).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        migrate: bool = True,
        sources: Sources | None = None,
        clock: Callable[[], datetime] | None = None,
        lookback: timedelta = timedelta(hours=3),
    ) -> None:
        self.settings = settings
        self._migrate = migrate
        self.db = Database(
            settings.database_url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
            connect_timeout_s=settings.database.connect_timeout_s,
        )
        self.repos = Repositories.build(self.db)
        self.registry = build_registry(settings)
        self.integrations = self.registry.integrations
        self.sources = sources or live_sources(settings, self.registry, self.repos)
        self.runbooks: RunbookStore | None = None
        self.catalogue = build_action_catalogue(self.registry, settings.remediation_webhooks)
        # refused at start: level 3 (autonomous) for an action not marked safe
        self.policy = validate(load_policy(settings.remediation_policy), ACTION_SAFETY)
        self.remediation = RemediationService(self.repos, self.catalogue, self.policy)
        self.agent = InvestigationAgent(
            sources=self.sources,
            config=settings.agent,
            repos=self.repos,
            clock=clock or (lambda: datetime.now(UTC)),
            lookback=lookback,
            chart_dir=settings.data_dir / "charts",
            refiner=build_refiner(settings, self.registry, self.remediation, self.catalogue),
        )
        self.chat = ChatService(
            repos=self.repos, capabilities=self.capabilities, responder=self.agent
        )

    async def __aenter__(self) -> Container:
        try:
            await self.open()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Check the database and bring its schema to this release's head."""
        await self.db.ping()
        current = await self.db.check_schema()
        if current is None:
            if not (self._migrate and self.settings.database.auto_migrate):
                raise SchemaMismatch(
                    f"database {self.db.display_url} needs migrations; run `sre-copilot db upgrade`"
                )
            await self.db.upgrade()
        await self.repos.workspaces.ensure(workspace_id=self.settings.workspace_id)
        await check_kubernetes_actions(self.registry, self.catalogue)
        if self.runbooks is None and runbook_store_exists(self.settings):
            await self.attach_runbooks(
                await open_runbook_store(
                    data_dir=self.settings.data_dir, config=self.settings.vector_store
                )
            )

    async def attach_runbooks(self, store: RunbookStore) -> None:
        """Use ``store`` for the runbooks_search tool and the investigation's citations."""
        self.runbooks = store
        self.registry.add(RunbookIntegration(store))
        self.sources.runbooks = RunbookStoreSearcher(store)
        add_tools = getattr(self.agent.refiner, "add_tools", None)
        if add_tools is not None:  # Claude built its tool list before the store opened
            add_tools(self.registry.read_only_tools())

    async def aclose(self) -> None:
        """Close the LLM client, integrations and the database."""
        closer = getattr(self.agent.refiner, "aclose", None)
        if closer is not None:
            await closer()
        await self.registry.aclose()
        if self.runbooks is not None:
            await self.runbooks.vector_store.close()
        await self.db.dispose()

    def static_health(self) -> list[Health]:
        """Slack and the LLM: configured or not (no network)."""
        slack = self.settings.slack
        llm = self.settings.llm
        return [
            Health(
                integration="slack",
                state=HealthState.CONFIGURED if slack.configured else HealthState.NOT_CONFIGURED,
                reason=(
                    "bot token and signing secret set"
                    if slack.configured
                    else "set SRE_COPILOT_SLACK__BOT_TOKEN and SRE_COPILOT_SLACK__SIGNING_SECRET"
                ),
            ),
            Health(
                integration="llm",
                state=HealthState.CONFIGURED if llm.configured else HealthState.NOT_CONFIGURED,
                reason=(
                    f"model {llm.model}"
                    if llm.configured
                    else "no SRE_COPILOT_LLM__API_KEY: the deterministic analyst answers"
                ),
            ),
        ]

    async def probe(self) -> list[Health]:
        """Probe every integration now (used by ``doctor`` and ``/readyz``)."""
        results = [await self._database_health()]
        results.extend(await self.registry.refresh_health())
        results.extend(self.static_health())
        return results

    async def _database_health(self) -> Health:
        try:
            await self.db.ping()
            current = await self.db.check_schema()
        except Exception as exc:  # boundary: report, don't raise
            return Health(integration="database", state=HealthState.UNHEALTHY, reason=str(exc))
        if current is None:
            return Health(
                integration="database",
                state=HealthState.CONFIGURED,
                reason=f"{self.db.display_url} needs `sre-copilot db upgrade`",
            )
        return Health(
            integration="database",
            state=HealthState.HEALTHY,
            reason=f"{self.db.display_url} at migration {current}",
        )

    async def capabilities(self) -> list[Capability]:
        """Last known state of each integration (cheap; no network)."""
        items = []
        for integ in self.integrations:
            health = self.registry.health(integ.name)
            if health is not None:
                items.append(
                    Capability(
                        name=health.integration, state=health.state.value, reason=health.reason
                    )
                )
        for health in self.static_health():
            items.append(
                Capability(name=health.integration, state=health.state.value, reason=health.reason)
            )
        items.insert(0, Capability(name="database", state="healthy", reason=self.db.display_url))
        return items
