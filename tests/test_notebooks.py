"""Every notebook runs top to bottom, headless, on the CPU (its small
setting), and is stored without outputs."""

import os

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(f for f in os.listdir(os.path.join(ROOT, "notebooks"))
                   if f.endswith(".ipynb"))


def test_there_are_the_four_notebooks():
  assert NOTEBOOKS == ["01_quickstart.ipynb", "02_ppo_vs_grpo.ipynb",
                       "03_test_time_scaling.ipynb",
                       "04_inside_the_losses.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name):
  nb = nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)
  nbformat.validate(nb)
  for cell in nb.cells:
    if cell.cell_type == "code":
      assert not cell.outputs and cell.execution_count is None, name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_on_cpu(name, tmp_path):
  from nbclient import NotebookClient  # pylint: disable=g-import-not-at-top
  nb = nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)
  env = {"JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg", "TMPDIR": str(tmp_path),
         "XLA_FLAGS": ""}
  old = {k: os.environ.get(k) for k in env}
  os.environ.update(env)  # the kernel inherits this process's environment.
  try:
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": os.path.join(
                       ROOT, "notebooks")}}).execute()  # raises on an error.
  finally:
    for k, v in old.items():
      if v is None:
        os.environ.pop(k)
      else:
        os.environ[k] = v
  text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                 for o in c.outputs)
  assert "setting: small" in text or name.startswith("04")
