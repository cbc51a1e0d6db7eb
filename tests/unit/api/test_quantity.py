"""Kubernetes resource quantities: parsed, rounded, formatted and echoed as the API server does
(the expectations are those of k8s.io/apimachinery's ``resource.Quantity``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from shoal.api.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    ERR_FORMAT_WRONG,
    ERR_SUFFIX,
    canonical_quantity,
    cpu_nanos,
    format_cpu,
    format_memory,
    format_quantity,
    memory_bytes,
    parse_quantity,
    parse_quantity_with_format,
)

D = Decimal

# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "value", "fmt"),
    [
        ("0", 0, DECIMAL_SI),
        ("0m", 0, DECIMAL_SI),
        ("0Ki", 0, BINARY_SI),
        ("1", 1, DECIMAL_SI),
        # decimal SI suffixes
        ("5n", D("5e-9"), DECIMAL_SI),
        ("4u", D("4e-6"), DECIMAL_SI),
        ("100m", D("0.1"), DECIMAL_SI),
        ("8k", 8000, DECIMAL_SI),
        ("7M", 7_000_000, DECIMAL_SI),
        ("1G", 10**9, DECIMAL_SI),
        ("5T", 5 * 10**12, DECIMAL_SI),
        ("2P", 2 * 10**15, DECIMAL_SI),
        ("1E", 10**18, DECIMAL_SI),
        ("12E", 12 * 10**18, DECIMAL_SI),
        # binary SI suffixes
        ("1Ki", 1024, BINARY_SI),
        ("64Mi", 64 * 2**20, BINARY_SI),
        ("1Gi", 2**30, BINARY_SI),
        ("5Ti", 5 * 2**40, BINARY_SI),
        ("4Pi", 4 * 2**50, BINARY_SI),
        ("3Ei", 3 * 2**60, BINARY_SI),
        ("0.5Mi", 2**19, BINARY_SI),
        ("100.035Ki", D("102435.84"), BINARY_SI),
        # exponents
        ("1e3", 1000, DECIMAL_EXPONENT),
        ("1E-3", D("0.001"), DECIMAL_EXPONENT),
        ("1.3E+6", 1_300_000, DECIMAL_EXPONENT),
        ("0.5e-2", D("0.005"), DECIMAL_EXPONENT),
        # numbers as people write them
        ("0.5", D("0.5"), DECIMAL_SI),
        ("100.035k", 100035, DECIMAL_SI),
        ("0.0005k", D("0.5"), DECIMAL_SI),
        (".001", D("0.001"), DECIMAL_SI),
        ("1.", 1, DECIMAL_SI),
        ("1.G", 10**9, DECIMAL_SI),
        ("+1", 1, DECIMAL_SI),
        ("-250m", D("-0.25"), DECIMAL_SI),
        ("-123456789012345678901234567890.123456789", D("-123456789012345678901234567890.123456789"), DECIMAL_SI),
    ],
)
def test_parse_reads_value_and_format(text: str, value: int | Decimal, fmt: str) -> None:
    assert parse_quantity_with_format(text) == (D(value), fmt)
    assert parse_quantity(text) == D(value)


@pytest.mark.parametrize(
    ("text", "value", "fmt"),
    [
        # finer than a nanounit: rounded up, away from zero ("you asked for some, you get some")
        ("3.001n", D("4e-9"), DECIMAL_SI),
        ("1.1E-9", D("2e-9"), DECIMAL_EXPONENT),
        ("0.0000000005", D("1e-9"), DECIMAL_SI),
        ("0.00000012354", D("124e-9"), DECIMAL_SI),
        ("-0.5n", D("-1e-9"), DECIMAL_SI),
        # a binary value below 1 turns decimal
        ("0.000000000001Ki", D("2e-9"), DECIMAL_SI),
        # binary values are capped at the int64 maximum
        ("9Ei", 2**63 - 1, BINARY_SI),
        ("9223372036854775807Ki", 2**63 - 1, BINARY_SI),
        ("-9Ei", -(2**63 - 1), BINARY_SI),
    ],
)
def test_parse_rounds_and_caps_as_kubernetes(text: str, value: int | Decimal, fmt: str) -> None:
    assert parse_quantity_with_format(text) == (D(value), fmt)


def test_numbers_are_read_from_their_text_as_a_json_body_gives_them() -> None:
    assert parse_quantity(2) == 2
    assert parse_quantity(0.5) == D("0.5")
    assert parse_quantity(1e-05) == D("0.00001")
    assert parse_quantity(D("1.5")) == D("1.5")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ERR_FORMAT_WRONG),
        ("aoeu", ERR_FORMAT_WRONG),
        ("1.1.M", ERR_FORMAT_WRONG),
        ("1+1.0M", ERR_FORMAT_WRONG),
        ("0.1am", ERR_FORMAT_WRONG),
        (" 1", ERR_FORMAT_WRONG),  # no blanks, before or after
        ("1 ", ERR_FORMAT_WRONG),
        ("1Gb", ERR_FORMAT_WRONG),
        ("0.1mi", ERR_SUFFIX),
        ("1i", ERR_SUFFIX),
        ("-3.01e-", ERR_SUFFIX),
        ("1e", ERR_SUFFIX),
        ("1GG", ERR_SUFFIX),
    ],
)
def test_invalid_quantities_are_refused_with_the_api_servers_words(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_quantity(text)
    assert str(err.value) == message


def test_the_format_error_quotes_kubernetes_regular_expression() -> None:
    assert ERR_FORMAT_WRONG == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    assert ERR_SUFFIX == "unable to parse quantity's suffix"


@pytest.mark.parametrize("bad", [True, float("nan"), float("inf"), D("NaN")])
def test_non_numbers_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_quantity(bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- canonical text


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (0, DECIMAL_SI, "0"),
        (0, BINARY_SI, "0"),
        (2**30, BINARY_SI, "1Gi"),
        (300 * 2**20, BINARY_SI, "300Mi"),
        (6 * 1024, BINARY_SI, "6Ki"),
        (1001 * 2**30, BINARY_SI, "1001Gi"),
        (2**40, BINARY_SI, "1Ti"),
        (1536 * 2**20, BINARY_SI, "1536Mi"),
        (1025, BINARY_SI, "1025"),  # an integer the binary suffixes do not divide
        (5, BINARY_SI, "5"),  # below 1024: written decimal
        (1000, BINARY_SI, "1k"),
        (D("0.5"), BINARY_SI, "500m"),
        (D("1234.567"), BINARY_SI, "1234567m"),  # not an integer: decimal keeps the precision
        (10**9, DECIMAL_SI, "1G"),
        (D("0.001"), DECIMAL_SI, "1m"),
        (D("0.08"), DECIMAL_SI, "80m"),
        (D("1.08"), DECIMAL_SI, "1080m"),
        (D("1080e-9"), DECIMAL_SI, "1080n"),
        (D("1080e-6"), DECIMAL_SI, "1080u"),
        (1_234_567 * 10**6, DECIMAL_SI, "1234567M"),
        (3000, DECIMAL_SI, "3k"),
        (10**21, DECIMAL_SI, "1000E"),  # past the largest suffix: more digits
        (10**9, DECIMAL_EXPONENT, "1e9"),
        (D("0.001"), DECIMAL_EXPONENT, "1e-3"),
        (D("0.08"), DECIMAL_EXPONENT, "80e-3"),
        (300 * 10**6, DECIMAL_EXPONENT, "300e6"),
        (1500, DECIMAL_EXPONENT, "1500"),
        (D("1e-12"), DECIMAL_SI, "1n"),  # rounded up to the nanounit first
    ],
)
def test_format_quantity_writes_the_canonical_text(value: int | Decimal, fmt: str, text: str) -> None:
    assert format_quantity(D(value), fmt) == text
    if text != "0":
        assert format_quantity(-D(value), fmt) == "-" + text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1024Mi", "1Gi"),
        ("307200Ki", "300Mi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("1000M", "1G"),
        ("0.001T", "1G"),
        ("5000m", "5"),
        ("0.5", "500m"),
        ("1.0", "1"),
        ("1000u", "1m"),
        ("1080000000n", "1080m"),
        (".001e12", "1e9"),
        ("1000e-12", "1e-9"),
        (".001Ki", "1024m"),
        (".000000000001Ki", "2n"),
        ("-1024Mi", "-1Gi"),
        ("00", "0"),
    ],
)
def test_canonical_quantity_is_what_the_api_server_writes_back(text: str, canonical: str) -> None:
    assert canonical_quantity(text) == canonical


@pytest.mark.parametrize(
    "text", ["1Gi", "300Mi", "1025Mi", "500m", "250m", "2", "1G", "3k", "1080n", "1e3", "80e-3", "+1", "1E3"]
)
def test_text_already_canonical_is_echoed_as_given(text: str) -> None:
    # The API server keeps the string it parsed when it is in canonical form (even "+1" and "1E3").
    assert canonical_quantity(text) == text


def test_canonical_quantity_of_a_json_number() -> None:
    assert canonical_quantity(0.5) == "500m"
    assert canonical_quantity(2) == "2"


# ---------------------------------------------------------------- the core's integers


@pytest.mark.parametrize(
    ("quantity", "nanos"),
    [
        ("100m", 100_000_000),
        ("0.5", 500_000_000),
        ("2", 2_000_000_000),
        (2, 2_000_000_000),
        (0.25, 250_000_000),
        ("1500m", 1_500_000_000),
        ("1n", 1),
        ("250u", 250_000),
        (D("0.0000000001"), 1),  # a finer Decimal rounds up, as MilliValue() rounds
    ],
)
def test_cpu_nanos(quantity: str | int | float | Decimal, nanos: int) -> None:
    assert cpu_nanos(quantity) == nanos


@pytest.mark.parametrize(
    ("quantity", "size"),
    [
        ("64Mi", 64 * 2**20),
        ("1Gi", 2**30),
        ("1G", 10**9),
        ("1.5", 2),  # Value() rounds up to an integer
        ("100m", 1),
        (D("-1.5"), -2),  # away from zero
        (512, 512),
        ("1e999999", 2**63 - 1),  # held to the int64 range
    ],
)
def test_memory_bytes(quantity: str | int | float | Decimal, size: int) -> None:
    assert memory_bytes(quantity) == size


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "0"),
        (100_000_000, "100m"),
        (2_000_000_000, "2"),
        (1_500_000_000, "1500m"),
        (250_000, "250u"),
        (1, "1n"),
        (64_000_000_000, "64"),
    ],
)
def test_format_cpu(nanos: int, text: str) -> None:
    assert format_cpu(nanos) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0"),
        (64 * 2**20, "64Mi"),
        (2**30, "1Gi"),
        (1536 * 2**20, "1536Mi"),
        (16_782_401_536, "16389064Ki"),  # a node's MemTotal, in KiB as the kubelet reports it
        (1_024_000, "1000Ki"),
        (10**9, "1G"),  # not a whole number of KiB: decimal
        (1_500_000, "1500k"),
        (999, "999"),
        (1000, "1k"),
    ],
)
def test_format_memory(size: int, text: str) -> None:
    assert format_memory(size) == text


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_format_cpu_reads_back(nanos: int) -> None:
    assert cpu_nanos(format_cpu(nanos)) == nanos


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_format_memory_reads_back(size: int) -> None:
    text = format_memory(size)
    assert memory_bytes(text) == size
    assert canonical_quantity(text) == text


@given(
    st.decimals(min_value=-(10**20), max_value=10**20, allow_nan=False, allow_infinity=False, places=9),
    st.sampled_from([DECIMAL_SI, DECIMAL_EXPONENT, BINARY_SI]),
)
def test_canonical_text_is_a_fixed_point(value: Decimal, fmt: str) -> None:
    # What the server writes reads back to the same value, and writing it again changes nothing. (A
    # BinarySI integer without a factor of 1024 is written as bare digits, which read back as DecimalSI,
    # as in Kubernetes: 3125000 becomes 3125k the second time; from then on it stays.)
    assume(fmt != BINARY_SI or abs(value) <= 2**63 - 1)  # larger binary values are capped
    text = format_quantity(value, fmt)
    assert parse_quantity(text) == value
    once = canonical_quantity(text)
    if fmt == BINARY_SI and text.lstrip("-").isdigit():
        assert parse_quantity(once) == value
    else:
        assert once == text
    assert canonical_quantity(once) == once


def test_a_binary_integer_without_a_1024_factor_reads_back_as_decimal() -> None:
    text = format_quantity(Decimal(3125000), BINARY_SI)
    assert text == "3125000"
    assert canonical_quantity(text) == "3125k"
