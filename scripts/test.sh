#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it.
#
#   scripts/test.sh            install missing packages, lint, run all tests
#   scripts/test.sh -run X     extra arguments go to `go test`
#
# The Debian packages the tests need are listed one per line in
# scripts/apt/*.txt. Integration tests that need one of those tools fail,
# rather than skip, when CI=true and the tool is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo /root/go)/bin:$PATH"

need=()
for f in scripts/apt/*.txt; do
	while read -r pkg _; do
		case "$pkg" in ''|'#'*) continue ;; esac
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
	done <"$f"
done
if [ "${#need[@]}" -gt 0 ]; then
	echo "test.sh: installing ${need[*]}"
	sudo_cmd=""
	[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
	$sudo_cmd apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

for hook in scripts/test.d/*.sh; do
	[ -e "$hook" ] || continue
	echo "test.sh: running $hook"
	bash "$hook"
done

if [ -x scripts/lint.sh ]; then
	scripts/lint.sh
fi

echo "test.sh: go test -race ./..."
go test -race -timeout 40m "$@" ./...
