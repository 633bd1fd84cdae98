#!/bin/sh
# Makes sure Debian's Chromium is installed for the browser tests: installs it
# when running as root, otherwise says what to install. Never skips.
set -e
for b in chromium chromium-browser; do
  if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" = "0" ]; then
  echo "Chromium is missing: installing Debian's chromium package for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q chromium >/dev/null
  command -v chromium >/dev/null 2>&1 && exit 0
  echo "apt-get install chromium did not provide a chromium binary" >&2
  exit 1
fi
echo "The browser tests need Chromium. Install it with: sudo apt-get install -y chromium" >&2
exit 1
