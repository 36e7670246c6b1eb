"""`xagent render` prints what the real `crossplane render` prints.

Every examples/<scenario>/ and every edge case in tests/crossplane/cases/ is rendered twice:
by the pinned Crossplane CLI with `--crossplane-binary` (Crossplane core, no Docker),
dialling `xagent serve` through the Development runtime, and by `xagent render`, with the
same XR, Composition, observed and required resources. Some are rendered with `-x` too.

Normalisation: none. Each pair is first parsed (as go-yaml reads YAML, like kubectl) and
compared as data (the contract: the same objects in the same order), then compared as text
(what function/render.py achieves: the same bytes). A failure of only the second means
the YAML writer drifted from go-yaml's formatting (function/_goyaml.py), not the content.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from function._goyaml import load_all
from function.main import app
from tests.crossplane.conftest import ROOT, run

pytestmark = pytest.mark.crossplane

EXAMPLES = ROOT / "examples"
CASES = Path(__file__).parent / "cases"
FUNCTIONS = EXAMPLES / "functions.yaml"
DEFAULT_COMPOSITION = ROOT / "compositions" / "xagent.yaml"
DEV_TARGET = "render.crossplane.io/runtime-development-target"


@dataclass(frozen=True)
class Scenario:
    """One render: a folder like an example's, and extra flags for both renderers."""

    name: str
    folder: Path
    flags: tuple[str, ...] = ()

    def inputs(self) -> list[str]:
        """Flags both CLIs share: -o observed.yaml, -e required.yaml (when present)."""
        args = []
        for flag, file in (("-o", "observed.yaml"), ("-e", "required.yaml")):
            if (self.folder / file).exists():
                args += [flag, str(self.folder / file)]
        return [*args, *self.flags]

    @property
    def composition(self) -> Path:
        """The folder's composition.yaml, else the shipped Composition."""
        own = self.folder / "composition.yaml"
        return own if own.exists() else DEFAULT_COMPOSITION


def _scenarios(base: Path, prefix: str) -> list[Scenario]:
    return [Scenario(f"{prefix}/{p.parent.name}", p.parent) for p in sorted(base.glob("*/xr.yaml"))]


FULL_XR = ("--include-full-xr",)
SCENARIOS = [
    *_scenarios(EXAMPLES, "examples"),
    *_scenarios(CASES, "cases"),
    Scenario("examples/minimal -x", EXAMPLES / "minimal", FULL_XR),
    Scenario("examples/running -x", EXAMPLES / "running", FULL_XR),
    Scenario("cases/existing-status -x", CASES / "existing-status", FULL_XR),
    Scenario("cases/yaml-scalars -x", CASES / "yaml-scalars", FULL_XR),
]
FAILING = {
    "examples/policy-violation": [
        "spec.model.provider: provider 'openai' is not allowed for tenant 'globex'",
        "spec.tools.allowed[0]: tool 'develop_in_container' needs riskTier high",
    ],
    "cases/foreign-namespace": [
        "observed resource support-bot is not in the same namespace as the XR",
    ],
}


def crossplane_render(
    scenario: Scenario, crossplane: Path, core: Path, target: str
) -> tuple[int, str, str]:
    """The real CLI, with the Development runtime pointed at our server."""
    result = run(
        [
            crossplane,
            "composition",
            "render",
            scenario.folder / "xr.yaml",
            scenario.composition,
            FUNCTIONS,
            "--crossplane-binary",
            core,
            "--function-annotations",
            f"{DEV_TARGET}={target}",
            "--timeout",
            "60s",
            *scenario.inputs(),
        ]
    )
    return result.returncode, result.stdout, result.stderr


def xagent_render(scenario: Scenario) -> tuple[int, str, str]:
    """`xagent render`, through its CLI, in-process."""
    result = CliRunner().invoke(
        app,
        [
            "render",
            str(scenario.folder / "xr.yaml"),
            "--composition",
            str(scenario.composition),
            *scenario.inputs(),
        ],
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "scenario", [s for s in SCENARIOS if s.name not in FAILING], ids=lambda s: s.name
)
def test_xagent_render_equals_crossplane_render(
    scenario: Scenario, crossplane: Path, crossplane_core: Path, function_target: str
) -> None:
    code, want, err = crossplane_render(scenario, crossplane, crossplane_core, function_target)
    assert code == 0, f"crossplane render failed:\n{err}"
    ours, got, our_err = xagent_render(scenario)
    assert ours == 0, f"xagent render failed:\n{our_err}"
    assert load_all(got) == load_all(want), (
        "xagent render and crossplane render disagree on the objects"
    )
    assert got == want, "same objects, different YAML text: see function/_goyaml.py"


@pytest.mark.parametrize("name", sorted(FAILING))
def test_failing_render_names_the_rule_in_both(
    name: str, crossplane: Path, crossplane_core: Path, function_target: str
) -> None:
    scenario = next(s for s in SCENARIOS if s.name == name)
    code, out, err = crossplane_render(scenario, crossplane, crossplane_core, function_target)
    ours, our_out, our_err = xagent_render(scenario)
    assert code != 0
    assert ours != 0
    assert out == our_out == ""
    for fragment in FAILING[name]:
        assert fragment in err, f"crossplane render stderr lacks {fragment!r}:\n{err}"
        assert fragment in our_err, f"xagent render stderr lacks {fragment!r}:\n{our_err}"


def test_every_example_is_covered() -> None:
    """A new example is rendered by both; a renamed failing one is noticed."""
    names = {s.name for s in SCENARIOS}
    assert set(FAILING) <= names
    assert {f"examples/{p.parent.name}" for p in EXAMPLES.glob("*/xr.yaml")} <= names
