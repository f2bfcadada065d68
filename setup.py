"""Build hook: the wheel carries the top-level data folders under ``monitor/_data`` (see monitor/resources.py).

Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: Keep equal to monitor.resources.BUNDLED (tests/e2e/test_wheel.py checks the built wheel against it).
BUNDLED = ("alembic", "alembic.ini", "dashboards", "examples", "reports", "schemas")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.sqlite", "*.db")


class BuildPyWithData(build_py):
    """``build_py`` that also copies :data:`BUNDLED` into ``<build_lib>/monitor/_data``.

    An editable install skips the copy: it reads the checkout's folders in place.
    """

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "monitor" / "_data"
        for name in BUNDLED:
            source, destination = HERE / name, target / name
            if not source.exists():
                raise FileNotFoundError(f"{name} is missing from the source tree (an sdist without MANIFEST.in?)")
            if source.is_dir():
                shutil.rmtree(destination, ignore_errors=True)
                shutil.copytree(source, destination, ignore=IGNORED)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)


setup(cmdclass={"build_py": BuildPyWithData})
