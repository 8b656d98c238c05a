#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver (Debian's `chromium` and `chromium-driver`) for the end-to-end test of
# the Serve web page (tests/orchestration/serve/test_web_e2e.py). Idempotent: does nothing when both are present.
# Needs root (apt-get); without it, or without a package mirror, it says so and exits 0 - the e2e test then skips
# with the reason, and the rest of the suite runs.
set -uo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: no apt-get here; install chromium and chromium-driver yourself to run the browser test" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install_browser: not root and no password-less sudo; run 'apt-get install chromium chromium-driver' as root" >&2
    exit 0
  fi
fi
echo "install_browser: installing chromium and chromium-driver with apt-get" >&2
if ! $SUDO apt-get update -qq; then
  echo "install_browser: apt-get update failed; the browser test will skip" >&2
  exit 0
fi
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; then
  echo "install_browser: apt-get install chromium chromium-driver failed; the browser test will skip" >&2
  exit 0
fi
echo "install_browser: $(chromium --version 2>/dev/null || echo 'chromium installed')" >&2
