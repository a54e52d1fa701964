"""Countdown: combine given numbers with + - * / to reach a target.

A problem is a list of source numbers and a target. An answer is an arithmetic
expression over some of the numbers, each used at most once, whose exact value
is the target. Answers are checked by a small hand-written recursive-descent
parser with exact ``Fraction`` arithmetic; model text is never passed to
``eval``, ``exec``, ``compile`` or a symbolic-maths library.

Grammar (standard precedence, left associative, no unary operators)::

  expr   := term (("+" | "-") term)*
  term   := factor (("*" | "/") factor)*
  factor := NUMBER | "(" expr ")"

``×`` and ``÷`` are read as ``*`` and ``/``; ``−`` (U+2212) as ``-``.

Difficulty ``d`` in 1..5 gives ``d + 2`` distinct source numbers drawn from
``1 .. 10 * d + 10`` (so 3 numbers up to 20 at d=1, 7 numbers up to 60 at d=5).
A problem is built by combining a random subset (size >= 2) of the numbers in a
random binary tree; every intermediate value, and the target, is a positive
integer <= 1000, so a solution is known by construction.
"""

import collections
import fractions
import random
import re

from reasoning_jax.data import tasks
from reasoning_jax.rewards import extract_answer

Fraction = fractions.Fraction
Tree = int | tuple[str, "Tree", "Tree"]  # a literal or (op, left, right).

MAX_CHARS = 200  # longest expression text the parser reads.
MAX_DEPTH = 32  # deepest parenthesis nesting.
MAX_LITERALS = 16  # most integer literals in one expression.
MAX_DIGITS = 6  # most digits in one literal.
MAX_VALUE = 1000  # bound on targets and intermediate values of generated trees.
MAX_DRAWS = 10_000  # candidate problems drawn before giving up.

_OPS = {"+": "+", "-": "-", "−": "-", "*": "*", "×": "*", "/": "/", "÷": "/"}
_DIGITS = frozenset("0123456789")
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}
_PROMPT = (
    "Using the numbers {numbers}, reach {target}. "
    "Use + - * / and each number at most once."
)
_PROMPT_RE = re.compile(
    r"Using the numbers ([0-9]+(?:, [0-9]+)*), " r"reach ([0-9]+)\."
)
_STEP_RE = re.compile(
    r"\s*([0-9]{1,12})\s*([-+*/×÷−])\s*([0-9]{1,12})" r"\s*=\s*([0-9]{1,12})\s*"
)


class _ParseError(Exception):
  """Raised inside the parser; never escapes ``parse_expression``."""


def _tokenize(text: str) -> list[str]:
  """Splits text into ASCII operator, parenthesis and digit-string tokens."""
  tokens, i = [], 0
  while i < len(text):
    c = text[i]
    if c.isspace():
      i += 1
    elif c in _DIGITS:
      j = i
      while j < len(text) and text[j] in _DIGITS:
        j += 1
      if j - i > MAX_DIGITS:
        raise _ParseError("literal too long")
      tokens.append(text[i:j])
      i = j
    elif c in _OPS or c in "()":
      tokens.append(_OPS.get(c, c))
      i += 1
    else:
      raise _ParseError(f"unexpected character {c!r}")
  return tokens


class _Parser:
  """Recursive descent over a token list, collecting literals as it goes."""

  def __init__(self, tokens: list[str]):
    self.tokens = tokens
    self.pos = 0
    self.depth = 0
    self.literals: list[int] = []

  def peek(self) -> str | None:
    return self.tokens[self.pos] if self.pos < len(self.tokens) else None

  def take(self) -> str:
    token = self.peek()
    if token is None:
      raise _ParseError("unexpected end of input")
    self.pos += 1
    return token

  def expr(self) -> Fraction:
    value = self.term()
    while self.peek() in ("+", "-"):
      op = self.take()
      rhs = self.term()
      value = value + rhs if op == "+" else value - rhs
    return value

  def term(self) -> Fraction:
    value = self.factor()
    while self.peek() in ("*", "/"):
      op = self.take()
      rhs = self.factor()
      if op == "/" and rhs == 0:
        raise _ParseError("division by zero")
      value = value * rhs if op == "*" else value / rhs
    return value

  def factor(self) -> Fraction:
    token = self.take()
    if token == "(":
      self.depth += 1
      if self.depth > MAX_DEPTH:
        raise _ParseError("nesting too deep")
      value = self.expr()
      if self.take() != ")":
        raise _ParseError("expected ')'")
      self.depth -= 1
      return value
    if token[0] in _DIGITS:
      self.literals.append(int(token))
      if len(self.literals) > MAX_LITERALS:
        raise _ParseError("too many literals")
      return Fraction(int(token))
    raise _ParseError(f"unexpected token {token!r}")


