#!/usr/bin/env bash
# A real single-node OpenSearch for Groundwork's tests: fetch, start, stop, status, url.
#
#   scripts/opensearch.sh fetch    download the server (Maven Central) and unpack it once
#   scripts/opensearch.sh start    start a node on 127.0.0.1, wait until it is yellow, print its URL
#   scripts/opensearch.sh stop     stop the node started from this clone and remove its temp dir
#   scripts/opensearch.sh status   say whether it runs (exit 0) or not (exit 3)
#   scripts/opensearch.sh url      print the URL of the running node (exit 1 if none)
#
# The server is Maven Central's `org.opensearch.distribution.integ-test-zip:opensearch:<v>@zip`
# (no security plugin, no bundled JDK). Maven's ~/.m2 caches the download; the unpacked server
# lives outside the clone in ${GW_CACHE_DIR:-$HOME/.cache/groundwork}/opensearch/. Each start
# gets a fresh temp dir (config, data, logs) that stop removes: tests never see old indices.
#
# Environment (all optional):
#   GW_OPENSEARCH_VERSION        server version; default 3.6.0 (needs Java 21+)
#   OPENSEARCH_JAVA_HOME         the JDK to run it with; default: the newest JDK 21+ found in
#                                JAVA_HOME, /usr/lib/jvm/* or on PATH
#   GW_OPENSEARCH_PORT           HTTP port; default 9200, or a free one when 9200 is taken
#   GW_OPENSEARCH_HEAP           JVM heap (-Xms = -Xmx); default 512m
#   GW_OPENSEARCH_JAVA_OPTS      more JVM options for the node
#   GW_OPENSEARCH_START_TIMEOUT  seconds to wait for yellow health; default 180 (a start takes
#                                20-40 s on 2 idle cores, 70-80 s on 2 cores under load)
#   GW_OPENSEARCH_RUN_AS         user to run the node as when this script runs as root
#                                (OpenSearch refuses root); default nobody
#   GW_OPENSEARCH_STATE_DIR      where pid/url files live; default <clone>/var/opensearch
#   GW_CACHE_DIR                 cache root; default $HOME/.cache/groundwork
set -euo pipefail

# The newest integ-test-zip on Maven Central (2.19.6 is the newest 2.x). It needs Java 21+: the
# machine's default java is 17, so the newest JDK in /usr/lib/jvm (Temurin 25) runs it. No 2.x
# fallback for Java 17: the 2.x integ-test-zips ship transport-netty4 as their only module, so
# they lack analysis-common (no `english` analyzer) that the keyword store's mapping uses.
readonly NEWEST_VERSION="3.6.0"
readonly MAVEN_DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${GW_CACHE_DIR:-$HOME/.cache/groundwork}/opensearch"
STATE_DIR="${GW_OPENSEARCH_STATE_DIR:-$REPO_ROOT/var/opensearch}"
HEAP="${GW_OPENSEARCH_HEAP:-512m}"
START_TIMEOUT="${GW_OPENSEARCH_START_TIMEOUT:-180}"
RUN_AS="${GW_OPENSEARCH_RUN_AS:-nobody}"
STOP_TIMEOUT=30

log() { printf 'opensearch: %s\n' "$*" >&2; }
die() {
    printf 'opensearch: error: %s\n' "$1" >&2
    shift
    local hint
    for hint in "$@"; do printf '  -> %s\n' "$hint" >&2; done
    exit 1
}

# ---------------------------------------------------------------- Java and version selection

# Major version of a `java` binary (8 for "1.8.0_x", 17 for "17.0.15"), or nothing.
java_major() {
    local raw
    raw="$("$1" -version 2>&1 | sed -n 's/.* version "\([0-9][0-9._]*\).*/\1/p' | head -n 1)" || true
    case "$raw" in
        "") ;;
        1.*) raw="${raw#1.}"; echo "${raw%%.*}" ;;
        *) echo "${raw%%[._]*}" ;;
    esac
}

