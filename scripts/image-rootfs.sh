#!/usr/bin/env bash
# Assembles the root filesystem of the meshpeer container image into OUT_DIR. The Dockerfile runs this
# same script in its build stage and copies OUT_DIR into an empty (`FROM scratch`) image, so what this
# script produces on any machine is the image's content, except for where Node comes from (the Node 20
# in the build stage vs the `node` on PATH here) and the C libraries beside it.
#
#   scripts/image-rootfs.sh OUT_DIR
#
# Needs: `npm run build` done (dist/) and node_modules installed with native addons built for the
# Node that goes in (better-sqlite3); ldd, tar, npm. Prints the size of the result on its last line.
#
# The result:
#   /app                      the npm package (`npm pack`: dist/src + package.json) + production node_modules
#   /usr/local/bin/node       the Node executable, and under /lib*, /usr/lib* the shared libraries it and
#                             the native addons load (as ldd resolves them), plus the dynamic loader
#   /usr/local/bin/meshpeer   -> /app/dist/src/cli/main.js (`#!/usr/bin/env node`), /usr/bin/env for it
#   /usr/local/bin/haproxy    when installed here (the Dockerfile installs it): `gateway` and `proxy --engine haproxy`
#   /usr/local/bin/nginx      when installed here with its stream and njs modules (the Dockerfile installs
#                             them), the modules in /usr/lib/nginx/modules: `proxy --engine nginx`
#   /etc/passwd, /etc/group   root, meshpeer (uid/gid 10001, the user the image runs as), nobody/nogroup
#   /etc/nsswitch.conf, /etc/ssl/certs/ca-certificates.crt, /tmp (1777), /data (meshpeer's, 0700:
#                             the server refuses a data dir others can enter)
# No shell and no package manager: `meshpeer` is the only program a user of the image runs.
set -euo pipefail

out="${1:?usage: scripts/image-rootfs.sh OUT_DIR}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
uid=10001

[ -f "$repo/dist/src/cli/main.js" ] || { echo "image-rootfs: run 'npm run build' first (no dist/src/cli/main.js)" >&2; exit 1; }
[ -d "$repo/node_modules" ] || { echo "image-rootfs: run 'npm ci' first (no node_modules)" >&2; exit 1; }
node_bin="$(command -v node)"
node_bin="$(readlink -f "$node_bin")"
case "$("$node_bin" --version)" in
  v20.*) ;;
  *) echo "image-rootfs: the image runs Node 20; '$node_bin' is $("$node_bin" --version)" >&2; exit 1 ;;
esac

rm -rf "$out"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. The app: exactly what `npm pack` publishes (package.json "files"), then its production dependencies.
(cd "$repo" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball="$(ls "$work"/meshpeer-*.tgz)"
mkdir -p "$out/app"
tar -xzf "$tarball" -C "$out/app" --strip-components=1 --no-same-owner
cp "$repo/package-lock.json" "$out/app/"
# Production dependencies from the already-installed tree (native addons included, built for this Node):
# copy node_modules, then let npm remove everything only dev dependencies need. No network is used.
cp -a "$repo/node_modules" "$out/app/node_modules"
(cd "$out/app" && npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts >/dev/null)
# Native build leftovers (object files, vendored SQLite sources) are not loaded at run time.
for addon in "$out"/app/node_modules/better-sqlite3; do
  [ -d "$addon" ] || continue
  find "$addon/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
  find "$addon/build/Release" -mindepth 1 -maxdepth 1 ! -name '*.node' -exec rm -rf {} +
  rm -rf "$addon/deps" "$addon/src"
done
[ -n "$(find "$out/app/node_modules/better-sqlite3/build/Release" -name '*.node' 2>/dev/null)" ] ||
  { echo "image-rootfs: better-sqlite3 has no built addon in node_modules (npm ci did not build it)" >&2; exit 1; }
# Type declarations, sources maps and docs are not used at run time either.
find "$out/app/node_modules" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
  -o -iname 'README*' -o -iname 'CHANGELOG*' -o -iname 'HISTORY*' \) -type f -delete
rm -f "$out/app/package-lock.json" "$out/app/node_modules/.package-lock.json"
# Tool caches and command links (vitest's .vite, .bin), and scope folders prune emptied.
rm -rf "$out/app/node_modules/.vite" "$out/app/node_modules/.cache" "$out/app/node_modules/.bin"
find "$out/app/node_modules" -mindepth 1 -maxdepth 1 -type d -empty -delete
chmod 0755 "$out/app/dist/src/cli/main.js"

