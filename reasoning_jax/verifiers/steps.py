r"""Reasoning steps in token space, their labels, and the labelled dataset.

A step is one non-blank line inside ``<think>``; its *boundary* is the token
that ends it (the newline, or ``</think>`` when the line runs into it). A
process reward model scores the hidden state at each boundary, which has seen
the whole step. ``<think>``, ``</think>`` and the newline are single tokens
(``data.tokenizer``), so boundaries are found on ids without decoding.

Labels come from two sources:

- **exact**: the task checks each step on its own (``arith``: a line is
  correct iff it still evaluates to the answer), our stand-in for human
  labels (PRM800K);
- **Math-Shepherd** (Wang et al. 2024): from each step's prefix the policy
  samples K completions; the soft label is the fraction that reach the gold
  answer, the hard label whether any does.

The dataset on disk is JSONL, one trace per line::

  {"prompt": "Compute 3+4*2.", "answer": "11",
   "completion": "<think>\n3+8\n11\n</think>\n\\boxed{11}",
   "correct": 1, "steps": ["3+8", "11"], "exact": [1, 1],
   "soft": [1.0, 0.75], "hard": [1, 1]}

``soft``/``hard`` are absent until Math-Shepherd labelling ran, ``exact``
when the task cannot check steps. Text is re-tokenised on reading, so a file
from another tokenizer still works.
"""

import dataclasses
import json

import jax.numpy as jnp
import numpy as np

from reasoning_jax import files
from reasoning_jax.data import encoding


def step_boundaries(
    ids, think_id: int, close_id: int, newline_id: int
) -> list[tuple[int, int]]:
  """``[(start, end)]`` token spans of the steps in one completion.

  ``ids`` is the completion's token ids (no padding after the eos matters:
  scanning stops at ``</think>``). Step k spans ``ids[start:end]`` and its
  boundary token is ``ids[end]`` (a newline, or ``</think>``). Lines with no
  tokens are skipped. No ``<think>`` or no ``</think>``: no steps.
  """
  ids = list(np.asarray(ids))
  if think_id not in ids:
    return []
  start = ids.index(think_id) + 1
  if close_id not in ids[start:]:
    return []
  close = ids.index(close_id, start)
  spans, line_start = [], start
  for i in range(start, close + 1):
    if ids[i] == newline_id or i == close:
      if i > line_start:
        spans.append((line_start, i))
      line_start = i + 1
  return spans


def boundary_mask(
    tokens_bt, mask_bt, think_id: int, close_id: int, newline_id: int
):
  """``step_boundaries`` on device: [B, T] bool, True on each boundary token.

  A token ends a step when it is a newline or the first ``</think>`` after
  the first ``<think>``, lies between the two, and the token before it is
  not a newline or that ``<think>`` (the line is not empty); a row with no
  such ``</think>`` has no steps.
  """
  assert tokens_bt.shape == mask_bt.shape, (tokens_bt.shape, mask_bt.shape)
  thinks = jnp.cumsum(tokens_bt == think_id, axis=1)
  first_think = (tokens_bt == think_id) & (thinks == 1)
  is_close = (tokens_bt == close_id) & (thinks > 0)  # after <think> only.
  closes = jnp.cumsum(is_close, axis=1)
  before_close = (closes - is_close) == 0  # none before t.
  ends = ((tokens_bt == newline_id) | (tokens_bt == close_id)) & (thinks > 0)
  shift = lambda x, fill: jnp.pad(
      x[:, :-1], ((0, 0), (1, 0)), constant_values=fill
  )
  empty = (shift(tokens_bt, newline_id) == newline_id) | shift(
      first_think, True
  )
  closed = closes[:, -1:] > 0  # an unclosed think block has no steps.
  return ends & before_close & ~empty & closed & mask_bt


def exact_labels(task, example, steps: list[str]) -> list[int] | None:
  """Per-step 0/1 from the task's own step check, or None if it has none."""
  check = getattr(task, "step_is_correct", None)
  if check is None:
    return None
  return [int(check(s, example)) for s in steps]


@dataclasses.dataclass
class Trace:
  """One sampled completion with its step labels (see the module docstring)."""

  prompt: str
  answer: str
  completion: str
  correct: int
  steps: list[str]
  exact: list[int] | None = None
  soft: list[float] | None = None
  hard: list[int] | None = None


