# syntax=docker/dockerfile:1
# The meshpeer image: `docker build -t meshpeer/meshpeer:$(node -p "require('./package.json').version") .`
#
# Stage 1 (Node 20 on Debian bookworm, slim) installs, compiles and packs meshpeer, then
# scripts/image-rootfs.sh assembles the image's whole root filesystem in /rootfs: the npm package with
# its production dependencies, that stage's Node 20 and the shared libraries it loads, /usr/bin/env,
# passwd/group with the unprivileged user meshpeer (10001), Debian's HAProxy with its libraries (for
# `meshpeer gateway --engine haproxy` and `meshpeer proxy --engine haproxy`) and Debian's nginx with its
# stream and njs modules and their libraries (for `meshpeer proxy --engine nginx` and `meshpeer gateway
# --engine nginx`; the modules in /usr/lib/nginx/modules, where meshpeer looks by default). Stage 2 is
# that directory and nothing else: no shell, no package manager. The same script builds the same tree without Docker (test/image runs
# `meshpeer --version` and a server from it).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles its native addon when no prebuilt binary can be downloaded, against this
# image's own Node headers (no header download). The policy-rc.d keeps the haproxy and nginx packages
# from starting their system services in this stage; only their files are used.
ENV npm_config_nodedir=/usr/local
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ haproxy \
      nginx libnginx-mod-stream libnginx-mod-stream-js \
 && rm -f /usr/sbin/policy-rc.d \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY bench ./bench
COPY scripts/image-rootfs.sh ./scripts/
RUN npm run build \
 && MESHPEER_IMAGE_HAPROXY=required MESHPEER_IMAGE_NGINX=required bash scripts/image-rootfs.sh /rootfs

FROM scratch
COPY --from=build /rootfs /
ENV PATH=/usr/local/bin:/usr/bin \
    NODE_ENV=production \
    HOME=/home/meshpeer
USER 10001:10001
WORKDIR /data
# HTTP API, gRPC (peering), mesh gateway
EXPOSE 8500 8502 8443
ENTRYPOINT ["meshpeer"]
CMD ["--help"]
