"""Where samd-monitor finds its data files, in a source checkout and in an installed wheel alike.

The data live at the top of the source tree, beside ``monitor/``: ``reports/`` (the report template and
its i18n catalogs), ``alembic/`` and ``alembic.ini`` (the migrations), ``dashboards/`` (the Streamlit
app and the package it imports), ``schemas/`` (the JSON Schemas) and ``examples/`` (device
configurations, the demo's among them). Every module that needs one asks :func:`resource_path`; nothing
else computes paths from ``__file__``.

**In a wheel** they are carried inside the package, as ``monitor/_data/<name>``: ``setup.py`` overrides
setuptools' ``build_py`` to copy the folders there when the wheel is built (``MANIFEST.in`` puts them
in the sdist, so a wheel built from the sdist has them too). Why a copy at build time rather than
mapping the folders as packages (``package-dir``) or moving them into ``monitor/``:

- the source layout stays as it is (the folders are documented, linked and used by tests there);
- a top-level package named ``alembic`` would shadow the Alembic library, and as a mapped
  sub-package its ``env.py`` and ``versions/*.py`` would become importable modules of ours;
- ``dashboards`` is not installed as a top-level package (a generic name in site-packages): Streamlit
  runs ``dashboards/app.py`` as a script, and the app puts the folder that holds ``dashboards/``
  (the checkout or ``monitor/_data``) on ``sys.path`` before ``import dashboards``;
- an editable install (``pip install -e .``) maps packages only: with the copy, it simply keeps
  reading the checkout's folders, so an edited template is live without a reinstall.

**Lookup**: ``importlib.resources.files("monitor") / "_data"`` when that folder exists (an installed
wheel), otherwise the folder that holds the ``monitor`` package (a checkout, editable or not). Alembic,
Jinja2 and Streamlit need real files, so the package must be installed as files (as pip does), not
imported from a zip archive.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["BUNDLED", "DATA_DIR", "data_root", "resource_path"]

#: The top-level folders and files of the source tree that a wheel carries under ``monitor/_data``
#: (``setup.py`` keeps the same list; tests/e2e/test_wheel.py checks the wheel against this one).
BUNDLED = ("alembic", "alembic.ini", "dashboards", "examples", "reports", "schemas")
#: The folder inside the installed package that holds them.
DATA_DIR = "_data"


def data_root() -> Path:
    """The folder holding the bundled data: ``monitor/_data`` when installed, else the checkout's root."""
    package = files("monitor")
    if not isinstance(package, Path):  # a zip import: the files would have to be extracted first
        return Path(str(package)) / DATA_DIR
    installed = package / DATA_DIR
    if installed.is_dir():
        return installed
    checkout = package.parent
    return checkout if (checkout / "alembic.ini").is_file() else installed


def resource_path(*parts: str) -> Path:
    """The path of a bundled file or folder, e.g. ``resource_path("reports", "i18n")``.

    The first part is one of :data:`BUNDLED`. The path is returned whether or not it exists; callers
    that must have it check and raise their own :class:`~monitor.errors.ConfigError` naming it.
    """
    if not parts or parts[0] not in BUNDLED:
        raise ValueError(f"not a bundled resource: {parts[0] if parts else ''!r} (one of {', '.join(BUNDLED)})")
    return data_root().joinpath(*parts)
