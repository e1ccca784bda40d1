#!/usr/bin/env bash
# Builds the Pulumi engine parts that `pulumi up` needs where Pulumi's release downloads are unreachable, and
# registers the Docker provider plugin where the engine finds it without downloading. Idempotent: finished builds are
# cached and reused. Prints the bin directory (stdout); progress goes to stderr.
#
#   pulumi                   CLI, github.com/pulumi/pulumi/pkg/v3/cmd/pulumi from the Go module proxy, at the version of
#                            @pulumi/pulumi in package-lock.json (stamped in: the Automation API checks it)
#   pulumi-language-nodejs   the Node.js language host at that same version, from ../shared/vendor (the proxy refuses
#                            its module)
#   pulumi-resource-docker   the Docker provider plugin at the version of @pulumi/docker in package-lock.json, from
#                            ../shared/vendor (the proxy refuses github.com/pulumi/pulumi-docker/provider/*); installed
#                            with `pulumi plugin install resource docker vX --file` into the project's PULUMI_HOME
#   pulumi-resource-pulumi-nodejs
#                            the dynamic-provider plugin: a script shipped in @pulumi/pulumi
#
# LVS_LAB_VENDOR_DIR overrides where the source tarballs are (default: ../shared/vendor beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

# Both in one node start: this runs before every `npm run pulumi` command.
read -r PULUMI_VERSION DOCKER_VERSION < <(node -p "const p = require('./package-lock.json').packages;
  ['pulumi', 'docker'].map((n) => p['node_modules/@pulumi/' + n].version).join(' ')")
[ -n "${DOCKER_VERSION:-}" ] || { echo "install-pulumi: package-lock.json names no @pulumi/pulumi or @pulumi/docker" >&2; exit 1; }
CACHE=${LVS_LAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lvs-lab}
BIN=$CACHE/pulumi/v$PULUMI_VERSION/bin
PLUGINS=$CACHE/pulumi/plugins
export PULUMI_HOME=$CACHE/pulumi/home
VENDOR=${LVS_LAB_VENDOR_DIR:-$ROOT/../shared/vendor}
LH_SRC=pulumi-language-nodejs-$PULUMI_VERSION-src.tar.xz
PROVIDER_SRC=pulumi-docker-provider-$DOCKER_VERSION-src.tar.xz
PROVIDER_BIN=$PLUGINS/pulumi-resource-docker-v$DOCKER_VERSION

# The engine takes a cached plugin only at the exact version the SDK asks for.
plugin_installed() { [ -x "$PULUMI_HOME/plugins/resource-docker-v$DOCKER_VERSION/pulumi-resource-docker" ]; }
if [ -x "$BIN/pulumi" ] && [ -x "$BIN/pulumi-language-nodejs" ] && [ -x "$BIN/pulumi-resource-pulumi-nodejs" ] && plugin_installed; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { echo "install-pulumi: Go is needed to build the Pulumi engine" >&2; exit 1; }
mkdir -p "$BIN" "$PLUGINS" "$PULUMI_HOME"
# One build at a time: a second caller (`npm run pulumi` or a test suite while CI's background build runs) waits for
# the first, then finds its binaries built below and only registers what is missing.
exec 9>"$CACHE/pulumi/.build.lock"
if ! flock -n 9; then
  echo "install-pulumi: another build of the Pulumi engine is running; waiting for it" >&2
  flock 9
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Checks a vendored tarball against SHA256SUMS and unpacks it into $work.
unpack() {
  [ -f "$VENDOR/$1" ] || { echo "install-pulumi: $VENDOR/$1 is missing (see ../shared/vendor/README.md)" >&2; exit 1; }
  (cd "$VENDOR" && grep " $1\$" SHA256SUMS | sha256sum -c --quiet -) || { echo "install-pulumi: $1 does not match SHA256SUMS" >&2; exit 1; }
  tar -C "$work" -xJf "$VENDOR/$1"
}

# Each binary is built to a temporary name and renamed when complete: an interrupted build is never taken for one.
if [ ! -x "$BIN/pulumi" ]; then
  echo "install-pulumi: building the pulumi CLI v$PULUMI_VERSION from the Go module proxy (about 5 min the first time)" >&2
  mkdir -p "$work/cli"
  # A wrapper module: `go install pkg@version` refuses modules with replace directives, and pkg/v3's go.mod has two
  # (sdk/v3 => ../sdk, and a clipboard fork); the wrapper pins sdk/v3 to the same version and keeps the fork.
  cat >"$work/cli/go.mod" <<GOMOD
module lvslab/pulumi-cli

go 1.25

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
GOMOD
  printf '//go:build tools\npackage tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' >"$work/cli/tools.go"
  (cd "$work/cli" && go mod tidy >&2 && go build -trimpath \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$BIN/pulumi.part" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  mv "$BIN/pulumi.part" "$BIN/pulumi"
fi

if [ ! -x "$BIN/pulumi-language-nodejs" ]; then
  echo "install-pulumi: building pulumi-language-nodejs v$PULUMI_VERSION from $LH_SRC (about 2 min the first time)" >&2
  unpack "$LH_SRC"
  sh "$work/pulumi-language-nodejs-$PULUMI_VERSION/build-offline.sh" "$BIN/pulumi-language-nodejs.part" >&2
  mv "$BIN/pulumi-language-nodejs.part" "$BIN/pulumi-language-nodejs"
fi

if [ ! -x "$PROVIDER_BIN" ]; then
  echo "install-pulumi: building pulumi-resource-docker v$DOCKER_VERSION from $PROVIDER_SRC (about 5 min the first time)" >&2
  unpack "$PROVIDER_SRC"
  sh "$work/pulumi-docker-provider-$DOCKER_VERSION/build-offline.sh" "$PROVIDER_BIN.part" >&2
  mv "$PROVIDER_BIN.part" "$PROVIDER_BIN"
fi

install -m 0755 node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs "$BIN/pulumi-resource-pulumi-nodejs"
if ! plugin_installed; then
  "$BIN/pulumi" plugin install resource docker "v$DOCKER_VERSION" --file "$PROVIDER_BIN" >&2
fi
"$BIN/pulumi" version >&2
echo "$BIN"
