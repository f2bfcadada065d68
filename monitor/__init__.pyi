# Type information of monitor/__init__.py, whose public names are loaded on first use (PEP 562): type
# checkers and editors read the names here. Keep in step with _LAZY there (tests/e2e/test_python_api.py).
from monitor.entrypoints.python_api import AnalysisResult as AnalysisResult
from monitor.entrypoints.python_api import DeviceConfig as DeviceConfig
from monitor.entrypoints.python_api import Finding as Finding
from monitor.entrypoints.python_api import Monitor as Monitor
from monitor.entrypoints.python_api import analyze as analyze
from monitor.entrypoints.python_api import analyze_stored as analyze_stored
from monitor.entrypoints.python_api import load_analysis as load_analysis
from monitor.entrypoints.python_api import load_config as load_config
from monitor.errors import ConfigError as ConfigError
from monitor.errors import InputError as InputError
from monitor.errors import MonitorError as MonitorError
from monitor.errors import NotFoundError as NotFoundError
from monitor.errors import StorageError as StorageError

__version__: str
__all__: list[str]
