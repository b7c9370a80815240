"""The repository's contracts: the README's two commands, CI running the test command, dvc.yaml's shape."""
import importlib
import importlib.util
import re

import yaml

from genlab.config import load_params
from tests.conftest import REPO

STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def test_readme_quick_start_is_two_make_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make repro", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_every_stage_points_at_existing_files():
    for name, stage in STAGES.items():
        script = (stage.get("do", stage))["cmd"].split()[1]
        assert (REPO / script).exists(), f"{name}: {script}"
    params = load_params(REPO / "params.yaml")
    for cfg in params.models.values():
        for path in (f"models/{cfg.family}.py", f"workflows/{cfg.family}/train.py",
                     f"workflows/{cfg.family}/evaluate.py"):
            assert (REPO / "src" / "genlab" / path).exists(), path
    for name in params.datasets:
        assert (REPO / "src" / "genlab" / "data" / f"{name}.py").exists(), name


def _code_deps(stage: str, family: str) -> set[str]:
    deps = STAGES[stage]["do"]["deps"]
    return {d.replace("${item.family}", family).removeprefix("src/genlab/") for d in deps
            if d.startswith("src/genlab/")}


def test_stages_depend_on_the_code_they_run_and_train_on_nothing_else():
    """A train stage's deps are the files its resume fingerprint hashes (CODE), the plumbing every stage runs,
    the shared layers and the prepared data formats; no train stage depends on metric, report or another family's code. Every other
    stage with a CODE list depends on all of it."""
    from genlab.pipeline import PLUMBING

    families = {cfg.family for cfg in load_params(REPO / "params.yaml").models.values()}
    # the prepared formats and image helpers every train stage lists; a family may run only some of them
    shared = {"data/views.py", "data/prepared.py", "data/text.py", "images.py"}
    for family in families:
        train = importlib.import_module(f"genlab.workflows.{family}.train")
        assert _code_deps("train", family) == set(train.CODE) | set(PLUMBING) | {"nn"} | shared, family
        assert not any(d.startswith(("metrics", "report", "tracking", "pipeline")) for d in train.CODE)
        evaluate = importlib.import_module(f"genlab.workflows.{family}.evaluate")
        assert set(evaluate.CODE) | set(PLUMBING) <= _code_deps("evaluate", family), family
    assert not any("fid" in d or "inception" in d for d in STAGES["evaluate"]["do"]["deps"])
    from genlab.workflows.vq_prior import fit

    fit_deps = {d.removeprefix("src/genlab/") for d in STAGES["fit_prior"]["do"]["deps"] if d.startswith("src/genlab/")}
    assert set(fit.CODE) | set(PLUMBING) <= fit_deps, set(fit.CODE) - fit_deps
    for stage in ("real_stats", "sample_metrics", "train_classifier", "extract_codes"):
        spec = importlib.util.spec_from_file_location(stage, REPO / "stages" / f"{stage}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        body = STAGES[stage].get("do", STAGES[stage])
        deps = {d.removeprefix("src/genlab/") for d in body["deps"] if d.startswith("src/genlab/")}
        assert set(module.CODE) | set(PLUMBING) <= deps, (stage, set(module.CODE) | set(PLUMBING) - deps)


def test_no_stage_but_resolve_reads_params_yaml():
    for name, stage in STAGES.items():
        body = stage.get("do", stage)
        if name == "resolve":
            assert set(body["params"]) >= {"scale", "models", "datasets"}
            continue
        assert "params" not in body, name
        assert any(d.startswith("resolved/${scale}/") for d in body["deps"]), name


def test_nothing_but_metrics_and_the_report_is_committed_from_stage_outputs():
    ignore = (REPO / ".gitignore").read_text()
    for path in ("/data/", "/models/", "/features/", "/samples/", "/codes/", "/resolved/", "/reports/figures/", "/mlflow.db",
                 "/mlruns/"):
        assert path in ignore
