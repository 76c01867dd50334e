"""Build the action catalogue from what is configured.

:data:`ACTION_TYPES` names every action the product has, configured or not, so a policy
file can be checked for typos (and its parameter templates against the action's
parameters) even when an integration is off in this deployment.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from tools.actions.alertmanager import SilenceCreateAction, SilenceExpireAction
from tools.actions.base import Action, ActionCatalogue
from tools.actions.kubernetes import KubernetesDeployments, RolloutRestartAction, ScaleAction
from tools.actions.pagerduty import AcknowledgeAction, AddNoteAction, ReassignAction, ResolveAction
from tools.actions.webhook import WebhookTriggerAction
from tools.alertmanager_client import AlertmanagerClient
from tools.pagerduty_client import PagerDutyClient

logger = logging.getLogger(__name__)

_ACTION_CLASSES = (
    SilenceCreateAction,
    SilenceExpireAction,
    AcknowledgeAction,
    ResolveAction,
    AddNoteAction,
    ReassignAction,
    ScaleAction,
    RolloutRestartAction,
    WebhookTriggerAction,
)

ACTION_TYPES: dict[str, type[BaseModel]] = {cls.name: cls.params_model for cls in _ACTION_CLASSES}
"""Every action name the product knows → its parameters model."""

ACTION_SAFETY: dict[str, bool] = {cls.name: cls.safe for cls in _ACTION_CLASSES}
"""Every action name the product knows → whether policy may make it autonomous (level 3)."""

ACTION_FACTS: dict[str, frozenset[str]] = {
    ScaleAction.name: frozenset(ScaleAction.fact_names),
}
"""Facts an action reads from its target for proposal templates (see ``facts()``)."""


def build_catalogue(
    *,
    alertmanager: AlertmanagerClient | None,
    pagerduty: PagerDutyClient | None,
    kubernetes: KubernetesDeployments | None,
    webhooks: dict[str, tuple[str, str]],
) -> ActionCatalogue:
    """Register the actions of every configured integration.

    Args:
        alertmanager: Client for silences, or ``None``.
        pagerduty: Client for incident actions, or ``None``.
        kubernetes: The cluster's Deployments (scale, rollout restart), or ``None``.
        webhooks: Allow-listed webhooks, name → (URL, secret); empty for none.

    Returns:
        The catalogue. The webhook action owns a connection pool that lives as long as
        the process (the Kubernetes one belongs to ``kubernetes``'s owner).
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
    if kubernetes is not None:
        actions += [
            ScaleAction(deployments=kubernetes),
            RolloutRestartAction(deployments=kubernetes),
        ]
    if webhooks:
        actions.append(WebhookTriggerAction(webhooks=webhooks))
    catalogue = ActionCatalogue(actions)
    logger.info("action catalogue: %s", catalogue.names())
    return catalogue
