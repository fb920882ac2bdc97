#!/usr/bin/env bash
# System packages for browser, proxy and native-window tests (Debian). Skipped when present.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver fonts-liberation)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb xauth)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v npm >/dev/null 2>&1 || need+=(npm)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)  # a local SSH server for the cloud-training tests
command -v scp >/dev/null 2>&1 || need+=(openssh-client)  # the scp file transfers of cloud training
# GTK + WebKit for the desktop-window test (the test links Debian's `gi` into its own path)
[ -d /usr/lib/python3/dist-packages/gi ] && [ -e /usr/lib/x86_64-linux-gnu/girepository-1.0/WebKit2-4.1.typelib -o -e /usr/lib/aarch64-linux-gnu/girepository-1.0/WebKit2-4.1.typelib ] \
  || need+=(python3-gi python3-gi-cairo gir1.2-gtk-3.0 gir1.2-webkit2-4.1)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || echo "warning: could not install ${need[*]}; tests that need them will skip"
fi

# a login of its own for the cloud tests' password login (created locked: the tests give it a throw-away
# password while they run and lock it again)
if ! id ot-cloud-test >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v useradd >/dev/null 2>&1; then
  useradd --create-home --shell /bin/sh ot-cloud-test >/dev/null 2>&1 \
    || echo "warning: could not create the user ot-cloud-test; the password-login tests will skip"
fi

# axe-core (npm registry only) for the accessibility test, into tests/.npm (ignored by git)
AXE_CORE_VERSION=4.14.1
npm_dir="$(cd "$(dirname "$0")" && pwd)/.npm"
axe_package="$npm_dir/node_modules/axe-core/package.json"
if ! grep -q "\"version\": \"$AXE_CORE_VERSION\"" "$axe_package" 2>/dev/null; then
  if command -v npm >/dev/null 2>&1; then
    npm install --prefix "$npm_dir" --no-save --no-package-lock --no-audit --no-fund \
      --registry=https://registry.npmjs.org/ "axe-core@$AXE_CORE_VERSION" >/dev/null 2>&1 \
      || echo "warning: could not install axe-core $AXE_CORE_VERSION; the accessibility test will skip"
  else
    echo "warning: npm is missing; the accessibility test will skip"
  fi
fi
exit 0
