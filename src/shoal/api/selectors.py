"""Label and field selectors, read, matched and written as Kubernetes does.

The Kubernetes front door filters lists and watches with them (``?labelSelector=``,
``?fieldSelector=``) and the core's controllers select their objects with them (a ReplicaSet's
``spec.selector``), so they live here, below both. Pure: no I/O, no core types.

**Label selectors** follow k8s.io/apimachinery/pkg/labels: comma-separated requirements ``k=v``,
``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k`` (does not exist) and
``k>5`` / ``k<5`` (integer comparison), with blanks allowed around every token; the empty text
selects everything. Text is scanned by the same lexer rules (``in`` is a keyword only where an
operator may stand, so ``in in (in)`` is valid), keys must be qualified names (an optional DNS
subdomain prefix and ``/``, then at most 63 characters of ``[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?``)
and values label values (the same, at most 63 characters, or empty). Requirements are kept sorted by
key and set values sorted, so ``str()`` is the canonical text the API server would print. A
``metav1.LabelSelector`` (``matchLabels`` and ``matchExpressions``) becomes the same selector through
:func:`selector_from_spec`.

**Field selectors** follow k8s.io/apimachinery/pkg/fields: comma-separated ``field=value``,
``field==value`` or ``field!=value`` (``\\,``, ``\\=`` and ``\\\\`` escape inside a value); each kind
allows its own fields, and any other is refused as the API server refuses it.

Every error is a :class:`SelectorError` (a :class:`ValueError`) carrying the API server's text, e.g.
``unable to parse requirement: found '', expected: in, notin, =, ==, !=, gt, lt`` or
``field label not supported: spec.foo``; the front door answers it with 400 Bad Request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum, auto


class SelectorError(ValueError):
    """A selector that cannot be read or built; the message is the API server's."""


# ---------------------------------------------------------------- validation of keys and values

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character"
)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_NAME_MAX = 63
_SUBDOMAIN_MAX = 253


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Kubernetes' ``validation.RegexError`` text (its doubled blanks included)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    return msg + " (e.g. " + " or ".join(f"'{e}', " for e in examples) + f"regex used for validation is '{fmt}')"


_QUALIFIED_NAME_REGEX_ERROR = _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _size(text: str) -> int:
    return len(text.encode())


def qualified_name_errors(value: str) -> list[str]:
    """What is wrong with ``value`` as a qualified name (a label key), in Kubernetes' words
    (``validation.IsQualifiedName``); empty when it is valid."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in _dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + _QUALIFIED_NAME_REGEX_ERROR
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _size(name) > _NAME_MAX:
        errs.append("name part " + _max_len_error(_NAME_MAX))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append("name part " + _QUALIFIED_NAME_REGEX_ERROR)
    return errs


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errs: list[str] = []
    if _size(value) > _SUBDOMAIN_MAX:
        errs.append(_max_len_error(_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def label_value_errors(value: str) -> list[str]:
    """What is wrong with ``value`` as a label value, in Kubernetes' words
    (``validation.IsValidLabelValue``); empty when it is valid."""
    errs: list[str] = []
    if _size(value) > _NAME_MAX:
        errs.append(_max_len_error(_NAME_MAX))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _go_quote(text: str) -> str:
    """A string as Go's ``%q`` prints it (close enough: JSON's escapes)."""
    return json.dumps(text, ensure_ascii=False)


def _invalid(path: str, bad_value: str, detail: str) -> str:
    """A ``field.Invalid`` error as text: ``<path>: Invalid value: <value>: <detail>``."""
    return f"{path}: Invalid value: {bad_value}: {detail}"


def _go_string_slice(values: Sequence[str] | None) -> str:
    """A ``[]string`` as Go's ``%#v`` prints it (``[]string{"a", "b"}``, ``[]string(nil)``)."""
    if values is None:
        return "[]string(nil)"
    return "[]string{" + ", ".join(_go_quote(v) for v in values) + "}"


def _aggregate(errors: list[str]) -> str:
    """Several errors as one, as ``utilerrors.NewAggregate(...).Error()`` joins them."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# ---------------------------------------------------------------- label selectors


class Operator(StrEnum):
    """The operators of a label requirement, with the names Kubernetes gives them (``selection.Operator``)."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


