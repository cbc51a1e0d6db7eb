"""Go's encoding/json rules at the Docker door: case-insensitive names, null as the zero value, unknown
fields ignored when decoding; ``omitempty`` when encoding; query booleans as dockerd's BoolValue."""

from __future__ import annotations

import msgspec
import pytest
from aiohttp.test_utils import make_mocked_request

from shoal.api import types as T
from shoal.api.errors import InvalidArgument
from shoal.api.types import ClusterSpec
from shoal.frontdoor.docker import gojson, query, wire
from shoal.frontdoor.docker.logstream import options_of
from shoal.frontdoor.docker.query import bool_value


def test_field_names_match_without_regard_to_case() -> None:
    spec = gojson.decode(b'{"mode": {"replicated": {"Replicas": 5}}, "TASKTEMPLATE": {"containerSpec": '
                         b'{"image": "busybox"}}, "UpdateConfig": {"order": "start-first"}}', wire.ServiceSpec)
    assert spec.Mode.Replicated == T.ReplicatedService(Replicas=5)
    assert spec.TaskTemplate.ContainerSpec is not None and spec.TaskTemplate.ContainerSpec.Image == "busybox"
    assert spec.UpdateConfig is not None and spec.UpdateConfig.Order == "start-first"


def test_of_two_keys_naming_one_field_the_last_wins_as_in_go() -> None:
    assert gojson.decode(b'{"name": "a", "Name": "b"}', wire.ServiceSpec).Name == "b"
    assert gojson.decode(b'{"Name": "b", "name": "a"}', wire.ServiceSpec).Name == "a"
    assert gojson.decode(b'{"Name": "b", "name": null}', wire.ServiceSpec).Name == "b"  # null: no effect
    assert gojson.decode(b'{"Labels": {"a": "b"}, "labels": null}', wire.ServiceSpec).Labels is None  # a nil map


def test_null_is_the_zero_value_and_unknown_fields_are_ignored() -> None:
    spec = gojson.decode(b'{"Raft": {"HeartbeatTick": null, "ElectionTick": 10, "Unknown": 1}, "Name": null, '
                         b'"Orchestration": {"TaskHistoryRetentionLimit": null}, "Whatever": {"x": 1}}', ClusterSpec)
    assert spec.Raft.HeartbeatTick == 0 and spec.Raft.ElectionTick == 10
    assert spec.Name == "default"  # the field's default, as a fresh Go struct's value is kept
    assert spec.Orchestration.TaskHistoryRetentionLimit is None


def test_lists_and_maps_of_structs_are_matched_too() -> None:
    spec = gojson.decode(b'{"TaskTemplate": {"Networks": [{"target": "n1", "aliases": ["a"]}], "ContainerSpec": '
                         b'{"Secrets": [{"secretID": "s", "SecretName": "x", "file": {"name": "f", "mode": 256}}]}}}',
                         wire.ServiceSpec)
    assert spec.TaskTemplate.Networks == [T.NetworkAttachmentConfig(Target="n1", Aliases=["a"])]
    cs = spec.TaskTemplate.ContainerSpec
    assert cs is not None and cs.Secrets is not None
    assert cs.Secrets[0].SecretID == "s" and cs.Secrets[0].File == T.FileTarget(Name="f", Mode=256)


def test_a_wrong_type_is_still_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$.Raft.HeartbeatTick"):
        gojson.decode(b'{"raft": {"heartbeatTick": "x"}}', ClusterSpec)


def test_omitempty_leaves_out_what_docker_leaves_out() -> None:
    mode = gojson.to_json(T.ServiceMode(Replicated=T.ReplicatedService(Replicas=2)))
    assert mode == {"Replicated": {"Replicas": 2}}
    assert gojson.to_json(T.ServiceMode(Global={})) == {"Global": {}}  # a pointer to an empty struct is written
    assert gojson.to_json(T.Placement(Constraints=["a"])) == {"Constraints": ["a"]}
    assert gojson.to_json(T.Resources(NanoCPUs=1)) == {"NanoCPUs": 1}
    assert gojson.to_json(T.NetworkAttachmentConfig(Target="n")) == {"Target": "n"}
    ref = T.ConfigReference(File=T.FileTarget(Name="c"), ConfigID="i", ConfigName="c")
    assert gojson.to_json(ref) == {"File": {"Name": "c", "UID": "", "GID": "", "Mode": 0}, "ConfigID": "i",
                                   "ConfigName": "c"}
    # a pointer to zero is written (MaxAttempts 0), a nil one is not
    assert gojson.to_json(T.RestartPolicy(Condition="any", MaxAttempts=0)) == {"Condition": "any", "MaxAttempts": 0}
    # fields without omitempty stay
    assert gojson.to_json(T.UpdateConfig()) == {"Parallelism": 0, "MaxFailureRatio": 0.0, "Order": ""}


def test_annotation_labels_are_an_object_and_a_task_has_its_port_status() -> None:
    assert gojson.to_json(wire.ServiceSpec())["Labels"] == {}
    t = gojson.to_json(wire.Task(ID="t"))
    assert t["Labels"] == {} and t["Status"]["PortStatus"] == {}
    assert gojson.to_json(T.NodeSpec()) == {"Labels": {}, "Role": "worker", "Availability": "active"}


def test_a_types_plan_is_applied_to_lists() -> None:
    tasks = gojson.to_json([wire.Task(ID="a"), wire.Task(ID="b")], list[wire.Task])
    assert [t["ID"] for t in tasks] == ["a", "b"] and "ServiceID" not in tasks[0]


@pytest.mark.parametrize(("raw", "want"), [
    ("1", True), ("true", True), ("True", True), ("TRUE", True), ("yes", True), (" 1 ", True), ("anything", True),
    ("", False), ("0", False), ("false", False), ("False", False), ("no", False), ("none", False), (" NO ", False),
])
def test_query_booleans_read_as_dockerds_bool_value(raw: str, want: bool) -> None:
    assert bool_value({"x": raw}, "x") is want
    assert bool_value({}, "x") is False


def test_log_streams_are_chosen_with_dockers_booleans() -> None:
    o = options_of(make_mocked_request("GET", "/services/x/logs?stdout=True&stderr=False&follow=TRUE"))
    assert o.stdout and not o.stderr and o.follow
    with pytest.raises(InvalidArgument, match="you must choose at least one stream"):
        options_of(make_mocked_request("GET", "/services/x/logs?stdout=no&stderr=0"))


def test_filters_as_docker_reads_them() -> None:
    """The map form and the old list form; null for the whole or for a key is no filter; bad JSON is refused."""
    assert query.filters({}) == {}
    assert query.filters({"filters": '{"name": {"web": true, "db": false}, "label": ["a=b"]}'}) == {
        "name": ["web"], "label": ["a=b"]}
    assert query.filters({"filters": "null"}) == {}
    assert query.filters({"filters": '{"status": null}'}) == {}
    with pytest.raises(InvalidArgument, match="invalid filter"):
        query.filters({"filters": "{"})
