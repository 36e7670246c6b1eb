"""spec.triggers.subjects on a real nats-server: the Stream and Consumer the function composes
(declared here as NACK would) feed messages on trigger subjects, captured or sourced, to the
runtime's workers, which run them (stub LLM) to results; other subjects are left alone."""

from __future__ import annotations

import contextlib

import pytest

from contract.env import QUEUE_ENV
from function.builders import build_all
from runtime.jobs import JobStatus
from tests.function.factories import make_ctx, make_spec

pytestmark = pytest.mark.services


async def test_captured_and_sourced_subjects_become_jobs(
    start_agent, bus, jetstream, job_factory, llm
):
    from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig, StreamSource

    tag = jetstream.stream.removeprefix("T_")
    prefix = jetstream.jobs_subject.removesuffix(".jobs")
    source = f"SRC_{tag}"
    spec = make_spec(
        queue={"url": jetstream.url, "stream": jetstream.stream, "subjectPrefix": prefix},
        triggers={
            "subjects": [
                {"subject": f"ev.{tag}.orders.*"},
                {"subject": f"src.{tag}.alerts", "stream": source},
            ]
        },
    )
    desired = build_all(make_ctx(spec))
    stream, consumer = desired["stream"]["spec"], desired["consumer"]["spec"]

    js = bus.js
    await js.add_stream(StreamConfig(name=source, subjects=[f"src.{tag}.>"]))
    try:
        await js.add_stream(
            StreamConfig(
                name=stream["name"],
                subjects=stream["subjects"],
                sources=[
                    StreamSource(name=s["name"], filter_subject=s["filterSubject"])
                    for s in stream["sources"]
                ],
                duplicate_window=120,
            )
        )
        await js.add_consumer(
            stream["name"],
            ConsumerConfig(
                durable_name=consumer["durableName"],
                ack_policy=AckPolicy.EXPLICIT,
                filter_subjects=consumer["filterSubjects"],
                max_deliver=consumer["maxDeliver"],
                ack_wait=5,
            ),
        )
        await start_agent(http=False, **{QUEUE_ENV.CONSUMER: consumer["durableName"]})

        captured = job_factory(text="order created")
        sourced = job_factory(text="alert fired")
        ignored = job_factory(text="not a trigger")
        await js.publish(f"ev.{tag}.orders.created", captured.model_dump_json().encode())
        await js.publish(f"src.{tag}.alerts", sourced.model_dump_json().encode())
        await js.publish(f"src.{tag}.other", ignored.model_dump_json().encode())

        results = await bus.wait_results(2)
        assert {r.job_id: r.output for r in results} == {
            captured.job_id: "stub answer: order created",
            sourced.job_id: "stub answer: alert fired",
        }
        assert {r.status for r in results} == {JobStatus.COMPLETED}
        info = await js.consumer_info(stream["name"], consumer["durableName"])
        assert (info.num_pending, info.num_ack_pending) == (0, 0)
        assert len(await bus.results()) == 2
        assert await bus.dead_letters() == []
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(source)