def parse_expression(text: str) -> tuple[Fraction, list[int]] | None:
  """Exact value and literals (in reading order) of ``text``, or None.

  Returns None on any syntax error (including unary minus, ``**``, decimals and
  trailing text), division by zero, text longer than ``MAX_CHARS``, nesting
  deeper than ``MAX_DEPTH``, more than ``MAX_LITERALS`` literals, or a literal
  with more than ``MAX_DIGITS`` digits. Literals are ASCII digit strings
  (leading zeros allowed, so "07" is the literal 7).
  """
  if not isinstance(text, str) or len(text) > MAX_CHARS:
    return None
  try:
    parser = _Parser(_tokenize(text))
    value = parser.expr()
    if parser.peek() is not None:
      raise _ParseError("trailing tokens")
  except _ParseError:
    return None
  return value, parser.literals


def verify_countdown(expr: str, numbers: list[int], target: int) -> bool:
  """True iff ``expr`` equals ``target`` using each of ``numbers`` at most once.

  Not every number needs to be used; a number listed twice may be used twice.
  """
  parsed = parse_expression(expr)
  if parsed is None:
    return False
  value, literals = parsed
  available = collections.Counter(numbers)
  used = collections.Counter(literals)
  return value == target and all(available[n] >= k for n, k in used.items())


def step_is_valid(line: str) -> bool:
  """True iff ``line`` is one exact integer step ``a op b=c``, e.g. "7*3=21"."""
  match = _STEP_RE.fullmatch(line)
  if match is None:
    return False
  a, op, b, c = match.groups()
  a, b, c, op = int(a), int(b), int(c), _OPS[op]
  if op == "/":
    return b != 0 and a == b * c
  return _apply(op, a, b) == c


def _apply(op: str, a: int, b: int) -> int:
  """``a op b`` for ASCII ``op``; ``/`` only when exact."""
  if op == "+":
    return a + b
  if op == "-":
    return a - b
  if op == "*":
    return a * b
  return a // b


def evaluate_tree(tree: Tree) -> int:
  """Integer value of a generated tree (its divisions are exact)."""
  if isinstance(tree, int):
    return tree
  op, left, right = tree
  return _apply(op, evaluate_tree(left), evaluate_tree(right))


def format_expression(tree: Tree) -> str:
  """Tree as text with the fewest parentheses that keep its structure.

  A child is bracketed when it binds looser than its parent, or when it is the
  right operand of ``-`` or ``/`` and binds equally tight.
  """
  if isinstance(tree, int):
    return str(tree)
  op, left, right = tree
  left_text, right_text = format_expression(left), format_expression(right)
  if _prec(left) < _PREC[op]:
    left_text = f"({left_text})"
  if _prec(right) < _PREC[op] or (_prec(right) == _PREC[op] and op in "-/"):
    right_text = f"({right_text})"
  return f"{left_text}{op}{right_text}"


def _prec(tree: Tree) -> int:
  return 3 if isinstance(tree, int) else _PREC[tree[0]]


def tree_steps(tree: Tree) -> list[str]:
  """Post-order step lines ``a op b=c``, one per operation of ``tree``."""
  if isinstance(tree, int):
    return []
  op, left, right = tree
  a, b, c = evaluate_tree(left), evaluate_tree(right), evaluate_tree(tree)
  line = f"{a}{op}{b}={c}"
  return tree_steps(left) + tree_steps(right) + [line]


