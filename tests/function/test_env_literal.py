"""A tenant's string reaches the container exactly as written: the kubelet's ``$(NAME)``
expansion never turns it into another variable's value.

The kubelet expands ``$(NAME)`` in env values from the container's earlier variables. Written
as is, ``spec.model.endpoint: https://a$(MODEL_NAME).openai.azure.com`` passes the policy's
``https://*.openai.azure.com`` (the pattern sees the spec), and with ``model.name:
.evil.example/x`` the runtime connects to ``https://a.evil.example/x.openai.azure.com`` and
hands it the Azure key; ``$(OPENAI_API_KEY)`` in a schedule's message or a task's input would
send the key to the model. And a prompt's ``$$`` would reach the model as ``$``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.env import ENV, TASK_ENV, TRIGGER_ENV
from function.builders import build_all
from function.input import Policy
from function.policy import check
from tests.function.factories import make_ctx, make_spec
from tests.function.kubelet import container_env, pod_containers

SECRET = "secret-value-of-"
AZURE = {"provider": "azure-openai", "apiVersion": "2024-06-01"}


def _containers_env(spec: Any) -> list[dict[str, str]]:
    return [
        container_env(container, SECRET)
        for manifest in build_all(make_ctx(spec)).values()
        for container in pod_containers(manifest)
    ]


def test_an_endpoint_cannot_borrow_another_variable_to_leave_the_allowed_hosts() -> None:
    endpoint = "https://a$(MODEL_NAME).openai.azure.com"
    spec = make_spec(model={**AZURE, "name": ".evil.example/x", "endpoint": endpoint})
    policy = Policy.model_validate({"tenants": [{"tenantId": "t1", "allowedModels": ["*"]}]})
    assert spec.definition is not None
    # The policy matches the spec's string, which is on an allowed host pattern...
    assert check(spec, spec.definition, policy, namespace="agents") == []
    # ...so the container must get that string, not the kubelet's expansion of it.
    [env] = _containers_env(spec)
    assert env[ENV.MODEL_ENDPOINT] == endpoint
    assert env[ENV.MODEL_NAME] == ".evil.example/x"


PIECES = st.sampled_from(
    ["$", "$$", "$(", ")", "$(MODEL_NAME)", "$(AGENT_NAME)", "$(OPENAI_API_KEY)", "x", " "]
)
HOSTILE = st.lists(PIECES, min_size=1, max_size=8).map("".join).filter(str.strip)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=HOSTILE, prompt=HOSTILE, message=HOSTILE, thread=HOSTILE)
def test_a_service_agent_s_strings_reach_every_container_verbatim(
    name: str, prompt: str, message: str, thread: str
) -> None:
    schedule = {"name": "nightly", "schedule": "0 2 * * *", "message": message, "threadId": thread}
    spec = make_spec(model={"name": name}, systemPrompt=prompt, triggers={"schedules": [schedule]})
    envs = _containers_env(spec)
    assert len(envs) == 2  # the runtime and the schedule's enqueue
    for env in envs:
        _assert_no_secret_copied(env)
    runtime, enqueue = sorted(envs, key=lambda env: TRIGGER_ENV.MESSAGE in env)
    assert runtime[ENV.MODEL_NAME] == name
    assert runtime[ENV.SYSTEM_PROMPT] == prompt
    assert enqueue[TRIGGER_ENV.MESSAGE] == message
    assert enqueue[TRIGGER_ENV.THREAD_ID] == thread


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=HOSTILE, thread=HOSTILE)
def test_a_task_s_input_reaches_its_container_verbatim(text: str, thread: str) -> None:
    spec = make_spec(mode="task", task={"input": text, "threadId": thread})
    [env] = _containers_env(spec)
    _assert_no_secret_copied(env)
    assert env[TASK_ENV.INPUT] == text
    assert env[TASK_ENV.THREAD_ID] == thread


def _assert_no_secret_copied(env: dict[str, str]) -> None:
    copied = {
        name: value for name, value in env.items() if SECRET in value and value != SECRET + name
    }
    assert copied == {}
