# Sourced by scripts that need Debian packages of their own (the npm
# comparisons): ensure_packages WHO PKG... installs the missing ones as root,
# or exits naming them.
ensure_packages() {
    local who="$1"
    shift
    local need=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
    done
    [ "${#need[@]}" -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "$who: missing Debian packages: ${need[*]} (run as root to install them)" >&2
        exit 1
    fi
    echo "$who: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null; }
}
