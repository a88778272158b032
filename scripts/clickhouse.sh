#!/usr/bin/env bash
# Debian's ClickHouse server for tests and the demo, with a data directory of
# its own. Installs clickhouse-server from Debian's packages when missing.
#
#   scripts/clickhouse.sh install
#   scripts/clickhouse.sh start DIR TCP_PORT HTTP_PORT   # no-op if TCP_PORT answers
#   scripts/clickhouse.sh stop DIR
set -euo pipefail

install() {
	if command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1; then
		return
	fi
	echo "clickhouse: installing Debian's clickhouse-server and clickhouse-client" >&2
	local sudo=""
	if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
}

answers() { # port
	clickhouse-client --port "$1" --query 'SELECT 1' >/dev/null 2>&1
}

start() { # dir tcp_port http_port
	local dir=$1 port=$2 http=$3
	install
	if answers "$port"; then
		echo "clickhouse: a server already answers on 127.0.0.1:$port" >&2
		return
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log"
	cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <tcp_port>$port</tcp_port>
    <http_port>$http</http_port>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>256</max_connections>
    <max_concurrent_queries>64</max_concurrent_queries>
    <mark_cache_size>536870912</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <users_config>/etc/clickhouse-server/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
XML
	clickhouse-server --config-file="$dir/config.xml" --pid-file="$dir/server.pid" --daemon
	for _ in $(seq 1 100); do
		if answers "$port"; then
			echo "clickhouse: $(clickhouse-client --port "$port" --query 'SELECT version()') on 127.0.0.1:$port, data in $dir" >&2
			return
		fi
		sleep 0.2
	done
	echo "clickhouse: the server did not start; see $dir/log/" >&2
	tail -20 "$dir/log/server.err.log" >&2 || true
	exit 1
}

stop() { # dir
	local pidf=$1/server.pid
	[ -f "$pidf" ] || return 0
	local pid
	pid=$(cat "$pidf")
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

cmd=${1:-}
shift || true
case $cmd in
install) install ;;
start) start "$@" ;;
stop) stop "$@" ;;
*) echo "usage: $0 install | start DIR TCP_PORT HTTP_PORT | stop DIR" >&2; exit 2 ;;
esac
