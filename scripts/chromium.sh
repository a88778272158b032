#!/usr/bin/env bash
# Debian's chromium, for the test that renders `omnistitch report` headless.
# Installs it when missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
echo "chromium: installing Debian's chromium (for the report rendering test)" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