# Candidate JDK homes, one per line: JAVA_HOME, every /usr/lib/jvm/*, the `java` on PATH.
java_candidates() {
    [[ -n "${JAVA_HOME:-}" ]] && echo "$JAVA_HOME"
    local home
    for home in /usr/lib/jvm/*; do
        [[ -x "$home/bin/java" ]] && echo "$home"
    done
    if command -v java >/dev/null 2>&1; then
        home="$(readlink -f "$(command -v java)")"
        dirname "$(dirname "$home")"
    fi
    return 0
}

# Print the JDK home with the highest major version >= $1, or fail.
newest_java_home() {
    local minimum="$1" best="" best_major=0 home major
    while IFS= read -r home; do
        [[ -x "$home/bin/java" ]] || continue
        major="$(java_major "$home/bin/java")"
        [[ -n "$major" ]] || continue
        if (( major >= minimum && major > best_major )); then
            best="$home"
            best_major="$major"
        fi
    done < <(java_candidates)
    [[ -n "$best" ]] && echo "$best"
}

required_java() {  # OpenSearch 3.x needs Java 21; 2.x runs on 11 and 17.
    if [[ "${1%%.*}" -ge 3 ]]; then echo 21; else echo 11; fi
}

# Sets VERSION and JAVA_HOME_FOR_NODE.
choose_version_and_java() {
    local minimum major
    VERSION="${GW_OPENSEARCH_VERSION:-$NEWEST_VERSION}"
    minimum="$(required_java "$VERSION")"
    if [[ -n "${OPENSEARCH_JAVA_HOME:-}" ]]; then
        [[ -x "$OPENSEARCH_JAVA_HOME/bin/java" ]] ||
            die "OPENSEARCH_JAVA_HOME=$OPENSEARCH_JAVA_HOME has no bin/java" \
                "point it at a JDK $minimum+, or unset it to pick one automatically"
        major="$(java_major "$OPENSEARCH_JAVA_HOME/bin/java")"
        (( ${major:-0} >= minimum )) ||
            die "OpenSearch $VERSION needs Java $minimum+, but OPENSEARCH_JAVA_HOME is Java ${major:-?}" \
                "set OPENSEARCH_JAVA_HOME to a JDK $minimum+ (e.g. /usr/lib/jvm/temurin-25-jdk-amd64)"
        JAVA_HOME_FOR_NODE="$OPENSEARCH_JAVA_HOME"
        return
    fi
    JAVA_HOME_FOR_NODE="$(newest_java_home "$minimum")" ||
        die "OpenSearch $VERSION needs Java $minimum+, and no such JDK was found" \
            "in JAVA_HOME, /usr/lib/jvm/* or on PATH (the machine's default java may be 17)" \
            "install a JDK $minimum+ and set OPENSEARCH_JAVA_HOME to it"
}

install_dir() { echo "$CACHE_DIR/opensearch-$VERSION"; }
FETCH_TMP=""

# ---------------------------------------------------------------- fetch

unpack_zip() {  # unpack_zip ZIP DEST (keeps the executable bits of bin/*)
    if command -v unzip >/dev/null 2>&1; then
        unzip -q "$1" -d "$2"
    else
        python3 - "$1" "$2" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    for info in archive.infolist():
        path = archive.extract(info, sys.argv[2])
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode)
PY
    fi
}

cmd_fetch() {
    local target tmp mvn_log
    target="$(install_dir)"
    if [[ -x "$target/bin/opensearch" ]]; then
        log "OpenSearch $VERSION already unpacked in $target"
        return 0
    fi
    command -v mvn >/dev/null 2>&1 ||
        die "Maven (mvn) is needed to fetch OpenSearch from Maven Central" \
            "install it: apt-get install -y maven" \
            "or unpack opensearch-$VERSION (integ-test-zip) into $target yourself"
    mkdir -p "$CACHE_DIR"
    # One fetch at a time per cache: a second caller waits, then finds the unpacked server.
    exec 9>"$CACHE_DIR/.fetch.lock"
    flock 9
    if [[ -x "$target/bin/opensearch" ]]; then
        exec 9>&-
        return 0
    fi
    tmp="$(mktemp -d "$CACHE_DIR/.fetch.XXXXXX")"
    FETCH_TMP="$tmp"
    trap 'rm -rf "$FETCH_TMP"' EXIT
    mvn_log="$tmp/mvn.log"
    log "fetching org.opensearch.distribution.integ-test-zip:opensearch:$VERSION:zip with Maven"
    if ! mvn -B -q "$MAVEN_DEPENDENCY_PLUGIN:copy" \
        "-Dartifact=org.opensearch.distribution.integ-test-zip:opensearch:$VERSION:zip" \
        "-DoutputDirectory=$tmp" >"$mvn_log" 2>&1; then
        tail -n 25 "$mvn_log" >&2
        die "Maven could not fetch OpenSearch $VERSION (output above)" \
            "check that Maven Central is reachable and that version $VERSION exists" \
            "(the newest integ-test-zip we ran is $NEWEST_VERSION; set GW_OPENSEARCH_VERSION)"
    fi
    unpack_zip "$tmp/opensearch-$VERSION.zip" "$tmp/unpacked"
    [[ -x "$tmp/unpacked/opensearch-$VERSION/bin/opensearch" ]] ||
        die "the zip for $VERSION has no opensearch-$VERSION/bin/opensearch"
    # Rename last, so a half-unpacked server is never taken for a complete one.
    mv "$tmp/unpacked/opensearch-$VERSION" "$target"
    rm -rf "$tmp"
    trap - EXIT
    exec 9>&-
    log "unpacked OpenSearch $VERSION into $target (the zip stays cached in ~/.m2)"
}

# ---------------------------------------------------------------- state of the running node

state() { cat "$STATE_DIR/$1" 2>/dev/null || true; }

# True when the pid in the state dir is alive and is the node started for the recorded temp dir
# (so a recycled pid is never taken for ours).
node_alive() {
    local pid run_dir
    pid="$(state pid)"
    run_dir="$(state run_dir)"
    [[ -n "$pid" && -n "$run_dir" ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$run_dir/home"
}

healthy() {  # healthy URL: cluster is yellow or green within a few seconds
    local body
    body="$(curl -sS --max-time 10 \
        "$1/_cluster/health?wait_for_status=yellow&timeout=5s" 2>/dev/null)" || return 1
    [[ "$body" == *'"timed_out":false'* && "$body" =~ \"status\":\"(yellow|green)\" ]]
}

# Stop the recorded node (TERM to its process group, then KILL) and remove its temp dir.
stop_node() {
    local pid run_dir waited=0
    pid="$(state pid)"
    run_dir="$(state run_dir)"
    if [[ -n "$pid" ]] && node_alive; then
        log "stopping node (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT * 10)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "node did not stop in ${STOP_TIMEOUT}s: killing it"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
    fi
    if [[ -n "$run_dir" && -d "$run_dir" && "$run_dir" == */groundwork-opensearch.* ]]; then
        rm -rf "$run_dir"
    fi
    rm -f "$STATE_DIR/pid" "$STATE_DIR/url" "$STATE_DIR/run_dir" "$STATE_DIR/version"
}

