"""Secrets and configs in the control API: SwarmKit's validation and words, look-up by name, ID or
ID prefix, list filters, label-only updates, services' references, and removal refused while in use."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest

from shoal.api.errors import InvalidArgument, NotFound, ShoalError
from shoal.api.types import (
    ConfigReference,
    ConfigSpec,
    ContainerSpec,
    Driver,
    FileTarget,
    SecretReference,
    SecretSpec,
    ServiceSpec,
    TaskSpec,
    clone,
)
from shoal.frontdoor.docker.errors import words
from shoal.manager.control import ControlAPI
from tests.unit.helpers import memory_store


@contextlib.contextmanager
def rpc_raises(match: str) -> Iterator[None]:
    """An error of the control API, as the Docker door words it (SwarmKit's ``rpc error: …``)."""
    with pytest.raises(ShoalError) as ei:
        yield
    assert ei.value.control and re.search(match, words(ei.value)), words(ei.value)


def app(secrets: list[SecretReference] | None = None, configs: list[ConfigReference] | None = None,
        name: str = "app") -> ServiceSpec:
    return ServiceSpec(Name=name, TaskTemplate=TaskSpec(Containers=[ContainerSpec(
        Image="busybox", Secrets=secrets, Configs=configs)]))


async def test_create_validates_names_sizes_and_duplicates() -> None:
    api = ControlAPI(await memory_store())
    s = await api.secrets.create(SecretSpec(Name="db_pass", Data=b"s3cret", Labels={"env": "prod"}))
    assert s.Spec.Data is None  # what the API hands back never holds the bytes
    with rpc_raises(r"^rpc error: code = AlreadyExists desc = secret db_pass already exists$"):
        await api.secrets.create(SecretSpec(Name="db_pass", Data=b"x"))
    with rpc_raises(r"desc = name must be provided$"):
        await api.secrets.create(SecretSpec(Data=b"x"))
    for bad in ("-x", "x-", "a b", "a" * 65, "ü"):
        with rpc_raises(r"invalid name, only 64 \[a-zA-Z0-9-_.\] characters allowed, and the "
                                           r"start and end character must be \[a-zA-Z0-9\]$"):
            await api.secrets.create(SecretSpec(Name=bad, Data=b"x"))
    await api.secrets.create(SecretSpec(Name="a.b-c_d9" + "x" * 56, Data=b"x"))  # 64, every allowed character
    for data in (None, b"", b"x" * 500 * 1024):
        with rpc_raises(r"desc = secret data must be larger than 0 and less than 512000 bytes$"):
            await api.secrets.create(SecretSpec(Name="big", Data=data))
    await api.secrets.create(SecretSpec(Name="big", Data=b"x" * (500 * 1024 - 1)))
    await api.configs.create(ConfigSpec(Name="big", Data=b"x" * 800 * 1024))  # configs take up to 1000 KiB
    with rpc_raises(r"desc = config data must be larger than 0 and less than 1024000 bytes$"):
        await api.configs.create(ConfigSpec(Name="huge", Data=b"x" * 1000 * 1024))
    with rpc_raises(r"Unimplemented"):
        await api.secrets.create(SecretSpec(Name="vault", Data=b"x", Driver=Driver(Name="vault")))


async def test_found_by_id_name_or_prefix_and_listed_with_filters() -> None:
    api = ControlAPI(await memory_store())
    a = await api.secrets.create(SecretSpec(Name="alpha", Data=b"1", Labels={"env": "prod", "team": "x"}))
    b = await api.secrets.create(SecretSpec(Name="alphabet", Data=b"2", Labels={"env": "dev"}))
    assert api.secrets.inspect(a.ID).ID == a.ID
    assert api.secrets.inspect("alphabet").ID == b.ID
    assert api.secrets.inspect(b.ID[:10]).ID == b.ID
    assert api.secrets.inspect("alpha").Spec.Data is None
    with pytest.raises(NotFound, match=r"^secret nope not found$"):
        api.secrets.inspect("nope")

    def names(**f: list[str]) -> list[str]:
        return [o.Spec.Name for o in api.secrets.objects(f)]

    assert names() == ["alpha", "alphabet"]
    assert names(name=["alpha"]) == ["alpha", "alphabet"]  # a prefix, as dockerd's `name` filter
    assert names(names=["alpha"]) == ["alpha"]  # exact
    assert names(id=[b.ID[:8]]) == ["alphabet"]
    assert names(label=["env"]) == ["alpha", "alphabet"]
    assert names(label=["env=prod"]) == ["alpha"]
    assert names(label=["env=prod", "team=y"]) == []
    assert names(name=["alphab"], id=[a.ID]) == ["alpha", "alphabet"]  # any of names, prefixes, IDs
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'driver'$"):
        names(driver=["x"])
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'names'$"):
        api.configs.objects({"names": ["x"]})  # configs take name, id and label only
    c = await api.configs.create(ConfigSpec(Name="site", Data=b"listen 80\n"))
    assert api.configs.inspect("site").Spec.Data == b"listen 80\n"  # a config's bytes are shown
    assert api.configs.inspect(c.ID[:6]).ID == c.ID


async def test_only_labels_may_change() -> None:
    api = ControlAPI(await memory_store())
    s = await api.secrets.create(SecretSpec(Name="db", Data=b"s3cret"))
    cur = api.secrets.find("db")
    with rpc_raises(r"desc = update out of sequence"):
        await api.secrets.update("db", cur.Version.Index + 1, SecretSpec(Name="db", Labels={"a": "b"}))
    for spec in (SecretSpec(Name="db2"), SecretSpec(Name="db", Data=b"other")):
        with rpc_raises(r"^rpc error: code = InvalidArgument desc = only updates to Labels "
                                           r"are allowed$"):
            await api.secrets.update(s.ID, cur.Version.Index, spec)
    await api.secrets.update(s.ID, cur.Version.Index, SecretSpec(Name="db", Data=b"s3cret", Labels={"a": "b"}))
    after = api.secrets.find(s.ID)
    assert after.Spec.Labels == {"a": "b"} and after.Spec.Data == b"s3cret"


async def test_services_refer_by_id_and_name_and_missing_ones_are_refused() -> None:
    api = ControlAPI(await memory_store())
    s = await api.secrets.create(SecretSpec(Name="db_pass", Data=b"s3cret"))
    c = await api.configs.create(ConfigSpec(Name="site", Data=b"conf"))
    svc = await api.create_service(app(
        secrets=[SecretReference(SecretName="db_pass"),  # a name only (shoal's CLI, curl): the ID is found
                 SecretReference(SecretID=s.ID, SecretName="db_pass",
                                 File=FileTarget(Name="pw", UID="1000", GID="1000", Mode=0o400))],
        configs=[ConfigReference(ConfigID=c.ID, ConfigName="site")]))
    refs = svc.Spec.TaskTemplate.Containers[0].Secrets  # type: ignore[union-attr]
    assert refs is not None and refs[0].SecretID == s.ID
    assert refs[0].File == FileTarget(Name="db_pass", UID="0", GID="0", Mode=0o444)  # Docker's defaults
    cfgs = svc.Spec.TaskTemplate.Containers[0].Configs  # type: ignore[union-attr]
    assert cfgs is not None and cfgs[0].File == FileTarget(Name="site", UID="0", GID="0", Mode=0o444)

    with rpc_raises(r"^rpc error: code = InvalidArgument desc = secret not found: nope$"):
        await api.create_service(app([SecretReference(SecretID="0" * 25, SecretName="nope")], name="b"))
    with rpc_raises(r"desc = secrets not found: x, y$"):
        await api.create_service(app([SecretReference(SecretName="x"), SecretReference(SecretName="y")], name="b"))
    with rpc_raises(r"desc = secret not found: other$"):  # the ID of another name
        await api.create_service(app([SecretReference(SecretID=s.ID, SecretName="other")], name="b"))
    with rpc_raises(r"desc = config not found: nope$"):
        await api.create_service(app(configs=[ConfigReference(ConfigName="nope")], name="b"))
    with rpc_raises(r"desc = secret references 'db_pass' and 'db_pass' have a conflicting "
                                       r"target: 'db_pass'$"):
        await api.create_service(app([SecretReference(SecretName="db_pass"), SecretReference(SecretName="db_pass")],
                                     name="b"))
    spec = clone(svc.Spec)
    spec.TaskTemplate.Containers[0].Secrets = [SecretReference(SecretName="gone")]  # type: ignore[union-attr]
    with rpc_raises(r"desc = secret not found: gone$"):
        await api.update_service(svc.ID, svc.Version.Index, spec)


async def test_removal_is_refused_while_a_service_uses_it() -> None:
    api = ControlAPI(await memory_store())
    await api.secrets.create(SecretSpec(Name="db_pass", Data=b"s3cret"))
    await api.configs.create(ConfigSpec(Name="site", Data=b"conf"))
    a = await api.create_service(app([SecretReference(SecretName="db_pass")], [ConfigReference(ConfigName="site")]))
    await api.create_service(app([SecretReference(SecretName="db_pass")], name="web"))
    with rpc_raises(r"^rpc error: code = InvalidArgument desc = secret 'db_pass' is in use by "
                                       r"the following services: app, web$"):
        await api.secrets.remove("db_pass")
    with rpc_raises(r"desc = config 'site' is in use by the following service: app$"):
        await api.configs.remove("site")
    await api.remove_service("web")
    with rpc_raises(r"in use by the following service: app$"):
        await api.secrets.remove("db_pass")
    await api.remove_service(a.ID)
    await api.secrets.remove("db_pass")
    await api.configs.remove("site")
    assert api.secrets.objects() == [] and api.configs.objects() == []
    with pytest.raises(NotFound, match=r"^secret db_pass not found$"):
        await api.secrets.remove("db_pass")
