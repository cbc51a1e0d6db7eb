"""Registry credentials kept with a service (``--with-registry-auth``), as dockerd and SwarmKit keep
them: in the task template's ``ContainerSpec.PullOptions``, carried over by updates that bring none,
and never a reason on their own to replace a task that has its image already."""

from __future__ import annotations

import msgspec
import pytest

from shoal.api.errors import InvalidArgument
from shoal.api.states import TaskState
from shoal.api.types import Service, Task, clone
from shoal.frontdoor.docker.app import service_json, task_json

from .harness import Harness, spec


def auth_of(x: Service | Task) -> str | None:
    cs = x.Spec.TaskTemplate.Containers[0] if isinstance(x, Service) else x.Spec.Containers[0]
    assert cs is not None
    return cs.PullOptions.RegistryAuth if cs.PullOptions else None


async def test_auth_is_kept_with_the_service_and_its_tasks(h: Harness) -> None:
    await h.api.create_service(spec(replicas=2), registry_auth="AUTH1")
    await h.settle()
    assert auth_of(h.service()) == "AUTH1"
    assert [auth_of(t) for t in h.tasks()] == ["AUTH1", "AUTH1"]
    await h.update(env=["A=1"])  # the CLI sends the spec without credentials: they stay
    assert auth_of(h.service()) == "AUTH1"


async def test_new_credentials_alone_do_not_replace_running_tasks(h: Harness) -> None:
    await h.api.create_service(spec(replicas=2), registry_auth="AUTH1")
    await h.settle()
    first = h.tasks()
    await h.report(first[0], TaskState.RUNNING)
    cur = h.service()
    await h.api.update_service(cur.ID, cur.Version.Index, clone(cur.Spec), registry_auth="AUTH2")
    await h.settle()
    assert auth_of(h.service()) == "AUTH2"
    live = h.wanted()
    assert first[0].ID in [t.ID for t in live]  # running: kept
    assert first[1].ID not in [t.ID for t in live]  # still to pull (new): made again with the new credentials
    assert {auth_of(t) for t in live if t.ID != first[0].ID} == {"AUTH2"}


async def test_auth_from_previous_spec_and_rollback(h: Harness) -> None:
    await h.api.create_service(spec(replicas=1), registry_auth="OLD")
    await h.settle()
    cur = h.service()
    await h.api.update_service(cur.ID, cur.Version.Index, clone(cur.Spec), registry_auth="NEW")
    cur = h.service()
    new = clone(cur.Spec)
    new.TaskTemplate.Containers[0].Env = ["B=2"]  # type: ignore[union-attr]
    await h.api.update_service(cur.ID, cur.Version.Index, new, auth_from="previous-spec")
    assert auth_of(h.service()) == "OLD"
    cur = h.service()
    with pytest.raises(InvalidArgument, match="unsupported registryAuthFrom value"):
        await h.api.update_service(cur.ID, cur.Version.Index, clone(cur.Spec), auth_from="elsewhere")
    await h.api.update_service(cur.ID, cur.Version.Index, clone(cur.Spec), rollback=True)
    assert auth_of(h.service()) == "NEW"  # the previous spec, with its own credentials


async def test_the_api_never_shows_credentials(h: Harness) -> None:
    await h.api.create_service(spec(replicas=1), registry_auth="SECRET")
    await h.settle()
    svc, task = h.service(), h.tasks()[0]
    assert b"SECRET" not in msgspec.json.encode(service_json(None, svc))
    assert b"SECRET" not in msgspec.json.encode(task_json(task))
    assert auth_of(h.service()) == "SECRET"  # hidden in the answer only
