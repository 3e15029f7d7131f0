"""Math answer equivalence: an exact fast path for closed-form numbers, math-verify for everything else.

Why not math-verify alone, as published:

* math-verify's timeouts use ``signal.alarm``, which only works on the main thread; off it, the published
  reward fell back to another grader, so scores depended on the thread. Here timeouts are off
  (``parsing_timeout=None``, ``timeout_seconds=None``) and inputs are bounded instead (:data:`MAX_MATH_CHARS`,
  :func:`_too_costly`), so a pair gets the same verdict in any thread or process.
* math-verify does not recognise bare LaTeX (``2\\sqrt{3}`` without ``$`` reads as ``2``); an answer without
  ``$``, ``\\(``, ``\\[`` or ``\\boxed`` is wrapped in ``$...$`` before parsing.
* Speed: most answers are closed-form numbers ``q * sqrt(r) * pi^k`` (fractions, radicals, multiples of pi,
  decimals, degrees, ``x = ...``). Those are compared exactly here, without sympy, using math-verify's own
  rules (values compared exactly; when a decimal is involved, equal after rounding to 6 places; degree
  signs ignored; an ``x =`` prefix ignored unless both sides name different variables). Anything else,
  or a decimal comparison within rounding distance, goes to math-verify. Verdicts are cached per pair.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

__all__ = ["MAX_MATH_CHARS", "closed_form", "math_equivalent"]

# A longer text is prose (a response without a closed answer block): only what follows its last </think> or
# <answer> tag, or else its last line, is judged, and only if that is at most MAX_MATH_CHARS long.
MAX_MATH_CHARS = 400
_DELIMITERS = ("$", "\\(", "\\[", "\\boxed")


# ------------------------------------------------------------------------------------------------------
# Exact closed forms: value = coef * sqrt(radicand) * pi**pi_power, radicand square-free.
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClosedForm:
    coef: Fraction
    radicand: int = 1
    pi_power: int = 0
    decimal: bool = False  # a decimal literal took part (math-verify then compares rounded to 6 places)
    variable: str | None = None  # "x" for "x = ..."

    def same_value(self, other: "ClosedForm") -> bool:
        if self.coef == 0 or other.coef == 0:
            return self.coef == other.coef
        return (self.coef, self.radicand, self.pi_power) == (other.coef, other.radicand, other.pi_power)

    def __float__(self) -> float:
        return float(self.coef) * math.sqrt(self.radicand) * math.pi**self.pi_power


class _NotClosedForm(Exception):
    pass


_MAX_RADICAND = 10**12


def _square_free(n: int) -> tuple[int, int]:
    """n = outside**2 * inside with inside square-free; n bounded so trial division stays cheap."""
    if n > _MAX_RADICAND:
        raise _NotClosedForm
    outside, inside, p = 1, 1, 2
    while p * p <= n:
        while n % (p * p) == 0:
            n //= p * p
            outside *= p
        if n % p == 0:
            n //= p
            inside *= p
        p += 1
    return outside, inside * n


def _mul(a: ClosedForm, b: ClosedForm) -> ClosedForm:
    out, inside = _square_free(a.radicand * b.radicand)
    return ClosedForm(a.coef * b.coef * out, inside, a.pi_power + b.pi_power, a.decimal or b.decimal)


def _div(a: ClosedForm, b: ClosedForm) -> ClosedForm:
    if b.coef == 0:
        raise _NotClosedForm
    # 1 / sqrt(r) = sqrt(r) / r
    inv = ClosedForm(1 / (b.coef * b.radicand), b.radicand, -b.pi_power, b.decimal)
    return _mul(a, inv)


def _sqrt(a: ClosedForm) -> ClosedForm:
    if a.radicand != 1 or a.pi_power != 0 or a.coef < 0:
        raise _NotClosedForm
    num, den = a.coef.numerator, a.coef.denominator
    out, inside = _square_free(num * den)  # sqrt(n/d) = sqrt(n*d)/d
    return ClosedForm(Fraction(out, den), inside, 0, a.decimal)


_TOKEN = re.compile(
    r"\s+|(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,4}(?![\d.]))?)|(?P<cmd>\\[a-zA-Z]+)|(?P<deg>\^\s*\{?\s*\\circ\s*\}?)|(?P<sym>[-+*/(){}=])"
    r"|(?P<var>[a-zA-Z])"
)
_SKIP_CMDS = {"\\left", "\\right", "\\displaystyle"}
_FRAC_CMDS = {"\\frac", "\\dfrac", "\\tfrac"}
_TIMES_CMDS = {"\\cdot", "\\times"}
_SPACING = re.compile(r"\\[,;:! ]")


def _tokens(text: str) -> list[tuple[str, str]]:
    text = _SPACING.sub(" ", text)
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise _NotClosedForm
        pos = m.end()
        kind = m.lastgroup
        if kind is None:
            continue
        value = m.group(kind)
        if kind == "cmd" and value in _SKIP_CMDS:
            continue
        out.append((kind, value))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.toks = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise _NotClosedForm
        self.i += 1
        return tok

    def expr(self) -> ClosedForm:
        sign = 1
        tok = self.peek()
        if tok and tok[1] in "+-" and tok[0] == "sym":
            self.take()
            sign = -1 if tok[1] == "-" else 1
        value = self.product()
        return ClosedForm(sign * value.coef, value.radicand, value.pi_power, value.decimal)

    def product(self) -> ClosedForm:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok is None or tok[1] in ("}", ")", "="):
                return value
            if tok[1] == "/":
                self.take()
                value = _div(value, self.unary())
            elif tok[1] == "*" or tok[1] in _TIMES_CMDS:
                self.take()
                value = _mul(value, self.unary())
            elif tok[1] in "+-" and tok[0] == "sym":
                raise _NotClosedForm  # sums are left to math-verify
            else:
                if tok[0] == "num" or (tok[1] in _FRAC_CMDS and self.toks[self.i - 1][0] == "num"):
                    raise _NotClosedForm  # "2 3" or a mixed number "2\frac{1}{2}": ambiguous
                value = _mul(value, self.unary())

    def unary(self) -> ClosedForm:
        value = self.atom()
        tok = self.peek()
        if tok is not None and tok[0] == "deg":
            self.take()  # degrees are ignored, as math-verify does
        return value

    def group(self) -> ClosedForm:
        tok = self.peek()
        if tok is None:
            raise _NotClosedForm
        if tok[1] == "{":
            self.take()
            value = self.expr()
            self.take("}")
            return value
        if tok[0] == "num" and "." not in tok[1]:  # \frac12, \sqrt2: one digit per argument
            self.take()
            digits = tok[1]
            if len(digits) > 1:
                self.toks.insert(self.i, ("num", digits[1:]))
            return ClosedForm(Fraction(int(digits[0])))
        raise _NotClosedForm

    def atom(self) -> ClosedForm:
        kind, value = self.take()
        if kind == "num":
            # "1e5" is scientific notation here (math-verify would read 1*e*5); it counts as a decimal.
            return ClosedForm(Fraction(value), decimal="." in value or "e" in value.lower())
        if value == "\\pi":
            return ClosedForm(Fraction(1), 1, 1)
        if value in _FRAC_CMDS:
            num = self.group()
            return _div(num, self.group())
        if value == "\\sqrt":
            return _sqrt(self.group())
        if value in ("(", "{"):
            inner = self.expr()
            self.take(")" if value == "(" else "}")
            return inner
        raise _NotClosedForm


_WRAPPERS = (
    re.compile(r"\$\$(.*)\$\$", re.DOTALL),
    re.compile(r"\$(.*)\$", re.DOTALL),
    re.compile(r"\\\((.*)\\\)", re.DOTALL),
    re.compile(r"\\\[(.*)\\\]", re.DOTALL),
    re.compile(r"\\boxed\s*\{(.*)\}", re.DOTALL),
)
_ASSIGNMENT = re.compile(r"([a-zA-Z])\s*=(.*)", re.DOTALL)


@lru_cache(maxsize=16384)
def closed_form(text: str) -> ClosedForm | None:
    """``text`` as an exact closed form, or ``None`` when it is anything else (sums, powers, sets, ...)."""
    if len(text) > 200:
        return None
    s = _unwrap(text)
    if not s:
        return None
    variable = None
    m = _ASSIGNMENT.fullmatch(s)
    if m:
        variable, s = m.group(1), m.group(2)
    if any(c in s for c in "$="):
        return None
    try:
        parser = _Parser(_tokens(s))
        value = parser.expr()
        if parser.peek() is not None:
            return None
    except (_NotClosedForm, ZeroDivisionError, ValueError):
        return None
    return ClosedForm(value.coef, value.radicand, value.pi_power, value.decimal, variable)


def _fast_verdict(gt: str, pred: str) -> bool | None:
    g, p = closed_form(gt), closed_form(pred)
    if g is None or p is None:
        return None
    if g.variable and p.variable and g.variable != p.variable:
        return False
    if g.same_value(p):
        return True
    if not (g.decimal or p.decimal):
        return False  # distinct exact values
    # math-verify: equal when both round to the same 6 decimals, which needs |g - p| < 1e-6.
    try:
        if abs(float(g) - float(p)) > 1.5e-6:
            return False
    except OverflowError:  # one side is beyond 1e308 and they are not equal: far apart
        return False
    return None


def _number_verdict(g: ClosedForm | None, expr) -> bool | None:
    """A closed-form ground truth against an answer that math-verify read as a plain number (or as
    undefined, like 1/0), decided without parsing the ground truth; ``None`` when undecided."""
    if g is None:
        return None
    import sympy

    if expr is sympy.zoo or expr is sympy.nan or expr in (sympy.oo, -sympy.oo):
        return False
    if isinstance(expr, sympy.Float):
        try:
            return None if abs(float(g) - float(expr)) <= 1.5e-6 else False
        except (OverflowError, TypeError, ValueError):
            return None
    if isinstance(expr, sympy.Rational):  # Integer included
        value = Fraction(int(expr.p), int(expr.q))
        if g.radicand != 1 or g.pi_power != 0:
            return False if g.coef != 0 else value == 0
        return g.coef == value
    return None


# ------------------------------------------------------------------------------------------------------
# math-verify fallback
# ------------------------------------------------------------------------------------------------------

# Inputs that can make sympy compute for minutes (there is no timeout): towers of powers, huge exponents,
# factorials of large numbers or of expressions, huge binomials.
_COSTLY = re.compile(
    r"\^\s*\{[^{}]*\^"  # 2^{2^{...}}
    r"|\^\s*\{?\s*-?\d{6,}"  # 2^{999999}
    r"|\^\s*\^"
    r"|\d{5,}\s*!"  # 100000!
    r"|[)}\]]\s*!"  # (10^{10})!
    r"|\\binom\s*\{\s*\d{4,}"
    r"|\\Gamma|\\operatorname"
)


def _too_costly(text: str) -> bool:
    return _COSTLY.search(text) is not None


# "6 cm^2", "12 square units": a number followed by unit words, written without LaTeX.
_BARE_UNIT = re.compile(r"(?P<head>.*\d)\s+(?P<unit>[A-Za-z]{2,}(?:\s+[A-Za-z]+)*)(?P<power>\^\{?\d\}?)?")


def _prepare(text: str) -> str:
    text = text.strip()
    if not any(d in text for d in _DELIMITERS):
        m = _BARE_UNIT.fullmatch(text)
        if m:  # math-verify drops units inside \text{...}; bare, they would read as variables c*m
            text = f"{m['head']}\\text{{ {m['unit']}}}{m['power'] or ''}"
        text = f"${text}$"
    return text


@lru_cache(maxsize=1)
def _math_verify():
    import math_verify
    import math_verify.parser as mv_parser

    # It warns once that timeouts are off; that is deliberate here.
    mv_parser.TIMEOUT_WARNING_SHOWN = True
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return math_verify


def _unwrap(text: str) -> str:
    s = text.strip()
    for _ in range(3):
        for wrapper in _WRAPPERS:
            m = wrapper.fullmatch(s)
            if m:
                s = m.group(1).strip()
                break
        else:
            break
    return s


@lru_cache(maxsize=16384)
def final_segment(text: str) -> str:
    """The part of ``text`` that states a final result ("" when there is none of bounded length)."""
    text = text.strip()
    if len(text) <= MAX_MATH_CHARS:
        return text
    tag = max(text.rfind("</think>"), text.rfind("<answer>"))
    tail = text[tag + 8 :] if tag >= 0 else text[text.rfind("\n") + 1 :]  # both tags are 8 characters
    tail = tail.strip()
    return tail if len(tail) <= MAX_MATH_CHARS else ""


@lru_cache(maxsize=16384)
def _parse(text: str) -> tuple:
    if not _unwrap(text) or _too_costly(text):
        return ()
    mv = _math_verify()
    try:
        return tuple(mv.parse(_prepare(text), parsing_timeout=None))
    except Exception:  # math-verify raises on inputs it cannot handle; that is "not parseable"
        return ()


@lru_cache(maxsize=32768)
def math_equivalent(gt: str, pred: str) -> bool:
    """Whether ``pred`` is mathematically equivalent to ``gt`` (math-verify semantics, gold first)."""
    gt, pred = final_segment(gt), final_segment(pred)
    if not pred or not gt:
        return False
    if pred == gt:
        return True
    verdict = _fast_verdict(gt, pred)
    if verdict is not None:
        return verdict
    target = _parse(pred)  # first: an unparseable answer needs no look at the ground truth
    if not target:
        return False
    verdict = _number_verdict(closed_form(gt), target[0])
    if verdict is not None:
        return verdict
    gold = _parse(gt)
    if not gold:
        return False
    mv = _math_verify()
    try:
        return bool(mv.verify(list(gold), list(target), timeout_seconds=None))
    except Exception:
        return False
