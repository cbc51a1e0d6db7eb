"""The CLI's text output against what docker CLI 28 prints (expected strings taken from real docker runs)."""

from __future__ import annotations

import json

import pytest

from shoal.cli import output as o

NOW = 1_800_000_000.0


def ts(seconds_ago: float) -> str:
    import datetime as dt

    t = dt.datetime.fromtimestamp(NOW - seconds_ago, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


# ---------------------------------------------------------------- go-units


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "Less than a second"), (0.99, "Less than a second"), (1, "1 second"), (1.5, "1 second"),
    (5, "5 seconds"), (59.9, "59 seconds"), (60, "About a minute"), (119, "About a minute"),
    (120, "2 minutes"), (59 * 60 + 59, "59 minutes"), (3600, "About an hour"), (5399, "About an hour"),
    (5400, "2 hours"), (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (13 * 86400, "13 days"),
    (14 * 86400, "2 weeks"), (59 * 86400, "8 weeks"), (60 * 86400, "2 months"), (729 * 86400, "24 months"),
    (730 * 86400, "2 years"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert o.human_duration(seconds) == text


@pytest.mark.parametrize(("size", "text"), [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (1500, "1.5kB"), (1_982_256, "1.98MB"), (2_000_000, "2MB"),
    (1_500_000_000, "1.5GB"), (123_456_789, "123MB"), (999_500, "1e+03kB"), (10**13, "10TB"),
])
def test_human_size(size: int, text: str) -> None:
    assert o.human_size(size) == text


def test_bytes_size() -> None:
    assert o.bytes_size(1 << 30) == "1GiB"
    assert o.bytes_size(104857600) == "100MiB"
    assert o.bytes_size(25276510208) == "23.54GiB"
    assert o.bytes_size(512) == "512B"


@pytest.mark.parametrize(("text", "n"), [
    ("64M", 64 << 20), ("1G", 1 << 30), ("1000G", 1000 << 30), ("100", 100), ("1.5g", int(1.5 * (1 << 30))),
    ("512kb", 512 << 10), ("2MiB", 2 << 20), ("10b", 10), ("1 m", 1 << 20),
])
def test_ram_in_bytes(text: str, n: int) -> None:
    assert o.ram_in_bytes(text) == n


@pytest.mark.parametrize(("text", "err"), [
    ("1x", "invalid suffix: 'x'"), ("m", "invalid size: 'm'"), ("1mbb", "invalid suffix: 'mbb'"),
    ("-1", "invalid size: '-1'"),
])
def test_ram_in_bytes_errors(text: str, err: str) -> None:
    with pytest.raises(ValueError, match=err):
        o.ram_in_bytes(text)


# ---------------------------------------------------------------- Go durations


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (5_000_000_000, "5s"), (60_000_000_000, "1m0s"), (1_500_000, "1.5ms"), (999, "999ns"),
    (1_500, "1.5µs"), (3_723_500_000_000, "1h2m3.5s"), (10_000_000_000, "10s"), (-1_000_000_000, "-1s"),
])
def test_go_duration(ns: int, text: str) -> None:
    assert o.go_duration(ns) == text


def test_go_float() -> None:
    assert o.go_float(0.0) == "0"
    assert o.go_float(0.5) == "0.5"
    assert o.go_float(2.0) == "2"
    assert o.go_float(1e21) == "1e+21"


# ---------------------------------------------------------------- tables


def test_table_matches_docker_service_ls() -> None:
    out = o.table(o.SERVICE_HEADER, [["4ef4wbxwa1uw", "web", "replicated", "2/2", "ticker:latest", ""]])
    assert out == ("ID             NAME      MODE         REPLICAS   IMAGE           PORTS\n"
                   "4ef4wbxwa1uw   web       replicated   2/2        ticker:latest   \n")


def test_table_minwidth_and_last_column_unpadded() -> None:
    out = o.tabwrite([["A", "B", "C"], ["aaaaaaaaaaaa", "b", "cccccccccccccccccc"]])
    assert out.splitlines() == ["A              B         C", "aaaaaaaaaaaa   b         cccccccccccccccccc"]


