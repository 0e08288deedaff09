#!/usr/bin/env bash
# Packs a root filesystem made by scripts/image-rootfs.sh into an OCI image archive (an OCI image layout
# in one tar: one layer, the config the Dockerfile's final stage declares), without Docker:
#
#   scripts/image-oci.sh ROOTFS_DIR OUT.tar [IMAGE_NAME]     # IMAGE_NAME default meshpeer/meshpeer:<version>
#
# Load or push it with the usual tools: `docker load -i OUT.tar` (Docker 25+), `podman load -i OUT.tar`,
# `skopeo copy oci-archive:OUT.tar docker://registry.example/meshpeer:TAG`. The same tree gives the same
# layer digest (sorted entries, numeric owners, mtimes at 0). Needs: GNU tar, gzip, sha256sum, node.
set -euo pipefail

rootfs="${1:?usage: scripts/image-oci.sh ROOTFS_DIR OUT.tar [IMAGE_NAME]}"
out="${2:?usage: scripts/image-oci.sh ROOTFS_DIR OUT.tar [IMAGE_NAME]}"
[ -f "$rootfs/app/package.json" ] || { echo "image-oci: $rootfs is not a tree from scripts/image-rootfs.sh" >&2; exit 1; }
version="$(node -p "require('$(cd "$rootfs" && pwd)/app/package.json').version")"
name="${3:-meshpeer/meshpeer:$version}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/layout/blobs/sha256"
blobs="$work/layout/blobs/sha256"

# The layer: the whole tree, as the Dockerfile's `COPY --from=build /rootfs /` makes it.
tar --sort=name --numeric-owner --mtime=@0 --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$rootfs" -cf "$work/layer.tar" .
diff_id="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
gzip -n -6 -c "$work/layer.tar" >"$work/layer.tar.gz"
layer_digest="$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)"
mv "$work/layer.tar.gz" "$blobs/$layer_digest"

# Config, manifest and index, in the field order of the OCI image spec.
DIFF_ID="$diff_id" LAYER="$layer_digest" LAYER_SIZE="$(stat -c %s "$blobs/$layer_digest")" VERSION="$version" \
  NAME="$name" BLOBS="$blobs" LAYOUT="$work/layout" node --input-type=module -e '
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
const env = process.env;
const blob = (json) => {
  const bytes = Buffer.from(JSON.stringify(json));
  const digest = createHash("sha256").update(bytes).digest("hex");
  writeFileSync(`${env.BLOBS}/${digest}`, bytes);
  return { digest: `sha256:${digest}`, size: bytes.length };
};
const config = blob({
  architecture: "amd64",
  os: "linux",
  config: {
    User: "10001:10001",
    Env: ["PATH=/usr/local/bin:/usr/bin", "NODE_ENV=production", "HOME=/home/meshpeer"],
    Entrypoint: ["meshpeer"],
    Cmd: ["--help"],
    WorkingDir: "/data",
    ExposedPorts: { "8500/tcp": {}, "8502/tcp": {}, "8443/tcp": {} },
    Labels: { "org.opencontainers.image.title": "meshpeer", "org.opencontainers.image.version": env.VERSION },
  },
  rootfs: { type: "layers", diff_ids: [`sha256:${env.DIFF_ID}`] },
  history: [{ created_by: "scripts/image-rootfs.sh + scripts/image-oci.sh" }],
});
const manifest = blob({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
  layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${env.LAYER}`, size: Number(env.LAYER_SIZE) }],
});
const tag = env.NAME.slice(env.NAME.lastIndexOf(":") + 1);
const ref = env.NAME.includes("/") && !env.NAME.split("/")[0].includes(".") ? `docker.io/${env.NAME}` : env.NAME;
writeFileSync(`${env.LAYOUT}/index.json`, JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [{
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    ...manifest,
    annotations: { "org.opencontainers.image.ref.name": tag, "io.containerd.image.name": ref },
  }],
}));
writeFileSync(`${env.LAYOUT}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
'
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$work/layout" -cf "$out" oci-layout index.json blobs
echo "image-oci: $name in $out ($(du -h "$out" | cut -f1); layer sha256:${layer_digest:0:12}, $(du -h "$work/layer.tar" | cut -f1) unpacked)"
