"""A small Kubernetes REST client for the local control plane: apply, get, list, patch, delete.

It speaks to kube-apiserver directly over httpx with a client certificate (or a bearer token),
so neither kubectl nor the kubernetes Python client is needed. Resource paths come from the
API server's discovery documents, re-read when a kind is missing (CRDs arrive at run time).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

FIELD_MANAGER = "xagent-controlplane"
T = TypeVar("T")


class KubeError(Exception):
    """An API request failed; carries the HTTP status and the server's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Resource:
    """Where a kind lives: its REST base path and whether it is namespaced."""

    base: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        parts = [self.base]
        if self.namespaced and namespace:
            parts += ["namespaces", namespace]
        parts.append(self.plural)
        if name:
            parts.append(name)
        return "/".join(parts)


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a file."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


class Kube:
    """A client for one identity: a client certificate, or a bearer token."""

    def __init__(
        self,
        server: str,
        ca: Path,
        cert: tuple[Path, Path] | None = None,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        tls = ssl.create_default_context(cafile=str(ca))
        if cert:
            tls.load_cert_chain(str(cert[0]), str(cert[1]))
        self._http = httpx.Client(base_url=server, verify=tls, headers=headers, timeout=timeout)
        self._resources: dict[tuple[str, str], Resource] = {}

    def close(self) -> None:
        self._http.close()

    # Discovery -------------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        """The REST resource of a kind, from discovery (re-read once when unknown)."""
        key = (api_version, kind)
        if key not in self._resources:
            self._discover(api_version)
        if key not in self._resources:
            raise KubeError(404, f"no resource for kind {kind} in {api_version}")
        return self._resources[key]

    def _discover(self, api_version: str) -> None:
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        response = self._http.get(base)
        if response.status_code == 404:
            return
        _raise_for(response)
        for r in response.json()["resources"]:
            if "/" in r["name"]:  # subresources
                continue
            self._resources[(api_version, r["kind"])] = Resource(base, r["name"], r["namespaced"])

    def _path(self, obj: dict[str, Any]) -> str:
        meta = obj.get("metadata", {})
        res = self.resource(obj["apiVersion"], obj["kind"])
        return res.path(meta.get("namespace"), meta.get("name"))

    # Verbs -----------------------------------------------------------------------------------

    def apply(self, obj: dict[str, Any], manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """Server-side apply ``obj`` (forcing conflicts), returning the object as stored."""
        response = self._http.patch(
            self._path(obj),
            params={"fieldManager": manager, "force": "true"},
            content=json.dumps(obj),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        _raise_for(response)
        return response.json()

    def apply_all(self, objs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.apply(o) for o in objs]

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        path = self.resource(api_version, kind).path(namespace, name)
        response = self._http.get(path)
        if response.status_code == 404:
            return None
        _raise_for(response)
        return response.json()

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        path = self.resource(api_version, kind).path(namespace)
        params = {"labelSelector": label_selector} if label_selector else {}
        response = self._http.get(path, params=params)
        _raise_for(response)
        return response.json()["items"]

    def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the status subresource (the tests play the operators)."""
        response = self._http.patch(
            self._path(obj) + "/status",
            content=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        _raise_for(response)
        return response.json()

    def merge_patch(self, obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        response = self._http.patch(
            self._path(obj),
            content=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        _raise_for(response)
        return response.json()

    def create(self, obj: dict[str, Any], path_suffix: str = "") -> dict[str, Any]:
        """POST ``obj`` to its collection (or to ``<object path><path_suffix>``)."""
        meta = obj.get("metadata", {})
        res = self.resource(obj["apiVersion"], obj["kind"])
        path = res.path(meta.get("namespace"))
        response = self._http.post(path + path_suffix, content=json.dumps(obj))
        _raise_for(response)
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, content=json.dumps(body))
        _raise_for(response)
        return response.json()

    def delete(self, obj: dict[str, Any], propagation: str = "Background") -> None:
        """Delete ``obj``; a missing object is not an error."""
        response = self._http.request(
            "DELETE",
            self._path(obj),
            content=json.dumps({"propagationPolicy": propagation}),
        )
        if response.status_code != 404:
            _raise_for(response)

    def raw_get(self, path: str) -> httpx.Response:
        return self._http.get(path)


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        message = response.json().get("message", response.text)
    except ValueError:
        message = response.text
    raise KubeError(response.status_code, f"{response.request.method} {response.url}: {message}")


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except (KubeError, httpx.TransportError) as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The condition of type ``type_`` of an object's status, if any."""
    if not obj:
        return None
    for c in obj.get("status", {}).get("conditions", []) or []:
        if c.get("type") == type_:
            return c
    return None


def has_condition(obj: dict[str, Any] | None, type_: str, status: str = "True") -> bool:
    c = condition(obj, type_)
    return bool(c) and c.get("status") == status
