"""Kubernetes resource quantities (``100m``, ``64Mi``, ``1G``, ``1e3``), read and written as Kubernetes does.

The rules are those of ``resource.Quantity`` in k8s.io/apimachinery/pkg/api/resource, so that a Pod's
``resources`` mean here what they mean to the API server and a value the server writes back reads the
same:

- A quantity is ``<sign><digits>[.<digits>]<suffix>``: a decimal SI suffix (``n u m "" k M G T P E``),
  a binary one (``Ki Mi Gi Ti Pi Ei``) or a decimal exponent (``e3``, ``E-3``, ``e+6``). The text is
  read by the same hand-written scanner the API server uses, so its oddities hold too (``1.``, ``.5``,
  ``+1`` and even ``-`` parse; ``1 `` does not).
- A value is kept to the nanounit: anything finer is rounded *up*, away from zero ("if you ask for
  some resources you get some"): ``0.1n`` is ``1n``. A binary value is capped at 2^63-1.
- Each value remembers its *format*, taken from its suffix (a binary value below 1 turns decimal).
  The canonical text (``Quantity.String()``, which the server writes back) uses it: a decimal value
  gets the largest SI suffix that keeps an integer mantissa (``1500m``, ``1G``, ``1080n``); a binary
  value of at least 1024 that is an integer gets the largest binary suffix that divides it
  (``1536Mi``, ``1025``), any other binary value falls back to the decimal form (``1000`` → ``1k``).
  A string already in canonical form is echoed as given, as the server echoes it.

:func:`parse_quantity` gives the value as a :class:`~decimal.Decimal`; :func:`cpu_nanos` and
:func:`memory_bytes` turn one into the core's integers (NanoCPUs, bytes; rounded up as
``Quantity.MilliValue()``/``Value()`` round), and :func:`format_cpu` / :func:`format_memory` give
the canonical text of the core's integers. Errors are :class:`ValueError` with the API server's words.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MIN_EMIN, ROUND_UP, Context, Decimal

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

ERR_FORMAT_WRONG = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_BY_EXPONENT = {e: s for s, e in _BINARY_SUFFIXES.items()}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")

_MAX_INT64 = 2**63 - 1
_MAX_DIGITS = 18  # decimal digits that always fit an int64 (Kubernetes' maxInt64Factors)
_NANO = Decimal("1e-9")
_MAX_EXPONENT = 2**31 - 1  # the API server keeps an exponent in an int32


def _context(value: Decimal) -> Context:
    """A context wide enough for exact arithmetic on ``value`` (its digits, to the nanounit, times a
    binary suffix): quantities may be long and huge, and Decimal's default context would round."""
    return Context(prec=len(value.as_tuple().digits) + max(value.adjusted(), 0) + 60, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int), "quantities are finite"
    return exponent


def _round_to_nano(value: Decimal) -> Decimal:
    """``value`` rounded away from zero to a whole number of nanounits (unchanged if it already is)."""
    if value.is_zero() or _exponent(value) >= -9:
        return value
    return value.quantize(_NANO, rounding=ROUND_UP, context=_context(value))