def test_table_wide_runes_and_ellipsis() -> None:
    out = o.tabwrite([["日本", "x"], ["…", "y"]])
    assert out.splitlines() == ["日本      x", "…         y"]


def test_table_ragged_rows_are_column_blocks() -> None:
    # Go's tabwriter: a column ends where a line has no cell in it.
    out = o.tabwrite([["a", "b", "c"], ["x"], ["aaaaaaaaaaaaa", "b"]])
    assert out.splitlines() == ["a         b         c", "x", "aaaaaaaaaaaaa   b"]


def test_node_rows_self_marker_and_header() -> None:
    nodes = [{
        "ID": "ewjjswnbduldakmh9nsz6sikv", "Spec": {"Availability": "active", "Role": "manager"},
        "Description": {"Hostname": "vm", "Engine": {"EngineVersion": "28.2.2-shoal"}},
        "Status": {"State": "ready"}, "ManagerStatus": {"Leader": True, "Reachability": "reachable"},
    }, {
        "ID": "abcdefghijklmnopqrstuvwxy", "Spec": {"Availability": "drain", "Role": "worker"},
        "Description": {"Hostname": "w1", "Engine": {"EngineVersion": "28.2.2-shoal"}},
        "Status": {"State": "down"},
    }]
    out = o.table(o.NODE_HEADER, o.node_rows(nodes, "ewjjswnbduldakmh9nsz6sikv"))
    assert out == (
        "ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n"
        "ewjjswnbduldakmh9nsz6sikv *   vm         Ready     Active         Leader           28.2.2-shoal\n"
        "abcdefghijklmnopqrstuvwxy     w1         Down      Drain                           28.2.2-shoal\n"
    )


def test_natural_sort() -> None:
    names = ["web.10", "web.2", "web.1", "api.1", "web.02", "Web.1"]
    assert sorted(names, key=o.natural_key(lambda s: s)) == ["Web.1", "api.1", "web.1", "web.2", "web.02", "web.10"]


# ---------------------------------------------------------------- service ps / node ps


def task(id_: str, slot: int, created_ago: float, state: str, desired: str = "running", err: str = "",
         node: str = "n1", image: str = "ticker:latest") -> dict:
    return {"ID": id_, "ServiceID": "svc1", "Slot": slot, "NodeID": node, "CreatedAt": ts(created_ago),
            "DesiredState": desired, "Spec": {"ContainerSpec": {"Image": image}},
            "Status": {"State": state, "Timestamp": ts(created_ago - 1), "Err": err}}


def test_task_rows_history_indented_newest_first() -> None:
    tasks = [
        task("old1aaaaaaaaaaaaaaaaaaaaa", 1, 300, "shutdown", "shutdown"),
        task("new1aaaaaaaaaaaaaaaaaaaaa", 1, 30, "running"),
        task("slot10aaaaaaaaaaaaaaaaaaa", 10, 20, "running"),
        task("slot2aaaaaaaaaaaaaaaaaaaa", 2, 20, "running"),
        task("mid1aaaaaaaaaaaaaaaaaaaaa", 1, 100, "failed", "shutdown", err="task: non-zero exit (1)"),
    ]
    rows = o.task_rows(tasks, {"svc1": "web"}, {"n1": "vm"}, trunc=True, now=NOW)
    assert [r[0] for r in rows] == ["new1aaaaaaaa", "mid1aaaaaaaa", "old1aaaaaaaa", "slot2aaaaaaa", "slot10aaaaaa"]
    assert [r[1] for r in rows] == ["web.1", " \\_ web.1", " \\_ web.1", "web.2", "web.10"]
    assert rows[0][4:7] == ["Running", "Running 29 seconds ago", ""]
    assert rows[1][4:7] == ["Shutdown", "Failed about a minute ago", '"task: non-zero exit (1)"']
    assert rows[2][5] == "Shutdown 4 minutes ago"


