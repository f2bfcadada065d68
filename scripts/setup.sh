#!/usr/bin/env bash
# Set up everything samd-monitor needs on a Debian machine with Python 3.11+.
#   scripts/setup.sh [runtime|test]
# Installs Debian packages when run as root (and says which are missing otherwise),
# creates .venv and installs the package (with test extras for "test") at the versions of constraints.txt.
# Re-running is cheap: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE="${1:-runtime}"
PYTHON="${PYTHON:-python3}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- Python ------------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || die "python3 not found: install Python 3.11 or newer (apt-get install python3 python3-venv)"
"$PYTHON" - <<'PY' || die "Python 3.11 or newer is required (found $("$PYTHON" --version 2>&1))"
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

# --- Debian packages ---------------------------------------------------------------------
DEB_RUNTIME=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk)
DEB_TEST=(postgresql poppler-utils chromium openjdk-17-jre-headless)
wanted=("${DEB_RUNTIME[@]}")
[ "$PROFILE" = "test" ] && wanted+=("${DEB_TEST[@]}")
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "warning: missing Debian packages (run as root or: sudo apt-get install ${missing[*]})"
  fi
fi

# --- PostgreSQL for the test suite ---------------------------------------------------------
if [ "$PROFILE" = "test" ] && [ -n "${MONITOR_TEST_POSTGRES_URL:-}" ]; then
  if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if [ "$(id -u)" = "0" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
      for version in $(ls /etc/postgresql 2>/dev/null); do
        say "starting PostgreSQL cluster $version/main"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
      done
    fi
  fi
fi

# --- virtual environment ---------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv || die "cannot create a virtual environment: apt-get install python3-venv"
fi
extras=""
[ "$PROFILE" = "test" ] && extras="[test,spark]"
stamp=".venv/.installed-${PROFILE}"
# constraints.txt is the lock: the exact versions the test suite passed with (make lock writes it).
# SAMD_MONITOR_UNLOCKED=1 installs without it (the newest versions pyproject.toml allows).
lock=(-c constraints.txt)
[ "${SAMD_MONITOR_UNLOCKED:-}" = "1" ] && lock=()
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  say "installing samd-monitor${extras} into .venv (first run downloads packages)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q "${lock[@]}" -e ".${extras}" || die "pip install failed (is PyPI reachable?)"
  touch "$stamp"
fi
# --- external test material (the official HL7 FHIR R4 examples, from the npm registry) -------
if [ "$PROFILE" = "test" ]; then
  FHIR_DIR=".cache/fhir-r4-examples"
  if [ ! -f "$FHIR_DIR/.complete" ]; then
    if command -v npm >/dev/null 2>&1; then
      say "fetching hl7.fhir.r4.examples@4.0.1 from the npm registry"
      rm -rf "$FHIR_DIR" && mkdir -p "$FHIR_DIR"
      (cd "$FHIR_DIR" && npm pack --silent hl7.fhir.r4.examples@4.0.1 >/dev/null 2>&1 \
        && tar -xzf hl7.fhir.r4.examples-4.0.1.tgz && rm hl7.fhir.r4.examples-4.0.1.tgz && touch .complete) \
        || say "warning: could not fetch hl7.fhir.r4.examples (npm registry unreachable?); FHIR round-trip tests will fail"
    else
      say "warning: npm not found (apt-get install npm); the FHIR R4 example tests need hl7.fhir.r4.examples"
    fi
  fi
fi
say "ready (${PROFILE})"
