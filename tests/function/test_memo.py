"""The answer memo: never stale, tag-exact, bounded, and bypassed for unexpected errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format

from function import compose, definition_source
from function.fn import FunctionRunner
from function.memo import Memo
from function.render import first_request, load_inputs

ROOT = Path(__file__).resolve().parents[2]


_RUNNING = first_request(
    load_inputs(ROOT / "examples/running/xr.yaml", observed=ROOT / "examples/running/observed.yaml")
)


def running() -> fnv1.RunFunctionRequest:
    req = fnv1.RunFunctionRequest()
    req.CopyFrom(_RUNNING)
    return req


def definition_ref() -> fnv1.RunFunctionRequest:
    req = first_request(load_inputs(ROOT / "examples/definition-ref/xr.yaml"))
    required = load_inputs(
        ROOT / "examples/definition-ref/xr.yaml",
        required=ROOT / "examples/definition-ref/required.yaml",
    ).required
    resource.update(req.required_resources[definition_source.REQUIREMENT].items.add(), required[0])
    return req


def _spec_model(req: fnv1.RunFunctionRequest) -> None:
    req.observed.composite.resource["spec"]["model"]["name"] = "gpt-4.1"


def _xr_name(req: fnv1.RunFunctionRequest) -> None:
    req.observed.composite.resource["metadata"]["name"] = "helpdesk-2"


def _observed_unready(req: fnv1.RunFunctionRequest) -> None:
    del req.observed.resources["deployment"].resource["status"]


def _observed_gone(req: fnv1.RunFunctionRequest) -> None:
    del req.observed.resources["service"]


def _input_policy(req: fnv1.RunFunctionRequest) -> None:
    req.input.update(
        {
            "apiVersion": "fn.xagent.dev/v1beta1",
            "kind": "Input",
            "policy": {"tenants": [{"tenantId": "acme", "allowedProviders": ["anthropic"]}]},
        }
    )


def _context(req: fnv1.RunFunctionRequest) -> None:
    req.context.update({"apiextensions.crossplane.io/environment": {"region": "eu"}})


def _desired_earlier_step(req: fnv1.RunFunctionRequest) -> None:
    resource.update(req.desired.resources["extra"], {"apiVersion": "v1", "kind": "Namespace"})


def _required_definition(req: fnv1.RunFunctionRequest) -> None:
    cm = req.required_resources[definition_source.REQUIREMENT].items[0].resource
    cm["data"]["definition.yaml"] = cm["data"]["definition.yaml"].replace("triage", "sorter")


def _required_gone(req: fnv1.RunFunctionRequest) -> None:
    req.required_resources[definition_source.REQUIREMENT].ClearField("items")


CHANGES: dict[str, tuple[Callable[[], fnv1.RunFunctionRequest], Callable]] = {
    "xr-spec": (running, _spec_model),
    "xr-metadata": (running, _xr_name),
    "observed-status": (running, _observed_unready),
    "observed-removed": (running, _observed_gone),
    "input": (running, _input_policy),
    "context": (running, _context),
    "desired-of-earlier-steps": (running, _desired_earlier_step),
    "required-content": (definition_ref, _required_definition),
    "required-missing": (definition_ref, _required_gone),
}


class _Quiet:
    def bind(self, **_: object) -> _Quiet:
        return self

    def __getattr__(self, _name: str) -> Callable[..., None]:
        return lambda *_a, **_k: None


def _dict(rsp: fnv1.RunFunctionResponse) -> dict:
    return json_format.MessageToDict(rsp)


@pytest.mark.parametrize("part", CHANGES, ids=list(CHANGES))
async def test_a_change_in_any_part_of_the_request_changes_the_answer(part: str) -> None:
    make, change = CHANGES[part]
    runner = FunctionRunner()
    before = _dict(await runner.RunFunction(make()))
    assert _dict(await runner.RunFunction(make())) == before  # now remembered
    changed = make()
    change(changed)
    after = _dict(await runner.RunFunction(changed))
    assert after != before
    assert after == _dict(await FunctionRunner().RunFunction(changed))  # what a fresh one says


async def test_a_remembered_answer_carries_the_new_requests_tag() -> None:
    runner = FunctionRunner()
    first, second = running(), running()
    first.meta.tag, second.meta.tag = "one", "two"
    a, b = await runner.RunFunction(first), await runner.RunFunction(second)
    assert (a.meta.tag, b.meta.tag) == ("one", "two")
    b.meta.tag = "one"
    assert a == b


async def test_an_identical_request_is_composed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = compose.compose
    monkeypatch.setattr(compose, "compose", lambda *a: calls.append(1) or real(*a))
    runner = FunctionRunner()
    for _ in range(3):
        await runner.RunFunction(running())
    assert len(calls) == 1


async def test_an_unexpected_error_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    real = compose.compose

    def broken(*_args: object) -> compose.Outcome:
        raise RuntimeError("transient")

    runner = FunctionRunner()
    runner.log = _Quiet()  # formatting the traceback is most of this test's time
    monkeypatch.setattr(compose, "compose", broken)
    failed = await runner.RunFunction(running())
    assert [r.severity for r in failed.results] == [fnv1.SEVERITY_FATAL]
    monkeypatch.setattr(compose, "compose", real)
    healed = await runner.RunFunction(running())
    assert not [r for r in healed.results if r.severity == fnv1.SEVERITY_FATAL]
    assert healed.desired.resources
    assert _dict(healed) == _dict(await FunctionRunner().RunFunction(running()))


async def test_many_distinct_requests_stay_within_the_bounds() -> None:
    runner = FunctionRunner()
    runner.memo = Memo(max_entries=4, max_bytes=1 << 20)
    for i in range(12):
        req = running()
        req.observed.composite.resource["metadata"]["resourceVersion"] = str(i)
        await runner.RunFunction(req)
        assert len(runner.memo) <= 4
        assert runner.memo.size <= 1 << 20
    assert len(runner.memo) == 4


def test_the_byte_bound_evicts_oldest_first() -> None:
    memo = Memo(max_entries=100, max_bytes=300)
    answers = []
    for i in range(10):
        rsp = fnv1.RunFunctionResponse()
        rsp.context.update({"n": str(i) * 50})
        answers.append(rsp)
        memo.put(bytes([i]), rsp)
        assert memo.size <= 300
    assert memo.get(bytes([0]), "") is None
    assert memo.get(bytes([9]), "") == answers[9]
    huge = fnv1.RunFunctionResponse()
    huge.context.update({"n": "x" * 1000})
    memo.put(b"huge", huge)  # bigger than the whole budget: not kept, nothing evicted for it
    assert memo.get(b"huge", "") is None
    assert memo.get(bytes([9]), "") == answers[9]
