"""What the control API shows every front door: the cluster without its keys, the swarm's members,
the images its services run, and ``swarm update``'s autolock rule; its errors carry their code."""

from __future__ import annotations

import json

import pytest

from shoal.agent.remote import error_from
from shoal.api.errors import (
    NOT_A_MANAGER,
    Code,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ShoalError,
    Unauthenticated,
    error_of,
)
from shoal.api.types import ClusterSpec, ContainerSpec, EncryptionKey, ServiceSpec, TaskSpec, clone
from shoal.frontdoor.docker.errors import status_of, words
from shoal.manager.ca import JoinTokenError
from shoal.manager.manager import Manager
from shoal.manager.remote import refusal


async def manager() -> Manager:
    m = await Manager.open(None)
    await m.init("node-1", "127.0.0.1:2377", unlock_key="SWMKEY-1-abc")
    return m


async def test_cluster_view_never_holds_keys() -> None:
    m = await manager()
    c = clone(m.control.cluster())
    c.NetworkBootstrapKeys = [EncryptionKey(Subsystem="networking:gossip", Algorithm="AES_128_GCM", Key=b"k")]
    await m.store.update(c)
    stored = m.control.cluster()
    assert stored.RootCAKey and stored.UnlockKey and stored.NetworkBootstrapKeys
    view = m.control.cluster_view()
    assert (view.RootCAKey, view.UnlockKey, view.NetworkBootstrapKeys, view.EncryptionKeyLamportClock) == (
        "", "", None, 0)
    assert view.ID == stored.ID and view.TLSInfo == stored.TLSInfo and view.JoinTokens == stored.JoinTokens
    assert m.control.unlock_key() == "SWMKEY-1-abc"


async def test_members_and_images_in_use() -> None:
    m = await manager()
    members = m.control.members()
    assert (members.Nodes, [(r.NodeID, r.Addr) for r in members.Managers]) == (1, [("node-1", "127.0.0.1:2377")])
    await m.control.create_service(ServiceSpec(Name="web", TaskTemplate=TaskSpec(
        Containers=[ContainerSpec(Image="nginx:1.25")])))
    await m.control.create_service(ServiceSpec(Name="db", TaskTemplate=TaskSpec(
        Containers=[ContainerSpec(Image="postgres")])))
    assert m.control.images_in_use() == {"nginx:1.25", "postgres"}


async def test_unlock_key_rotates_only_with_autolock_on() -> None:
    m = await manager()
    c = m.control.cluster()
    spec = clone(c.Spec)
    spec.EncryptionConfig.AutoLockManagers = False
    with pytest.raises(FailedPrecondition) as ei:
        await m.control.update_swarm(c.Version.Index, spec, rotate_unlock_key=True)
    e = ei.value
    assert (e.code, e.control, status_of(e), words(e)) == (
        Code.FAILED_PRECONDITION, True, 400,
        "rpc error: code = FailedPrecondition desc = cannot rotate because autolock is not turned on")
    spec = clone(m.control.cluster().Spec)
    spec.EncryptionConfig.AutoLockManagers = True
    assert await m.control.update_swarm(m.control.cluster().Version.Index, spec, rotate_unlock_key=True) is True


async def test_errors_carry_codes_and_the_docker_door_words_them() -> None:
    m = await manager()
    with pytest.raises(NotFound) as nf:
        m.control.service("nosuch")
    assert (nf.value.control, status_of(nf.value), words(nf.value)) == (False, 404, "service nosuch not found")
    # the node's own check (dockerd's words and status) vs the control API's rule (SwarmKit's, status 400)
    assert (status_of(FailedPrecondition(NOT_A_MANAGER)), words(FailedPrecondition(NOT_A_MANAGER))) == (
        503, NOT_A_MANAGER)
    with pytest.raises(ShoalError) as seq:
        await m.control.update_cluster(999, ClusterSpec())
    assert (status_of(seq.value), words(seq.value)) == (500, "rpc error: code = Unknown desc = update out of sequence")
    with pytest.raises(ShoalError) as bad:
        await m.control.create_service(ServiceSpec(Name="x", TaskTemplate=TaskSpec(Containers=[ContainerSpec()])))
    assert (status_of(bad.value), words(bad.value)) == (
        400, "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided")


@pytest.mark.parametrize("err", [
    JoinTokenError("invalid join token"),
    FailedPrecondition(NOT_A_MANAGER),
    Unauthenticated("a node certificate is required"),
    error_of(Code.ALREADY_EXISTS, "secret db already exists", control=True),
])
def test_a_refusal_of_another_manager_is_the_same_error_here(err: ShoalError) -> None:
    """A join refused by another manager is worded by this node's door as that manager's would."""
    resp = refusal(err)
    assert isinstance(resp.body, bytes)
    here = error_from(json.loads(resp.body), "join failed")
    assert (type(here), here.code, here.control, words(here), status_of(here)) == (
        type(err) if type(err) is not JoinTokenError else InvalidArgument, err.code, err.control, words(err),
        status_of(err))