def _combine(rng: random.Random, a: Tree, b: Tree) -> Tree:
  """A random operation on two trees with a positive integer result <= 1000.

  Identity moves (``x*1``, ``x/1``) are skipped. Some move always exists:
  ``a+b``, else ``|a-b|``, else ``a/a`` (values are in 1..1000).
  """
  x, y = evaluate_tree(a), evaluate_tree(b)
  moves = []
  for (l, lv), (r, rv) in (((a, x), (b, y)), ((b, y), (a, x))):
    moves.append(("+", l, r, lv + rv))
    if rv != 1:
      moves.append(("*", l, r, lv * rv))
      if lv % rv == 0:
        moves.append(("/", l, r, lv // rv))
    moves.append(("-", l, r, lv - rv))
  moves = [m for m in moves if 0 < m[3] <= MAX_VALUE]
  op, l, r, _ = rng.choice(moves)
  return (op, l, r)


def random_tree(rng: random.Random, numbers: list[int]) -> Tree:
  """Random binary tree over all of ``numbers`` (each used once)."""
  pool: list[Tree] = list(numbers)
  while len(pool) > 1:
    i, j = sorted(rng.sample(range(len(pool)), 2))
    b, a = pool.pop(j), pool.pop(i)
    pool.append(_combine(rng, a, b))
  return pool[0]


def problem_key(numbers: list[int], target: int) -> str:
  """Canonical text of a problem (sorted numbers and target), for splitting."""
  return f"{','.join(map(str, sorted(numbers)))}->{target}"


def problem_of(example: tasks.Example) -> tuple[list[int], int]:
  """Reads ``(numbers, target)`` back from a countdown example's prompt."""
  match = _PROMPT_RE.match(example.prompt)
  if match is None:
    raise ValueError(f"not a countdown prompt: {example.prompt!r}")
  numbers = [int(n) for n in match.group(1).split(", ")]
  return numbers, int(match.group(2))


@tasks.register("countdown")
class Countdown:
  """Countdown problems of a given difficulty (1..5), split by problem hash."""

  name = "countdown"

  def __init__(self, seed: int = 0, difficulty: int = 1):
    if not 1 <= difficulty <= 5:
      raise ValueError(f"difficulty must be in 1..5, got {difficulty}")
    self.seed = seed
    self.difficulty = difficulty

  def _draw(self, rng: random.Random) -> tuple[list[int], Tree]:
    """One candidate: sorted source numbers and a tree over a subset of them."""
    d = self.difficulty
    numbers = sorted(rng.sample(range(1, 10 * d + 11), d + 2))
    subset = rng.sample(numbers, rng.randint(2, len(numbers)))
    return numbers, random_tree(rng, subset)

  def example(self, split: str, index: int) -> tasks.Example:
    """The ``index``-th problem of ``split``; trivial targets are redrawn.

    The RNG stream is keyed by difficulty too, so that the same index at two
    difficulties does not yield near-identical numbers.
    """
    stream = f"{self.name}/d{self.difficulty}"
    rng = tasks.split_rng(stream, self.seed, split, index)
    for _ in range(MAX_DRAWS):
      numbers, tree = self._draw(rng)
      target = evaluate_tree(tree)
      if target in numbers:
        continue
      if tasks.in_split(problem_key(numbers, target), split):
        return _make_example(numbers, target, tree)
    raise RuntimeError(f"no {split} problem after {MAX_DRAWS} draws")

  def is_correct(self, completion: str, example: tasks.Example) -> bool:
    """True iff the last ``\\boxed{}`` answer in ``completion`` solves it.

    The boxed text must be a bare expression ("50+25", not "50+25=75"); the
    numbers and target are read back from the prompt by ``problem_of``.
    """
    # Imported lazily: rewards may import the task registry.
    answer = extract_answer(completion)
    if answer is None:
      return False
    numbers, target = problem_of(example)
    return verify_countdown(answer, numbers, target)

  def step_is_wellformed(self, line: str) -> bool:
    """A step line is syntactically a step ``a op b=c`` (right or wrong)."""
    return _STEP_RE.fullmatch(line) is not None

  def step_is_correct(self, line: str, example: tasks.Example) -> bool:
    """A step line is correct when its arithmetic is exact (``a op b=c``,
    ``step_is_valid``). This is process correctness, as in PRM800K: it does
    not ask whether the target is still reachable from the step."""
    del example
    return step_is_valid(line)


def _make_example(numbers: list[int], target: int, tree: Tree) -> tasks.Example:
  """Prompt, gold expression and a step-by-step reference solution."""
  expr = format_expression(tree)
  prompt = _PROMPT.format(numbers=", ".join(map(str, numbers)), target=target)
  think = "\n".join(tree_steps(tree))
  solution = f"<think>\n{think}\n</think>\n\\boxed{{{expr}}}"
  return tasks.Example(prompt=prompt, answer=expr, solution=solution)