def write_jsonl(path: str, traces: list[Trace]) -> None:
  """Writes ``traces`` atomically (a temp file renamed into place)."""
  files.write_lines(
      path,
      (
          json.dumps(
              {k: v for k, v in dataclasses.asdict(t).items() if v is not None}
          )
          for t in traces
      ),
  )


def read_jsonl(path: str) -> list[Trace]:
  """Reads traces; a malformed line raises ``ValueError`` naming file:line."""
  fields = {f.name for f in dataclasses.fields(Trace)}
  required = {"prompt", "answer", "completion", "correct", "steps"}
  out = []
  with open(path, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
        if not isinstance(row, dict):
          raise ValueError("not a JSON object")
        missing = required - set(row)
        if missing:
          raise ValueError(f"missing fields {sorted(missing)}")
        unknown = set(row) - fields
        if unknown:
          raise ValueError(f"unknown fields {sorted(unknown)}")
        for k in ("exact", "soft", "hard"):
          if k in row and len(row[k]) != len(row["steps"]):
            raise ValueError(
                f"{k} has {len(row[k])} labels for {len(row['steps'])} steps"
            )
        out.append(Trace(**row))
      except (ValueError, TypeError) as e:  # JSONDecodeError is a ValueError.
        raise ValueError(f"{path}:{n}: {e}") from None
  return out


@dataclasses.dataclass
class StepBatch:
  """Traces as fixed-shape arrays for reward models.

  Sequence layout: L left-padded prompt slots then T completion slots
  (``ids [B, L+T]``, ``valid``). ``boundary [B, L+T]`` marks the token ending
  each step; ``step_pos [B, S]`` holds those slots in step order (0 where
  ``step_valid`` is False); ``labels [B, S]`` the chosen step labels;
  ``last [B]`` the slot of the last completion token (eos included) and
  ``correct [B]`` the outcome, for the ORM.
  """

  ids: np.ndarray
  valid: np.ndarray
  boundary: np.ndarray
  step_pos: np.ndarray
  step_valid: np.ndarray
  labels: np.ndarray
  last: np.ndarray
  correct: np.ndarray

  def __len__(self):
    return len(self.ids)


def encode_traces(
    tok,
    traces: list[Trace],
    *,
    prompt_len: int,
    completion_len: int,
    max_steps: int,
    label: str = "exact",
) -> StepBatch:
  """Tokenises traces into a ``StepBatch``; ``label`` picks exact|soft|hard.

  Completions longer than ``completion_len`` (eos included) are cut; steps
  past the cut or past ``max_steps`` are dropped, as are steps whose
  tokenised count disagrees with the text (never on our tokenizer).
  """
  b, p, n = len(traces), prompt_len, completion_len
  ids_p, valid_p = encoding.encode_prompts(
      tok, [t.prompt + "\n" for t in traces], p
  )
  comp = np.full((b, n), tok.pad_id, np.int32)
  out = StepBatch(
      ids=np.zeros((b, p + n), np.int32),
      valid=np.zeros((b, p + n), bool),
      boundary=np.zeros((b, p + n), bool),
      step_pos=np.zeros((b, max_steps), np.int32),
      step_valid=np.zeros((b, max_steps), bool),
      labels=np.zeros((b, max_steps), np.float32),
      last=np.zeros((b,), np.int32),
      correct=np.asarray([t.correct for t in traces], np.float32),
  )
  ids_think = (
      tok.piece_id("<think>"),
      tok.piece_id("</think>"),
      tok.piece_id("\n"),
  )
  for i, t in enumerate(traces):
    row = (tok.encode(t.completion) + [tok.eos_id])[:n]
    comp[i, : len(row)] = row
    out.last[i] = p + len(row) - 1
    labels = getattr(t, label)
    if labels is None:
      raise ValueError(f"trace {i} has no {label!r} labels")
    spans = step_boundaries(row, *ids_think)
    if len(spans) != len(t.steps):
      continue  # text and tokens disagree: no step supervision.
    for k, ((_, end), y) in enumerate(zip(spans, labels)):
      if k >= max_steps:
        break
      out.step_pos[i, k] = p + end
      out.step_valid[i, k] = True
      out.labels[i, k] = y
      out.boundary[i, p + end] = True
  out.ids[:, :p], out.ids[:, p:] = ids_p, comp
  out.valid[:, :p], out.valid[:, p:] = valid_p, comp != tok.pad_id
  return out
