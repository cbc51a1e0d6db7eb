"""Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) to and from Kubernetes JSON.

kubectl 1.32 and 1.33 send protobuf bodies for typed-client writes (`create secret|configmap|namespace|
deployment|service`, `auth can-i`, drain's DeleteOptions) and do not retry with JSON after a 415, so the
front door must read them. A body is the 4-byte magic `k8s\\0` followed by a `runtime.Unknown` envelope
{typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3, contentType=4}; `raw` is the kind's own
message.

The messages are built at import time from the compact tables of `pbschema.py` (descriptors in a private
pool, classes from `message_factory`); nothing of Kubernetes' `.proto` files is copied. `decode` turns a
message into the dict the JSON API would carry, with these rules:

- Kubernetes' messages are proto2: only present fields are emitted. The Go client writes every
  non-pointer field, so zero values it set (`clusterIP: ""`, `replicas: 0`) appear, as they do in the
  objects kube-apiserver decodes; repeated fields and maps appear when not empty.
- meta.v1 Time / MicroTime {seconds=1, nanos=2} -> RFC 3339 (`2024-01-02T03:04:05Z`, MicroTime with six
  fraction digits); an empty one (Go's zero time) -> None, as Go's JSON writes it.
- IntOrString {type=1, intVal=2, strVal=3} -> int or str; resource.Quantity {string=1} -> str.
- bytes (also map values, Secret.data) -> base64; RawExtension / FieldsV1 {raw=1} -> the parsed JSON.
- ExtraValue {items=1} -> a list of strings; fields of Go embedded structs are inlined.

`encode` is the reverse (Kubernetes JSON -> body), used by tests and available to answer protobuf.
Unknown protobuf fields are skipped, as kube-apiserver's generated unmarshallers skip them.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, EncodeError, Message

from shoal.frontdoor.kube import pbschema

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# Full names of the messages whose JSON form is not a plain object.
_TIME = "k8s.io.apimachinery.pkg.apis.meta.v1.Time"
_MICROTIME = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime"
_INTORSTRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
_RAW = frozenset({"k8s.io.apimachinery.pkg.runtime.RawExtension", "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1"})
_ITEMS = frozenset(
    {
        "k8s.io.api.authorization.v1.ExtraValue",
        "k8s.io.api.authentication.v1.ExtraValue",
        "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs",
    }
)

_SCALARS: dict[str, int] = {
    "s": FieldDescriptor.TYPE_STRING,
    "y": FieldDescriptor.TYPE_BYTES,
    "i": FieldDescriptor.TYPE_INT32,
    "l": FieldDescriptor.TYPE_INT64,
    "b": FieldDescriptor.TYPE_BOOL,
    "d": FieldDescriptor.TYPE_DOUBLE,
}


class ProtobufError(ValueError):
    """A body that is not a Kubernetes protobuf message shoal can read; the text suits a Status message."""


# ---------------------------------------------------------------------------------------------------
# Descriptors from the tables


def _field_proto(
    msg: descriptor_pb2.DescriptorProto, pkg: str, spec: str, deps: set[str]
) -> tuple[str, bool]:
    """Add one `name=number:type` field to `msg`; return (its name, whether its JSON is inlined)."""
    inline = spec.startswith("~")
    name, rest = spec.lstrip("~").split("=", 1)
    number, typ = rest.split(":", 1)
    field = msg.field.add(name=name, number=int(number), label=FieldDescriptor.LABEL_OPTIONAL)
    if typ.startswith("{"):
        # A map<string, T>: a repeated nested entry message {key=1, value=2}.
        entry = msg.nested_type.add(name=name[0].upper() + name[1:] + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, label=FieldDescriptor.LABEL_OPTIONAL, type=FieldDescriptor.TYPE_STRING)
        _set_type(entry.field.add(name="value", number=2, label=FieldDescriptor.LABEL_OPTIONAL), pkg, typ[1:-1], deps)
        field.label = FieldDescriptor.LABEL_REPEATED
        field.type = FieldDescriptor.TYPE_MESSAGE
        field.type_name = f".{pbschema.PACKAGES[pkg][0]}.{msg.name}.{entry.name}"
    elif typ.startswith("["):
        field.label = FieldDescriptor.LABEL_REPEATED
        _set_type(field, pkg, typ[1:-1], deps)
    else:
        _set_type(field, pkg, typ, deps)
    return name, inline


def _set_type(field: descriptor_pb2.FieldDescriptorProto, pkg: str, typ: str, deps: set[str]) -> None:
    if typ in _SCALARS:
        field.type = _SCALARS[typ]
        return
    ref_pkg, _, name = typ.rpartition(".")
    ref_pkg = ref_pkg or pkg
    if ref_pkg != pkg:
        deps.add(ref_pkg)
    field.type = FieldDescriptor.TYPE_MESSAGE
    field.type_name = f".{pbschema.PACKAGES[ref_pkg][0]}.{name}"


def _build() -> tuple[descriptor_pool.DescriptorPool, frozenset[tuple[str, str]]]:
    pool = descriptor_pool.DescriptorPool()
    inlined: set[tuple[str, str]] = set()
    for pkg, (package, table) in pbschema.PACKAGES.items():
        file = descriptor_pb2.FileDescriptorProto(name=f"shoal/kube/{pkg}.proto", package=package, syntax="proto2")
        deps: set[str] = set()
        for msg_name, fields in table.items():
            msg = file.message_type.add(name=msg_name)
            for spec in fields.split():
                field_name, inline = _field_proto(msg, pkg, spec, deps)
                if inline:
                    inlined.add((f"{package}.{msg_name}", field_name))
        file.dependency.extend(f"shoal/kube/{dep}.proto" for dep in sorted(deps))
        pool.AddSerializedFile(file.SerializeToString())
    return pool, frozenset(inlined)


_POOL, _INLINED = _build()
_CLASSES: dict[str, type[Message]] = {}


def _class(full_name: str) -> type[Message]:
    cls = _CLASSES.get(full_name)
    if cls is None:
        cls = _CLASSES[full_name] = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))
    return cls


def _kind_message(api_version: str, kind: str) -> str:
    """The full message name of (apiVersion, kind), or ProtobufError as kube-apiserver words it."""
    entry = pbschema.KINDS.get(api_version)
    if entry is None:
        raise ProtobufError(f'no kind "{kind}" is registered for version "{api_version}"')
    table, kinds = entry
    if kind in kinds:
        return f"{pbschema.PACKAGES[table][0]}.{kind}"
    if kind in pbschema.META_KINDS:
        return f"{pbschema.PACKAGES['meta'][0]}.{kind}"
    raise ProtobufError(f'no kind "{kind}" is registered for version "{api_version}"')


def message_class(api_version: str, kind: str) -> type[Message]:
    """The generated message class of a kind (for tests and for building bodies)."""
    return _class(_kind_message(api_version, kind))


def kinds() -> list[tuple[str, str]]:
    """Every (apiVersion, kind) `decode` reads (meta kinds such as DeleteOptions also under each version)."""
    return [(version, kind) for version, (_, names) in pbschema.KINDS.items() for kind in names]


# ---------------------------------------------------------------------------------------------------
# Decoding


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body as the Kubernetes JSON object (with apiVersion and kind set)."""
    if not body:
        raise ProtobufError("empty data")
    if not body.startswith(MAGIC):
        prefix = " ".join(str(b) for b in MAGIC)
        raise ProtobufError(f"provided data does not appear to be a protobuf message, expected prefix [{prefix}]")
    envelope: Any = _class("k8s.io.apimachinery.pkg.runtime.Unknown")()
    try:
        envelope.ParseFromString(body[len(MAGIC) :])
    except DecodeError as err:
        raise ProtobufError(f"unable to decode the protobuf envelope: {err}") from None
    type_meta = envelope.typeMeta
    api_version: str = type_meta.apiVersion
    kind: str = type_meta.kind
    content_encoding: str = envelope.contentEncoding
    content_type: str = envelope.contentType
    raw: bytes = envelope.raw
    if not kind:
        raise ProtobufError("Object 'Kind' is missing in the protobuf envelope")
    if content_encoding:
        raise ProtobufError(f"unsupported content encoding {content_encoding!r} in the protobuf envelope")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    if content_type == "application/json":
        try:
            inner = json.loads(raw)
        except ValueError as err:
            raise ProtobufError(f"unable to decode the JSON inside the protobuf envelope: {err}") from None
        if not isinstance(inner, dict):
            raise ProtobufError("the JSON inside the protobuf envelope is not an object")
        obj.update(inner)
        return obj
    if content_type not in ("", PROTOBUF):
        raise ProtobufError(f"unsupported content type {content_type!r} in the protobuf envelope")
    msg = _class(_kind_message(api_version, kind))()
    try:
        msg.ParseFromString(raw)
    except DecodeError as err:
        raise ProtobufError(f"unable to decode {kind} ({api_version}) from protobuf: {err}") from None
    obj.update(_message_json(msg))
    return obj


