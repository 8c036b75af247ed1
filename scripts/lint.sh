#!/usr/bin/env bash
# Runs golangci-lint with the repository's .golangci.yml, installing the
# pinned version from the Go module proxy when it is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
version=v2.15.0
bin="$(go env GOPATH)/bin/golangci-lint"

if ! "$bin" version 2>/dev/null | grep -q "${version#v}"; then
	echo "lint.sh: installing golangci-lint $version"
	GOFLAGS= go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
fi

echo "lint.sh: golangci-lint run ./..."
"$bin" run ./...
