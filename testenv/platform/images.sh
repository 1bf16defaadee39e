#!/usr/bin/env bash
# Build the platform's base images FROM scratch with BuildKit and push them
# to the local registry, tagged with their version and latest:
#   sluice/pause:3.10        the pod sandbox (a static Go binary)
#   sluice/busybox:<v>       Debian's busybox-static, applets installed
#   sluice/go-builder:<go>   busybox + this machine's Go toolchain, for build pods
#   sluice/redis:<v>         Debian's Redis on busybox, a test-environment service
#   sluice/postgres:<v>      Debian's PostgreSQL server on busybox, a test-environment service
# An image already in the registry is not rebuilt.
. "$(dirname "$0")/lib.sh"
B=$(bin_dir)
ctx=$STATE/images
mkdir -p "$ctx"

have_image() { "$B/crane" digest --insecure "$REGISTRY/$1" >/dev/null 2>&1; }

# push NAME VERSION DIR: build DIR's Dockerfile and push NAME:VERSION and NAME:latest.
push() { local name=$1 version=$2 dir=$3
  have_image "$name:$version" && return 0
  log "building $name:$version"
  "$B/buildctl" --addr "unix://$BUILDKIT_SOCK" build --frontend dockerfile.v0 \
    --local context="$dir" --local dockerfile="$dir" \
    --output "type=image,\"name=$REGISTRY/$name:$version,$REGISTRY/$name:latest\",push=true,registry.insecure=true" \
    >"$LOGS/image-${name//\//-}.log" 2>&1 || { tail -20 "$LOGS/image-${name//\//-}.log" >&2; return 1; }
}

mkdir -p "$ctx/pause"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/pause/pause" "$HERE/pause"
cat >"$ctx/pause/Dockerfile" <<'DF'
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
DF
push sluice/pause 3.10 "$ctx/pause"

BB_VERSION=$(busybox 2>&1 | awk 'NR==1{print $2}' | tr -d v || true)
mkdir -p "$ctx/busybox"
cp /bin/busybox "$ctx/busybox/busybox"
cat >"$ctx/busybox/Dockerfile" <<'DF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /etc /root && chmod 1777 /tmp && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/sh"]
DF
push sluice/busybox "$BB_VERSION" "$ctx/busybox"

GO_VERSION=$(go env GOVERSION | tr -d go)
if ! have_image "sluice/go-builder:$GO_VERSION"; then
  rm -rf "$ctx/go-builder" && mkdir -p "$ctx/go-builder"
  cp -a "$(go env GOROOT)" "$ctx/go-builder/go"
  cat >"$ctx/go-builder/Dockerfile" <<DF
FROM $REGISTRY/sluice/busybox:$BB_VERSION
COPY go /usr/local/go
ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin CGO_ENABLED=0 GOFLAGS=-buildvcs=false
DF
  push sluice/go-builder "$GO_VERSION" "$ctx/go-builder"
  rm -rf "$ctx/go-builder/go"
fi