def _message_json(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    desc = msg.DESCRIPTOR
    for field in desc.fields:
        if field.is_repeated:
            values: Any = getattr(msg, field.name)
            if not len(values):
                continue
            if _is_map(field):
                value_field = field.message_type.fields_by_name["value"]
                out[field.name] = {key: _value_json(value_field, values[key]) for key in values}
            else:
                out[field.name] = [_value_json(field, value) for value in values]
        elif msg.HasField(field.name):
            value = _value_json(field, getattr(msg, field.name))
            if (desc.full_name, field.name) in _INLINED and isinstance(value, dict):
                out.update(value)
            else:
                out[field.name] = value
    return out


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _value_json(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return value
    name = field.message_type.full_name
    if name == _TIME or name == _MICROTIME:
        return _time_json(value, micro=name == _MICROTIME)
    if name == _INTORSTRING:
        return value.strVal if value.type == 1 else value.intVal
    if name == _QUANTITY:
        return value.string
    if name in _RAW:
        return _raw_json(getattr(value, value.DESCRIPTOR.fields[0].name))
    if name in _ITEMS:
        return list(value.items)
    return _message_json(value)


def _time_json(value: Any, micro: bool) -> str | None:
    if not value.HasField("seconds"):
        return None  # Go's zero time: the Go client sends an empty message, its JSON is null
    try:
        when = datetime.datetime.fromtimestamp(value.seconds, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"time out of range: {value.seconds} seconds") from None
    if micro:
        when = when.replace(microsecond=max(0, value.nanos) // 1000 % 1_000_000)
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _raw_json(raw: bytes) -> Any:
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return decode(raw)
    try:
        return json.loads(raw)
    except ValueError as err:
        raise ProtobufError(f"an embedded object is not JSON: {err}") from None


# ---------------------------------------------------------------------------------------------------
# Encoding


def encode(obj: dict[str, Any]) -> bytes:
    """A Kubernetes JSON object (with apiVersion and kind) as a protobuf body; ProtobufError if it does not fit."""
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
        raise ProtobufError("Object 'Kind' is missing in the object")
    msg = _class(_kind_message(api_version, kind))()
    _fill(msg, {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}, kind)
    envelope: Any = _class("k8s.io.apimachinery.pkg.runtime.Unknown")()
    envelope.typeMeta.apiVersion = api_version
    envelope.typeMeta.kind = kind
    try:
        envelope.raw = msg.SerializeToString()
    except EncodeError as err:
        raise ProtobufError(str(err)) from None
    return MAGIC + envelope.SerializeToString()


def _fill(msg: Message, data: Any, path: str) -> None:
    if not isinstance(data, dict):
        raise ProtobufError(f"{path}: expected an object")
    desc: Descriptor = msg.DESCRIPTOR
    inline = [f for f in desc.fields if (desc.full_name, f.name) in _INLINED]
    own = {f.name for f in desc.fields if f not in inline}
    rest: dict[str, Any] = {}
    for key, value in data.items():
        if key in own:
            if value is not None:
                _set_field(msg, desc.fields_by_name[key], value, f"{path}.{key}")
        elif inline:
            rest[key] = value
        else:
            raise ProtobufError(f'{path}: unknown field "{key}"')
    for field in inline:
        # A Go embedded struct: always on the wire (Go writes it even when empty), its keys in the parent's.
        names = field.message_type.fields_by_name
        mine = {k: v for k, v in rest.items() if k in names}
        for k in mine:
            del rest[k]
        part = getattr(msg, field.name)
        part.SetInParent()
        if mine:
            _fill(part, mine, path)
    if rest:
        raise ProtobufError(f'{path}: unknown field "{next(iter(rest))}"')


def _set_field(msg: Message, field: FieldDescriptor, value: Any, path: str) -> None:
    target: Any = getattr(msg, field.name)
    if _is_map(field):
        if not isinstance(value, dict):
            raise ProtobufError(f"{path}: expected an object")
        value_field = field.message_type.fields_by_name["value"]
        for key, item in value.items():
            if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                _fill_special(target[key], value_field, item, f"{path}.{key}")
            else:
                target[key] = _scalar(value_field, item, f"{path}.{key}")
    elif field.is_repeated:
        if not isinstance(value, list):
            raise ProtobufError(f"{path}: expected a list")
        for i, item in enumerate(value):
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                _fill_special(target.add(), field, item, f"{path}[{i}]")
            else:
                target.append(_scalar(field, item, f"{path}[{i}]"))
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        target.SetInParent()
        _fill_special(target, field, value, path)
    else:
        setattr(msg, field.name, _scalar(field, value, path))


def _fill_special(target: Any, field: FieldDescriptor, value: Any, path: str) -> None:
    name = field.message_type.full_name
    if name == _TIME or name == _MICROTIME:
        if value is None:
            return
        if not isinstance(value, str):
            raise ProtobufError(f"{path}: expected an RFC 3339 time")
        try:
            when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ProtobufError(f"{path}: {value!r} is not an RFC 3339 time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        target.seconds = int(when.timestamp() // 1)
        target.nanos = when.microsecond * 1000 if name == _MICROTIME else 0
    elif name == _INTORSTRING:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ProtobufError(f"{path}: expected an integer or a string")
        if isinstance(value, str):
            target.type, target.strVal = 1, value
        else:
            target.type, target.intVal = 0, value
    elif name == _QUANTITY:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ProtobufError(f"{path}: expected a quantity")
        target.string = str(value)
    elif name in _RAW:
        raw = json.dumps(value, separators=(",", ":")).encode()
        setattr(target, target.DESCRIPTOR.fields[0].name, raw)
    elif name in _ITEMS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProtobufError(f"{path}: expected a list of strings")
        target.items.extend(value)
    else:
        _fill(target, value, path)


def _scalar(field: FieldDescriptor, value: Any, path: str) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING and isinstance(value, str):
        return value
    if kind == FieldDescriptor.TYPE_BOOL and isinstance(value, bool):
        return value
    if kind in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64) and isinstance(value, int):
        if not isinstance(value, bool):
            limit = 2**31 if kind == FieldDescriptor.TYPE_INT32 else 2**63
            if -limit <= value < limit:
                return value
    if kind == FieldDescriptor.TYPE_DOUBLE and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == FieldDescriptor.TYPE_BYTES and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ProtobufError(f"{path}: not valid base64") from None
    raise ProtobufError(f"{path}: {value!r} does not fit a {field.type} field")
