#!/usr/bin/env bash
# System packages for browser, proxy and native-window tests (Debian). Skipped when present.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver fonts-liberation)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb xauth)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || echo "warning: could not install ${need[*]}; tests that need them will skip"
fi
exit 0