# ---------------------------------------------------------------- start

port_free() {  # port_free PORT: nothing can be listening on 127.0.0.1:PORT
    python3 - "$1" <<'PY'
import socket, sys
with socket.socket() as s:
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
}

any_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

choose_http_port() {
    if [[ -n "${GW_OPENSEARCH_PORT:-}" ]]; then
        port_free "$GW_OPENSEARCH_PORT" ||
            die "port $GW_OPENSEARCH_PORT (GW_OPENSEARCH_PORT) is taken on 127.0.0.1" \
                "unset GW_OPENSEARCH_PORT to pick a free port, or stop what listens there"
        echo "$GW_OPENSEARCH_PORT"
    elif port_free 9200; then
        echo 9200
    else
        any_free_port
    fi
}

# Lay out a fresh temp dir: home/ (hard links into the cached server, so no copy of 200 MB),
# config/ (a real copy we may edit), data/, logs/, tmp/.
prepare_run_dir() {
    local run_dir="$1" install="$2" options
    cp -al "$install" "$run_dir/home" 2>/dev/null || cp -a "$install" "$run_dir/home"
    rm -rf "$run_dir/home/config" "$run_dir/home/logs"
    cp -a "$install/config" "$run_dir/config"
    mkdir -p "$run_dir/data" "$run_dir/logs" "$run_dir/tmp"
    options="$run_dir/config/jvm.options"
    # Keep GC logs and heap dumps in the temp dir, not relative to the working directory.
    sed -i -e "s#file=logs/gc.log#file=$run_dir/logs/gc.log#" \
        -e "s#HeapDumpPath=data#HeapDumpPath=$run_dir/data#" "$options"
    mkdir -p "$run_dir/config/jvm.options.d"
    # C1 only: on 2 cores the node is ready in about half the time (35 s against 78 s, measured
    # under load); a test node never runs long enough for C2's code to pay off.
    printf -- '-Xms%s\n-Xmx%s\n-XX:TieredStopAtLevel=1\n' "$HEAP" "$HEAP" \
        >"$run_dir/config/jvm.options.d/groundwork.options"
    chmod 755 "$run_dir"
    if [[ "$(id -u)" == 0 ]]; then
        id "$RUN_AS" >/dev/null 2>&1 ||
            die "OpenSearch refuses to run as root, and user '$RUN_AS' does not exist" \
                "set GW_OPENSEARCH_RUN_AS to an unprivileged user, or run as one"
        chown -R "$RUN_AS:$(id -gn "$RUN_AS")" \
            "$run_dir/config" "$run_dir/data" "$run_dir/logs" "$run_dir/tmp"
    fi
}