# sluice/redis:<v>: Debian's Redis (redis-tools holds the server binary)
# unpacked, not installed, with the libraries ldd resolves for it, on the
# busybox image. Test environments start it as a service dependency.
redis_candidate() { apt-cache policy redis-tools 2>/dev/null | awk '/Candidate:/{print $2}' | grep -v none; }
REDIS_DEB_VERSION=$(redis_candidate || true)
if [ -z "$REDIS_DEB_VERSION" ]; then apt-get update -q >/dev/null; REDIS_DEB_VERSION=$(redis_candidate); fi
REDIS_VERSION=$(echo "$REDIS_DEB_VERSION" | sed -E 's/^[0-9]+://; s/-.*//')
if ! have_image "sluice/redis:$REDIS_VERSION"; then
  rm -rf "$ctx/redis" && mkdir -p "$ctx/redis/debs" "$ctx/redis/unpacked" "$ctx/redis/root/usr/local/bin" "$ctx/redis/root/lib/x86_64-linux-gnu" "$ctx/redis/root/lib64"
  (cd "$ctx/redis/debs" && apt-get download -q redis-tools libjemalloc2 liblzf1 >/dev/null)
  for deb in "$ctx"/redis/debs/*.deb; do dpkg -x "$deb" "$ctx/redis/unpacked"; done
  bin=$ctx/redis/unpacked/usr/bin/redis-check-rdb   # redis-server is this binary under another name
  cp "$bin" "$ctx/redis/root/usr/local/bin/redis-server"
  cp "$ctx/redis/unpacked/usr/bin/redis-cli" "$ctx/redis/root/usr/local/bin/redis-cli"
  libs=$(LD_LIBRARY_PATH=$ctx/redis/unpacked/usr/lib/x86_64-linux-gnu ldd "$bin" "$ctx/redis/unpacked/usr/bin/redis-cli")
  if echo "$libs" | grep -q "not found"; then echo "$libs" | grep "not found" >&2; log "redis image: libraries missing"; exit 1; fi
  echo "$libs" | awk '/=> \//{print $3}' | sort -u | while read -r lib; do cp -L "$lib" "$ctx/redis/root/lib/x86_64-linux-gnu/"; done
  cp -L /lib64/ld-linux-x86-64.so.2 "$ctx/redis/root/lib64/"
  cat >"$ctx/redis/Dockerfile" <<DF
FROM $REGISTRY/sluice/busybox:$BB_VERSION
COPY root/ /
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-server"]
CMD ["--port", "6379", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
DF
  push sluice/redis "$REDIS_VERSION" "$ctx/redis"
  rm -rf "$ctx/redis/debs" "$ctx/redis/unpacked"
fi

# sluice/postgres:<v>: Debian's PostgreSQL server (postgresql-15) unpacked,
# not installed, with its library and share trees and the libraries ldd
# resolves, on the busybox image; it runs as uid 999, initialises its data
# directory on first start and trusts connections (a test database).
PG_MAJOR=15
pg_candidate() { apt-cache policy "postgresql-$PG_MAJOR" 2>/dev/null | awk '/Candidate:/{print $2}' | grep -v none; }
PG_DEB_VERSION=$(pg_candidate || true)
if [ -z "$PG_DEB_VERSION" ]; then apt-get update -q >/dev/null; PG_DEB_VERSION=$(pg_candidate); fi
PG_VERSION=${PG_DEB_VERSION%%-*}
if ! have_image "sluice/postgres:$PG_VERSION"; then
  pg=$ctx/postgres
  rm -rf "$pg" && mkdir -p "$pg/debs" "$pg/unpacked" "$pg/root/lib/x86_64-linux-gnu" "$pg/root/lib64" "$pg/root/usr/lib/postgresql" "$pg/root/usr/share/postgresql" "$pg/root/etc"
  (cd "$pg/debs" && apt-get download -q "postgresql-$PG_MAJOR" libpq5 libicu72 libxml2 libldap-2.5-0 libsasl2-2 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 >/dev/null 2>&1)
  for deb in "$pg"/debs/*.deb; do dpkg -x "$deb" "$pg/unpacked"; done
  cp -a "$pg/unpacked/usr/lib/postgresql/$PG_MAJOR" "$pg/root/usr/lib/postgresql/"
  rm -f "$pg/root/usr/lib/postgresql/$PG_MAJOR"/lib/llvmjit*   # no JIT: it would need LLVM
  cp -a "$pg/unpacked/usr/share/postgresql/$PG_MAJOR" "$pg/root/usr/share/postgresql/"
  [ -d /usr/share/zoneinfo ] && mkdir -p "$pg/root/usr/share" && cp -a /usr/share/zoneinfo "$pg/root/usr/share/"
  libs=$(LD_LIBRARY_PATH=$pg/unpacked/usr/lib/x86_64-linux-gnu ldd "$pg"/root/usr/lib/postgresql/$PG_MAJOR/bin/* "$pg"/root/usr/lib/postgresql/$PG_MAJOR/lib/*.so 2>/dev/null)
  if echo "$libs" | grep -q "not found"; then echo "$libs" | grep "not found" | sort -u >&2; log "postgres image: libraries missing"; exit 1; fi
  echo "$libs" | awk '/=> \//{print $3}' | sort -u | while read -r lib; do cp -L "$lib" "$pg/root/lib/x86_64-linux-gnu/"; done
  cp -L /lib64/ld-linux-x86-64.so.2 "$pg/root/lib64/"
  cat >"$pg/root/docker-entrypoint.sh" <<'SH'
#!/bin/sh
# Initialise the data directory on first start (trust: a test database),
# then run the server in the foreground on every address.
set -e
export PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --auth=trust --locale=C --encoding=UTF8 >/dev/null
  echo "host all all 0.0.0.0/0 trust" >>"$PGDATA/pg_hba.conf"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp -c jit=off -c fsync=off
SH
  chmod 755 "$pg/root/docker-entrypoint.sh"
  cat >"$pg/Dockerfile" <<DF
FROM $REGISTRY/sluice/busybox:$BB_VERSION
COPY root/ /
RUN echo 'postgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh' >> /etc/passwd && echo 'postgres:x:999:' >> /etc/group \\
 && mkdir -p /var/lib/postgresql/data && chown -R 999:999 /var/lib/postgresql && chmod 700 /var/lib/postgresql/data
USER 999:999
ENV TZ=UTC
EXPOSE 5432
ENTRYPOINT ["/docker-entrypoint.sh"]
DF
  push sluice/postgres "$PG_VERSION" "$pg"
  rm -rf "$pg/debs" "$pg/unpacked"
fi
