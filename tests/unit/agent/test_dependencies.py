"""The agent's secrets and configs: kept from the assignments, and turned into a task's files with
Docker's paths, owners and modes; a missing one fails the task with the reason."""

from __future__ import annotations

import pytest

from shoal.agent.dependencies import Dependencies
from shoal.api.template import TemplateError
from shoal.api.types import (
    SERVICE_KIND,
    Config,
    ConfigReference,
    ConfigSpec,
    ContainerSpec,
    Driver,
    FileTarget,
    NodeDescription,
    ObjectRef,
    Secret,
    SecretReference,
    SecretSpec,
    Task,
    TaskSpec,
)
from shoal.protocol import Assignments
from shoal.runtime.base import RuntimeError_, TaskFile


def with_refs(secrets: list[SecretReference], configs: list[ConfigReference] | None = None) -> Task:
    return Task(ID="t", Spec=TaskSpec(Containers=[ContainerSpec(Image="busybox", Secrets=secrets,
                                                                  Configs=configs)]))


def test_files_have_dockers_paths_owners_and_modes() -> None:
    deps = Dependencies()
    deps.apply(Assignments(secrets=[Secret(ID="s1", Spec=SecretSpec(Name="db", Data=b"s3cret"))],
                           configs=[Config(ID="c1", Spec=ConfigSpec(Name="site", Data=b"conf"))]))
    t = with_refs(
        [SecretReference(SecretID="s1", SecretName="db", File=FileTarget(Name="db", UID="0", GID="0", Mode=0o444)),
         SecretReference(SecretID="s1", SecretName="db", File=FileTarget(Name="app/pw", UID="1000", GID="50",
                                                                         Mode=0o100400)),
         SecretReference(SecretID="s1", SecretName="db", File=FileTarget(Name="/etc/db.pw", Mode=0o400))],
        [ConfigReference(ConfigID="c1", ConfigName="site", File=FileTarget(Name="site.conf", Mode=0o444)),
         ConfigReference(ConfigID="c1", ConfigName="site", File=FileTarget(Name="/etc/nginx/../site.conf")),
         ConfigReference(ConfigID="c1", ConfigName="site", Runtime={})])  # a credential spec: no file
    assert deps.files(t) == [
        TaskFile("secret", "db", "/run/secrets/db", b"s3cret", 0, 0, 0o444),
        TaskFile("secret", "db", "/run/secrets/app/pw", b"s3cret", 1000, 50, 0o400),  # permission bits only
        TaskFile("secret", "db", "/etc/db.pw", b"s3cret", 0, 0, 0o400),
        TaskFile("config", "site", "/site.conf", b"conf", 0, 0, 0o444),
        TaskFile("config", "site", "/etc/site.conf", b"conf", 0, 0, 0),
    ]
    assert "s3cret" not in repr(deps.files(t)) and "s3cret" not in repr(deps.secrets)  # never in a log line


def test_missing_or_removed_ones_fail_the_task_and_a_full_message_starts_afresh() -> None:
    deps = Dependencies()
    deps.apply(Assignments(secrets=[Secret(ID="s1", Spec=SecretSpec(Name="db", Data=b"x"))]))
    t = with_refs([SecretReference(SecretID="s1", SecretName="db", File=FileTarget(Name="db"))])
    assert len(deps.files(t)) == 1
    deps.apply(Assignments(deps_removed=["s1"]))
    with pytest.raises(RuntimeError_, match="unable to get secret from secret store: secret s1 not found"):
        deps.files(t)
    deps.apply(Assignments(secrets=[Secret(ID="s1", Spec=SecretSpec(Name="db", Data=b"x"))]))
    deps.apply(Assignments(full=True))
    assert deps.secrets == {}
    bad = with_refs([SecretReference(SecretID="s1", SecretName="db", File=FileTarget(Name="db", UID="www"))])
    deps.apply(Assignments(secrets=[Secret(ID="s1", Spec=SecretSpec(Name="db", Data=b"x"))]))
    with pytest.raises(RuntimeError_, match="invalid uid 'www'"):
        deps.files(bad)


def test_templated_configs_and_secrets_are_expanded_for_the_task() -> None:
    golang = Driver(Name="golang")
    deps = Dependencies()
    deps.apply(Assignments(
        secrets=[Secret(ID="s1", Spec=SecretSpec(Name="pw", Data=b"hunter2")),
                 Secret(ID="s2", Spec=SecretSpec(Name="dsn", Data=b"user:{{ secret \"pw\" }}@{{ .Node.Hostname }}",
                                                 Templating=golang))],
        configs=[Config(ID="c1", Spec=ConfigSpec(Name="base", Data=b"base-conf")),
                 Config(ID="c2", Spec=ConfigSpec(Name="site", Templating=golang, Data=(
                     b"svc={{ .Service.Name }} task={{ .Task.Name }} node={{ .Node.Hostname }} "
                     b'mode={{ env "MODE" }} none={{ env "NONE" }} inc={{ config "base.conf" }}'))),
                 Config(ID="c3", Spec=ConfigSpec(Name="plain", Data=b"{{ .Service.Name }}"))]))
    t = Task(ID="tid", Slot=2, NodeID="nid", Owner=ObjectRef(Kind=SERVICE_KIND, ID="sid"),
             ServiceAnnotations={"Name": "web"},
             Spec=TaskSpec(Containers=[ContainerSpec(
                 Image="busybox", Env=["MODE=prod"],
                 Secrets=[SecretReference(SecretID="s1", SecretName="pw", File=FileTarget(Name="pw")),
                          SecretReference(SecretID="s2", SecretName="dsn", File=FileTarget(Name="dsn"))],
                 Configs=[ConfigReference(ConfigID="c1", ConfigName="base", File=FileTarget(Name="base.conf")),
                          ConfigReference(ConfigID="c2", ConfigName="site", File=FileTarget(Name="site.conf")),
                          ConfigReference(ConfigID="c3", ConfigName="plain", File=FileTarget(Name="plain"))])]))
    files = {f.target: f.data for f in deps.files(t, NodeDescription(Hostname="host-1"))}
    assert files["/run/secrets/dsn"] == b"user:hunter2@host-1"
    assert files["/site.conf"] == b"svc=web task=web.2.tid node=host-1 mode=prod none= inc=base-conf"
    assert files["/plain"] == b"{{ .Service.Name }}"  # not templated: as it is


def test_a_template_reads_only_what_the_task_references() -> None:
    deps = Dependencies()
    deps.apply(Assignments(
        secrets=[Secret(ID="s1", Spec=SecretSpec(Name="other", Data=b"x"))],
        configs=[Config(ID="c1", Spec=ConfigSpec(Name="site", Templating=Driver(Name="golang"),
                                                 Data=b'{{ secret "other" }}'))]))
    t = with_refs([], [ConfigReference(ConfigID="c1", ConfigName="site", File=FileTarget(Name="site"))])
    with pytest.raises(TemplateError, match="error calling secret: secret target other not found"):
        deps.files(t)
