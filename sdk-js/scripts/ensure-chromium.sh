#!/usr/bin/env bash
# Installs Debian's chromium for the browser test, only when it is missing.
# Nothing else ever downloads a browser: playwright-core drives this one.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
	exit 0
fi
sudo=
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
fi
# Waits for an apt lock another install holds instead of failing.
apt="$(dirname "$0")/../../scripts/apt-get.sh"
echo "ensure-chromium: installing Debian's chromium"
$sudo "$apt" update -qq
DEBIAN_FRONTEND=noninteractive $sudo "$apt" install -y -qq chromium >/dev/null
test -x /usr/bin/chromium
