"""`auto` workers: the CPUs the cgroup quota and the affinity mask allow, at least one."""

from pathlib import Path

import pytest

from app.core import workers


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "affinity_cpus", lambda: 2)


@pytest.mark.usefixtures("two_cpus")
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "max 100000\n"}, (2, "CPU affinity (2 CPUs)")),
        ({"cpu.max": "100000 100000\n"}, (1, "cgroup CPU quota 1")),
        ({"cpu.max": "150000 100000\n"}, (2, "CPU affinity (2 CPUs)")),  # 1.5 rounds up to 2
        ({"cpu.max": "20000 100000\n"}, (1, "cgroup CPU quota 0.2")),  # never below one
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"},
         (1, "cgroup CPU quota 1")),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
         (2, "CPU affinity (2 CPUs)")),  # v1 without a quota
        ({}, (2, "CPU affinity (2 CPUs)")),  # no cgroup files at all
    ],
)  # fmt: skip
def test_available_cpus(tmp_path: Path, files: dict[str, str], expected: tuple[int, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert workers.available_cpus(tmp_path) == expected


def test_auto_becomes_a_count_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(workers, "available_cpus", lambda root=None: (3, "cgroup CPU quota 3"))
    from app.core.config import Settings

    with caplog.at_level("INFO"):
        settings = Settings(_env_file=None, WEB_CONCURRENCY="auto")
    assert settings.WEB_CONCURRENCY == 3
    assert "3 workers from the cgroup CPU quota 3" in caplog.text


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_bad_worker_counts_are_refused(value: str) -> None:
    from pydantic import ValidationError

    from app.core.config import Settings

    with pytest.raises(ValidationError):
        Settings(_env_file=None, WEB_CONCURRENCY=value)
