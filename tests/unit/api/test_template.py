"""Service templates: SwarmKit's placeholders with Go's template syntax, expansion of a task's
hostname, environment and mounts, and Go's errors for bad templates."""

from __future__ import annotations

import pytest

from shoal.api import template
from shoal.api.types import ContainerSpec, Mount, NodeDescription, ObjectRef, Platform, Task, TaskSpec

NODE = NodeDescription(Hostname="node-7", Platform=Platform(OS="linux", Architecture="x86_64"))


def ctx(slot: int = 3) -> template.Struct:
    t = Task(ID="tid", Owner=ObjectRef(Kind="Service", ID="sid"), Slot=slot, NodeID="nid",
             ServiceAnnotations={"Name": "web", "Labels": {"tier": "front"}})
    return template.context(t, "nid", NODE)


@pytest.mark.parametrize(("text", "out"), [
    ("{{.Node.Hostname}}-{{.Service.Name}}", "node-7-web"),
    ("SLOT={{.Task.Slot}}", "SLOT=3"),
    ("{{.Task.Name}}", "web.3.tid"),
    ("{{.Service.ID}} {{.Node.ID}} {{.Task.ID}}", "sid nid tid"),
    ("{{.Node.Platform.OS}}/{{.Node.Platform.Architecture}}", "linux/x86_64"),
    ('{{index .Service.Labels "tier"}}', "front"),
    ('{{index .Service.Labels "nope"}}', ""),
    ("{{.Service.Labels.tier}}", "front"),
    ("{{.Service.Labels.nope}}", "<no value>"),
    ('{{printf "%s-%d" .Service.Name 5}}', "web-5"),
    ('{{.Service.Name | printf "%s-x"}}', "web-x"),
    ("{{print .Task.Slot 1 2}}", "31 2"),
    ("a {{- .Task.Slot -}} b", "a3b"),
    ("{{/* a comment */}}x", "x"),
    ("no templates", "no templates"),
    ('{{`raw`}}{{"q\\"uote"}}', 'rawq"uote'),
])
def test_expansion(text: str, out: str) -> None:
    assert template.expand(text, ctx()) == out


def test_a_global_tasks_slot_is_its_node() -> None:
    assert template.expand("{{.Task.Slot}} {{.Task.Name}}", ctx(slot=0)) == "nid web.nid.tid"


@pytest.mark.parametrize(("text", "error"), [
    ("{{.Service.Name", "template: expansion:1: unclosed action"),
    ("{{.Service.Nam}}", 'template: expansion:1:2: executing "expansion" at <.Service.Nam>: can\'t evaluate '
                         "field Nam in type struct { ID string; Name string; Labels map[string]string }"),
    ("{{.Nodes}}", 'template: expansion:1:2: executing "expansion" at <.Nodes>: can\'t evaluate field Nodes in '
                   "type template.Context"),
    ("{{upper .Service.Name}}", 'template: expansion:1: function "upper" not defined'),
    ("{{}}", "template: expansion:1: missing value for command"),
    ("{{if .Task.Slot}}x{{end}}", 'template: expansion:1: "if" is not supported in service templates '
                                  "(fields, index, printf, print and len are)"),
])
def test_errors_read_as_gos(text: str, error: str) -> None:
    with pytest.raises(template.TemplateError) as e:
        template.expand(text, ctx())
    assert str(e.value) == error


def test_a_task_is_expanded_with_its_node() -> None:
    spec = ContainerSpec(Image="busybox", Hostname="{{.Node.Hostname}}-{{.Service.Name}}",
                         Env=["SLOT={{.Task.Slot}}", "PLAIN=1"],
                         Mounts=[Mount(Type="volume", Source="data-{{.Task.Slot}}", Target="/data/{{.Service.Name}}",
                                       VolumeOptions={"Labels": {"node": "{{.Node.ID}}"}})])
    t = Task(ID="tid", Owner=ObjectRef(Kind="Service", ID="sid"), Slot=2, NodeID="nid",
             ServiceAnnotations={"Name": "app"},
             Spec=TaskSpec(Containers=[spec]))
    out = template.expand_task(t, "nid", NODE).Spec.Containers[0]
    assert out is not None
    assert out.Hostname == "node-7-app" and out.Env == ["SLOT=2", "PLAIN=1"]
    assert out.Mounts is not None and (out.Mounts[0].Source, out.Mounts[0].Target) == ("data-2", "/data/app")
    assert out.Mounts[0].VolumeOptions == {"Labels": {"node": "nid"}}
    assert t.Spec.Containers[0] is not None and t.Spec.Containers[0].Hostname.startswith("{{")  # a copy


def test_the_manager_checks_a_service_with_placeholder_values() -> None:
    assert template.validate(ContainerSpec(Image="x", Hostname="{{.Node.Hostname}}"), "web") == ""
    assert "can't evaluate field Slott" in template.validate(ContainerSpec(Image="x", Env=["A={{.Task.Slott}}"]),
                                                             "web")


def test_every_container_of_a_task_is_expanded() -> None:
    a = ContainerSpec(Name="a", Image="x", Env=["N={{.Task.Slot}}"])
    b = ContainerSpec(Name="b", Image="y", Hostname="{{.Node.Hostname}}")
    i = ContainerSpec(Name="i", Image="z", Env=["S={{.Service.Name}}"])
    t = Task(ID="tid", Owner=ObjectRef(Kind="Service", ID="sid"), Slot=3, NodeID="nid",
             ServiceAnnotations={"Name": "app"}, Spec=TaskSpec(Containers=[a, b], InitContainers=[i]))
    out = template.expand_task(t, "nid", NODE).Spec
    assert out.Containers[0].Env == ["N=3"] and out.Containers[1].Hostname == NODE.Hostname
    assert out.InitContainers is not None and out.InitContainers[0].Env == ["S=app"]
