"""The wheel carries everything: built from the sources, installed into a fresh virtualenv outside the
checkout, it runs ``db upgrade``, ``device add``, a small demo (report HTML and PDF) and the dashboard app
from an empty folder (issue 18, item 1; monitor/resources.py says where the data go).

How it stays fast and offline: the sdist and the wheel are built without build isolation (setuptools comes
from the test extra); the fresh virtualenv has no pip and gets the wheel from this virtualenv's pip
(``--python``, ``--no-deps --no-index``); its dependencies are made visible by one ``.pth`` line naming this
virtualenv's site-packages. A path line in a ``.pth`` file does not run that folder's own ``.pth`` files,
so the editable install of the checkout stays invisible there: a test checks that ``monitor`` is
imported from the fresh virtualenv.

SQLite only: this is about packaging, not storage (the storage tests cover PostgreSQL).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import tomllib
import zipfile
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from monitor.resources import BUNDLED, DATA_DIR

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 600  # generous: two cores shared with the rest of the suite; the whole module takes about a minute
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.sqlite", "*.db", "*.egg-info", "build")


@dataclass(frozen=True)
class Installed:
    sdist: Path
    wheel: Path
    venv: Path
    site_packages: Path
    work: Path  # an empty folder outside the checkout

    def env(self) -> dict[str, str]:
        """The environment of a user's shell: no MONITOR_* settings of the test run, no PYTHONPATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_") and k != "PYTHONPATH"}
        env["MONITOR_DATA_DIR"] = str(self.work / "data-dir")
        env["NO_COLOR"] = "1"
        env["COLUMNS"] = "200"
        return env

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(self.venv / "bin" / args[0]), *args[1:]]
        done = subprocess.run(command, cwd=self.work, env=env or self.env(), capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
        assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done


def _copy_sources(target: Path) -> None:
    """The files a build reads: the top-level files (pyproject.toml, setup.py, MANIFEST.in, README, LICENSE,
    ...), monitor/ and the bundled folders; not the checkout's caches, databases or build leftovers."""
    target.mkdir()
    for item in ROOT.iterdir():
        if item.is_file() and not item.name.startswith("."):
            shutil.copy2(item, target / item.name)
    for name in ("monitor", *BUNDLED):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=IGNORED)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    source, dist = base / "source", base / "dist"
    _copy_sources(source)
    # sdist first (what `python -m build` does), then the wheel from the unpacked sdist: MANIFEST.in is tested too
    build = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
                            "print(b.build_sdist(sys.argv[1]))", str(dist)],
                           cwd=source, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    sdist = dist / build.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        archive.extractall(base / "unpacked", filter="data")
    (unpacked,) = (base / "unpacked").iterdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    wheel_build = subprocess.run([*pip, "wheel", "--no-deps", "--no-index", "--no-build-isolation", "-w", str(dist),
                                  str(unpacked)], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert wheel_build.returncode == 0, wheel_build.stdout + wheel_build.stderr
    (wheel,) = dist.glob("samd_monitor-*.whl")

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=TIMEOUT)
    python = venv / "bin" / "python"
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    install = subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
                             capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    # only now the dependencies: pip above saw an empty environment, not this one's editable samd-monitor
    (site_packages / "zz_samd_monitor_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n",
                                                                        encoding="utf-8")
    work = base / "empty"
    work.mkdir()
    return Installed(sdist=sdist, wheel=wheel, venv=venv, site_packages=site_packages, work=work)