# 2. Node, /usr/bin/env, and every shared library they and the native addons load.
mkdir -p "$out/usr/local/bin" "$out/usr/bin"
cp "$node_bin" "$out/usr/local/bin/node"
cp "$(readlink -f "$(command -v env)")" "$out/usr/bin/env"
ln -s /app/dist/src/cli/main.js "$out/usr/local/bin/meshpeer"
copy_libs() {
  # ldd prints "name => /path (addr)" or "/lib64/ld-linux-x86-64.so.2 (addr)"; linux-vdso has no file.
  ldd "$1" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) { print $i; break } }' | while read -r lib; do
    [ -e "$out$lib" ] && continue
    mkdir -p "$out$(dirname "$lib")"
    cp "$(readlink -f "$lib")" "$out$lib"
  done
}
copy_libs "$node_bin"
copy_libs "$(command -v env)"
while IFS= read -r addon; do copy_libs "$addon"; done < <(find "$out/app/node_modules" -name '*.node' -type f)
# HAProxy, for `meshpeer gateway --engine haproxy` and `meshpeer proxy --engine haproxy` (the Dockerfile
# installs Debian's in the build stage; MESHPEER_IMAGE_HAPROXY=required makes its absence an error), with
# the libraries it loads (the sidecar engine needs its Lua, which Debian's links dynamically).
haproxy_bin="$(command -v haproxy || ls /usr/sbin/haproxy 2>/dev/null || true)"
if [ -n "$haproxy_bin" ]; then
  cp "$(readlink -f "$haproxy_bin")" "$out/usr/local/bin/haproxy"
  copy_libs "$haproxy_bin"
elif [ "${MESHPEER_IMAGE_HAPROXY:-}" = required ]; then
  echo "image-rootfs: haproxy is required (MESHPEER_IMAGE_HAPROXY=required) but not installed" >&2
  exit 1
fi
# nginx with its stream and njs modules, for `meshpeer proxy --engine nginx` (the Dockerfile installs
# Debian's nginx, libnginx-mod-stream and libnginx-mod-stream-js; MESHPEER_IMAGE_NGINX=required makes
# their absence an error). The modules go where meshpeer looks for them by default, and nginx needs no
# other file: the sidecar gives it its prefix, configuration, pid file and error log (stderr), and its
# configuration has no http block, so nginx makes none of its http temp directories.
nginx_bin="$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)"
nginx_modules=/usr/lib/nginx/modules
if [ -n "$nginx_bin" ] && [ -f "$nginx_modules/ngx_stream_module.so" ] &&
  [ -f "$nginx_modules/ngx_stream_js_module.so" ]; then
  cp "$(readlink -f "$nginx_bin")" "$out/usr/local/bin/nginx"
  copy_libs "$nginx_bin"
  mkdir -p "$out$nginx_modules"
  for module in ngx_stream_module.so ngx_stream_js_module.so; do
    cp "$(readlink -f "$nginx_modules/$module")" "$out$nginx_modules/$module"
    copy_libs "$nginx_modules/$module"
  done
elif [ "${MESHPEER_IMAGE_NGINX:-}" = required ]; then
  echo "image-rootfs: nginx with $nginx_modules/ngx_stream_module.so and ngx_stream_js_module.so is required" \
    "(MESHPEER_IMAGE_NGINX=required) but not installed" >&2
  exit 1
fi
# Debian's /lib and /lib64 are symlinks into /usr (merged /usr); keep the loader where binaries look.
for d in lib lib64; do
  if [ -d "$out/$d" ] && [ -L "/$d" ]; then
    mkdir -p "$out/usr/$d"
    cp -a "$out/$d/." "$out/usr/$d/"
    rm -rf "${out:?}/$d"
    ln -s "usr/$d" "$out/$d"
  fi
done

# 3. Users, name resolution, CA certificates, writable directories.
mkdir -p "$out/etc/ssl/certs" "$out/tmp" "$out/data" "$out/home/meshpeer" "$out/proc" "$out/dev" "$out/sys"
# nobody/nogroup: nginx started as root (the image run as another user) looks them up for its workers.
cat >"$out/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
meshpeer:x:$uid:$uid:meshpeer:/home/meshpeer:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$out/etc/group" <<EOF
root:x:0:
meshpeer:x:$uid:
nogroup:x:65534:
EOF
printf 'hosts: files dns\n' >"$out/etc/nsswitch.conf"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/"
fi
chmod 1777 "$out/tmp"
chmod 0700 "$out/data" "$out/home/meshpeer"
chown "$uid:$uid" "$out/data" "$out/home/meshpeer" 2>/dev/null || true

echo "image-rootfs: $(du -sh "$out" | cut -f1) in $out (node $("$node_bin" --version), meshpeer $(node -p "require('$out/app/package.json').version"))"
