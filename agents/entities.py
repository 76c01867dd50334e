"""Which service a series belongs to: labels, pod names, nodes, databases, probe targets.

Real telemetry rarely says ``service=`` everywhere. This module relates any label set
to a service using the conventions of Kubernetes and the common exporters: a
``service``/``app``/``job``/``container`` label, a pod named ``<service>-<hash>``, a
node that hosts the service's pods (``kube_pod_info``), or a label value (database
name, probe target, instance) that names the service.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

_POD_SUFFIX = re.compile(r"^(?P<base>.+?)(-[a-z0-9]{8,10})?-[a-z0-9]{4,5}$")
_STATEFUL_SUFFIX = re.compile(r"^(?P<base>.+?)-\d+$")
_SERVICE_LABELS = ("service", "app", "app_kubernetes_io_name", "job", "container")


def pod_base(pod: str) -> str:
    """``checkout-7d9f8b6c5d-x2k4q`` → ``checkout``; ``postgres-0`` → ``postgres``."""
    m = _POD_SUFFIX.match(pod)
    if m:
        return m.group("base")
    m = _STATEFUL_SUFFIX.match(pod)
    return m.group("base") if m else pod


def host_of(instance: str) -> str:
    """``node-3:9100`` → ``node-3``."""
    return instance.rsplit(":", 1)[0] if ":" in instance and "]" not in instance else instance


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", text.lower()) if t}


class EntityMap:
    """Relates label sets to services."""

    def __init__(self, services: Iterable[str]) -> None:
        self.services = sorted({s for s in services if s})
        self.pod_node: dict[str, str] = {}
        self.node_pods: dict[str, set[str]] = defaultdict(set)

    def add_placement(self, *, pod: str, node: str) -> None:
        """Record that ``pod`` runs on ``node`` (from ``kube_pod_info``)."""
        self.pod_node[pod] = node
        self.node_pods[node].add(pod)

    def service_of_pod(self, pod: str) -> str | None:
        """The known service a pod belongs to, by name."""
        base = pod_base(pod)
        if base in self.services:
            return base
        for svc in sorted(self.services, key=len, reverse=True):
            if base.startswith(svc + "-") or base == svc:
                return svc
        return None

    def nodes_of(self, service: str) -> set[str]:
        """Nodes hosting the service's pods."""
        return {n for p, n in self.pod_node.items() if self.service_of_pod(p) == service}

    def pods_on(self, node: str) -> set[str]:
        """Pods placed on a node."""
        return self.node_pods.get(host_of(node), set())

    def names(self, service: str, labels: dict[str, str]) -> bool:
        """Whether some label value names the service (database, target, instance...)."""
        needle = service.lower()
        for key, value in labels.items():
            if key in ("le", "quantile", "__name__"):
                continue
            low = value.lower()
            if low == needle or needle in _tokens(low) or (len(needle) >= 4 and needle in low):
                return True
        return False

    def relation(self, service: str, labels: dict[str, str]) -> float:
        """How directly a label set belongs to ``service``: 1 direct, 0.8 same node, 0 none."""
        for key in _SERVICE_LABELS:
            if labels.get(key) == service:
                return 1.0
        pod = labels.get("pod")
        if pod and self.service_of_pod(pod) == service:
            return 1.0
        if self.names(service, labels):
            return 1.0
        instance = labels.get("instance") or labels.get("node")
        if instance and host_of(instance) in self.nodes_of(service):
            return 0.8
        return 0.0

    def owner(self, labels: dict[str, str]) -> str | None:
        """The service a label set belongs to directly, if any."""
        for svc in self.services:
            if self.relation(svc, labels) >= 1.0:
                return svc
        return None

    def mentioned_in(self, text: str) -> list[str]:
        """Known services named in free text, longest name first."""
        low = text.lower()
        words = _tokens(low)
        found = [
            s
            for s in sorted(self.services, key=len, reverse=True)
            if s.lower() in words or (len(s) >= 4 and s.lower() in low)
        ]
        return found
