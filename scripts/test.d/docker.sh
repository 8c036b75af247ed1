#!/usr/bin/env bash
# Starts a private dockerd for the docker driver's integration tests.
#
# The daemon listens on its own socket and keeps its own data root, so it
# never touches a dockerd the host may already run. It creates no bridge and
# no iptables rules: the tests build their own macvlan networks and need
# nothing else. Running the script twice is harmless.
set -euo pipefail

sock=/run/decnet-test-docker.sock
root=/var/lib/decnet-test-docker
exec_root=/run/decnet-test-docker
pidfile=/run/decnet-test-docker.pid
log=/var/log/decnet-test-docker.log

if ! command -v dockerd >/dev/null 2>&1 && [ ! -x /usr/sbin/dockerd ]; then
	echo "docker.sh: dockerd missing (Debian package docker.io); docker tests will skip" >&2
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "docker.sh: not root, not starting dockerd; docker tests will skip" >&2
	exit 0
fi

client=/usr/bin/docker
[ -x "$client" ] || client=docker

answers() {
	"$client" -H "unix://$sock" version >/dev/null 2>&1
}

if answers; then
	echo "docker.sh: dockerd already answers on $sock"
	exit 0
fi

if [ -f "$pidfile" ]; then
	pid=$(cat "$pidfile")
	if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
		rm -f "$pidfile"
	fi
fi

mkdir -p "$root" "$exec_root"
PATH=/usr/sbin:/usr/bin:/sbin:/bin setsid /usr/sbin/dockerd \
	--host "unix://$sock" \
	--data-root "$root" \
	--exec-root "$exec_root" \
	--pidfile "$pidfile" \
	--bridge none \
	--iptables=false \
	--ip6tables=false \
	--ip-masq=false \
	--containerd-namespace decnet-test \
	--containerd-plugins-namespace decnet-test-plugins \
	</dev/null >>"$log" 2>&1 &

for _ in $(seq 1 120); do
	if answers; then
		echo "docker.sh: dockerd answers on $sock"
		exit 0
	fi
	sleep 0.5
done
echo "docker.sh: dockerd did not answer within 60s; last log lines:" >&2
tail -n 30 "$log" >&2
exit 1
