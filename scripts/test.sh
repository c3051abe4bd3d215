#!/usr/bin/env bash
# The whole test run (run as root; `make test`, and CI through .ci/run).
#
# Stages: deps (scripts/deps.sh --test), ruff, mypy, unit tests under coverage, the coverage
# floor (.coverage-floor), integration tests. Every stage runs even when an earlier one failed
# (except deps: without it nothing can run); a summary line per stage is printed at the end and
# the exit status is non-zero when any stage failed.
#
# The integration tests start dockerd themselves (scripts/docker.sh, from their conftest) and
# their own dovesnap, so a dovesnap started by `make up` must be stopped first.
#
# Environment: VENV (<repo>/.venv), DOVESNAP_RUN_DIR (default: `dovesnap config`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export VENV
FLOOR_FILE="${REPO}/.coverage-floor"

need_root "make test"

# A dovesnap from `make up` would fight the one the integration tests start.
refuse_if_up "make test"

cd "${REPO}"

declare -a summary=()
failed=0

stage() {
    # stage NAME COMMAND...: run it, record PASS/FAIL and how long it took; never aborts.
    local name="$1" start rc
    shift
    printf '\n==== %s: %s\n' "${name}" "$*"
    start="${SECONDS}"
    set +e
    "$@"
    rc=$?
    set -e
    if ((rc == 0)); then
        summary+=("$(printf '  PASS  %-12s %4ss' "${name}" "$((SECONDS - start))")")
    else
        summary+=("$(printf '  FAIL  %-12s %4ss  (exit %s)' "${name}" "$((SECONDS - start))" "${rc}")")
        failed=1
    fi
    return 0
}

print_summary() {
    printf '\n==== summary\n'
    printf '%s\n' "${summary[@]}"
    if ((failed)); then
        printf 'test: FAILED\n'
    else
        printf 'test: all stages passed\n'
    fi
}

stage deps "${REPO}/scripts/deps.sh" --test
if ((failed)); then
    print_summary
    die "dependencies could not be installed; nothing else can run"
fi

export VIRTUAL_ENV="${VENV}"
export PATH="${VENV}/bin:${PATH}"

lint_paths=()
for dir in dovesnap tests bench; do
    [[ -e "${dir}" ]] && lint_paths+=("${dir}")
done
stage ruff ruff check "${lint_paths[@]}"
stage mypy mypy

# shellcheck disable=SC2317  # called through stage()
coverage_floor() {
    local floor
    [[ -r "${FLOOR_FILE}" ]] || {
        echo "missing ${FLOOR_FILE}" >&2
        return 1
    }
    floor="$(tr -d '[:space:]' <"${FLOOR_FILE}")"
    [[ "${floor}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
        echo "${FLOOR_FILE} must hold a number, not '${floor}'" >&2
        return 1
    }
    [[ -e .coverage ]] || {
        echo "no coverage data (.coverage); did the unit stage run?" >&2
        return 1
    }
    echo "coverage floor: ${floor}%"
    coverage report --fail-under="${floor}"
}

coverage erase
stage unit coverage run -m pytest tests/unit
stage coverage coverage_floor
stage integration pytest tests/integration -v

print_summary
exit "${failed}"