def test_task_rows_global_service_names_use_node_id() -> None:
    t = task("g1aaaaaaaaaaaaaaaaaaaaaaa", 0, 5, "running", node="nodeidxyz")
    rows = o.task_rows([t], {"svc1": "g"}, {"nodeidxyz": "vm"}, now=NOW)
    assert rows[0][1] == "g.nodeidxyz"
    assert rows[0][3] == "vm"


def test_task_error_truncation_like_docker() -> None:
    err = "no suitable node (scheduling constraints not satisfied on 1 node)"
    assert o.task_error(err, trunc=True) == '"no suitable node (scheduling …"'
    assert o.task_error(err, trunc=False) == f'"{err}"'
    assert o.task_error("", trunc=True) == ""
    assert o.task_error("short", trunc=True) == '"short"'
    assert o.ellipsis("x" * 30, 30) == "x" * 30
    assert o.ellipsis("x" * 31, 30) == "x" * 29 + "…"


def test_service_ps_table_matches_docker() -> None:
    err = "no suitable node (scheduling constraints not satisfied on 1 node)"
    tasks = [task("1d68jv0p06bwh0lwwyc3og5vh", 1, 2, "pending", err=err, node=""),
             task("99pf43ir568r1l1u7jtxlemal", 2, 2, "pending", err=err, node="")]
    out = o.table(o.TASK_HEADER, o.task_rows(tasks, {"svc1": "pend"}, {"": ""}, now=NOW))
    assert out == (
        "ID             NAME      IMAGE           NODE      DESIRED STATE   CURRENT STATE          ERROR      "
        "                        PORTS\n"
        "1d68jv0p06bw   pend.1    ticker:latest             Running         Pending 1 second ago   \"no suitab"
        "le node (scheduling …\"   \n"
        "99pf43ir568r   pend.2    ticker:latest             Running         Pending 1 second ago   \"no suitab"
        "le node (scheduling …\"   \n"
    )
    assert o.task_ids(tasks, {"svc1": "pend"}) == ["1d68jv0p06bw", "99pf43ir568r"]


def test_task_ports() -> None:
    t = task("a" * 25, 1, 1, "running")
    t["Status"]["PortStatus"] = {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}]}
    assert o.task_ports(t) == "*:8080->80/tcp"


# ---------------------------------------------------------------- service ls


def test_service_columns() -> None:
    svc = {"ID": "4ef4wbxwa1uwjpc4y2hi8lfe8", "ServiceStatus": {"RunningTasks": 1, "DesiredTasks": 3},
           "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": 3}},
                    "TaskTemplate": {"ContainerSpec": {"Image": "docker.io/library/nginx:1.25@sha256:" + "a" * 64},
                                     "Placement": {"MaxReplicas": 2}}},
           "Endpoint": {"Ports": [
               {"Protocol": "tcp", "TargetPort": 81, "PublishedPort": 81, "PublishMode": "ingress"},
               {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 80, "PublishMode": "ingress"},
               {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "ingress"},
               {"Protocol": "tcp", "TargetPort": 82, "PublishedPort": 9000, "PublishMode": "host"},
           ]}}
    assert o.service_rows([svc]) == [["4ef4wbxwa1uw", "web", "replicated", "1/3 (max 2 per node)", "nginx:1.25",
                                      "*:80-81->80-81/tcp, *:5353->53/udp"]]
    glob = {"ID": "x", "Spec": {"Name": "g", "Mode": {"Global": {}}}, "Endpoint": {}}
    assert o.service_mode(glob) == "global"
    assert o.service_replicas(glob) == "0/0"


def test_service_ports_ranges() -> None:
    def ports(*pairs: tuple[int, int]) -> dict:
        return {"Endpoint": {"Ports": [{"Protocol": "tcp", "PublishedPort": p, "TargetPort": t,
                                        "PublishMode": "ingress"} for p, t in pairs]}}

    assert o.service_ports(ports((80, 80), (81, 80))) == "*:80-81->80/tcp"
    assert o.service_ports(ports((80, 80), (81, 81), (82, 80))) == "*:80-81->80-81/tcp, *:82->80/tcp"
    assert o.service_ports({"Endpoint": {}}) == ""


