"""The memo from received bytes: a hit costs no decode, and no byte change is served stale."""

from __future__ import annotations

import random
import tracemalloc

import pytest
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function import compose
from function.fn import FunctionRunner
from function.memo import Memo, _split, received
from tests.function.test_memo import CHANGES, running

TAGS = st.text(max_size=80)
SLOW_OK = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _wire(req: fnv1.RunFunctionRequest, tag: str) -> bytes:
    req.meta.tag = tag
    return req.SerializeToString()


def _dict(body: bytes) -> dict:
    return json_format.MessageToDict(fnv1.RunFunctionResponse.FromString(body))


@pytest.fixture
def composed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts compositions (what a memo hit skips)."""
    calls: list[int] = []
    real = compose.compose
    monkeypatch.setattr(compose, "compose", lambda *a: calls.append(1) or real(*a))
    return calls


@given(a=TAGS, b=TAGS)
def test_the_received_key_ignores_the_tag_and_reads_it_exactly(a: str, b: str) -> None:
    req = running()
    req.meta.capabilities.append(fnv1.CAPABILITY_CONDITIONS)
    first, second = received(_wire(req, a)), received(_wire(req, b))
    assert first is not None
    assert second is not None
    assert (first.tag, second.tag) == (a, b)
    assert first.key == second.key


@given(st.data())
def test_any_byte_changed_outside_the_tag_changes_the_received_key(data: st.DataObject) -> None:
    req = running()
    body = bytearray(_wire(req, ""))
    at = data.draw(st.integers(0, len(body) - 1))
    body[at] ^= data.draw(st.integers(1, 255))
    changed = received(bytes(body))
    assert changed is None or changed.key != received(_wire(running(), "t")).key


@given(tag=TAGS)
def test_a_remembered_answer_is_the_bytes_protobuf_writes_for_that_tag(tag: str) -> None:
    rsp = fnv1.RunFunctionResponse()
    rsp.meta.tag = "composed-for-another"
    rsp.meta.ttl.seconds = 60
    resource.update(rsp.desired.resources["a"], {"apiVersion": "v1", "kind": "ConfigMap"})
    answer = _split(rsp)
    assert rsp.meta.tag == "composed-for-another"  # the caller's message is left as it was
    rsp.meta.tag = tag
    assert answer.to(tag) == rsp.SerializeToString()


def test_a_request_protobuf_would_merge_or_refuse_is_not_keyed_from_its_bytes() -> None:
    body = _wire(running(), "t")
    meta = fnv1.RequestMeta(tag="again").SerializeToString()
    assert received(body + b"\x0a" + bytes([len(meta)]) + meta) is None  # meta twice
    assert received(b"\x0a\x03\x0a\x01\xff" + body[body.index(b"\x12") :]) is None  # bad UTF-8
    assert received(body[:-3]) is None  # truncated


async def test_a_repeated_request_is_answered_from_its_bytes(composed: list[int]) -> None:
    runner = FunctionRunner()
    first = await runner.run_received(_wire(running(), "one"))
    second = await runner.run_received(_wire(running(), "two"))
    assert len(composed) == 1
    assert runner.memo.aliases == 1
    got = fnv1.RunFunctionResponse.FromString(second)
    assert got.meta.tag == "two"
    got.meta.tag = "one"
    assert got == fnv1.RunFunctionResponse.FromString(first)
    fresh = await FunctionRunner().RunFunction(running())
    fresh.meta.tag = "two"
    assert _dict(second) == json_format.MessageToDict(fresh)


async def test_the_same_request_in_another_map_order_is_one_answer(composed: list[int]) -> None:
    # Go writes Struct maps in random order: the bytes differ, the canonical key does not.
    runner = FunctionRunner()
    base = running()
    xr = resource.struct_to_dict(base.observed.composite.resource)
    answers = set()
    for seed in range(4):
        shuffled = running()
        shuffled.observed.composite.ClearField("resource")
        resource.update(shuffled.observed.composite, _shuffled(xr, random.Random(seed)))
        answers.add(
            json_format.MessageToJson(
                fnv1.RunFunctionResponse.FromString(await runner.run_received(_wire(shuffled, "")))
            )
        )
    assert len(composed) == 1
    assert len(answers) == 1


def _shuffled(value: object, rng: random.Random) -> object:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@pytest.mark.parametrize("part", CHANGES, ids=list(CHANGES))
async def test_a_change_in_any_part_of_the_received_bytes_is_answered_afresh(part: str) -> None:
    make, change = CHANGES[part]
    runner = FunctionRunner()
    before = await runner.run_received(_wire(make(), "t"))
    assert await runner.run_received(_wire(make(), "t")) == before  # remembered
    changed = make()
    change(changed)
    after = await runner.run_received(_wire(changed, "t"))
    assert _dict(after) != _dict(before)
    assert _dict(after) == json_format.MessageToDict(await FunctionRunner().RunFunction(changed))


PARTS = st.sampled_from(["xr", "observed", "required", "input", "context", "desired"])
SCALARS = st.one_of(st.text(max_size=12), st.integers(-5, 5), st.booleans(), st.none())


@SLOW_OK
@given(part=PARTS, key=st.text(min_size=1, max_size=8), value=SCALARS, tag=TAGS)
async def test_a_mutated_request_gets_what_a_fresh_function_answers(
    part: str, key: str, value: object, tag: str
) -> None:
    runner = _WARM
    await runner.run_received(_wire(running(), tag))
    req = running()
    target = {
        "xr": lambda: req.observed.composite.resource["metadata"].get_or_create_struct("labels"),
        "observed": lambda: req.observed.resources["deployment"].resource,
        "required": lambda: req.required_resources["extra"].items.add().resource,
        "input": lambda: req.input,
        "context": lambda: req.context,
        "desired": lambda: req.desired.resources["earlier"].resource,
    }[part]()
    target.update({key: value})
    got = await runner.run_received(_wire(req, tag))
    want = await FunctionRunner().RunFunction(req)
    assert _dict(got) == json_format.MessageToDict(want)


_WARM = FunctionRunner()
"""One function across the examples above, so earlier answers are in its memo."""


async def test_many_distinct_requests_keep_the_memo_within_its_bounds() -> None:
    runner = FunctionRunner()
    runner.memo = Memo(max_entries=3, max_bytes=1 << 20)
    for i in range(16):
        req = running()
        req.observed.composite.resource["metadata"]["resourceVersion"] = str(i)
        await runner.run_received(_wire(req, str(i)))
        assert len(runner.memo) <= 3
        assert runner.memo.aliases <= runner.memo.max_aliases
        assert runner.memo.size <= 1 << 20


def test_the_memo_does_not_grow_over_many_distinct_answers() -> None:
    memo = Memo(max_entries=16, max_bytes=16 << 10)
    rsp = fnv1.RunFunctionResponse()
    rsp.meta.ttl.seconds = 60
    body = fnv1.RunFunctionRequest(meta=fnv1.RequestMeta(tag="t")).SerializeToString()

    def fill(start: int, count: int) -> None:
        for i in range(start, start + count):
            rsp.context.update({"n": str(i) * 40})
            key = i.to_bytes(32, "big")
            memo.put(key, rsp)
            seen = received(body + b"\x62\x04" + i.to_bytes(4, "big"))  # an unknown field
            assert seen is not None
            memo.alias(seen, key)

    tracemalloc.start()
    try:
        fill(0, 200)  # past every bound
        full = tracemalloc.get_traced_memory()[0]
        fill(200, 3_000)
        grown = tracemalloc.get_traced_memory()[0] - full
    finally:
        tracemalloc.stop()
    assert (len(memo), memo.aliases) == (16, memo.max_aliases)
    assert memo.size <= 16 << 10
    assert grown < 4 << 10  # noise of the allocator, not one more answer
