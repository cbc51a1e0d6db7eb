"""Placement constraints (``node.labels.pci==true``), parsed and matched as SwarmKit does.

A constraint is ``key op value`` with ``==`` or ``!=``. Keys: ``node.id``, ``node.hostname``,
``node.role``, ``node.platform.os``, ``node.platform.arch``, ``node.labels.<name>``,
``engine.labels.<name>``. Values compare case-insensitively; a missing label never equals and always
differs. Parse errors use SwarmKit's words and are reported at service create/update time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shoal.api.types import Node

_KEY = re.compile(r"(?i)^[a-z_][a-z0-9\-_.]+$")
_VALUE = re.compile(r"(?i)^[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$")
OPERATORS = ("==", "!=")


class ConstraintError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str
    equal: bool
    value: str

    def match(self, *candidates: str | None) -> bool:
        hit = any(c is not None and c.lower() == self.value.lower() for c in candidates)
        return hit if self.equal else not hit


def parse(exprs: list[str] | None) -> list[Constraint]:
    out: list[Constraint] = []
    for e in exprs or []:
        for op in OPERATORS:
            if op not in e:
                continue
            left, _, right = e.partition(op)
            key, value = left.strip(), right.strip()
            if not _KEY.match(key):
                raise ConstraintError(f"key '{key}' is invalid")
            if not _VALUE.match(value):
                raise ConstraintError(f"value '{value}' is invalid")
            out.append(Constraint(key, op == "==", value))
            break
        else:
            raise ConstraintError("constraint expected one operator from ==, !=")
    return out


def _arch(a: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(a, a)


def node_matches(constraints: list[Constraint], node: Node) -> bool:
    for c in constraints:
        key = c.key.lower()
        desc = node.Description
        if key == "node.id":
            ok = c.match(node.ID)
        elif key == "node.hostname":
            ok = c.match(desc.Hostname) if desc.Hostname else not c.equal
        elif key == "node.role":
            ok = c.match(node.Spec.Role)
        elif key == "node.platform.os":
            ok = c.match(desc.Platform.OS) if desc.Platform.OS else not c.equal
        elif key == "node.platform.arch":
            arch = desc.Platform.Architecture
            ok = c.match(arch, _arch(arch)) if arch else not c.equal
        elif key.startswith("node.labels."):
            labels = node.Spec.Labels or {}
            name = c.key[len("node.labels."):]
            ok = c.match(labels[name]) if name in labels else not c.equal
        elif key.startswith("engine.labels."):
            labels = desc.Engine.Labels or {}
            name = c.key[len("engine.labels."):]
            ok = c.match(labels[name]) if name in labels else not c.equal
        else:
            ok = False  # an unknown key matches no node
        if not ok:
            return False
    return True
