"""Swarm secrets and configs in the control API, with SwarmKit's rules and words.

Both kinds are a name, labels and a payload of bytes; one ``PayloadAPI`` serves each, told apart by
a ``Kind``: a secret's payload is at most 500 KiB and never leaves the manager through the API (only
through the dispatcher, to the nodes whose tasks use it); a config's is at most 1000 KiB and is
shown by ``inspect``. Once created, only the labels may change. Names are SwarmKit's
(``[a-zA-Z0-9-_.]``, at most 64, starting and ending with a letter or digit). Objects are found by
full ID, exact name or unique ID prefix (``rpc.find``); a service's references are checked and
completed by ``resolve`` (the ID from the name when only the name is given, the default file target
``<name>``, uid/gid 0, mode 0444), and removing one that a service uses is refused, naming the
services. Like every stored value, the payload is encrypted at rest with the cluster's data key
(``store/encryption.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from shoal.api.errors import Code, InvalidArgument, ShoalError
from shoal.api.ids import new_id
from shoal.api.labels import labels_match
from shoal.api.types import (
    Config,
    ConfigReference,
    ConfigSpec,
    FileTarget,
    Secret,
    SecretReference,
    SecretSpec,
    Service,
    ServiceSpec,
    clone,
    containers_of,
)
from shoal.manager.rpc import RPCError, find, invalid, unimplemented
from shoal.store.objects import OUT_OF_SEQUENCE, ObjectStore, Taken

_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")  # SwarmKit's isValidConfigOrSecretName
BAD_NAME = ("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be "
            "[a-zA-Z0-9]")
DEFAULT_MODE = 0o444

Payload = Secret | Config
Reference = SecretReference | ConfigReference


@dataclass(frozen=True)
class Kind:
    word: str  # "secret" | "config", as in SwarmKit's messages
    typ: type[Secret] | type[Config]
    max_size: int
    filters: frozenset[str]  # dockerd's accepted list filters
    shows_data: bool

    def refs(self, spec: ServiceSpec) -> list[Any]:
        return [r for cs in containers_of(spec.TaskTemplate)
                for r in (cs.Secrets if self.typ is Secret else cs.Configs) or []]


SECRETS = Kind("secret", Secret, 500 * 1024, frozenset({"names", "name", "id", "label"}), shows_data=False)
CONFIGS = Kind("config", Config, 1000 * 1024, frozenset({"name", "id", "label"}), shows_data=True)


def ref_id(ref: Reference) -> str:
    return ref.SecretID if isinstance(ref, SecretReference) else ref.ConfigID


def ref_name(ref: Reference) -> str:
    return ref.SecretName if isinstance(ref, SecretReference) else ref.ConfigName


def _set_ref(ref: Reference, oid: str, name: str) -> None:
    if isinstance(ref, SecretReference):
        ref.SecretID, ref.SecretName = oid, name
    else:
        ref.ConfigID, ref.ConfigName = oid, name


def _plural(word: str, n: int) -> str:
    return word if n == 1 else word + "s"


class PayloadAPI:
    """Secrets (``PayloadAPI(store, SECRETS)``) or configs (``PayloadAPI(store, CONFIGS)``)."""

    def __init__(self, store: ObjectStore, kind: Kind) -> None:
        self.store = store
        self.kind = kind

    def _all(self) -> list[Payload]:
        """Swarm's (a Kubernetes Secret or ConfigMap, which has a namespace, is not one of them)."""
        return [o for o in self.store.list(self.kind.typ) if not o.Namespace]

    def shown(self, obj: Payload) -> Payload:
        """The object as the API shows it: a secret without its bytes."""
        if self.kind.shows_data:
            return obj
        return msgspec.structs.replace(obj, Spec=msgspec.structs.replace(obj.Spec, Data=None))

    def find(self, ref: str) -> Payload:
        return find(self._all(), ref, lambda o: o.ID, lambda o: o.Spec.Name, self.kind.word)

    def inspect(self, ref: str) -> Payload:
        return self.shown(self.find(ref))

    def objects(self, filters: dict[str, list[str]] | None = None) -> list[Payload]:
        """SwarmKit's list: any of the exact names (``names``), name prefixes (``name``) or ID
        prefixes (``id``), then every label filter."""
        f = filters or {}
        for k in f:
            if k not in self.kind.filters:
                raise InvalidArgument(f"invalid filter '{k}'")
        names, prefixes, ids = f.get("names", []), f.get("name", []), f.get("id", [])
        out = []
        for o in self._all():
            if (names or prefixes or ids) and not (
                    o.Spec.Name in names or any(o.Spec.Name.startswith(p) for p in prefixes)
                    or any(o.ID.startswith(p) for p in ids)):
                continue
            if not labels_match(o.Spec.Labels or {}, f.get("label", [])):
                continue
            out.append(self.shown(o))
        return sorted(out, key=lambda o: o.Spec.Name)

    def validate(self, spec: SecretSpec | ConfigSpec) -> None:
        if not spec.Name:
            raise invalid("name must be provided")
        if len(spec.Name) > 64 or not _NAME.match(spec.Name):
            raise invalid(BAD_NAME)
        if isinstance(spec, SecretSpec) and spec.Driver is not None:
            if not spec.Driver.Name:
                raise invalid("secret driver must have a name")
            raise unimplemented(f"secret drivers are not supported by shoal ({spec.Driver.Name})")
        if spec.Templating is not None and spec.Templating.Name not in ("", "golang"):
            raise unimplemented(f"templating driver {spec.Templating.Name} is not supported by shoal (golang is)")
        size = len(spec.Data or b"")
        if size >= self.kind.max_size or size < 1:
            raise invalid(f"{self.kind.word} data must be larger than 0 and less than {self.kind.max_size} bytes")

    async def create(self, spec: SecretSpec | ConfigSpec) -> Payload:
        self.validate(spec)
        if any(o.Spec.Name == spec.Name for o in self._all()):
            raise self._exists(spec.Name)  # the cache's answer; the name's index key is the store's
        spec = clone(spec)
        spec.Labels = spec.Labels or {}
        obj = Secret(ID=new_id(), Spec=spec) if isinstance(spec, SecretSpec) else Config(ID=new_id(), Spec=spec)
        try:
            await self.store.create(obj)
        except Taken as e:  # another manager made one of this name first
            raise self._exists(spec.Name) from e
        return self.shown(obj)

    def _exists(self, name: str) -> ShoalError:
        return RPCError(Code.ALREADY_EXISTS, f"{self.kind.word} {name} already exists")

    async def update(self, ref: str, version: int, spec: SecretSpec | ConfigSpec) -> None:
        """Only the labels may change (SwarmKit's rule); the bytes may be sent again unchanged."""
        cur = self.find(ref)
        if version != cur.Version.Index:
            raise RPCError(Code.UNKNOWN, OUT_OF_SEQUENCE)
        if spec.Name != cur.Spec.Name or (spec.Data is not None and spec.Data != cur.Spec.Data):
            raise invalid("only updates to Labels are allowed")
        obj = clone(cur)
        obj.Spec.Labels = spec.Labels or {}
        await self.store.update(obj)

    def users(self, oid: str) -> list[Service]:
        """The services whose spec refers to the object."""
        return sorted((s for s in self.store.list(Service) if any(ref_id(r) == oid for r in self.kind.refs(s.Spec))),
                      key=lambda s: s.Spec.Name)

    async def remove(self, ref: str) -> None:
        obj = self.find(ref)
        users = self.users(obj.ID)
        if users:
            raise invalid(f"{self.kind.word} '{obj.Spec.Name}' is in use by the following "
                          f"{_plural('service', len(users))}: {', '.join(s.Spec.Name for s in users)}")
        await self.store.delete(obj)

    def resolve(self, spec: ServiceSpec) -> None:
        """Check and complete a service's references: each must name an existing object (by ID and
        name; a reference with only a name gets the ID), and no two may share a target file."""
        word = self.kind.word
        missing: list[str] = []
        targets: dict[str, str] = {}
        by_id = {o.ID: o for o in self._all()}
        by_name = {o.Spec.Name: o for o in by_id.values()}
        for r in self.kind.refs(spec):
            oid, name = ref_id(r), ref_name(r)
            if not oid and not name:
                raise invalid(f"malformed {word} reference")
            if not oid and name in by_name:
                _set_ref(r, by_name[name].ID, name)
            elif not name and oid in by_id:
                _set_ref(r, oid, by_id[oid].Spec.Name)
            obj = by_id.get(ref_id(r))
            if obj is None or obj.Spec.Name != ref_name(r):
                missing.append(ref_name(r) or ref_id(r))
                continue
            if r.File is None and (isinstance(r, SecretReference) or r.Runtime is None):
                r.File = FileTarget(Name=ref_name(r), UID="0", GID="0", Mode=DEFAULT_MODE)
            if r.File is None:
                continue
            if not r.File.Name:
                raise invalid(f"malformed file {word} reference, invalid target file name provided")
            if r.File.Name in targets:
                raise invalid(f"{word} references '{targets[r.File.Name]}' and '{ref_name(r)}' have a conflicting "
                              f"target: '{r.File.Name}'")
            targets[r.File.Name] = ref_name(r)
        if missing:
            raise invalid(f"{_plural(word, len(missing))} not found: {', '.join(missing)}")


__all__ = ["CONFIGS", "SECRETS", "Kind", "PayloadAPI", "ref_id", "ref_name"]
