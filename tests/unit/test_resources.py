"""monitor.resources in the checkout, and the build files that must name the same data folders.

The installed-wheel side is tests/e2e/test_wheel.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from monitor.resources import BUNDLED, data_root, resource_path

ROOT = Path(__file__).resolve().parents[2]


def test_in_the_checkout_every_resource_is_the_checkouts_own() -> None:
    assert data_root() == ROOT
    for name in BUNDLED:
        assert resource_path(name) == ROOT / name and resource_path(name).exists(), name
    assert resource_path("reports", "i18n", "en.yaml").is_file()
    assert resource_path("dashboards", "app.py").is_file()


def test_an_unknown_resource_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not a bundled resource"):
        resource_path("monitor", "settings.py")
    with pytest.raises(ValueError):
        resource_path()


def test_setup_py_and_manifest_name_the_same_folders() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    (bundled,) = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == "BUNDLED" for t in node.targets)]
    assert tuple(bundled) == BUNDLED
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8").split()
    for name in BUNDLED:
        assert name in manifest, f"MANIFEST.in does not put {name} in the sdist"