def _scan(text: str) -> tuple[bool, str, str, str]:
    """Split ``text`` into sign, integer digits, fraction digits and suffix, as ``parseQuantityString``.

    Leading zeros of the integer part are dropped (an empty integer part is ``"0"``). Raises the
    format error when something other than a suffix and an exponent follows the number."""
    positive = True
    pos, end = 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise ValueError(ERR_FORMAT_WRONG)
    return positive, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """Base, exponent and format of a suffix (``Ki`` is 2^10, ``k`` 10^3, ``e3`` 10^3)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        rest = suffix[1:]
        digits = rest[1:] if rest[0] in "+-" else rest
        if digits and all(c in _DIGITS for c in digits) and abs(int(rest)) <= _MAX_INT64:
            exponent = int(rest)
            if abs(exponent) > _MAX_EXPONENT:  # the API server would wrap it around; refuse instead
                raise ValueError(ERR_NUMERIC)
            return 10, exponent, DECIMAL_EXPONENT
    raise ValueError(ERR_SUFFIX)


def _as_text(quantity: str | int | float | Decimal) -> str:
    if isinstance(quantity, bool):
        raise ValueError(ERR_FORMAT_WRONG)
    if isinstance(quantity, str):
        return quantity
    if isinstance(quantity, float):
        if quantity != quantity or quantity in (float("inf"), float("-inf")):
            raise ValueError(ERR_FORMAT_WRONG)
        return repr(quantity)
    if isinstance(quantity, Decimal):
        if not quantity.is_finite():
            raise ValueError(ERR_FORMAT_WRONG)
        return str(quantity)
    return str(quantity)


def parse_quantity_with_format(quantity: str | int | float | Decimal) -> tuple[Decimal, str]:
    """The value of ``quantity`` and its format (:data:`DECIMAL_SI`, :data:`BINARY_SI` or
    :data:`DECIMAL_EXPONENT`), as ``resource.ParseQuantity`` reads it.

    A number (as in a JSON body: ``cpu: 0.5``) is read from its decimal text, as the API server reads
    it. Raises :class:`ValueError` with the API server's message."""
    text = _as_text(quantity)
    if not text:
        raise ValueError(ERR_FORMAT_WRONG)
    positive, num, denom, suffix = _scan(text)
    base, exponent, fmt = _interpret(suffix)
    digits = Decimal(f"{num}.{denom}" if denom else num)
    context = _context(digits)
    if base == 10:
        value = digits.scaleb(exponent, context=context)
    else:
        value = context.multiply(digits, Decimal(1 << exponent))
    value = _round_to_nano(value)
    if fmt == BINARY_SI:
        if value > _MAX_INT64:
            value = Decimal(_MAX_INT64)
        if 0 < value < 1:
            fmt = DECIMAL_SI
    if not positive:
        value = value.copy_negate()
    if value.is_zero():
        value = Decimal(0)
    return value, fmt


def parse_quantity(quantity: str | int | float | Decimal) -> Decimal:
    """The value of a Kubernetes quantity (``"100m"`` → 0.1, ``"64Mi"`` → 67108864, ``"1e3"`` → 1000).

    Values finer than a nanounit are rounded up, away from zero. Raises :class:`ValueError` with
    the API server's text (``quantities must match the regular expression '…'``, ``unable to parse
    quantity's suffix``)."""
    return parse_quantity_with_format(quantity)[0]


def _remove_factors(value: int, factor: int) -> tuple[int, int]:
    times = 0
    while value and value % factor == 0:
        value //= factor
        times += 1
    return value, times


def format_quantity(value: Decimal | int, fmt: str = DECIMAL_SI) -> str:
    """The canonical text of ``value`` in format ``fmt``, as ``Quantity.String()`` writes it.

    ``format_quantity(Decimal("0.1"))`` is ``100m``, ``format_quantity(1536 * 2**20, BINARY_SI)``
    ``1536Mi``. A value finer than a nanounit is first rounded up, as a quantity cannot hold it."""
    value = _round_to_nano(Decimal(value))
    if value.is_zero():
        return "0"
    sign = "-" if value < 0 else ""
    value = value.copy_abs()
    if fmt == BINARY_SI and value >= 1024 and value == value.to_integral_value(context=_context(value)):
        amount, power = _remove_factors(int(value), 1024)
        if power > 6:  # beyond the largest binary suffix: more digits before the Ei
            amount, power = amount * 1024 ** (power - 6), 6
        return f"{sign}{amount}{_BINARY_BY_EXPONENT.get(power * 10, '')}"
    if fmt not in (DECIMAL_SI, DECIMAL_EXPONENT):
        fmt = DECIMAL_SI
    amount = int("".join(map(str, value.as_tuple().digits)))
    exponent = _exponent(value)
    amount, times = _remove_factors(amount, 10)
    exponent += times
    shift = exponent % 3  # Python's modulo: lowers the exponent to the multiple of 3 below it
    amount *= 10**shift
    exponent -= shift
    if fmt == DECIMAL_EXPONENT:
        return f"{sign}{amount}" if exponent == 0 else f"{sign}{amount}e{exponent}"
    if exponent > 18:  # beyond the largest SI suffix: more digits before the E
        amount *= 10 ** (exponent - 18)
        exponent = 18
    return f"{sign}{amount}{_DECIMAL_BY_EXPONENT[exponent]}"


