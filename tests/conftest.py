"""Shared fixtures: run the CLI in-process and read copier.yml independently of the code."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from fastscaffold import options
from fastscaffold.cli import app

Run = Callable[..., Result]

# Modules whose tests are independent of each other and each costly (a project installed and
# checked per test): pytest-xdist spreads their tests over its workers. Every other module's
# tests go to one worker together, so its module-scoped fixtures (a tier-1 render, installed
# variants) are built once.
SPREAD = {"test_matrix", "test_check"}


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's scope scheduling, by module except for the modules in SPREAD."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):  # type: ignore[misc]  # xdist has no type hints here
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if Path(module).stem in SPREAD else module

    return ByModule(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`check`'s own single tests after the matrix rows: xdist hands out modules with many
    tests first and single ones in this order, and these are the shortest to end on."""
    items.sort(key=lambda item: Path(str(item.path)).stem == "test_check")


@pytest.fixture
def run() -> Run:
    """Invoke `fastscaffold ARGS...`; unexpected exceptions fail the test instead of hiding."""
    runner = CliRunner()

    def invoke(*args: str | Path, input: str | None = None) -> Result:
        return runner.invoke(app, [str(arg) for arg in args], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture(scope="session")
def copier_questions() -> dict[str, dict[str, Any]]:
    """The questions copier asks, read straight from copier.yml (settings and computed skipped)."""
    config = yaml.safe_load((options.template_root() / "copier.yml").read_text("utf-8"))
    specs = {
        name: spec if isinstance(spec, dict) else {"default": spec}
        for name, spec in config.items()
        if not name.startswith("_")
    }
    return {name: spec for name, spec in specs.items() if spec.get("when", True) is not False}


@pytest.fixture
def fake_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point `options` at a copier.yml the test writes to the returned path."""
    root = tmp_path / "fake-template"
    root.mkdir()
    monkeypatch.setattr(options, "template_root", lambda: root)
    options.questions.cache_clear()
    yield root / "copier.yml"
    options.questions.cache_clear()