@pytest.mark.slow
def test_the_wheel_and_the_sdist_carry_every_data_folder(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for name in BUNDLED:
        source = ROOT / name
        expected = ([source] if source.is_file() else
                    [p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                     and p.suffix not in (".pyc", ".sqlite", ".db")])
        assert expected, name
        missing = [str(p.relative_to(ROOT)) for p in expected
                   if f"monitor/{DATA_DIR}/{p.relative_to(ROOT).as_posix()}" not in names]
        assert not missing, f"files missing from the wheel: {missing}"
    # every data file inside the package itself (py.typed, assets a module reads) ships too
    package_files = [p for p in (ROOT / "monitor").rglob("*") if p.is_file() and "__pycache__" not in p.parts
                     and p.suffix not in (".pyc", ".pyo")]
    missing = [str(p.relative_to(ROOT)) for p in package_files if p.relative_to(ROOT).as_posix() not in names]
    assert not missing, f"package files missing from the wheel: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.startswith(("alembic/", "dashboards/", "tests/"))], \
        "the wheel must not install top-level alembic/ or dashboards/ packages, nor tests or caches"
    with tarfile.open(installed.sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    assert {"setup.py", "pyproject.toml", "alembic.ini", "reports/report.html.j2", "alembic/env.py",
            "dashboards/app.py", "examples/lung-nodule-ct.yaml"} <= members


@pytest.mark.slow
def test_the_fresh_virtualenv_imports_the_wheel_not_the_checkout(installed: Installed) -> None:
    code = ("import json, monitor, alembic; from monitor.resources import data_root, resource_path; "
            "print(json.dumps({'monitor': monitor.__file__, 'data': str(data_root()), 'alembic': alembic.__file__,"
            " 'ini': resource_path('alembic.ini').is_file()}))")
    done = installed.run("python", "-c", code)
    where = json.loads(done.stdout)
    assert Path(where["monitor"]).is_relative_to(installed.site_packages)
    assert Path(where["data"]) == installed.site_packages / "monitor" / DATA_DIR
    assert where["ini"] is True
    assert "site-packages/alembic/" in where["alembic"], "the bundled migrations must not shadow Alembic"
    assert not Path(where["alembic"]).is_relative_to(installed.site_packages / "monitor")


@pytest.fixture(scope="module")
def database(installed: Installed) -> str:
    """``db upgrade`` from the wheel (Alembic's scripts and alembic.ini come from monitor/_data)."""
    url = f"sqlite:///{installed.work / 'monitor.sqlite'}"
    upgraded = installed.run("samd-monitor", "--db", url, "db", "upgrade")
    assert "head" in upgraded.stdout + upgraded.stderr
    return url


@pytest.mark.slow
def test_a_demo_runs_from_the_wheel_in_an_empty_folder(installed: Installed, database: str) -> None:
    example = installed.site_packages / "monitor" / DATA_DIR / "examples" / "lung-nodule-ct.yaml"
    installed.run("samd-monitor", "--db", database, "user", "add", "wheel.tester", "--name", "Wheel Tester",
                  "--role", "qa", "--no-password")  # the database's first user (no --user needed: bootstrap)
    added = installed.run("samd-monitor", "--db", database, "--user", "wheel.tester", "device", "add", str(example))
    assert "lung-nodule-ct" in added.stdout + added.stderr

    installed.run("samd-monitor", "demo", "--out-dir", "demo", "--scale", "0.001")
    reports = installed.work / "demo" / "reports"
    for suffix in (".en.html", ".zh-CN.html", ".en.pdf", ".json"):
        written = list(reports.glob(f"*{suffix}"))
        assert written and written[0].stat().st_size > 1000, f"no {suffix} report written"
    assert "<html" in next(reports.glob("*.en.html")).read_text(encoding="utf-8").lower()
    assert next(reports.glob("*.en.pdf")).read_bytes().startswith(b"%PDF")
    assert list((installed.work / "demo").glob("submission_*.zip"))

    assert "Usage" in installed.run("samd-monitor", "dashboard", "--help").stdout
    # The Streamlit app from the wheel runs (as `streamlit run` would) and imports the bundled dashboards package
    env = installed.env() | {"MONITOR_DATABASE_URL": f"sqlite:///{installed.work / 'demo' / 'demo.sqlite'}"}
    app_test = (
        "import json, sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "from monitor.entrypoints.cli.dashboard import DASHBOARD_APP\n"
        "at = AppTest.from_file(str(DASHBOARD_APP), default_timeout=120).run()\n"
        "print(json.dumps({'app': str(DASHBOARD_APP), 'errors': [e.value for e in at.exception],\n"
        "                  'inputs': [t.label for t in at.text_input],\n"
        "                  'dashboards': sys.modules['dashboards'].__file__}))\n"
    )
    shown = json.loads(installed.run("python", "-c", app_test, env=env).stdout.strip().splitlines()[-1])
    assert Path(shown["app"]).is_relative_to(installed.site_packages / "monitor" / DATA_DIR)
    assert Path(shown["dashboards"]).is_relative_to(installed.site_packages / "monitor" / DATA_DIR)
    assert shown["errors"] == [] and shown["inputs"], shown
    assert not list(installed.work.glob("var")), "nothing may be written to ./var of the current folder"


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    return [Requirement(line) for line in [*project["dependencies"], *(r for group in extras.values() for r in group)]]


def test_the_lock_pins_every_declared_dependency_within_its_bounds() -> None:
    """constraints.txt (make lock) has each runtime and extra dependency at a version pyproject.toml allows."""
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    wrong = [f"{r} (locked {pins.get(canonicalize_name(r.name))})" for r in _declared()
             if canonicalize_name(r.name) not in pins
             or not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)]
    assert not wrong, f"run `make lock` after `make setup-test`; not locked within bounds: {wrong}"
    assert canonicalize_name("samd-monitor") not in pins


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level third-party modules imported by the shipped code (monitor/, dashboards/, alembic/): file names."""
    found: dict[str, set[str]] = {}
    for folder in ("monitor", "dashboards", "alembic"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in ("monitor", "dashboards", "__future__"):
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_of_the_shipped_code_is_a_declared_runtime_dependency() -> None:
    """Each third-party import of monitor/, dashboards/ and alembic/ is a runtime dependency of pyproject.toml
    (PySpark: the spark extra, in monitor/adapters/spark only); test-only packages such as highdicom are not."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    spark = {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["spark"]}
    distributions = packages_distributions()
    wrong = []
    for module, files in sorted(_third_party_imports().items()):
        names = {canonicalize_name(d) for d in distributions.get(module, [module])}
        allowed = runtime | (spark if all(f.startswith("monitor/adapters/spark/") for f in files) else set())
        if not names & allowed:
            wrong.append(f"{module} ({', '.join(sorted(names))}) in {sorted(files)[0]}")
    assert not wrong, f"imported but not declared as runtime dependencies: {wrong}"
    assert "highdicom" not in runtime, "highdicom is used by tests only (the test extra)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_service_runs_from_the_wheel_with_its_bundled_assets(installed: Installed, database: str) -> None:
    """``serve`` from the wheel on loopback: alive, and every asset /docs links to is served (no CDN)."""
    port = _free_port()
    log = installed.work / "serve.log"
    with log.open("w", encoding="utf-8") as sink:
        server = subprocess.Popen([str(installed.venv / "bin" / "samd-monitor"), "--db", database, "serve", "--host",
                                   "127.0.0.1", "--port", str(port), "--no-scheduler"],
                                  cwd=installed.work, env=installed.env(), stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:  # bounded: until the server answers or the deadline (it exits early on a failure)
            assert server.poll() is None, f"serve exited {server.returncode}: {log.read_text(encoding='utf-8')[-2000:]}"
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not answer /health in time"
            time.sleep(0.5)
        docs = httpx.get(f"{base}/docs", timeout=30)
        assert docs.status_code == 200
        assets = [urljoin(f"{base}/docs", link) for link in re.findall(r'(?:src|href)="([^"]+)"', docs.text)
                  if not link.startswith(("http:", "https:", "//", "#", "data:"))]
        assert assets, "the /docs page links no local assets"
        for asset in assets:
            assert urlsplit(asset).netloc == f"127.0.0.1:{port}"
            assert httpx.get(asset, timeout=30).status_code == 200, asset
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
