"""Label and field selectors read, matched and written as the API server does (the grammar and the
error texts of k8s.io/apimachinery's labels and fields packages)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal.api.selectors import (
    FieldRequirement,
    FieldSelector,
    LabelRequirement,
    LabelSelector,
    Operator,
    SelectorError,
    escape_field_value,
    label_value_errors,
    parse_field_selector,
    parse_label_selector,
    qualified_name_errors,
    selector_from_spec,
)

NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
OPERATORS = "in, notin, =, ==, !=, gt, lt"


# ---------------------------------------------------------------- label selectors: reading and writing


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x==a", "x==a"),
        ("x=", "x="),
        ("x= ,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1,z<5", "x>1,z<5"),
        ("\rx", "x"),
        ("a ", "a"),
        ("z=1,a=2,m", "a=2,m,z=1"),  # requirements sorted by key
        ("env in (prod,dev),tier!=db", "env in (dev,prod),tier!=db"),  # values sorted
        ("foo  in\t (abc)", "foo in (abc)"),
        ("x notin\n (abc)", "x notin (abc)"),
        ("x in (abc,)", "x in (,abc)"),
        ("x in ()", "x in ()"),
        ("x notin ( )", "x notin ()"),
        ("x notin (, a)", "x notin (,a)"),
        ("x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"),
        ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),  # keywords are values inside a set
        ("in in (in)", "in in (in)"),  # and keys
        ("notin=in", "notin=in"),
        ("this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"),
        ("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)", "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"),
        ("kubernetes.io/cluster-service=true", "kubernetes.io/cluster-service=true"),
    ],
)
def test_parse_and_write_label_selectors(text: str, canonical: str) -> None:
    selector = parse_label_selector(text)
    assert str(selector) == canonical
    assert parse_label_selector(str(selector)) == selector


def test_requirements_are_typed() -> None:
    selector = parse_label_selector("env in (prod,dev),tier!=db,!canary,app,x>3")
    assert selector.requirements == (
        LabelRequirement("app", Operator.EXISTS),
        LabelRequirement("canary", Operator.DOES_NOT_EXIST),
        LabelRequirement("env", Operator.IN, ("dev", "prod")),
        LabelRequirement("tier", Operator.NOT_EQUALS, ("db",)),
        LabelRequirement("x", Operator.GREATER_THAN, ("3",)),
    )


def test_empty_selects_everything() -> None:
    everything = parse_label_selector("")
    assert everything.empty
    assert everything.matches(None)
    assert everything.matches({"a": "b"})
    assert not parse_label_selector("a").empty


def test_nothing_selects_nothing() -> None:
    nothing = LabelSelector.nothing()
    assert not nothing.empty
    assert not nothing.matches({})
    assert not nothing.matches({"a": "b"})
    assert str(nothing) == ""


# ---------------------------------------------------------------- label selectors: matching


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("x=y", {"x": "y"}, True),
        ("x=y,z=w", {"x": "y", "z": "w"}, True),
        ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
        ("x", {"x": "z"}, True),
        ("!x", {"y": "z"}, True),
        ("x>1", {"x": "2"}, True),
        ("x<1", {"x": "0"}, True),
        ("x=z", {}, False),
        ("x=y", {"x": "z"}, False),
        ("x=y,z=w", {"x": "w", "z": "w"}, False),
        ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
        ("x", {"y": "z"}, False),
        ("!x", {"x": "z"}, False),
        ("x>1", {"x": "0"}, False),
        ("x<1", {"x": "2"}, False),
        ("x>1", {"x": "two"}, False),  # gt/lt need an integer label
        ("x>1", {}, False),
        # notin and != hold where the label is missing
        ("x!=y", {}, True),
        ("x notin (a,b)", {}, True),
        ("x notin (a,b)", {"x": "a"}, False),
        ("x notin (a,b)", {"x": "c"}, True),
        ("x in (a,b)", {"x": "b"}, True),
        ("x in (a,b)", {}, False),
        ("x=", {"x": ""}, True),
        ("x=", {}, False),
        ("x in (,a)", {"x": ""}, True),
        # the example
        ("env in (prod,dev),tier!=db", {"env": "prod", "tier": "web"}, True),
        ("env in (prod,dev),tier!=db", {"env": "prod", "tier": "db"}, False),
        ("env in (prod,dev),tier!=db", {"env": "test"}, False),
    ],
)
def test_label_selector_matches(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_label_selector(text).matches(labels) is matches


def test_requires_exact_match() -> None:
    selector = parse_label_selector("app=web,env in (prod),tier in (a,b),x!=y")
    assert selector.requires_exact_match("app") == "web"
    assert selector.requires_exact_match("env") == "prod"
    assert selector.requires_exact_match("tier") is None
    assert selector.requires_exact_match("x") is None
    assert selector.requires_exact_match("missing") is None


# ---------------------------------------------------------------- label selectors: errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        ("x=a b", "found 'b', expected: ',' or 'end of string'"),
        ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'"),
        ("x,,y", "found ',', expected: identifier after ','"),
        ("a in (xyz),", "found '', expected: identifier after ','"),
        (",x,y", "found ',', expected: !, identifier, or 'end of string'"),
        ("(", "found '(', expected: !, identifier, or 'end of string'"),
        ("x nott in (y)", f"unable to parse requirement: found 'nott', expected: {OPERATORS}"),
        ("a (", f"unable to parse requirement: found '(', expected: {OPERATORS}"),
        ("a!", f"unable to parse requirement: found '!', expected: {OPERATORS}"),
        ("env in prod", "unable to parse requirement: found 'prod' expected: '('"),
        ("a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'"),
        ("a in (b,c", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
        ("x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("x in (a,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("x=(", "unable to parse requirement: found '(', expected: identifier"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        (
            "x<a",
            'unable to parse requirement: values[0]: Invalid value: "a": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "x>",
            'unable to parse requirement: values[0]: Invalid value: "": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        ("-x", f'unable to parse requirement: <nil>: Invalid value: "-x": name part {NAME_RULE}'),
        ("app:monolith", f'unable to parse requirement: <nil>: Invalid value: "app:monolith": name part {NAME_RULE}'),
        ("x=-a", f'unable to parse requirement: values[0][x]: Invalid value: "-a": {VALUE_RULE}'),
        ("x=a||y=b", f'unable to parse requirement: values[0][x]: Invalid value: "a||y": {VALUE_RULE}'),
        (
            "x in (a$,b$)",
            f'unable to parse requirement: [values[0][x]: Invalid value: "a$": {VALUE_RULE}, '
            f'values[1][x]: Invalid value: "b$": {VALUE_RULE}]',
        ),
        (
            "a/b/c",
            'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name '
            + NAME_RULE
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ),
        (
            "app.kubernetes_io/name=x",
            'unable to parse requirement: <nil>: Invalid value: "app.kubernetes_io/name": prefix part a lowercase '
            "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and "
            "end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
    ],
)
def test_label_selector_errors_speak_as_the_api_server(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_label_selector(text)
    assert str(err.value) == message
    assert isinstance(err.value, ValueError)


def test_key_and_value_length_limits() -> None:
    assert parse_label_selector("a" * 63 + "=" + "b" * 63).matches({"a" * 63: "b" * 63})
    assert parse_label_selector("example.com/" + "a" * 63)
    assert qualified_name_errors("a" * 64) == ["name part must be no more than 63 characters"]
    assert label_value_errors("b" * 64) == ["must be no more than 63 characters"]
    assert qualified_name_errors("/a") == ["prefix part must be non-empty"]
    assert qualified_name_errors("a/") == ["name part must be non-empty", "name part " + NAME_RULE]
    assert qualified_name_errors("Example.com/a")[0].startswith("prefix part a lowercase RFC 1123 subdomain")
    assert label_value_errors("") == []
    with pytest.raises(SelectorError, match="must be no more than 63 characters"):
        parse_label_selector("x=" + "b" * 64)


# ---------------------------------------------------------------- label selectors from a spec


def test_selector_from_spec() -> None:
    selector = selector_from_spec(
        {"app": "web", "tier": "front"},
        [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "track", "operator": "NotIn", "values": ["canary"]},
            {"key": "owner", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    )
    assert str(selector) == "app=web,env in (dev,prod),!legacy,owner,tier=front,track notin (canary)"
    assert selector.matches({"app": "web", "tier": "front", "env": "dev", "owner": "me"})
    assert not selector.matches({"app": "web", "tier": "front", "env": "dev", "owner": "me", "legacy": "1"})
    assert not selector.matches({"app": "web", "tier": "front", "env": "dev"})


def test_empty_spec_selects_everything() -> None:
    assert selector_from_spec(None, None).empty
    assert selector_from_spec({}, []).matches({"any": "thing"})


@pytest.mark.parametrize(
    ("labels", "expressions", "message"),
    [
        (None, [{"key": "x", "operator": "Foo"}], '"Foo" is not a valid label selector operator'),
        (None, [{"key": "x", "operator": "Gt", "values": ["1"]}], '"Gt" is not a valid label selector operator'),
        (None, [{"key": "x"}], '"" is not a valid label selector operator'),
        (
            None,
            [{"key": "x", "operator": "In", "values": []}],
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            None,
            [{"key": "x", "operator": "NotIn"}],
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            None,
            [{"key": "x", "operator": "Exists", "values": ["a", "b"]}],
            'values: Invalid value: []string{"a", "b"}: values set must be empty for exists and does not exist',
        ),
        ({"bad key": "v"}, None, f'key: Invalid value: "bad key": name part {NAME_RULE}'),
        ({"k": "bad v"}, None, f'values[0][k]: Invalid value: "bad v": {VALUE_RULE}'),
    ],
)
def test_spec_errors_speak_as_the_api_server(
    labels: dict[str, str] | None, expressions: list[dict[str, object]] | None, message: str
) -> None:
    with pytest.raises(SelectorError) as err:
        selector_from_spec(labels, expressions)
    assert str(err.value) == message


def test_requirement_constructor_checks_exact_match_arity() -> None:
    with pytest.raises(SelectorError, match="exact-match compatibility requires one single value"):
        LabelRequirement.make("x", Operator.EQUALS, ["a", "b"])
    with pytest.raises(SelectorError, match="for 'Gt', 'Lt' operators, exactly one value is required"):
        LabelRequirement.make("x", Operator.GREATER_THAN, [])


# ---------------------------------------------------------------- hypothesis: str() reads back

_alnum = st.sampled_from("abcxyzABZ019")
_middle = st.text(alphabet="abcz09-_.", max_size=8)
_name = st.builds(lambda a, m, b: a + m + b, _alnum, _middle, _alnum) | _alnum
_dns_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?", fullmatch=True)
_prefix = st.lists(_dns_label, min_size=1, max_size=3).map(".".join)
_key = _name | st.builds(lambda p, n: f"{p}/{n}", _prefix, _name)
_value = st.just("") | _name
_requirement = st.one_of(
    st.builds(
        lambda k, op, v: LabelRequirement.make(k, op, [v]),
        _key,
        st.sampled_from([Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS]),
        _value,
    ),
    st.builds(
        lambda k, op, vs: LabelRequirement.make(k, op, sorted(set(vs))),
        _key,
        st.sampled_from([Operator.IN, Operator.NOT_IN]),
        st.lists(_value, min_size=1, max_size=4),
    ),
    st.builds(
        lambda k, op: LabelRequirement.make(k, op, []),
        _key,
        st.sampled_from([Operator.EXISTS, Operator.DOES_NOT_EXIST]),
    ),
    st.builds(
        lambda k, op, n: LabelRequirement.make(k, op, [str(n)]),
        _key,
        st.sampled_from([Operator.GREATER_THAN, Operator.LESS_THAN]),
        st.integers(min_value=0, max_value=10**6),
    ),
)


@given(st.lists(_requirement, max_size=5))
def test_str_reads_back_to_the_same_selector(requirements: list[LabelRequirement]) -> None:
    selector = LabelSelector.of(requirements)
    text = str(selector)
    again = parse_label_selector(text)
    assert str(again) == text
    assert [(r.key, r.operator) for r in again.requirements] == [(r.key, r.operator) for r in selector.requirements]


@given(st.lists(_requirement, max_size=5), st.dictionaries(_key, _value, max_size=5))
def test_parsed_selector_matches_as_the_built_one(requirements: list[LabelRequirement], labels: dict[str, str]) -> None:
    selector = LabelSelector.of(requirements)
    assert parse_label_selector(str(selector)).matches(labels) == selector.matches(labels)


@given(st.text(alphabet="ab =!(),<>in\t", max_size=20))
def test_any_text_parses_or_fails_with_a_selector_error(text: str) -> None:
    try:
        selector = parse_label_selector(text)
    except SelectorError:
        return
    assert parse_label_selector(str(selector)) == selector


# ---------------------------------------------------------------- field selectors

POD_FIELDS = ("metadata.name", "metadata.namespace", "spec.nodeName", "status.phase")


def pod(**fields: str) -> dict[str, str]:
    return fields


def test_parse_field_selector_and_match() -> None:
    selector = parse_field_selector("spec.nodeName=node02,status.phase!=Succeeded", POD_FIELDS)
    assert selector.requirements == (
        FieldRequirement("spec.nodeName", "=", "node02"),
        FieldRequirement("status.phase", "!=", "Succeeded"),
    )
    running = {"spec.nodeName": "node02", "status.phase": "Running"}
    done = {"spec.nodeName": "node02", "status.phase": "Succeeded"}
    elsewhere = {"spec.nodeName": "node01", "status.phase": "Running"}
    assert selector.matches(lambda f: running.get(f, ""))
    assert not selector.matches(lambda f: done.get(f, ""))
    assert not selector.matches(lambda f: elsewhere.get(f, ""))


def test_double_equals_is_equals_and_terms_are_sorted() -> None:
    selector = parse_field_selector("metadata.namespace==default,metadata.name=web", POD_FIELDS)
    assert str(selector) == "metadata.name=web,metadata.namespace=default"
    assert selector.requires_exact_match("metadata.name") == "web"
    assert selector.requires_exact_match("spec.nodeName") is None


def test_empty_field_selector_matches_everything() -> None:
    selector = parse_field_selector("", POD_FIELDS)
    assert selector.empty
    assert selector.matches(lambda f: "")
    assert parse_field_selector("metadata.name=a,", POD_FIELDS).requirements == (
        FieldRequirement("metadata.name", "=", "a"),
    )


def test_a_missing_field_reads_empty() -> None:
    unscheduled: dict[str, str] = {}
    assert parse_field_selector("spec.nodeName=", POD_FIELDS).matches(lambda f: unscheduled.get(f, ""))
    assert not parse_field_selector("spec.nodeName!=", POD_FIELDS).matches(lambda f: unscheduled.get(f, ""))


def test_kubectl_describe_event_selector() -> None:
    allowed = ("involvedObject.name", "involvedObject.namespace", "involvedObject.uid")
    text = "involvedObject.name=X,involvedObject.namespace=default,involvedObject.uid=1234-abcd"
    selector = parse_field_selector(text, allowed)
    assert len(selector.requirements) == 3
    assert str(selector) == text


def test_escaped_values() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d", POD_FIELDS)
    assert selector.requirements[0].value == "a,b=c\\d"
    assert str(selector) == r"metadata.name=a\,b\=c\\d"
    assert escape_field_value("a,b=c\\") == r"a\,b\=c\\"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("metadata.name==a==b", "invalid field selector: unescaped character in value: 61"),
        ("metadata.name=a,b", "invalid selector: 'metadata.name=a,b'; can't understand 'b'"),
        (r"metadata.name=a\b", "invalid field selector: invalid escape sequence: \\b"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
        ("spec.foo=x", "field label not supported: spec.foo"),
        ("metadata.name=a,spec.restartPolicy=Never", "field label not supported: spec.restartPolicy"),
        ("metadata.name = x", "field label not supported: metadata.name "),  # no blanks are trimmed
    ],
)
def test_field_selector_errors_speak_as_the_api_server(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_field_selector(text, POD_FIELDS)
    assert str(err.value) == message


def test_a_mapping_of_allowed_fields_renames() -> None:
    # A Pod's old "spec.host" is read as "spec.nodeName".
    allowed = {name: name for name in POD_FIELDS} | {"spec.host": "spec.nodeName"}
    selector = parse_field_selector("spec.host=node01", allowed)
    assert selector.requirements == (FieldRequirement("spec.nodeName", "=", "node01"),)


@given(
    st.lists(
        st.tuples(st.sampled_from(POD_FIELDS), st.sampled_from(["=", "!="]), st.text(max_size=6)),
        max_size=4,
    )
)
def test_field_selector_str_reads_back(terms: list[tuple[str, str, str]]) -> None:
    selector = FieldSelector(tuple(FieldRequirement(f, op, v) for f, op, v in terms))
    again = parse_field_selector(str(selector), POD_FIELDS)
    assert sorted(again.requirements, key=str) == sorted(selector.requirements, key=str)
