r"""Final-answer extraction, normalization and exact comparison.

Model text is untrusted: every function here is total on ``str`` (any size, NUL
bytes, lone surrogates, unbalanced or deeply nested braces), runs in time
linear in its input, and never evaluates what it reads. Numbers are compared as
exact ``fractions.Fraction`` values built from bounded digit strings, so
``1/2``, ``0.5`` and ``\frac{1}{2}`` agree while ``1/3`` and ``0.33`` do not.

Pure Python; runs on the host, never under jit.
"""

import array
import fractions
import itertools
import re

# A brace escaped by a backslash (or an escaped backslash) is not structural.
# Blanking these pairs keeps string length, so indices stay valid.
_ESCAPE_RE = re.compile(r"\\[\\{}]")
_BOX_RE = re.compile(r"\\(?:boxed|fbox) *\{")
_BRACE_DELTA = {"{": 1, "}": -1}

_ANSWER_IS = b"answer is"
_DASHES = str.maketrans({"\u2212": "-", "\u2013": "-"})
_DELETE = ("\\displaystyle", "\\!", "\\,", "\\;", "\\:", "\\$", "$")
_DELIMITER_SIZE_RE = re.compile(r"\\(?:left|right)(?![a-zA-Z])")
_WRAPPER_RE = re.compile(
    r"\\(?:text|textbf|textrm|textit|mathrm|mathbf|mbox)\{([^{}]*)\}"
)
_WRAPPER_PASSES = 3  # unwraps up to this nesting depth; bounded work.
_THOUSANDS_RE = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])", re.ASCII)
_INT_ZEROS_RE = re.compile(r"(-?\d+)\.0+", re.ASCII)
_UNIT_SYMBOLS = ("^{\\circ}", "^\\circ", "\\circ", "\\%", "%")
_UNIT_WORDS = (
    "dollars",
    "dollar",
    "cents",
    "units",
    "meters",
    "cm",
    "km",
    "kg",
    "hours",
    "minutes",
    "seconds",
    "degrees",
    "percent",
)
_UNIT_PASSES = 3  # e.g. "5 dollars." needs period, then unit, then space.

_MAX_NUMBER_LEN = 100  # parse_number refuses longer strings.
_MAX_EXPONENT = 50  # and scientific exponents beyond +-this.
_DECIMAL_RE = re.compile(
    r"([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d{1,3}))?", re.ASCII
)
_FRAC_RE = re.compile(
    r"([-+]?)\\[dt]?frac(?:\{([^{}]*)\}|(\d))(?:\{([^{}]*)\}|(\d))", re.ASCII
)


def _brace_depths(text: str) -> array.array:
  """Running brace depth after each character of ``text`` (C-level sum)."""
  deltas = map(_BRACE_DELTA.get, text, itertools.repeat(0))
  return array.array("q", itertools.accumulate(deltas))


def _last_box_span(text: str) -> tuple[int, int] | None:
  """Indices of the braces of the last complete box in ``text``, or None.

  Boxes are tried last to first. An unmatched '{' at ``stop`` stays open to
  the end, so an earlier box still open at ``stop`` is unmatched too: each
  box is searched only up to the last failed one, which keeps the total work
  linear. Depths are computed once, and only if some box could close.
  """
  plain = _ESCAPE_RE.sub("  ", text)
  opens = [m.end() - 1 for m in _BOX_RE.finditer(plain)]
  if not opens:
    return None
  base, stop = opens[0], len(plain)
  depth = None  # depth[i]: depth after plain[base + i], then a spare slot.
  for pos in reversed(opens):
    if plain.count("}", pos, stop):
      if depth is None:
        depth = _brace_depths(plain[base:stop])
        depth.append(0)
      i, j = pos - base, stop - base
      # Sentinel at j (never read again) bounds the search without raising.
      depth[j] = depth[i] - 1
      close = depth.index(depth[i] - 1, i + 1)
      if close < j:
        return pos, base + close
    stop = pos
  return None


def extract_boxed(text: str) -> str | None:
  r"""Stripped content of the last complete ``\boxed{..}`` or ``\fbox{..}``.

  Braces are matched (``\{``, ``\}`` are literal), so ``\boxed{\frac{1}{2}}``
  gives ``\frac{1}{2}``. "Last" means last to open: in ``\boxed{\boxed{5}}``
  it is the inner box. An unbalanced box is skipped in favour of an earlier
  complete one. Returns None when no box is complete.
  """
  span = _last_box_span(text)
  if span is None:
    return None
  open_, close = span
  return text[open_ + 1 : close].strip()


def _answer_is_tail(text: str) -> str | None:
  """Rest of the line after the last whole-word "answer is", or None."""
  # ASCII-lowercase a same-length copy; str.lower can change lengths.
  folded = text.encode("ascii", "replace").lower()
  end = len(folded)
  while True:
    i = folded.rfind(_ANSWER_IS, 0, end)
    if i < 0:
      return None
    j = i + len(_ANSWER_IS)
    before_ok = i == 0 or not folded[i - 1 : i].isalnum()
    after_ok = j == len(folded) or not folded[j : j + 1].isalnum()
    if before_ok and after_ok:
      break
    end = i + len(_ANSWER_IS) - 1
  # Drop the separator, markdown bold and a final period: ": **42**." -> 42.
  tail = text[j:].lstrip(" \t\r\n:*")
  line = tail.split("\n", 1)[0].rstrip(" \t\r*.")
  return line or None


def gsm8k_tail(text: str) -> str | None:
  """GSM8K's final-answer line: what follows the last ``####``, up to the
  end of its line, commas dropped ("#### 1,234" gives "1234")."""
  i = text.rfind("####")
  if i < 0:
    return None
  line = text[i + 4 :].split("\n", 1)[0].strip().replace(",", "")
  return line or None


