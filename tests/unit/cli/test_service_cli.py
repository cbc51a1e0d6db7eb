"""The pieces of ``shoal service`` (``cli/service/``): the ServiceSpec JSON built for ``create`` and
edited for ``update``, following a service to convergence, ``inspect --pretty``, and the log lines'
context; against a client that answers from a script instead of a daemon."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import click
import pytest

from shoal.cli.client import APIError, Client, DockerError
from shoal.cli.service import create, update
from shoal.cli.service.logs import LogFormatter, log_source, parse_details
from shoal.cli.service.pretty import pretty_service
from shoal.cli.service.progress import ProgressOut, wait_on_service
from shoal.cli.service.spec import UPDATE_DEFAULTS, build_spec, edit_spec

SECOND = 1_000_000_000

Answer = Any | Callable[[], Any]


class ScriptedClient(Client):
    """``get`` answers from ``answers[path]``: a list is consumed one answer per call (the last one
    repeats); an exception is raised."""

    def __init__(self, answers: dict[str, list[Answer]]) -> None:
        super().__init__("tcp://127.0.0.1:1")
        self.answers = answers
        self.calls: list[str] = []

    def get(self, path: str, params: Any = None) -> Any:
        self.calls.append(path)
        queue = self.answers[path]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def create_spec(*args: str) -> dict[str, Any]:
    p = create.make_context("create", list(args)).params
    return build_spec(p, p["image"], p["args"])


def edited(spec: dict[str, Any], *args: str) -> dict[str, Any]:
    edit_spec(spec, update.make_context("update", [*args, "svc"]).params)
    return spec


# ---------------------------------------------------------------- spec: create


def test_create_spec_is_what_the_docker_cli_sends() -> None:
    spec = create_spec("--name", "web", "--replicas", "3", "-e", "A=1", "-l", "tier=front", "nginx", "sh", "-c", "x")
    assert spec["Name"] == "web" and spec["Labels"] == {"tier": "front"}
    assert spec["Mode"] == {"Replicated": {"Replicas": 3}}
    cs = spec["TaskTemplate"]["ContainerSpec"]
    assert cs["Image"] == "nginx:latest" and cs["Args"] == ["sh", "-c", "x"] and cs["Env"] == ["A=1"]
    assert cs["Init"] is False and cs["DNSConfig"] == {}
    assert spec["TaskTemplate"]["Resources"] == {"Limits": {}, "Reservations": {}}
    assert spec["TaskTemplate"]["Placement"] == {} and spec["TaskTemplate"]["ForceUpdate"] == 0
    assert spec["EndpointSpec"] == {"Mode": "vip"}
    assert "UpdateConfig" not in spec and "RestartPolicy" not in spec["TaskTemplate"]


def test_create_spec_modes() -> None:
    assert create_spec("img")["Mode"] == {"Replicated": {}}
    assert create_spec("--mode", "global", "img")["Mode"] == {"Global": {}}
    assert create_spec("--mode", "replicated-job", "--replicas", "4", "img")["Mode"] == {
        "ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 4}}
    with pytest.raises(DockerError, match=r"^replicas can only be used with replicated or replicated-job mode$"):
        create_spec("--mode", "global", "--replicas", "2", "img")
    with pytest.raises(DockerError, match=r"^Unknown mode: weird, only replicated and global supported$"):
        create_spec("--mode", "weird", "img")


def test_create_spec_resources_placement_policies_and_ports() -> None:
    spec = create_spec("--limit-cpu", "1.5", "--reserve-memory", "64m", "--generic-resource", "gpu=2",
                       "--constraint", "node.role==manager", "--placement-pref", "spread=node.labels.zone",
                       "--restart-condition", "on-failure", "--update-parallelism", "2",
                       "-p", "8080:80", "-p", "published=53,target=53,protocol=udp,mode=host", "img")
    tt = spec["TaskTemplate"]
    assert tt["Resources"]["Limits"] == {"NanoCPUs": 1_500_000_000}
    assert tt["Resources"]["Reservations"] == {
        "MemoryBytes": 64 << 20, "GenericResources": [{"DiscreteResourceSpec": {"Kind": "gpu", "Value": 2}}]}
    assert tt["Placement"] == {"Constraints": ["node.role==manager"],
                               "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]}
    assert tt["RestartPolicy"] == {"Condition": "on-failure"}
    assert spec["UpdateConfig"] == {**UPDATE_DEFAULTS, "Parallelism": 2}
    assert spec["EndpointSpec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
        {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "host"}]
    with pytest.raises(DockerError, match='only "spread" preferences are supported'):
        create_spec("--placement-pref", "pack=x", "img")
    with pytest.raises(click.BadParameter, match="missing mandatory field 'target'"):
        create_spec("-p", "published=1", "img")


# ---------------------------------------------------------------- spec: update


def test_update_edits_only_what_the_flags_say() -> None:
    base = create_spec("--name", "web", "-e", "A=1", "-e", "B=2", "--container-label", "c=d",
                       "--mount", "type=bind,source=/a,target=/b", "--constraint", "node.role==manager",
                       "-p", "8080:80", "nginx")
    before = {k: v for k, v in base.items()}
    spec = edited(base, "--env-add", "A=9", "--env-rm", "B", "--container-label-rm", "c", "--label-add", "x=y",
                  "--mount-rm", "/b", "--constraint-add", "node.hostname!=a", "--publish-rm", "80",
                  "--publish-add", "9090:90", "--replicas", "5", "--force")
    cs = spec["TaskTemplate"]["ContainerSpec"]
    assert cs["Env"] == ["A=9"] and cs["Labels"] == {} and cs["Mounts"] == []
    assert cs["Image"] == "nginx:latest"  # untouched
    assert spec["Labels"] == {"x": "y"}
    assert spec["TaskTemplate"]["Placement"]["Constraints"] == ["node.hostname!=a", "node.role==manager"]
    assert spec["EndpointSpec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 90, "PublishedPort": 9090, "PublishMode": "ingress"}]
    assert spec["Mode"] == {"Replicated": {"Replicas": 5}}
    assert spec["TaskTemplate"]["ForceUpdate"] == 1
    assert spec.keys() == before.keys()


def test_update_policies_start_from_dockers_defaults() -> None:
    spec = edited(create_spec("img"), "--restart-delay", "1s", "--rollback-monitor", "10s")
    assert spec["TaskTemplate"]["RestartPolicy"] == {"Condition": "any", "Delay": SECOND, "MaxAttempts": 0}
    assert spec["RollbackConfig"] == {**UPDATE_DEFAULTS, "Monitor": 10 * SECOND}
    assert "UpdateConfig" not in spec
    spec = edited(spec, "--rollback-parallelism", "0")
    assert spec["RollbackConfig"] == {**UPDATE_DEFAULTS, "Monitor": 10 * SECOND, "Parallelism": 0}
    with pytest.raises(DockerError, match=r"^replicas can only be used with replicated mode$"):
        edited(create_spec("--mode", "global", "img"), "--replicas", "2")


# ---------------------------------------------------------------- convergence


def service(replicas: int | None = 2, update_state: str = "", message: str = "") -> dict[str, Any]:
    mode = {"Replicated": {"Replicas": replicas}} if replicas is not None else {"Global": {}}
    s: dict[str, Any] = {"ID": "svc1", "Spec": {"Name": "web", "Mode": mode}}
    if update_state:
        s["UpdateStatus"] = {"State": update_state, "Message": message}
    return s


def task(slot: int, state: str, node: str = "n1", desired: str = "running", err: str = "") -> dict[str, Any]:
    return {"Slot": slot, "NodeID": node, "DesiredState": desired, "Status": {"State": state, "Err": err}}


def follow(answers: dict[str, list[Answer]]) -> str:
    out = io.StringIO()
    wait_on_service(ScriptedClient({"/nodes": [[{"ID": "n1"}, {"ID": "n2"}]], **answers}), "web", interval=0,
                    out=out)
    return out.getvalue()


def test_replicated_progress_until_converged() -> None:
    text = follow({"/services/web": [service()],
                   "/tasks": [[task(1, "pending")], [task(1, "running"), task(2, "preparing")],
                              [task(1, "running"), task(2, "running")]]})
    assert text.splitlines() == [
        "overall progress: 0 out of 2 tasks", "1/2:", "2/2:", "1/2: pending", "1/2: running",
        "2/2: preparing", "overall progress: 1 out of 2 tasks", "2/2: running", "overall progress: 2 out of 2 tasks",
        "verify: Service web converged"]


def test_global_progress_waits_for_tasks_then_counts_nodes() -> None:
    text = follow({"/services/web": [service(None)],
                   "/tasks": [[], [task(0, "running", "n1"), task(0, "running", "n2", err="")]]})
    assert text.splitlines() == [
        "overall progress: waiting for new tasks", "overall progress: 0 out of 2 tasks", "n1: running",
        "n2: running", "overall progress: 2 out of 2 tasks", "verify: Service web converged"]


def test_a_paused_update_ends_the_wait_with_dockers_error() -> None:
    with pytest.raises(DockerError, match=r"^service update paused: update paused due to failure$"):
        follow({"/services/web": [service(update_state="paused", message="update paused due to failure")],
                "/tasks": [[]]})


def test_a_finished_rollback_says_so_after_converging() -> None:
    text = follow({"/services/web": [service(1, "rollback_completed", "rollback completed")],
                   "/tasks": [[task(1, "running")]]})
    assert text.splitlines()[-3:] == ["overall progress: rolling back update: 1 out of 1 tasks",
                                      "verify: Service web converged", "rollback: rollback completed"]


def test_progress_on_a_terminal_redraws_in_place() -> None:
    out = io.StringIO()
    out.isatty = lambda: True  # type: ignore[method-assign]
    po = ProgressOut(out)
    po.write("1/1", "pending  ", 3, 9)
    po.write("1/1", "running  ", 9, 9)
    first, redraw = out.getvalue().split("\n", 1)
    assert first == "1/1: pending   [================>                                  ] "
    assert redraw.startswith("\x1b[1A\r\x1b[2K1/1: running   [") and redraw.endswith("\x1b[1B\r")


# ---------------------------------------------------------------- inspect --pretty


def test_pretty_service_sections() -> None:
    spec = create_spec("--name", "web", "--replicas", "2", "-l", "a=b", "--limit-memory", "1g",
                       "--mount", "type=volume,source=v,target=/data", "-p", "8080:80", "nginx")
    text = pretty_service({"ID": "abc", "Spec": spec, "Endpoint": {"Ports": spec["EndpointSpec"]["Ports"]}})
    assert text.startswith("\nID:\t\tabc\nName:\t\tweb\nLabels:\n a=b\nService Mode:\tReplicated\n Replicas:\t2\n"
                           "Placement:\nContainerSpec:\n Image:\t\tnginx:latest\n Init:\t\tfalse\nMounts:\n"
                           " Target:\t/data\n  Source:\tv\n  ReadOnly:\tfalse\n  Type:\t\tvolume\nResources:\n"
                           " Limits:\n  Memory:\t1GiB\nEndpoint Mode:\tvip\nPorts:\n PublishedPort = 8080\n")
    assert text.endswith("  PublishMode = ingress \n\n")
    assert pretty_service({}) == "\nID:\t\t\nName:\t\t\nService Mode:\nPlacement:\nContainerSpec:\n Image:\t\t\n" \
                                 "Endpoint Mode:\t\n\n"


# ---------------------------------------------------------------- logs


def test_log_lines_get_dockers_context() -> None:
    c = ScriptedClient({"/nodes/n1": [{"Description": {"Hostname": "node-1"}}],
                        "/services/s1": [{"Spec": {"Name": "web"}}],
                        "/tasks/t1abcdefghijklmnopqrstuvw": [{"ID": "t1abcdefghijklmnopqrstuvw", "Slot": 3}]})
    fmt = LogFormatter(c, timestamps=False, details=False, no_task_ids=False, no_trunc=False, no_resolve=False,
                       padding=2)
    line = (b"com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,"
            b"com.docker.swarm.task.id=t1abcdefghijklmnopqrstuvw hi\n")
    assert fmt.format(line) == b"web.3.t1abcdefghij@node-1     | hi\n"
    assert parse_details("a%3Db=c+d,e=") == {"a=b": "c d", "e": ""}
    with pytest.raises(DockerError, match=r"^invalid details format$"):
        parse_details("nokey")


def test_log_source_is_the_service_else_the_task() -> None:
    svc = {"Spec": {"Mode": {"Replicated": {"Replicas": 12}}, "TaskTemplate": {"ContainerSpec": {"TTY": True}}}}
    source = log_source(ScriptedClient({"/services/web": [svc]}), "web")
    assert (source.path, source.tty, source.slot_width) == ("/services/web/logs", True, 2)
    c = ScriptedClient({"/services/t1": [APIError(404, "service t1 not found")], "/tasks/t1": [{"Slot": 7}]})
    source = log_source(c, "t1")
    assert (source.path, source.tty, source.slot_width) == ("/tasks/t1/logs", False, 1)
    nothing = ScriptedClient({"/services/x": [APIError(404, "")], "/tasks/x": [APIError(404, "")]})
    with pytest.raises(DockerError, match=r"^no such task or service: x$"):
        log_source(nothing, "x")
