"""Loopback HTTP stub of the Kubernetes API server's ``apps/v1`` Deployment endpoints.

Serves ``GET /apis/apps/v1`` (the ``APIResourceList`` discovery document) and ``GET`` and
``PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}`` with the real wire format:
``kind``/``apiVersion``, ``metadata`` with ``generation`` and ``resourceVersion``,
``spec.replicas``/``selector``/``template``, ``status`` with
``observedGeneration``, and a ``Status`` object (``reason: NotFound``) for unknown
deployments. ``PATCH`` accepts merge and strategic-merge patches (applied as a JSON merge
patch, enough for scalar and map fields); a JSON-patch content type with an object body
is refused with 400 as the API server does. A spec change bumps ``metadata.generation``;
the simulated controller then sets ``status.observedGeneration`` at once, unless
:attr:`KubernetesStub.controller_paused`. Every request is recorded.

Use it as a context manager::

    with serve_kubernetes_stub() as stub:
        stub.add_deployment("shop", "checkout", replicas=3)
        ...  # kubernetes.client against stub.url
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_DEPLOYMENT = re.compile(r"/apis/apps/v1/namespaces/([a-z0-9-]+)/deployments/([a-z0-9.-]+)")
_MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
_APPS_V1_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "apps/v1",
    "resources": [
        {
            "name": "deployments",
            "singularName": "deployment",
            "namespaced": True,
            "kind": "Deployment",
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            "shortNames": ["deploy"],
        },
        {
            "name": "deployments/scale",
            "singularName": "",
            "namespaced": True,
            "group": "autoscaling",
            "version": "v1",
            "kind": "Scale",
            "verbs": ["get", "patch", "update"],
        },
    ],
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # decoded JSON, or None
    status: int


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> Any:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 JSON merge patch, in place (``None`` deletes a key)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class KubernetesStub:
    """Deployments keyed by (namespace, name), served on ``127.0.0.1:<free port>``.

    Attributes:
        controller_paused: When true, spec changes bump ``metadata.generation`` but
            ``status.observedGeneration`` stays behind (a stuck controller).
        required_token: When set, every request needs ``Authorization: Bearer <it>``
            (else 401 ``Unauthorized``, as the API server answers a bad token).
    """

    def __init__(self) -> None:
        self.controller_paused = False
        self.required_token: str | None = None
        self.deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._resource_version = 1000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- test API

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None, "stub not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget deployments and requests; restart the controller."""
        with self._lock:
            self.deployments.clear()
            self._requests.clear()
            self.controller_paused = False
            self.required_token = None

    def add_deployment(self, namespace: str, name: str, *, replicas: int = 3) -> dict[str, Any]:
        """Create a settled deployment (generation 1, observed, all replicas ready)."""
        labels = {"app": name}
        deployment = {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"00000000-0000-4000-8000-{abs(hash((namespace, name))) % 10**12:012d}",
                "resourceVersion": self._next_version(),
                "generation": 1,
                "creationTimestamp": "2026-03-01T10:00:00Z",
                "labels": labels,
                "annotations": {"deployment.kubernetes.io/revision": "1"},
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": name, "image": f"registry/{name}:1.0"}]},
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
                },
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
            "status": {
                "observedGeneration": 1,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
            },
        }
        with self._lock:
            self.deployments[(namespace, name)] = deployment
        return copy.deepcopy(deployment)

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        """A copy of one stored deployment."""
        with self._lock:
            return copy.deepcopy(self.deployments[(namespace, name)])

    # -- lifecycle

    def start(self) -> None:
        """Bind a free port and serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.stub = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- request handling (handler threads)

    def _next_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        """Answer one request: (status, JSON body)."""
        if self.required_token is not None and (
            headers.get("authorization") != f"Bearer {self.required_token}"
        ):
            return 401, _status(401, "Unauthorized", "Unauthorized")
        if path.rstrip("/") == "/apis/apps/v1" and method == "GET":
            return 200, _APPS_V1_RESOURCES
        match = _DEPLOYMENT.fullmatch(path)
        if match is None:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        namespace, name = match.groups()
        with self._lock:
            deployment = self.deployments.get((namespace, name))
            if deployment is None:
                message = f'deployments.apps "{name}" not found'
                details = {"name": name, "group": "apps", "kind": "deployments"}
                return 404, _status(404, "NotFound", message, details)
            if method == "GET":
                return 200, copy.deepcopy(deployment)
            if method == "PATCH":
                return self._patch(deployment, headers, body)
        return 405, _status(405, "MethodNotAllowed", f"method {method} not allowed")

    def _patch(
        self, deployment: dict[str, Any], headers: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        content_type = headers.get("content-type", "").split(";")[0].strip()
        if content_type not in _MERGE_TYPES:
            message = f"the body of the request was in an unknown format - {content_type}"
            if content_type == "application/json-patch+json":
                message = "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
            if content_type.endswith("json"):
                return 400, _status(400, "BadRequest", message)
            return 415, _status(415, "UnsupportedMediaType", message)
        if not isinstance(body, dict):
            return 400, _status(400, "BadRequest", "patch body must be a JSON object")
        replicas = (body.get("spec") or {}).get("replicas")
        if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
            message = f"spec.replicas: Invalid value: {replicas}: must be >= 0"
            return 422, _status(422, "Invalid", message)
        before = copy.deepcopy(deployment["spec"])
        _merge(deployment, body)
        metadata = deployment["metadata"]
        metadata["resourceVersion"] = self._next_version()
        if deployment["spec"] != before:
            metadata["generation"] += 1
            if not self.controller_paused:
                status = deployment["status"]
                target = deployment["spec"]["replicas"]
                status["observedGeneration"] = metadata["generation"]
                status.update(
                    replicas=target,
                    updatedReplicas=target,
                    readyReplicas=target,
                    availableReplicas=target,
                )
        return 200, copy.deepcopy(deployment)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: KubernetesStub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        stub = self.server.stub
        status, payload = stub.handle(self.command, url.path, headers, copy.deepcopy(body))
        stub._record(RecordedRequest(self.command, url.path, headers, body, status))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_PATCH = _serve
    do_PUT = _serve
    do_POST = _serve
    do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@contextlib.contextmanager
def serve_kubernetes_stub() -> Iterator[KubernetesStub]:
    """Start a stub; stop it on exit."""
    stub = KubernetesStub()
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()
