"""Hatch build hook (not installed): ship every released template version with the package.

Each release tag `vX.Y.Z` below the version being built becomes a template-only commit in
`fastscaffold/_history.bundle`, which `fastscaffold update` replays offline. A wheel built
from a git checkout makes the bundle from the checkout's tags; an sdist carries the bundle it
was built with, so a wheel built from the sdist ships the same history.
"""

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import (  # type: ignore[import-not-found,unused-ignore]
    BuildHookInterface,
)

_IN_SDIST = "src/fastscaffold/_history.bundle"
_IN_WHEEL = "fastscaffold/_history.bundle"


class TemplateHistoryHook(BuildHookInterface):  # type: ignore[misc,unused-ignore]
    """Bundle the template of each release tag into the sdist or wheel being built."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Build the bundle from the checkout's tags and add it to the build."""
        root = Path(self.root)
        self._scratch: str | None = None
        if version == "editable":
            return  # an editable install reads the history from the checkout's own tags
        if not (root / ".git").exists():
            if not (root / _IN_SDIST).is_file():
                self.app.display_warning("fastscaffold: no git checkout, no template history")
            return
        sys.path.insert(0, str(root / "src"))
        try:
            from fastscaffold import history
            from fastscaffold.errors import GitError
        finally:
            sys.path.remove(str(root / "src"))
        self._scratch = tempfile.mkdtemp(prefix="fastscaffold-build-")
        bundle = Path(self._scratch) / "_history.bundle"
        try:
            released = history.build_bundle(root, bundle, below=history.current())
        except GitError as error:
            self.app.display_warning(f"fastscaffold: no template history: {error}")
            return
        shown = ", ".join(str(release) for release in released) or "none"
        self.app.display_info(f"fastscaffold: released template versions shipped: {shown}")
        if released:
            into = _IN_WHEEL if self.target_name == "wheel" else _IN_SDIST
            build_data["force_include"][str(bundle)] = into

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the bundle's scratch directory."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
