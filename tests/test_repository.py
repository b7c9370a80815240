"""The repository's contracts: the README's two commands, CI running the test command, dvc.yaml's shape."""
import re

import yaml

from genlab.config import load_params
from tests.conftest import REPO


def test_readme_quick_start_is_two_make_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make repro", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_every_model_stage_points_at_existing_files():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        script = (stage.get("do", stage))["cmd"].split()[1]
        assert (REPO / script).exists(), f"{name}: {script}"
    families = {cfg.family for cfg in load_params(REPO / "params.yaml").models.values()}
    for family in families:
        assert (REPO / "src" / "genlab" / "models" / f"{family}.py").exists()


def test_nothing_but_metrics_and_the_report_is_committed_from_stage_outputs():
    ignore = (REPO / ".gitignore").read_text()
    for path in ("/data/", "/models/", "/reports/figures/", "/mlflow.db", "/mlruns/"):
        assert path in ignore