@pytest.mark.parametrize(("image", "shown"), [
    ("ticker:latest", "ticker:latest"), ("ticker", "ticker"), ("nginx:1@sha256:" + "b" * 64, "nginx:1"),
    ("nginx@sha256:" + "b" * 64, "nginx@sha256:" + "b" * 64), ("docker.io/library/nginx:1", "nginx:1"),
    ("registry:5000/team/app:v2", "registry:5000/team/app:v2"), ("Bad:Name", "Bad:Name"),
])
def test_display_image(image: str, shown: str) -> None:
    assert o.display_image(image) == shown


@pytest.mark.parametrize(("image", "sent"), [
    ("ticker", "ticker:latest"), ("docker.io/library/nginx", "nginx:latest"), ("user/app:1", "user/app:1"),
    ("nginx@sha256:" + "c" * 64, "nginx@sha256:" + "c" * 64), ("Upper", "Upper"),
])
def test_tagged_image(image: str, sent: str) -> None:
    assert o.tagged_image(image) == sent


def test_reference_error() -> None:
    assert o.reference_error("foo") is None
    assert o.reference_error("Foo") == "invalid reference format: repository name (library/Foo) must be lowercase"
    assert o.reference_error("a..b") == "invalid reference format"


# ---------------------------------------------------------------- images


def test_image_rows() -> None:
    images = [
        {"Id": "sha256:503362e64f89e647558038e5ab479b5216d2c64fe544f94e95b4e6f48773436d", "Created": NOW - 300,
         "Size": 1_982_256, "RepoTags": ["ticker:latest", "x:1"]},
        {"Id": "sha256:003accaa393a2901ddc825f753703bd1eb5169dda118acae7126b1e7ca90f276", "Created": NOW - 0.5,
         "Size": 2_000_000, "RepoTags": None},
    ]
    out = o.table(o.IMAGE_HEADER, o.image_rows(images, now=NOW))
    assert out == (
        "REPOSITORY   TAG       IMAGE ID       CREATED                  SIZE\n"
        "ticker       latest    503362e64f89   5 minutes ago            1.98MB\n"
        "x            1         503362e64f89   5 minutes ago            1.98MB\n"
        "<none>       <none>    003accaa393a   Less than a second ago   2MB\n"
    )


# ---------------------------------------------------------------- inspect JSON


def test_go_json_indent_keeps_values() -> None:
    raw = '{"a":[],"b":{},"c":[1,{"d":"x,y:{}"}],"e":0.0,"f":"\\u003c"}'
    assert o.go_json_indent(raw) == (
        '{\n    "a": [],\n    "b": {},\n    "c": [\n        1,\n        {\n            "d": "x,y:{}"\n'
        '        }\n    ],\n    "e": 0.0,\n    "f": "\\u003c"\n}'
    )
    assert o.inspect_json([]) == "[]\n"