def extract_answer(text: str) -> str | None:
  r"""The model's final answer in ``text``, or None.

  The content of the last complete ``\boxed{..}`` / ``\fbox{..}`` (see
  :func:`extract_boxed`); failing that, GSM8K's ``#### N`` line; failing
  that, the rest of the line after the last "answer is" (case-insensitive,
  whole words) without trailing period, so "The answer is 42." gives "42".
  """
  boxed = extract_boxed(text)
  if boxed is not None:
    return boxed
  tail = gsm8k_tail(text)
  return tail if tail is not None else _answer_is_tail(text)


def _strip_units(s: str) -> str:
  """Drops a trailing period and trailing unit words / symbols."""
  for _ in range(_UNIT_PASSES):
    before = s
    s = s.rstrip().rstrip(".").rstrip()
    for unit in _UNIT_SYMBOLS:
      if s.endswith(unit) and len(s) > len(unit):
        s = s[: -len(unit)]
        break
    else:
      for unit in _UNIT_WORDS:
        head = s[: -len(unit)]
        if (
            s.endswith(unit)
            and head
            and (head[-1].isspace() or head[-1].isdigit() or head[-1] == "}")
        ):
          s = head
          break
    if s == before:
      break
  return s.rstrip()


def normalize_answer(s: str) -> str:
  r"""Canonical lower-case form of an answer string for comparison.

  Drops ``$``, ``\$``, ``\left``/``\right``, ``\displaystyle``, TeX spacing
  (``\! \, \; \:``) and all whitespace; unwraps ``\text{..}``-like wrappers;
  maps U+2212 and en-dash to ``-``, ``\dfrac``/``\tfrac`` to ``\frac``,
  ``1,234`` to ``1234``; strips a trailing period, trailing units (dollars,
  cm, %, ``^\circ``, ...) and ``.0``/``.00`` on integers.
  """
  s = s.strip().translate(_DASHES)
  for token in _DELETE:
    s = s.replace(token, "")
  s = _DELIMITER_SIZE_RE.sub("", s)
  for _ in range(_WRAPPER_PASSES):
    s = _WRAPPER_RE.sub(r"\1", s)
  s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
  if "," in s:
    s = _THOUSANDS_RE.sub(lambda m: m.group().replace(",", ""), s)
  s = _strip_units(s.lower())
  s = "".join(s.split())
  m = _INT_ZEROS_RE.fullmatch(s)
  return m.group(1) if m else s


def _parse_decimal(s: str) -> fractions.Fraction | None:
  """Exact value of a signed decimal like ``-3.25`` or ``1e3``; else None."""
  m = _DECIMAL_RE.fullmatch(s)
  if m is None:
    return None
  sign, whole, frac, exp = m.groups()
  frac = frac or ""
  if not whole and not frac:
    return None
  exponent = int(exp) if exp else 0
  if abs(exponent) > _MAX_EXPONENT:
    return None
  # Digit strings are bounded by _MAX_NUMBER_LEN, far below int()'s limit.
  value = fractions.Fraction(int(whole + frac or "0"), 10 ** len(frac))
  value *= fractions.Fraction(10) ** exponent
  return -value if sign == "-" else value


def _parse_frac(m: re.Match[str]) -> fractions.Fraction | None:
  r"""Value of a ``\frac`` match from ``_FRAC_RE``; None if malformed."""
  sign, num_braced, num_digit, den_braced, den_digit = m.groups()
  num = _parse_decimal(num_braced if num_braced is not None else num_digit)
  den = _parse_decimal(den_braced if den_braced is not None else den_digit)
  if num is None or den is None or den == 0:
    return None
  value = num / den
  return -value if sign == "-" else value


def parse_number(s: str) -> fractions.Fraction | None:
  r"""Exact rational value of a (normalized) number string, else None.

  Accepts signed integers and decimals (``-12``, ``3.25``, ``.5``), a small
  exponent (``1e3``; ``|exp| <= 50``), ratios ``a/b`` and ``\frac{a}{b}`` /
  ``\frac12`` with an optional leading sign. Strings longer than 100
  characters are refused, so no unbounded integer is ever built.
  """
  s = s.strip()
  if not s or len(s) > _MAX_NUMBER_LEN:
    return None
  m = _FRAC_RE.fullmatch(s)
  if m is not None:
    return _parse_frac(m)
  if "/" not in s:
    return _parse_decimal(s)
  num_text, den_text = s.split("/", 1)
  num = _parse_decimal(num_text)
  den = _parse_decimal(den_text)
  if num is None or den is None or den == 0 or den_text.startswith(("+", "-")):
    return None
  return num / den


def answers_match(pred: str | None, gold: str) -> bool:
  r"""Whether a predicted answer equals the gold answer.

  Both sides are normalized (:func:`normalize_answer`); if both parse as
  numbers they are compared as exact fractions (``0.5 == \frac{1}{2}``,
  ``5.0 == 5``), otherwise as strings. None or an empty prediction never
  matches.
  """
  if not isinstance(pred, str):
    return False
  pred_norm, gold_norm = normalize_answer(pred), normalize_answer(gold)
  if not pred_norm:
    return False
  pred_num, gold_num = parse_number(pred_norm), parse_number(gold_norm)
  if pred_num is not None and gold_num is not None:
    return pred_num == gold_num
  return pred_norm == gold_norm


def think_steps(completion: str) -> list[str]:
  """The step lines between ``<think>`` and ``</think>`` (blank lines dropped)."""
  start = completion.find("<think>")
  end = completion.find("</think>", start + 1)
  if start < 0 or end < 0:
    return []
  body = completion[start + len("<think>") : end]
  return [line.strip() for line in body.split("\n") if line.strip()]
