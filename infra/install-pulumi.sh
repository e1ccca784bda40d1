#!/usr/bin/env bash
# Builds the Pulumi engine that `pulumi up` needs, from the Go module proxy, for machines that cannot download
# Pulumi's release binaries. Idempotent: a finished build is cached and reused. Prints the bin directory.
#
#   pulumi                  CLI, github.com/pulumi/pulumi/pkg/v3/cmd/pulumi at the version of @pulumi/pulumi in
#                           package-lock.json, with that version stamped in (the Automation API checks it)
#   pulumi-language-nodejs  the Node.js language host. Its own module (sdk/nodejs/cmd/pulumi-language-nodejs/v3) is
#                           refused by the Go proxy here (403), so it comes from sdk/v3 v3.68.0, the last release
#                           that carried it inside the sdk module; its protocol is the one the engine still speaks.
#   pulumi-resource-pulumi-nodejs
#                           the dynamic-provider plugin: a script shipped in @pulumi/pulumi.
#
# No Docker provider is built: github.com/pulumi/pulumi-docker/provider/* is refused by the Go proxy (403), which
# is why the lab's Docker resources are Pulumi dynamic resources (see README, "Why no @pulumi/docker").
set -euo pipefail
cd "$(dirname "$0")/.."

PULUMI_VERSION=$(node -p "require('./package-lock.json').packages['node_modules/@pulumi/pulumi'].version")
LANGUAGE_HOST_SDK=v3.68.0
CACHE=${LVS_LAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lvs-lab}
BIN=$CACHE/pulumi/v$PULUMI_VERSION-lh$LANGUAGE_HOST_SDK/bin

if [ -x "$BIN/pulumi" ] && [ -x "$BIN/pulumi-language-nodejs" ] && [ -x "$BIN/pulumi-resource-pulumi-nodejs" ]; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { echo "install-pulumi: Go is needed to build the Pulumi engine" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$BIN" "$work/cli" "$work/lh"

# A wrapper module per binary: `go install pkg@version` refuses modules with replace directives, and pkg/v3's go.mod
# has two (sdk/v3 => ../sdk, and a clipboard fork); the wrapper pins sdk/v3 to the same version and keeps the fork.
cat >"$work/cli/go.mod" <<EOF
module lvslab/pulumi-cli

go 1.25

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
EOF
cat >"$work/lh/go.mod" <<EOF
module lvslab/pulumi-language-nodejs

go 1.25

require github.com/pulumi/pulumi/sdk/v3 $LANGUAGE_HOST_SDK
EOF
printf '//go:build tools\npackage tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' >"$work/cli/tools.go"
printf '//go:build tools\npackage tools\n\nimport _ "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"\n' >"$work/lh/tools.go"

echo "install-pulumi: building pulumi v$PULUMI_VERSION and pulumi-language-nodejs ($LANGUAGE_HOST_SDK) from the Go module proxy (a few minutes the first time)" >&2
(cd "$work/lh" && go mod tidy >&2 && go build -trimpath -o "$BIN/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs)
(cd "$work/cli" && go mod tidy >&2 && go build -trimpath \
  -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
  -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
install -m 0755 node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs "$BIN/pulumi-resource-pulumi-nodejs"
"$BIN/pulumi" version >&2
echo "$BIN"