print_failure_logs() {
    local run_dir="$1" file
    for file in "$run_dir/logs/console.log" "$run_dir/logs/groundwork-test.log"; do
        [[ -s "$file" ]] || continue
        printf -- '--- last lines of %s ---\n' "${file##*/}" >&2
        tail -n 30 "$file" >&2
    done
    mkdir -p "$STATE_DIR"
    cat "$run_dir/logs/console.log" >"$STATE_DIR/last-failure.log" 2>/dev/null || true
    log "the console log is kept in $STATE_DIR/last-failure.log"
}

STARTING_RUN_DIR=""
abort_start() {  # EXIT trap while starting: leave nothing running and no half state behind
    local status=$?
    if [[ -n "$STARTING_RUN_DIR" ]]; then
        print_failure_logs "$STARTING_RUN_DIR"
        stop_node
        rm -rf "$STARTING_RUN_DIR"
        log "start failed: nothing was left running"
    fi
    exit "$status"
}

cmd_start() {
    local url run_dir port transport_port install pid deadline
    local -a launcher settings
    if node_alive; then
        url="$(state url)"
        log "already running at $url; waiting for it to be healthy"
        deadline=$((SECONDS + START_TIMEOUT))
        until healthy "$url"; do
            if ((SECONDS >= deadline)) || ! node_alive; then
                stop_node
                die "the running node at $url did not become healthy; it was stopped" \
                    "run '$0 start' again"
            fi
            sleep 1
        done
        echo "$url"
        return 0
    fi
    stop_node  # clear stale state from a node that died or a machine that rebooted

    cmd_fetch
    command -v curl >/dev/null 2>&1 || die "curl is needed to check the node's health" \
        "install it: apt-get install -y curl"
    install="$(install_dir)"
    port="$(choose_http_port)"
    transport_port="$(any_free_port)"
    url="http://127.0.0.1:$port"

    mkdir -p "$STATE_DIR"
    run_dir="$(mktemp -d "${TMPDIR:-/tmp}/groundwork-opensearch.XXXXXX")"
    STARTING_RUN_DIR="$run_dir"
    trap abort_start EXIT
    trap 'exit 130' INT TERM
    prepare_run_dir "$run_dir" "$install"

    settings=(
        -Ecluster.name=groundwork-test
        -Enode.name=gw-test-node
        -Ediscovery.type=single-node
        -Enetwork.host=127.0.0.1
        "-Ehttp.port=$port"
        "-Etransport.port=$transport_port"
        "-Epath.data=$run_dir/data"
        "-Epath.logs=$run_dir/logs"
        # The disk may be mostly full here; tests must not turn read-only because of it.
        -Ecluster.routing.allocation.disk.threshold_enabled=false
        -Ebootstrap.memory_lock=false
    )
    if [[ -d "$install/plugins/opensearch-security" ]]; then
        settings+=(-Eplugins.security.disabled=true)
    fi
    launcher=()
    if [[ "$(id -u)" == 0 ]]; then
        launcher=(setpriv "--reuid=$(id -u "$RUN_AS")" "--regid=$(id -g "$RUN_AS")"
            --clear-groups --reset-env)
    fi

    log "starting OpenSearch $VERSION on $url (Java: $JAVA_HOME_FOR_NODE, heap $HEAP, dir $run_dir)"
    # setsid: the node gets its own process group (stop signals all of it) and outlives this
    # shell, e.g. after `make opensearch-start`. Each exec keeps the pid: it is the JVM's.
    (
        exec 8>&-  # the state lock must not outlive this script in the node
        cd "$run_dir/home"
        exec setsid "${launcher[@]}" env \
            "PATH=/usr/bin:/bin" \
            "OPENSEARCH_JAVA_HOME=$JAVA_HOME_FOR_NODE" \
            "OPENSEARCH_PATH_CONF=$run_dir/config" \
            "OPENSEARCH_TMPDIR=$run_dir/tmp" \
            "OPENSEARCH_JAVA_OPTS=-Xms$HEAP -Xmx$HEAP ${GW_OPENSEARCH_JAVA_OPTS:-}" \
            "HOME=$run_dir/tmp" \
            bin/opensearch "${settings[@]}"
    ) >"$run_dir/logs/console.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$STATE_DIR/pid"
    echo "$run_dir" >"$STATE_DIR/run_dir"
    echo "$url" >"$STATE_DIR/url"
    echo "$VERSION" >"$STATE_DIR/version"

    deadline=$((SECONDS + START_TIMEOUT))
    until healthy "$url"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            die "OpenSearch exited while starting (its log follows)"
        fi
        if ((SECONDS >= deadline)); then
            die "OpenSearch was not healthy after ${START_TIMEOUT}s (its log follows)" \
                "raise GW_OPENSEARCH_START_TIMEOUT on a slow machine"
        fi
        sleep 1
    done
    STARTING_RUN_DIR=""
    trap - EXIT INT TERM
    log "ready after $((SECONDS + START_TIMEOUT - deadline))s: $url"
    echo "$url"
}

