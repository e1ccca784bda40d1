#!/usr/bin/env bash
# `npm run pulumi -- <args>`: the Pulumi CLI as lvs-lab runs it offline. The engine built by install-pulumi.sh
# comes first on PATH (so plugins are found there, never downloaded); state goes to a local file backend; the
# passphrase comes from the environment (empty unless set: the lab's config holds no secrets); no update checks.
# On a machine with Pulumi installed the usual way, plain `pulumi` works as well.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(bash infra/install-pulumi.sh)
STATE=${LVS_LAB_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/lvs-lab}
mkdir -p "$STATE/pulumi"
export PATH="$BIN:$PATH"
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$STATE/pulumi}
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-}
export PULUMI_SKIP_UPDATE_CHECK=true
# Plugins come from the build above (install-pulumi.sh), never from a download.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_HOME=${LVS_LAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lvs-lab}/pulumi/home
exec pulumi "$@"
