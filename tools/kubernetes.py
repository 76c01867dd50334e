"""Kubernetes as an :class:`~tools.base.Integration`: settings, health probe, no read tools.

The integration exists so ``sre-copilot doctor`` and ``/readyz`` report the cluster
like every other integration, and so the container builds the Deployment actions
(``kubernetes.scale``, ``kubernetes.rollout_restart``) from one place. It offers no
read-only tools to the agent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memory.errors import ConfigError, CopilotError
from tools.actions.kubernetes import KubernetesDeployments
from tools.base import Health, HealthState, Tool
from tools.config import KubernetesConfig


class KubernetesIntegration:
    """The cluster's API server; the Deployments facade is built on first use.

    Args:
        config: The ``kubernetes`` settings.
    """

    name: str = "kubernetes"

    def __init__(self, config: KubernetesConfig) -> None:
        self._config = config
        self._deployments: KubernetesDeployments | None = None

    @property
    def configured(self) -> bool:
        """Whether an API server URL is set."""
        return self._config.configured

    @property
    def deployments(self) -> KubernetesDeployments:
        """The Deployments facade.

        Raises:
            ConfigError: The CA bundle cannot be read (names the variable to fix).
        """
        if self._deployments is None:
            config = self._config
            if not config.host:
                raise ConfigError("kubernetes is not configured: set SRE_COPILOT_KUBERNETES__HOST")
            if config.ca_bundle:
                try:
                    Path(config.ca_bundle).read_bytes()
                except OSError as exc:
                    raise ConfigError(
                        f"SRE_COPILOT_KUBERNETES__CA_BUNDLE: cannot read {config.ca_bundle} "
                        f"({exc.strerror})"
                    ) from None
            token = config.bearer_token.get_secret_value() if config.bearer_token else None
            self._deployments = KubernetesDeployments(
                host=config.host,
                api_key=token or None,
                verify_ssl=config.verify_tls,
                ca_cert=config.ca_bundle,
                timeout_s=config.timeout_s,
                namespaces=frozenset(config.namespaces),
            )
        return self._deployments

    async def health(self) -> Health:
        """Probe ``GET /apis/apps/v1`` with the configured token."""
        if not self.configured:
            return Health(integration=self.name, state=HealthState.NOT_CONFIGURED, reason="no host")
        try:
            resources = await self.deployments.api_resources()
        except CopilotError as exc:
            return Health(integration=self.name, state=HealthState.UNHEALTHY, reason=str(exc))
        if "deployments" not in resources:
            return Health(
                integration=self.name,
                state=HealthState.UNHEALTHY,
                reason=f"{self._config.host}: apps/v1 lists no deployments resource",
            )
        scope = ", ".join(self._config.namespaces) or "all namespaces"
        return Health(
            integration=self.name,
            state=HealthState.HEALTHY,
            reason=f"{self._config.host}: apps/v1 deployments reachable ({scope})",
        )

    async def aclose(self) -> None:
        """Close the connection pool, if one was opened."""
        if self._deployments is not None:
            await self._deployments.aclose()

    def tools(self) -> list[Tool[Any]]:
        """None: the cluster is only reached by approved actions."""
        return []
