#!/usr/bin/env bash
# System packages for browser, proxy and native-window tests (Debian). Skipped when present.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver fonts-liberation)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb xauth)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# GTK + WebKit for the desktop-window test (the test links Debian's `gi` into its own path)
[ -d /usr/lib/python3/dist-packages/gi ] && [ -e /usr/lib/x86_64-linux-gnu/girepository-1.0/WebKit2-4.1.typelib -o -e /usr/lib/aarch64-linux-gnu/girepository-1.0/WebKit2-4.1.typelib ] \
  || need+=(python3-gi python3-gi-cairo gir1.2-gtk-3.0 gir1.2-webkit2-4.1)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || echo "warning: could not install ${need[*]}; tests that need them will skip"
fi
exit 0
