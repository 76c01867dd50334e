"""Build the action catalogue from what is configured."""

from __future__ import annotations

import logging

from tools.actions.alertmanager import SilenceCreateAction, SilenceExpireAction
from tools.actions.base import Action, ActionCatalogue
from tools.actions.kubernetes import KubernetesDeployments, RolloutRestartAction, ScaleAction
from tools.actions.pagerduty import AcknowledgeAction, AddNoteAction, ReassignAction, ResolveAction
from tools.actions.webhook import WebhookTriggerAction
from tools.alertmanager_client import AlertmanagerClient
from tools.pagerduty_client import PagerDutyClient

logger = logging.getLogger(__name__)


def build_catalogue(
    *,
    alertmanager: AlertmanagerClient | None,
    pagerduty: PagerDutyClient | None,
    kubernetes_host: str | None,
    webhooks: dict[str, tuple[str, str]],
) -> ActionCatalogue:
    """Register the actions of every configured integration.

    Args:
        alertmanager: Client for silences, or ``None``.
        pagerduty: Client for incident actions, or ``None``.
        kubernetes_host: API server URL for Deployment actions, or ``None``.
        webhooks: Allow-listed webhooks, name → (URL, secret); empty for none.

    Returns:
        The catalogue. The Kubernetes and webhook actions own connection pools that
        live as long as the process.
    """
    actions: list[Action] = []
    if alertmanager is not None:
        actions += [
            SilenceCreateAction(client=alertmanager),
            SilenceExpireAction(client=alertmanager),
        ]
    if pagerduty is not None:
        actions += [
            AcknowledgeAction(client=pagerduty),
            ResolveAction(client=pagerduty),
            AddNoteAction(client=pagerduty),
            ReassignAction(client=pagerduty),
        ]
    if kubernetes_host:
        deployments = KubernetesDeployments(host=kubernetes_host)
        actions += [
            ScaleAction(deployments=deployments),
            RolloutRestartAction(deployments=deployments),
        ]
    if webhooks:
        actions.append(WebhookTriggerAction(webhooks=webhooks))
    catalogue = ActionCatalogue(actions)
    logger.info("action catalogue: %s", catalogue.names())
    return catalogue
