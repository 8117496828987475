# Sourced by setup/app.sh and setup/test.sh: make .venv at the repo root and install the project.
# Re-running is cheap: pip skips what is already satisfied.

die() { echo "setup: $*" >&2; exit 1; }

pick_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 python3.12 python3.11 python3.10; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  die "Python 3.10 or newer is needed (set PYTHON=/path/to/python3.x)"
}

# ensure_venv EXTRAS: create .venv if needed, then install the project with those extras,
# pinned by constraints/standalone.txt.
ensure_venv() {
  local extras="$1" python
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
    python=$(pick_python)
    echo "setup: creating .venv with $($python --version)"
    rm -rf .venv
    "$python" -m venv .venv || die "could not create .venv (on Debian/Ubuntu: apt-get install python3-venv)"
  fi
  echo "setup: installing sd-webui-sonic[$extras] into .venv (first run downloads packages)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c constraints/standalone.txt -e ".[$extras]" 2> >(grep -v "^WARNING: Location" >&2) \
    || die "pip install failed (see above)"
}

# Debian tools the tests use: chromium (the UI tests drive a real browser; Playwright's own
# download cannot be used) and jq (examples/curl.sh, which a test runs).
ensure_test_tools() {
  local missing=() tool sudo=""
  for tool in chromium jq; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ ${#missing[@]} = 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "install ${missing[*]} (the tests use them)"
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing Debian's ${missing[*]} for the tests"
  $sudo apt-get update -qq >/dev/null && \
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "could not install ${missing[*]} with apt-get"
}