# ---------------------------------------------------------------- status, url, stop

cmd_status() {
    if node_alive; then
        local url
        url="$(state url)"
        if healthy "$url"; then
            echo "running: $url (OpenSearch $(state version), pid $(state pid), dir $(state run_dir))"
        else
            echo "starting or unhealthy: $url (pid $(state pid), logs in $(state run_dir)/logs)"
        fi
        return 0
    fi
    echo "not running (start it with: make opensearch-start)"
    return 3
}

cmd_url() {
    node_alive || die "no OpenSearch node runs from this clone" "start one: make opensearch-start"
    state url
}

cmd_stop() {
    if [[ -z "$(state pid)" && -z "$(state run_dir)" ]]; then
        log "not running"
        return 0
    fi
    stop_node
    log "stopped"
}

# Starts and stops from one clone run one at a time (several people or make targets may share a
# tree): a second `start` waits, then finds the node running and reuses it.
lock_state() {
    mkdir -p "$STATE_DIR"
    exec 8>"$STATE_DIR/.lock"
    flock -w "$((START_TIMEOUT + 60))" 8 ||
        die "another start or stop in this clone still holds $STATE_DIR/.lock" \
            "wait for it to finish, or check '$0 status'"
}

main() {
    local command="${1:-}"
    case "$command" in
        fetch) choose_version_and_java; cmd_fetch ;;
        start) choose_version_and_java; lock_state; cmd_start ;;
        stop) lock_state; cmd_stop ;;
        status) cmd_status ;;
        url) cmd_url ;;
        -h | --help | help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" ;;
        *)
            die "unknown command '${command}'" \
                "usage: $0 {fetch|start|stop|status|url}  (see $0 --help)"
            ;;
    esac
}

main "$@"
