"""What the kubelet does to a container's env before the process sees it.

Kubernetes expands ``$(NAME)`` in env values (and command/args) from the container's earlier
variables (k8s.io/kubernetes third_party/forked/golang/expansion): ``$$`` is a literal ``$``,
``$(NAME)`` is NAME's value when NAME was defined earlier in the list, anything else stays as
written. Tests play it to see what a composed container really gets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["container_env", "expand", "pod_containers"]


def expand(value: str, env: Mapping[str, str]) -> str:
    """``value`` as the container sees it, given the variables defined before it."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "$" and i + 1 < len(value):
            nxt = value[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = value.find(")", i + 2)
                if end != -1:
                    name = value[i + 2 : end]
                    out.append(env.get(name, f"$({name})"))
                    i = end + 1
                    continue
        out.append(value[i])
        i += 1
    return "".join(out)


def container_env(container: Mapping[str, Any], secret: str) -> dict[str, str]:
    """The container's env after expansion; a ``valueFrom`` variable's value is
    ``secret + its name``, so a test can see where such a value ends up."""
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        if "valueFrom" in entry:
            env[entry["name"]] = secret + entry["name"]
        else:
            env[entry["name"]] = expand(entry.get("value", ""), env)
    return env


def pod_containers(manifest: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every container and init container of a Deployment, Job or CronJob."""
    spec = manifest.get("spec", {})
    template = spec.get("jobTemplate", {}).get("spec", spec).get("template")
    if manifest.get("kind") not in {"Deployment", "Job", "CronJob"} or template is None:
        return
    pod = template["spec"]
    yield from pod.get("initContainers", [])
    yield from pod["containers"]
