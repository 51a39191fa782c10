"""The catalog: experiment files under scenarios/chaos/experiments/, gamedays under scenarios/chaos/gamedays/,
found by name (the file's ``name``) or by path."""
from __future__ import annotations

from pathlib import Path

from sim.chaos.experiment import Experiment, ExperimentError, load_experiment
from sim.errors import UsageError

CATALOG_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "chaos"
EXPERIMENTS_DIR = CATALOG_DIR / "experiments"
GAMEDAYS_DIR = CATALOG_DIR / "gamedays"


def experiment_files() -> list[Path]:
    return sorted(EXPERIMENTS_DIR.glob("*.yaml"))


def catalog() -> dict[str, Experiment]:
    """name -> experiment, for every file of the catalog (a broken file raises ExperimentError)."""
    experiments: dict[str, Experiment] = {}
    for path in experiment_files():
        experiment = load_experiment(path)
        experiments[experiment.name] = experiment
    return experiments


def resolve(name_or_file: str) -> Experiment:
    """An experiment by catalog name or file path; unknown names and malformed files are usage errors."""
    path = Path(name_or_file)
    try:
        if path.suffix in (".yaml", ".yml") or path.is_file():
            if not path.is_file():
                raise UsageError(f"experiment file {path} does not exist")
            return load_experiment(path)
        by_name = {p.stem: p for p in experiment_files()}
        if name_or_file in by_name:
            return load_experiment(by_name[name_or_file])
        known = catalog()
    except ExperimentError as exc:
        raise UsageError(str(exc)) from exc
    if name_or_file not in known:
        raise UsageError(f"unknown experiment {name_or_file!r}; 'swsim chaos list' shows the catalog "
                         f"({', '.join(sorted(known))})")
    return known[name_or_file]
