"""docs/seeds.md stays true: every API field, status field, metric, env name and README
section it points at exists.

The mapping is prose in tables, so it rots silently when a field is renamed or a section
moves. This test reads the xagent column of every table and checks each reference against
the generated XRD schema, contract/metrics.py, contract/env.py and README.md's headings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract import env
from contract.metrics import METRICS

ROOT = Path(__file__).resolve().parent.parent
SEEDS_DOC = ROOT / "docs" / "seeds.md"
XRD = ROOT / "xrds" / "xagent.yaml"
README = ROOT / "README.md"

_CHAIN = re.compile(r"`[^`]+`(?:\s*(?:/|,)\s*`[^`]+`)*")
"""A backticked reference and the siblings joined to it by ``/`` or ``,``."""
_TOKEN = re.compile(r"`([^`]+)`")
_README_SECTION = re.compile(r'README "([^"]+)"')
_METRIC = re.compile(r"^xagent_[a-z0-9_]+$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")


def _rows() -> Iterator[tuple[int, str, str]]:
    """(line, seed column, xagent column) of every table row but headers and rules."""
    for number, line in enumerate(SEEDS_DOC.read_text().splitlines(), start=1):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 2:
            continue
        if cells == ["seed", "xagent"] or set(cells[0]) <= {"-", " "}:
            continue
        yield number, cells[0], cells[1]


@functools.cache
def _schema() -> Mapping[str, Any]:
    xrd = yaml.safe_load(XRD.read_text())
    [version] = [v for v in xrd["spec"]["versions"] if v.get("referenceable")]
    return version["schema"]["openAPIV3Schema"]


def _resolve(schema: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The schema node at a dotted path (``[]`` steps into array items), or None."""
    node: Mapping[str, Any] = schema
    for segment in path.split("."):
        name = segment.removesuffix("[]")
        node = node.get("properties", {}).get(name)
        if node is None:
            return None
        if segment.endswith("[]"):
            node = node.get("items", {})
    return node


def _field_references() -> Iterator[tuple[int, str]]:
    """Every ``spec.``/``status.`` path, with a sibling like ``/`tag``` expanded."""
    for number, _, xagent in _rows():
        for chain in _CHAIN.findall(xagent):
            first, *siblings = _TOKEN.findall(chain)
            if not first.startswith(("spec.", "status.")):
                continue
            yield number, first
            parent = first.split(":")[0].rsplit(".", 1)[0]
            for sibling in siblings:
                absolute = sibling.startswith(("spec.", "status."))
                yield number, sibling if absolute else f"{parent}.{sibling}"


FIELDS = sorted(set(_field_references()))


def test_the_doc_references_fields() -> None:
    # A parser that finds nothing would pass every check below.
    assert len(FIELDS) > 30


@pytest.mark.parametrize(("line", "reference"), FIELDS, ids=[f for _, f in FIELDS])
def test_every_field_exists_in_the_xrd(line: int, reference: str) -> None:
    path, _, value = (part.strip() for part in reference.partition(":"))
    wildcard = path.endswith(".*")
    node = _resolve(_schema(), path.removesuffix(".*"))
    assert node is not None, f"docs/seeds.md:{line}: `{path}` is not in the XRD"
    if wildcard:
        assert node.get("properties"), f"docs/seeds.md:{line}: `{path}` has no fields"
    if value and "enum" in node:
        assert value in node["enum"], f"docs/seeds.md:{line}: `{reference}` is not allowed"


def test_every_metric_is_declared() -> None:
    declared = {v for k, v in vars(METRICS).items() if not k.startswith("_")}
    named = {
        (number, token)
        for number, _, xagent in _rows()
        for token in _TOKEN.findall(xagent)
        if _METRIC.match(token)
    }
    assert named, "the doc names no metric: the parser is broken"
    assert [f"docs/seeds.md:{n}: {t}" for n, t in sorted(named) if t not in declared] == []


def test_env_names_said_to_be_the_same_are_declared() -> None:
    groups = (env.ENV, env.DATABASE_ENV, env.CACHE_ENV, env.QUEUE_ENV, env.TRIGGER_ENV)
    declared = {v for group in groups for k, v in vars(group).items() if not k.startswith("_")}
    named = {
        (number, token)
        for number, seed, xagent in _rows()
        if "contract/env.py" in xagent
        for token in _TOKEN.findall(seed)
        if _ENV_NAME.match(token)
    }
    assert named, "no row maps env names to contract/env.py: the parser is broken"
    assert [f"docs/seeds.md:{n}: {t}" for n, t in sorted(named) if t not in declared] == []


def test_every_readme_section_exists() -> None:
    headings = {
        line.lstrip("#").strip() for line in README.read_text().splitlines() if line.startswith("#")
    }
    named = {
        (number, title)
        for number, _, xagent in _rows()
        for title in _README_SECTION.findall(xagent)
    }
    assert named, "the doc points at no README section: the parser is broken"
    assert [f'docs/seeds.md:{n}: README "{t}"' for n, t in sorted(named) if t not in headings] == []
