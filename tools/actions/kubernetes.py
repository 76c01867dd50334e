"""Kubernetes actions: scale a Deployment and restart its rollout.

Both use the official ``kubernetes`` client (:class:`kubernetes.client.AppsV1Api`), which
is synchronous, so every call runs in a worker thread. Patches are sent as
strategic-merge patches (the client would otherwise pick JSON-patch for a dict body).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memory.errors import CopilotError, IntegrationError, ToolInputError, UpstreamHTTPError
from tools.actions.base import ActionOutcome, Risk

logger = logging.getLogger(__name__)

T = TypeVar("T")

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_PATCH_TYPE = "application/strategic-merge-patch+json"
_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class DeploymentRef(BaseModel):
    """A Deployment by namespace and name."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(min_length=1, max_length=63, pattern=_NAME)
    deployment: str = Field(min_length=1, max_length=253, pattern=_NAME)


class ScaleParams(DeploymentRef):
    """Parameters of ``kubernetes.scale``."""

    replicas: int


class KubernetesDeployments:
    """Async facade over ``AppsV1Api`` for one cluster's Deployments.

    Args:
        host: API server URL, e.g. ``https://10.0.0.1:6443``.
        api_key: Optional bearer token.
        verify_ssl: Verify the API server's certificate.
        ca_cert: PEM file of the cluster CA.
        timeout_s: Per-request timeout.
        namespaces: Namespaces reads and patches may touch; empty allows all.
    """

    def __init__(
        self,
        *,
        host: str,
        api_key: str | None = None,
        verify_ssl: bool = True,
        ca_cert: str | None = None,
        timeout_s: float = 10.0,
        namespaces: frozenset[str] = frozenset(),
    ) -> None:
        configuration = k8s.Configuration(host=host.rstrip("/"))
        configuration.verify_ssl = verify_ssl
        if ca_cert:
            configuration.ssl_ca_cert = ca_cert
        if api_key:
            configuration.api_key = {"BearerToken": api_key}
            configuration.api_key_prefix = {"BearerToken": "Bearer"}
        self.host = host
        self.timeout_s = timeout_s
        self.namespaces = namespaces
        self._api_client = k8s.ApiClient(configuration)
        self._apps = k8s.AppsV1Api(self._api_client)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await asyncio.to_thread(self._api_client.close)

    async def api_resources(self) -> list[str]:
        """``GET /apis/apps/v1``: the resource names (a cheap authenticated probe)."""
        found = await self._call(
            "list apps/v1 resources",
            lambda: self._apps.get_api_resources(_request_timeout=self.timeout_s),
        )
        return [str(r.name) for r in (found.resources or [])]

    def _allow(self, namespace: str) -> None:
        if self.namespaces and namespace not in self.namespaces:
            allowed = ", ".join(sorted(self.namespaces))
            raise ToolInputError(
                f"namespace {namespace!r} is not in the Kubernetes allow-list ({allowed})"
            )

    async def read(self, namespace: str, name: str) -> k8s.V1Deployment:
        """``GET .../deployments/{name}`` (refused outside the namespace allow-list)."""
        self._allow(namespace)
        return await self._call(
            f"read deploy/{name} in {namespace}",
            lambda: self._apps.read_namespaced_deployment(
                name, namespace, _request_timeout=self.timeout_s
            ),
        )

    async def patch(self, namespace: str, name: str, body: dict[str, Any]) -> k8s.V1Deployment:
        """``PATCH .../deployments/{name}`` with a strategic-merge patch (allow-list too)."""
        self._allow(namespace)
        return await self._call(
            f"patch deploy/{name} in {namespace}",
            lambda: self._apps.patch_namespaced_deployment(
                name,
                namespace,
                body,
                _request_timeout=self.timeout_s,
                _content_type=_PATCH_TYPE,
            ),
        )

    async def _call(self, what: str, func: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(func)
        except ApiException as exc:
            status = int(exc.status or 0)
            logger.warning("kubernetes %s -> HTTP %s", what, status)
            raise UpstreamHTTPError(
                f"Kubernetes API refused {what} (HTTP {status}: {exc.reason})", status_code=status
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise IntegrationError(
                f"cannot reach the Kubernetes API at {self.host} ({what}): {exc}"
            ) from exc


def _replicas(deployment: k8s.V1Deployment) -> int:
    spec_replicas = deployment.spec.replicas
    return 1 if spec_replicas is None else int(spec_replicas)  # API default is 1


def _generation(deployment: k8s.V1Deployment) -> int:
    return int((deployment.metadata.generation if deployment.metadata else None) or 0)


def _observed(deployment: k8s.V1Deployment) -> int:
    return int((deployment.status.observed_generation if deployment.status else None) or 0)


def _restarted_at(deployment: k8s.V1Deployment) -> str | None:
    template = deployment.spec.template.metadata
    annotations = (template.annotations if template else None) or {}
    value = annotations.get(RESTARTED_AT)
    return str(value) if value is not None else None


class _DeploymentAction:
    """Shared plumbing: read a deployment or say why not."""

    name: str
    description: str
    risk: Risk
    safe: bool
    params_model: type[BaseModel]

    def __init__(
        self,
        *,
        deployments: KubernetesDeployments,
        verify_timeout_s: float = 10.0,
        poll_s: float = 0.5,
    ) -> None:
        self._deployments = deployments
        self._verify_timeout_s = verify_timeout_s
        self._poll_s = poll_s

    async def _read(self, ref: DeploymentRef) -> tuple[k8s.V1Deployment | None, str]:
        try:
            return await self._deployments.read(ref.namespace, ref.deployment), ""
        except UpstreamHTTPError as exc:
            if exc.status_code == 404:
                return None, f"deploy/{ref.deployment} in {ref.namespace} does not exist"
            return None, str(exc)
        except CopilotError as exc:
            return None, str(exc)

    async def _poll(
        self, ref: DeploymentRef, check: Callable[[k8s.V1Deployment], str | None]
    ) -> ActionOutcome:
        """Re-read until ``check`` returns ``None`` (ok) or the verify timeout passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._verify_timeout_s
        while True:
            deployment, why = await self._read(ref)
            if deployment is not None:
                why = check(deployment) or ""
                if not why:
                    return ActionOutcome(
                        ok=True,
                        detail=f"deploy/{ref.deployment} in {ref.namespace} verified",
                        data={
                            "replicas": _replicas(deployment),
                            "generation": _generation(deployment),
                            "observed_generation": _observed(deployment),
                        },
                    )
            if loop.time() >= deadline:
                return ActionOutcome(ok=False, detail=why)
            await asyncio.sleep(self._poll_s)


class ScaleAction(_DeploymentAction):
    """``kubernetes.scale``: set a Deployment's ``spec.replicas``.

    Args:
        deployments: The cluster's Deployments.
        max_replicas: Highest replica count allowed.
        verify_timeout_s: How long verification waits for the change to show.
        poll_s: Interval between verification reads.
    """

    name = "kubernetes.scale"
    description = "Scale a Kubernetes Deployment to a number of replicas."
    risk = Risk.HIGH
    safe = False
    params_model: type[BaseModel] = ScaleParams

    def __init__(
        self,
        *,
        deployments: KubernetesDeployments,
        max_replicas: int = 50,
        verify_timeout_s: float = 10.0,
        poll_s: float = 0.5,
    ) -> None:
        super().__init__(deployments=deployments, verify_timeout_s=verify_timeout_s, poll_s=poll_s)
        self.max_replicas = max_replicas

    fact_names: tuple[str, ...] = ("replicas",)
    """What :meth:`facts` reads (proposal templates may use ``{replicas+1}``)."""

    async def facts(self, params: dict[str, Any]) -> dict[str, Any]:
        """Current facts of the target: ``{"replicas": n}`` of the named Deployment.

        Args:
            params: At least ``namespace`` and ``deployment``.

        Raises:
            ToolInputError: The target is missing, outside the allow-list or unreadable.
        """
        try:
            ref = DeploymentRef.model_validate(
                {"namespace": params.get("namespace"), "deployment": params.get("deployment")}
            )
        except ValidationError as exc:
            raise ToolInputError(f"not a deployment reference: {exc.errors()[0]['msg']}") from None
        deployment, why = await self._read(ref)
        if deployment is None:
            raise ToolInputError(f"cannot read deploy/{ref.deployment}: {why}")
        return {"replicas": _replicas(deployment)}

    async def dry_run(self, params: BaseModel) -> str:
        """E.g. ``scale deploy/checkout in shop from 3 to 5``."""
        p = ScaleParams.model_validate(params, from_attributes=True)
        deployment, why = await self._read(p)
        if deployment is None:
            return f"scale deploy/{p.deployment} in {p.namespace} to {p.replicas} ({why})"
        return (
            f"scale deploy/{p.deployment} in {p.namespace} "
            f"from {_replicas(deployment)} to {p.replicas}"
        )

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        """Replicas within 0..max, the deployment exists, and its replicas differ."""
        p = ScaleParams.model_validate(params, from_attributes=True)
        if not 0 <= p.replicas <= self.max_replicas:
            return ActionOutcome(
                ok=False, detail=f"replicas {p.replicas} is outside 0..{self.max_replicas}"
            )
        deployment, why = await self._read(p)
        if deployment is None:
            return ActionOutcome(ok=False, detail=why)
        current = _replicas(deployment)
        if current == p.replicas:
            return ActionOutcome(
                ok=False,
                detail=f"deploy/{p.deployment} in {p.namespace} already has {current} replicas",
            )
        return ActionOutcome(
            ok=True,
            detail=f"deploy/{p.deployment} in {p.namespace} has {current} replicas",
            data={"replicas": current},
        )

    async def execute(self, params: BaseModel) -> ActionOutcome:
        """Patch ``spec.replicas``."""
        p = ScaleParams.model_validate(params, from_attributes=True)
        try:
            patched = await self._deployments.patch(
                p.namespace, p.deployment, {"spec": {"replicas": p.replicas}}
            )
        except CopilotError as exc:
            logger.warning("kubernetes scale %s/%s failed: %s", p.namespace, p.deployment, exc)
            return ActionOutcome(ok=False, detail=f"could not scale: {exc}")
        return ActionOutcome(
            ok=True,
            detail=f"deploy/{p.deployment} in {p.namespace} set to {p.replicas} replicas",
            data={"replicas": _replicas(patched), "generation": _generation(patched)},
        )

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        """``spec.replicas`` equals the target."""
        p = ScaleParams.model_validate(params, from_attributes=True)
        if not executed.ok:
            return ActionOutcome(ok=False, detail="the scale was not applied")

        def check(deployment: k8s.V1Deployment) -> str | None:
            current = _replicas(deployment)
            if current != p.replicas:
                return f"deploy/{p.deployment} has {current} replicas, not {p.replicas}"
            return None

        return await self._poll(p, check)


class RolloutRestartAction(_DeploymentAction):
    """``kubernetes.rollout_restart``: what ``kubectl rollout restart`` does.

    Sets the pod template annotation ``kubectl.kubernetes.io/restartedAt``, which makes
    the Deployment controller replace every pod by a rolling update.

    Args:
        deployments: The cluster's Deployments.
        verify_timeout_s: How long verification waits for the controller.
        poll_s: Interval between verification reads.
    """

    name = "kubernetes.rollout_restart"
    description = "Restart a Kubernetes Deployment's pods by a rolling update."
    risk = Risk.MEDIUM
    safe = False
    params_model: type[BaseModel] = DeploymentRef

    async def dry_run(self, params: BaseModel) -> str:
        """Which deployment and how many pods would be replaced."""
        p = DeploymentRef.model_validate(params, from_attributes=True)
        deployment, why = await self._read(p)
        if deployment is None:
            return f"rollout restart deploy/{p.deployment} in {p.namespace} ({why})"
        strategy = deployment.spec.strategy.type if deployment.spec.strategy else None
        return (
            f"rollout restart deploy/{p.deployment} in {p.namespace}: replace its "
            f"{_replicas(deployment)} pod(s) ({strategy or 'RollingUpdate'}) by setting "
            f"{RESTARTED_AT} on the pod template"
        )

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        """The deployment exists."""
        p = DeploymentRef.model_validate(params, from_attributes=True)
        deployment, why = await self._read(p)
        if deployment is None:
            return ActionOutcome(ok=False, detail=why)
        return ActionOutcome(
            ok=True,
            detail=f"deploy/{p.deployment} in {p.namespace} exists",
            data={"generation": _generation(deployment)},
        )

    async def execute(self, params: BaseModel) -> ActionOutcome:
        """Patch the pod template's ``restartedAt`` annotation to now."""
        p = DeploymentRef.model_validate(params, from_attributes=True)
        deployment, why = await self._read(p)
        if deployment is None:
            return ActionOutcome(ok=False, detail=why)
        before = _generation(deployment)
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        try:
            patched = await self._deployments.patch(p.namespace, p.deployment, body)
        except CopilotError as exc:
            logger.warning("kubernetes restart %s/%s failed: %s", p.namespace, p.deployment, exc)
            return ActionOutcome(ok=False, detail=f"could not restart: {exc}")
        return ActionOutcome(
            ok=True,
            detail=f"restart of deploy/{p.deployment} in {p.namespace} requested at {stamp}",
            data={
                "restarted_at": stamp,
                "previous_generation": before,
                "generation": _generation(patched),
            },
        )

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        """The annotation is set and the controller observed a newer generation."""
        p = DeploymentRef.model_validate(params, from_attributes=True)
        stamp = executed.data.get("restarted_at")
        previous = int(executed.data.get("previous_generation") or 0)
        if not executed.ok or not stamp:
            return ActionOutcome(ok=False, detail="no restart was requested")

        def check(deployment: k8s.V1Deployment) -> str | None:
            if _restarted_at(deployment) != stamp:
                return f"{RESTARTED_AT} is {_restarted_at(deployment)!r}, not {stamp!r}"
            observed = _observed(deployment)
            if observed <= previous:
                return (
                    f"observedGeneration {observed} has not advanced past {previous} "
                    f"(generation {_generation(deployment)})"
                )
            return None

        return await self._poll(p, check)