def _parse_int64(text: str) -> int | None:
    """``strconv.ParseInt(text, 10, 64)``: an optional sign and decimal digits, in the int64 range."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


@dataclass(frozen=True)
class LabelRequirement:
    """One requirement of a label selector: a key, an operator and the values it compares with.

    Build it with :meth:`make` (which validates as ``labels.NewRequirement``)."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    @classmethod
    def make(cls, key: str, operator: Operator, values: Sequence[str] | None = ()) -> LabelRequirement:
        """A validated requirement; raises :class:`SelectorError` in the API server's words (paths
        ``key`` and ``values[i]``, as ``labels.NewRequirement`` names them)."""
        errs: list[str] = []
        key_errs = qualified_name_errors(key)
        if key_errs:
            errs.append(_invalid("key", _go_quote(key), "; ".join(key_errs)))
        vals = list(values) if values is not None else []
        if operator in (Operator.IN, Operator.NOT_IN):
            if not vals:
                detail = "for 'in', 'notin' operators, values set can't be empty"
                errs.append(_invalid("values", _go_string_slice(values), detail))
        elif operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS):
            if len(vals) != 1:
                errs.append(
                    _invalid("values", _go_string_slice(values), "exact-match compatibility requires one single value")
                )
        elif operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            if vals:
                errs.append(
                    _invalid(
                        "values", _go_string_slice(values), "values set must be empty for exists and does not exist"
                    )
                )
        else:  # GREATER_THAN, LESS_THAN
            if len(vals) != 1:
                errs.append(
                    _invalid(
                        "values", _go_string_slice(values), "for 'Gt', 'Lt' operators, exactly one value is required"
                    )
                )
            for i, v in enumerate(vals):
                if _parse_int64(v) is None:
                    errs.append(
                        _invalid(f"values[{i}]", _go_quote(v), "for 'Gt', 'Lt' operators, the value must be an integer")
                    )
        for i, v in enumerate(vals):
            value_errs = label_value_errors(v)
            if value_errs:
                errs.append(_invalid(f"values[{i}][{key}]", _go_quote(v), "; ".join(value_errs)))
        if errs:
            raise SelectorError(_aggregate(errs))
        return cls(key, operator, tuple(vals))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement (``Requirement.Matches``): ``notin`` and ``!=``
        hold for a missing key, ``gt``/``lt`` need an integer label value."""
        op = self.operator
        present = self.key in labels
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        if not present or len(self.values) != 1:
            return False
        have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
        if have is None or want is None:
            return False
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({values})"
        sign = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{sign}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """A label selector: every requirement must hold. No requirement selects everything.

    ``LabelSelector.nothing()`` is the selector of an absent ``metav1.LabelSelector`` (a nil
    pointer), which selects nothing."""

    requirements: tuple[LabelRequirement, ...] = ()
    selects_nothing: bool = False

    @classmethod
    def of(cls, requirements: Iterable[LabelRequirement]) -> LabelSelector:
        """A selector of ``requirements``, kept sorted by key as Kubernetes keeps them."""
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @classmethod
    def nothing(cls) -> LabelSelector:
        """The selector that matches no labels at all (``labels.Nothing()``)."""
        return cls((), True)

    @property
    def empty(self) -> bool:
        """Whether the selector does not restrict anything (it matches every set of labels)."""
        return not self.requirements and not self.selects_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether ``labels`` (``None`` is no labels) satisfy every requirement."""
        if self.selects_nothing:
            return False
        have = labels if labels is not None else {}
        return all(r.matches(have) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The one value the selector demands for ``key`` (``k=v``, ``k==v`` or ``k in (v)``), if any
        (``RequiresExactMatch``), to look objects up by an index instead of scanning them."""
        for r in self.requirements:
            if r.key == key:
                if r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


class _Token(Enum):
    ERROR = auto()
    END = auto()
    CLOSE_PAREN = auto()
    COMMA = auto()
    NOT = auto()
    DOUBLE_EQUALS = auto()
    EQUALS = auto()
    GREATER = auto()
    IDENTIFIER = auto()
    IN = auto()
    LESS = auto()
    NOT_EQUALS = auto()
    NOT_IN = auto()
    OPEN_PAREN = auto()


_KEYWORDS = {
    ")": _Token.CLOSE_PAREN,
    ",": _Token.COMMA,
    "!": _Token.NOT,
    "==": _Token.DOUBLE_EQUALS,
    "=": _Token.EQUALS,
    ">": _Token.GREATER,
    "in": _Token.IN,
    "<": _Token.LESS,
    "!=": _Token.NOT_EQUALS,
    "notin": _Token.NOT_IN,
    "(": _Token.OPEN_PAREN,
}
_SPECIAL = frozenset("=!(),><")
_BLANK = frozenset(" \t\r\n")
_NUL = "\0"


def _lex(text: str) -> list[tuple[_Token, str]]:
    """The tokens of a label selector, as Kubernetes' ``Lexer`` cuts them (a NUL ends the text)."""
    tokens: list[tuple[_Token, str]] = []
    pos = 0

    def read() -> str:
        nonlocal pos
        if pos < len(text):
            pos += 1
            return text[pos - 1]
        return _NUL

    while True:
        ch = read()
        while ch in _BLANK:
            ch = read()
        if ch == _NUL:
            tokens.append((_Token.END, ""))
            return tokens
        pos -= 1
        if ch in _SPECIAL:  # the longest operator that reads as one: "!=" before "!", "==" before "="
            buffer, last = "", None
            while True:
                ch = read()
                if ch == _NUL:
                    break
                if ch not in _SPECIAL:
                    pos -= 1
                    break
                buffer += ch
                if buffer in _KEYWORDS:
                    last = (_KEYWORDS[buffer], buffer)
                elif last is not None:
                    pos -= 1
                    break
            tokens.append(last if last is not None else (_Token.ERROR, f"error expected: keyword found '{buffer}'"))
        else:
            buffer = ""
            while True:
                ch = read()
                if ch == _NUL:
                    break
                if ch in _SPECIAL or ch in _BLANK:
                    pos -= 1
                    break
                buffer += ch
            tokens.append((_KEYWORDS.get(buffer, _Token.IDENTIFIER), buffer))


class _Parser:
    """Kubernetes' recursive-descent label selector parser, with its error texts."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.position = 0

    def _look(self, values: bool = True) -> tuple[_Token, str]:
        tok, lit = self.tokens[self.position]
        if values and tok in (_Token.IN, _Token.NOT_IN):
            tok = _Token.IDENTIFIER
        return tok, lit

    def _take(self, values: bool = True) -> tuple[_Token, str]:
        found = self._look(values)
        self.position += 1
        return found

    def parse(self) -> list[LabelRequirement]:
        requirements: list[LabelRequirement] = []
        while True:
            tok, lit = self._look()
            if tok in (_Token.IDENTIFIER, _Token.NOT):
                try:
                    requirements.append(self._requirement())
                except SelectorError as err:
                    raise SelectorError(f"unable to parse requirement: {err}") from None
                tok, lit = self._take()
                if tok is _Token.END:
                    return requirements
                if tok is _Token.COMMA:
                    tok2, lit2 = self._look()
                    if tok2 not in (_Token.IDENTIFIER, _Token.NOT):
                        raise SelectorError(f"found '{lit2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok is _Token.END:
                return requirements
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> LabelRequirement:
        key, operator = self._key_and_inferred_operator()
        if operator is not None:
            return LabelRequirement.make(key, operator, [])
        operator = self._operator()
        values = self._set_values() if operator in (Operator.IN, Operator.NOT_IN) else self._exact_value()
        return LabelRequirement.make(key, operator, sorted(values))

    def _key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        operator = None
        tok, lit = self._take()
        if tok is _Token.NOT:
            operator = Operator.DOES_NOT_EXIST
            tok, lit = self._take()
        if tok is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{lit}', expected: identifier")
        errs = qualified_name_errors(lit)
        if errs:
            raise SelectorError(_invalid("<nil>", _go_quote(lit), "; ".join(errs)))
        if self._look()[0] in (_Token.END, _Token.COMMA) and operator is None:
            operator = Operator.EXISTS
        return lit, operator

    def _operator(self) -> Operator:
        tok, lit = self._take(values=False)
        operator = {
            _Token.IN: Operator.IN,
            _Token.EQUALS: Operator.EQUALS,
            _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
            _Token.GREATER: Operator.GREATER_THAN,
            _Token.LESS: Operator.LESS_THAN,
            _Token.NOT_IN: Operator.NOT_IN,
            _Token.NOT_EQUALS: Operator.NOT_EQUALS,
        }.get(tok)
        if operator is None:
            raise SelectorError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        return operator

    def _set_values(self) -> set[str]:
        tok, lit = self._take()
        if tok is not _Token.OPEN_PAREN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self._look()
        if tok in (_Token.IDENTIFIER, _Token.COMMA):
            values = self._identifiers()
            if self._take()[0] is not _Token.CLOSE_PAREN:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok is _Token.CLOSE_PAREN:  # "()": the empty value
            self._take()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def _identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self._take()
            if tok is _Token.IDENTIFIER:
                values.add(lit)
                tok2, lit2 = self._look()
                if tok2 is _Token.COMMA:
                    continue
                if tok2 is _Token.CLOSE_PAREN:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok is _Token.COMMA:  # "(,", ",)" and ",," stand for empty values
                if not values:
                    values.add("")
                tok2 = self._look()[0]
                if tok2 is _Token.CLOSE_PAREN:
                    values.add("")
                    return values
                if tok2 is _Token.COMMA:
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._look()[0] in (_Token.END, _Token.COMMA):
            return {""}
        tok, lit = self._take()
        if tok is _Token.IDENTIFIER:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """The label selector written as ``text`` (``labels.Parse``); the empty text selects everything.

    Raises :class:`SelectorError` with the API server's message."""
    return LabelSelector.of(_Parser(text).parse())


_SPEC_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def selector_from_spec(
    match_labels: Mapping[str, str] | None, match_expressions: Sequence[Mapping[str, object]] | None
) -> LabelSelector:
    """The selector of a ``metav1.LabelSelector`` (``LabelSelectorAsSelector``): every
    ``matchLabels`` pair as ``k=v`` and every ``matchExpressions`` entry (``key``, ``operator`` one of
    In, NotIn, Exists, DoesNotExist, ``values``). Both empty select everything; an absent selector
    (a nil pointer) is :meth:`LabelSelector.nothing`, for the caller to choose.

    Raises :class:`SelectorError` in the API server's words (``"Foo" is not a valid label selector
    operator``, ``values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't
    be empty``)."""
    requirements: list[LabelRequirement] = []
    for key, value in (match_labels or {}).items():
        requirements.append(LabelRequirement.make(key, Operator.EQUALS, [value]))
    for expr in match_expressions or ():
        name = expr.get("operator", "")
        operator = _SPEC_OPERATORS.get(name) if isinstance(name, str) else None
        if operator is None:
            raise SelectorError(f"{_go_quote(str(name))} is not a valid label selector operator")
        raw = expr.get("values")
        values = [str(v) for v in raw] if isinstance(raw, list) and raw else None
        expr_key = expr.get("key", "")
        key_text = expr_key if isinstance(expr_key, str) else str(expr_key)
        requirements.append(LabelRequirement.make(key_text, operator, values))
    return LabelSelector.of(requirements)


# ---------------------------------------------------------------- field selectors


@dataclass(frozen=True)
class FieldRequirement:
    """One term of a field selector: ``field=value`` (``operator`` ``=``) or ``field!=value`` (``!=``)."""

    field: str
    operator: str
    value: str

    def matches(self, get: Callable[[str], str]) -> bool:
        """Whether the object, read through ``get(field)``, satisfies the term."""
        return (get(self.field) == self.value) == (self.operator == "=")

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """A field selector: every term must hold; no term selects everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the selector does not restrict anything."""
        return not self.requirements

    def matches(self, get: Callable[[str], str]) -> bool:
        """Whether an object, whose value for a field ``get(field)`` returns (``""`` when it has
        none, as Kubernetes' ``fields.Set`` answers), satisfies every term."""
        return all(r.matches(get) for r in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal (``metadata.name=X``), if a term demands one, to look the
        object up directly instead of scanning (``RequiresExactMatch``)."""
        for r in self.requirements:
            if r.field == field and r.operator == "=":
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def escape_field_value(value: str) -> str:
    """A field selector value with ``\\``, ``,`` and ``=`` escaped (``fields.EscapeValue``)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(text: str) -> str:
    if not any(c in text for c in "\\,="):
        return text
    out: list[str] = []
    escaped = False
    for c in text:
        if escaped:
            if c not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """The comma-separated terms of a field selector; an escaped comma stays inside its term."""
    if not text:
        return []
    terms: list[str] = []
    start, escaped = 0, False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """``field``, operator and raw value of a term, split at the first ``!=``, ``==`` or ``=``."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def parse_field_selector(text: str, allowed: Collection[str]) -> FieldSelector:
    """The field selector written as ``text``, over the fields ``allowed`` for the kind
    (``metadata.name``, ``metadata.namespace``, ``spec.nodeName``, ``status.phase``, …).

    ``allowed`` may be a mapping to rename a field as it is read (a Pod's old ``spec.host`` is
    ``spec.nodeName``). Terms come out sorted by their text, as Kubernetes sorts them. Raises
    :class:`SelectorError`: ``invalid selector: '<text>'; can't understand '<term>'`` for a term
    without an operator, ``field label not supported: <field>`` for a field the kind does not allow."""
    terms: list[FieldRequirement] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, raw = split
        terms.append(FieldRequirement(field, "!=" if op == "!=" else "=", _unescape_field_value(raw)))
    converted: list[FieldRequirement] = []
    for term in terms:
        if term.field not in allowed:
            raise SelectorError(f"field label not supported: {term.field}")
        field = allowed[term.field] if isinstance(allowed, Mapping) else term.field
        converted.append(FieldRequirement(field, term.operator, term.value))
    return FieldSelector(tuple(converted))