def test_go_inspect_service_like_docker() -> None:
    svc = {
        "ID": "4ef4", "Version": {"Index": 3}, "CreatedAt": "2026-11-26T08:37:10.841231000Z",
        "UpdatedAt": "2026-11-26T08:37:10.000000000Z",
        "Spec": {"Name": "web", "Labels": {}, "TaskTemplate": {
            "ContainerSpec": {"Image": "ticker:latest", "Labels": None, "Args": None, "Init": False, "TTY": False,
                              "StopGracePeriod": 10000000000, "DNSConfig": {}, "OomScoreAdj": 0},
            "Resources": {"Limits": {"NanoCPUs": 0, "MemoryBytes": 0, "Pids": 0, "GenericResources": None},
                          "Reservations": {"NanoCPUs": 0, "MemoryBytes": 104857600}, "SwapBytes": None},
            "RestartPolicy": {"Condition": "any", "Delay": 5000000000, "MaxAttempts": 0, "Window": 0},
            "Placement": {"Constraints": None, "MaxReplicas": 0}, "Networks": None, "ForceUpdate": 0,
            "Runtime": ""},
            "Mode": {"Replicated": {"Replicas": 2}, "Global": None},
            "UpdateConfig": {"Parallelism": 1, "Delay": 0, "FailureAction": "pause", "Monitor": 5000000000,
                             "MaxFailureRatio": 0.0, "Order": "stop-first"},
            "EndpointSpec": {"Mode": "vip", "Ports": None}},
        "PreviousSpec": None, "Endpoint": {"Spec": {"Mode": "vip", "Ports": None}, "Ports": None},
        "UpdateStatus": None, "ServiceStatus": None, "SpecVersion": {"Index": 1},
    }
    shaped = json.loads(o.go_inspect([svc], "Service"))[0]
    assert shaped["CreatedAt"] == "2026-11-26T08:37:10.841231Z"
    assert shaped["UpdatedAt"] == "2026-11-26T08:37:10Z"
    assert "SpecVersion" not in shaped and "PreviousSpec" not in shaped and "UpdateStatus" not in shaped
    tt = shaped["Spec"]["TaskTemplate"]
    assert tt["ContainerSpec"] == {"Image": "ticker:latest", "Init": False, "StopGracePeriod": 10000000000,
                                   "DNSConfig": {}}
    assert tt["Resources"] == {"Limits": {}, "Reservations": {"MemoryBytes": 104857600}}
    assert tt["RestartPolicy"] == {"Condition": "any", "Delay": 5000000000, "MaxAttempts": 0, "Window": 0}
    assert tt["Placement"] == {} and tt["ForceUpdate"] == 0 and "Runtime" not in tt
    assert shaped["Spec"]["UpdateConfig"] == {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000,
                                              "MaxFailureRatio": 0, "Order": "stop-first"}
    assert '"MaxFailureRatio": 0,' in o.go_inspect([svc], "Service")
    assert shaped["Endpoint"] == {"Spec": {"Mode": "vip"}}


def test_go_inspect_node_keeps_null_labels_and_empty_tls() -> None:
    node = {"ID": "n", "Version": {"Index": 2}, "CreatedAt": "2026-01-01T00:00:00.5Z", "UpdatedAt": "",
            "Spec": {"Name": "", "Labels": None, "Role": "manager", "Availability": "active"},
            "Description": {"Hostname": "vm", "TLSInfo": None, "Resources": {"NanoCPUs": 1, "Pids": 0}},
            "Status": {"State": "ready", "Message": "", "Addr": "127.0.0.1"},
            "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": "127.0.0.1:2377"}}
    shaped = json.loads(o.go_inspect([node], "Node"))[0]
    assert shaped["Spec"] == {"Labels": None, "Role": "manager", "Availability": "active"}
    assert shaped["Description"]["TLSInfo"] == {}
    assert shaped["Description"]["Platform"] == {}
    assert shaped["Description"]["Resources"] == {"NanoCPUs": 1}
    assert shaped["UpdatedAt"] == "0001-01-01T00:00:00Z"
    assert shaped["Status"] == {"State": "ready", "Addr": "127.0.0.1"}


def test_go_json_escapes_html_like_go() -> None:
    assert o.go_json("a<b>&c") == '"a\\u003cb\\u003e\\u0026c"'
    assert o.go_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_go_time_string_for_node_pretty() -> None:
    assert o.go_time_string("2026-11-26T08:37:08.020225000Z") == "2026-11-26 08:37:08.020225 +0000 UTC"
    assert o.pretty_print(o.go_time_string("2026-11-26T08:37:08Z")) == "2026-11-26 08:37:08 +0000 utc"


def test_pretty_print() -> None:
    assert o.pretty_print("running") == "Running"
    assert o.pretty_print("READY") == "Ready"
    assert o.pretty_print("") == ""
    assert o.pretty_print("x") == "x"
    assert o.pretty_print(None) == "None"


def test_truncate_id() -> None:
    assert o.truncate_id("sha256:503362e64f89e647558038e5ab479b") == "503362e64f89"
    assert o.truncate_id("4ef4wbxwa1uwjpc4y2hi8lfe8") == "4ef4wbxwa1uw"