def _echoed(text: str, num: str, denom: str, suffix: str) -> bool:
    """Whether the API server keeps ``text`` as given (it is already canonical), as ``ParseQuantity``
    decides on its fast path."""
    base, exponent, _ = _interpret(suffix)
    if base == 2:
        if exponent < 0 or denom:
            return False
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        if precision < 0:
            return False
        value = int(num)
        return value * (1 << exponent) <= _MAX_INT64 and value & 0x07 != 0
    if _MAX_DIGITS - (len(num) + len(denom)) < 0:
        return False
    scale = exponent - len(denom)
    shifted = num + denom
    return scale >= -9 and scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


def canonical_quantity(quantity: str | int | float | Decimal) -> str:
    """The text the API server writes back for ``quantity``: ``"0.5"`` → ``500m``, ``"1024Mi"`` →
    ``1Gi``, ``"1.5Gi"`` → ``1536Mi``; text already canonical (``"250m"``, ``"1Gi"``) comes back
    as given. Raises :class:`ValueError` as :func:`parse_quantity`."""
    text = _as_text(quantity)
    value, fmt = parse_quantity_with_format(text)
    if text == "0":
        return text
    _, num, denom, suffix = _scan(text)
    if _echoed(text, num, denom, suffix):
        return text
    return format_quantity(value, fmt)


def _round_up(value: Decimal) -> int:
    """``value`` rounded to an integer away from zero (``Quantity.ScaledValue`` rounds so), held to
    the int64 range the core's integers live in."""
    if value.adjusted() > 18:
        return _MAX_INT64 if value > 0 else -_MAX_INT64
    rounded = int(value.to_integral_value(rounding=ROUND_UP, context=_context(value)))
    return max(-_MAX_INT64, min(_MAX_INT64, rounded))


def _value(quantity: str | int | float | Decimal) -> Decimal:
    return quantity if isinstance(quantity, Decimal) else parse_quantity(quantity)


def cpu_nanos(quantity: str | int | float | Decimal) -> int:
    """CPU cores as NanoCPUs (``"100m"`` → 100000000, ``2`` → 2000000000), rounded up as Kubernetes
    rounds ``MilliValue()``. A string or number is parsed first (:class:`ValueError` if invalid)."""
    value = _value(quantity)
    return _round_up(value.scaleb(9, context=_context(value)))


def memory_bytes(quantity: str | int | float | Decimal) -> int:
    """Bytes of a memory quantity (``"64Mi"`` → 67108864, ``"1G"`` → 1000000000), rounded up to an
    integer as ``Quantity.Value()`` rounds. A string or number is parsed first."""
    return _round_up(_value(quantity))


def format_cpu(nanos: int) -> str:
    """The canonical CPU quantity of ``nanos`` NanoCPUs: ``100m``, ``2``, ``1500m``, ``250u``."""
    return format_quantity(Decimal(nanos).scaleb(-9, context=_context(Decimal(nanos))), DECIMAL_SI)


def format_memory(size: int) -> str:
    """The canonical memory quantity of ``size`` bytes: binary when it is a whole number of KiB
    (``64Mi``, ``1Gi``, ``1536Mi``, ``16389064Ki``), else decimal (``1G``, ``1500k``, ``999``)."""
    fmt = BINARY_SI if size and size % 1024 == 0 else DECIMAL_SI
    return format_quantity(size, fmt)
