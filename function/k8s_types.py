"""Kubernetes field grammars and schemas the XAgent API reuses, so the XRD admits only what
the API server accepts.

Patterns follow apimachinery ``pkg/util/validation/validation.go`` (qualified names, label
values, C identifiers) and the core/v1 types (``EnvVarSource``, ``EnvFromSource``).
"""

from __future__ import annotations

import copy
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from contract.definition import CamelModel
from function.errors import messages

__all__ = [
    "CONFIG_KEY",
    "IMAGE",
    "LABEL_KEY",
    "LABEL_VALUE",
    "ONE_ENV_SOURCE",
    "EnvFromSourceRef",
    "EnvVarSource",
    "annotations",
    "as_kubernetes",
    "env_literal",
    "env_references",
    "labels",
]

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
"""A qualified name (label and annotation keys): ``[prefix/]name``, name at most 63."""
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"
"""A ConfigMap or Secret key (``IsConfigMapKey``), at most 253 characters."""
IMAGE = r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,510}$"
"""An image reference without whitespace or control characters (the kubelet trims nothing)."""

_LABEL_KEY = re.compile(LABEL_KEY)
_LABEL_VALUE = re.compile(LABEL_VALUE)


class _KeySelector(CamelModel):
    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253, description="Name.")]
    key: Annotated[str, Field(pattern=CONFIG_KEY, max_length=253, description="Key.")]
    optional: Annotated[bool | None, Field(description="Whether it may be missing.")] = None


class _FieldSelector(CamelModel):
    api_version: Annotated[str | None, Field(description="Schema version of fieldPath.")] = None
    field_path: Annotated[str, Field(min_length=1, max_length=256, description="Field path.")]


class _ResourceSelector(CamelModel):
    container_name: Annotated[str | None, Field(description="Container name.")] = None
    resource: Annotated[str, Field(min_length=1, max_length=64, description="Resource.")]
    divisor: Annotated[str | None, Field(max_length=64, description="Output unit.")] = None


ONE_ENV_SOURCE = "set exactly one of configMapKeyRef, secretKeyRef, fieldRef or resourceFieldRef"


class EnvVarSource(CamelModel):
    """core/v1 EnvVarSource: exactly one source (pydantic here, CEL in the XRD)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.configMapKeyRef), has(self.secretKeyRef), "
                    "has(self.fieldRef), has(self.resourceFieldRef)]"
                    ".filter(set, set).size() == 1",
                    "message": ONE_ENV_SOURCE,
                }
            ]
        }
    )

    config_map_key_ref: Annotated[
        _KeySelector | None, Field(description="A key of a ConfigMap in the namespace.")
    ] = None
    secret_key_ref: Annotated[
        _KeySelector | None, Field(description="A key of a Secret in the namespace.")
    ] = None
    field_ref: Annotated[
        _FieldSelector | None, Field(description="A field of the pod (downward API).")
    ] = None
    resource_field_ref: Annotated[
        _ResourceSelector | None, Field(description="A resource limit or request.")
    ] = None

    @model_validator(mode="after")
    def _one(self) -> EnvVarSource:
        if sum(v is not None for v in self.__dict__.values()) != 1:
            raise ValueError(ONE_ENV_SOURCE)
        return self


class EnvFromSourceRef(CamelModel):
    """core/v1 ConfigMapEnvSource / SecretEnvSource (a name is required here)."""

    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253, description="Name.")]
    optional: Annotated[bool | None, Field(description="Whether it may be missing.")] = None


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
                extra = {k: v for k, v in node.items() if k != "$ref"}
                return resolve({**target, **extra})
            if "anyOf" in node and {"type": "null"} in node["anyOf"]:
                rest = [s for s in node["anyOf"] if s != {"type": "null"}]
                if len(rest) == 1:
                    merged = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
                    return resolve({**rest[0], **merged})
            return {k: resolve(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def as_kubernetes(model: type[CamelModel], description: str) -> Any:
    """A plain-dict field checked against ``model`` and published with its schema.

    The field stays a dict (what builders and policy read), but the XRD carries the
    Kubernetes schema and the function answers a mismatch with the inner field path.
    """
    schema = _inline(model.model_json_schema(by_alias=True))
    schema["description"] = description

    def check(value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            model.model_validate(value)
        except ValidationError as e:
            raise ValueError("; ".join(messages(e, ""))) from None
        return value

    return (AfterValidator(check), WithJsonSchema(schema))


def _check_map(kind: str, check_values: bool):
    def check(value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            # apimachinery checks annotation keys lower-cased (ValidateAnnotations).
            name = key if check_values else key.lower()
            prefix = name.rpartition("/")[0]
            if not _LABEL_KEY.match(name) or len(prefix) > 253:
                raise ValueError(f"{key!r} is not a valid {kind} key ([prefix/]name)")
            if check_values and not _LABEL_VALUE.match(item):
                raise ValueError(f"{key}: {item!r} is not a valid label value")
        return value

    return AfterValidator(check)


labels = _check_map("label", check_values=True)
"""Validator of a label map: qualified-name keys, label values of at most 63 characters."""
annotations = _check_map("annotation", check_values=False)
"""Validator of an annotation map: qualified-name keys."""


# --- env value expansion -------------------------------------------------------------------


def env_literal(text: str) -> str:
    """``text`` as an env value the kubelet passes unchanged.

    The kubelet expands ``$(NAME)`` in env values from the container's earlier variables, the
    credentials among them; a tenant's ``$(OPENAI_API_KEY)`` in a prompt or task input would
    send the key to the model and into the answer. ``$$`` is the kubelet's escape for ``$``.
    """
    return text.replace("$", "$$")


def env_references(value: str) -> list[str]:
    """The variable names the kubelet would expand in ``value`` (``$(NAME)``, not ``$$(``).

    The grammar of k8s third_party/forked/golang/expansion: ``$$`` is a literal ``$``, and
    ``$(`` up to the next ``)`` is a reference.
    """
    names, i = [], 0
    while i < len(value) - 1:
        if value[i] == "$" and value[i + 1] == "$":
            i += 2
        elif value[i] == "$" and value[i + 1] == "(" and (end := value.find(")", i + 2)) != -1:
            names.append(value[i + 2 : end])
            i = end + 1
        else:
            i += 1
    return names
