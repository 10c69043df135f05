#!/usr/bin/env bash
# Installs (or removes) teardownd on this host: the built daemon under /opt/teardownd, the systemd
# unit, a default config, the teardownd system user and its state directory; then enables and starts
# the service. Idempotent: a second run with nothing new changes nothing and exits 0.
#
#   scripts/install.sh [--node PATH] [--no-start] [--deps copy|npm] [--root DIR] [--dry-run]
#   scripts/install.sh --uninstall [--purge] [--root DIR] [--dry-run]
#
# Run from a checkout where `npm ci && npm run build` has been done (dist/ must exist).
set -euo pipefail

readonly SERVICE=teardownd
readonly PREFIX=/opt/teardownd
readonly UNIT_PATH=/etc/systemd/system/teardownd.service
readonly CONFIG_DIR=/etc/teardownd
readonly CONFIG_PATH=/etc/teardownd/config.json
readonly ENV_PATH=/etc/default/teardownd
readonly STATE_DIR=/var/lib/teardownd
readonly REPORTS_DIR=/var/lib/teardownd/reports
readonly SVC_USER=teardownd
readonly SVC_GROUP=teardownd
# The node path the unit file ships with; replaced by --node.
readonly UNIT_NODE=/usr/bin/node

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=""
DRY_RUN=0
UNINSTALL=0
PURGE=0
START=1
NODE=""
DEPS=""
CHANGES=0
STAGE=""
umask 022

usage() {
  cat <<EOF
usage: $0 [options]

Install:
  --node PATH       node binary for ExecStart= (default: \`command -v node\`; must be Node >= 20.12)
  --deps copy|npm   production node_modules: copy them from this checkout (default when present)
                    or run \`npm ci --omit=dev --ignore-scripts\` in ${PREFIX}
  --no-start        enable the service but do not start or restart it

Uninstall:
  --uninstall       stop and disable the service, remove the unit and ${PREFIX}; keep
                    ${STATE_DIR} (reports, journal) and an edited config
  --purge           with --uninstall: also remove ${STATE_DIR}, ${CONFIG_DIR}, ${ENV_PATH} and the
                    ${SVC_USER} user

Both:
  --root DIR        install into a staging root (an image build, a test): paths are prefixed with DIR,
                    and user creation, chown and systemctl are skipped
  --dry-run         print what would be done; change nothing
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}

# Every command that changes the system goes through here: printed, counted, skipped on --dry-run.
run() {
  CHANGES=$((CHANGES + 1))
  if ((DRY_RUN)); then
    printf '  would run: %s\n' "$*"
  else
    printf '  + %s\n' "$*"
    "$@"
  fi
}

while (($#)); do
  case "$1" in
    --root)
      [[ $# -ge 2 ]] || die "--root needs a directory"
      ROOT="${2%/}"
      shift 2
      ;;
    --node)
      [[ $# -ge 2 ]] || die "--node needs a path"
      NODE="$2"
      shift 2
      ;;
    --deps)
      [[ $# -ge 2 && ($2 == copy || $2 == npm) ]] || die "--deps takes copy or npm"
      DEPS="$2"
      shift 2
      ;;
    --dry-run) DRY_RUN=1 && shift ;;
    --uninstall) UNINSTALL=1 && shift ;;
    --purge) PURGE=1 && shift ;;
    --no-start) START=0 && shift ;;
    -h | --help) usage && exit 0 ;;
    *)
      usage >&2
      die "unknown option: $1"
      ;;
  esac
done
((PURGE == 0 || UNINSTALL == 1)) || die "--purge only makes sense with --uninstall"

if [[ -n $ROOT ]]; then
  [[ $ROOT = /* ]] || ROOT="$(pwd)/$ROOT"
  [[ -d $ROOT ]] || ((DRY_RUN)) || die "--root $ROOT: no such directory"
  say "staging root $ROOT: skipping user creation, chown and systemctl (the target host does those)"
else
  ((EUID == 0)) || ((DRY_RUN)) || die "run as root (or use --root DIR / --dry-run)"
fi
((DRY_RUN)) && say "dry run: nothing will be changed"

# A path on the target (staging root applied).
t() { printf '%s%s' "$ROOT" "$1"; }

have_systemd() { [[ -z $ROOT ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; }

# install_file SRC DEST MODE: copy when missing or different; MODE always enforced.
install_file() {
  local src="$1" dest="$2" mode="$3"
  if [[ -f $dest ]] && cmp -s "$src" "$dest"; then
    if [[ $(stat -c '%a' "$dest") != "${mode#0}" ]]; then run chmod "$mode" "$dest"; fi
    return 0
  fi
  run install -D -m "$mode" "$src" "$dest"
}

# install_once SRC DEST MODE: a file the operator owns afterwards; never overwritten.
install_once() {
  local src="$1" dest="$2" mode="$3"
  if [[ -e $dest ]]; then
    say "keeping existing $dest"
    return 0
  fi
  run install -D -m "$mode" "$src" "$dest"
}

ensure_dir() {
  local dir="$1" mode="$2" owner="${3:-}"
  if [[ ! -d $dir ]]; then
    run install -d -m "$mode" "$dir"
  elif [[ $(stat -c '%a' "$dir") != "${mode#0}" ]]; then
    run chmod "$mode" "$dir"
  fi
  if [[ -n $owner && -z $ROOT ]]; then
    if ((DRY_RUN)) && [[ ! -d $dir ]]; then
      run chown "$owner" "$dir"
    elif [[ -d $dir && $(stat -c '%U:%G' "$dir") != "$owner" ]]; then
      run chown "$owner" "$dir"
    fi
  fi
}

# stage_copy SRC DEST: hard links when SRC and the staging dir share a filesystem (the staging tree
# is only read and pruned, never written through), a real copy otherwise.
stage_copy() {
  cp -RPl "$1" "$2" 2>/dev/null || {
    rm -rf "$2"
    cp -RP "$1" "$2"
  }
}

# sync_tree NEW DEST: NEW is a complete staging tree; put it in place unless DEST is identical.
sync_tree() {
  local new="$1" dest="$2"
  if [[ -d $dest ]] && diff -rq --no-dereference "$new" "$dest" >/dev/null 2>&1; then return 0; fi
  # Copied next to the target first, so the swap is two renames and an interrupted run never
  # leaves half a tree in place.
  run rm -rf "$dest.new" "$dest.old"
  run cp -RP "$new" "$dest.new"
  # Whoever owns the checkout, the installed files are root's (the invoker's in a staging root)
  # and nobody else can write them.
  run chmod -R u=rwX,go=rX "$dest.new"
  if [[ -d $dest ]]; then run mv "$dest" "$dest.old"; fi
  run mv "$dest.new" "$dest"
  run rm -rf "$dest.old"
}

# Production packages from package-lock.json (entries not marked dev), as node_modules/... paths.
prod_packages() {
  "$NODE" -e '
    const lock = require(process.argv[1]);
    const paths = Object.entries(lock.packages || {})
      .filter(([p, v]) => p.startsWith("node_modules/") && !v.dev)
      .map(([p]) => p)
      .sort();
    // A package copied whole brings its nested node_modules with it.
    const top = paths.filter((p) => !paths.some((q) => q !== p && p.startsWith(q + "/node_modules/")));
    process.stdout.write(top.join("\n") + "\n");
  ' "$SRC/package-lock.json"
}

resolve_node() {
  if [[ -z $NODE ]]; then
    NODE="$(command -v node || true)"
    [[ -n $NODE ]] || die "node not found on PATH; pass --node /path/to/node"
  fi
  [[ $NODE = /* ]] || die "--node must be an absolute path (it goes into ExecStart=)"
  local probe="$NODE"
  if [[ ! -x $probe && -n $ROOT && -x $ROOT$NODE ]]; then probe="$ROOT$NODE"; fi
  if [[ ! -x $probe ]]; then
    [[ -n $ROOT ]] || die "--node $NODE is not executable"
    say "warning: $NODE is not executable here; using it for ExecStart= anyway (staging root)"
    return 0
  fi
  "$probe" -e '
    const [maj, min] = process.versions.node.split(".").map(Number);
    if (maj < 20 || (maj === 20 && min < 12)) { console.error("Node " + process.versions.node + " is too old; teardownd needs >= 20.12"); process.exit(1); }
  ' || die "unsuitable node: $NODE"
}

do_install() {
  [[ -f $SRC/dist/daemon/main.js ]] || die "$SRC/dist/daemon/main.js not found: run \`npm ci && npm run build\` first"
  resolve_node
  if [[ -z $DEPS ]]; then
    if [[ -d $SRC/node_modules ]]; then DEPS=copy; else DEPS=npm; fi
  fi
  say "installing teardownd from $SRC (node $NODE, dependencies: $DEPS)"

  # 1. The service user (a system account with no login and no home of its own).
  if [[ -z $ROOT ]]; then
    if ! getent group "$SVC_GROUP" >/dev/null; then run groupadd --system "$SVC_GROUP"; fi
    if ! getent passwd "$SVC_USER" >/dev/null; then
      run useradd --system --gid "$SVC_GROUP" --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "teardownd daemon" "$SVC_USER"
    fi
  fi

  # 2. The program: dist/, package files and production node_modules, assembled in a temporary
  #    tree and put in place only where something differs.
  local prefix
  prefix="$(t "$PREFIX")"
  ensure_dir "$(dirname "$prefix")" 0755
  ensure_dir "$prefix" 0755
  STAGE="$(mktemp -d "${TMPDIR:-/tmp}/teardownd-install.XXXXXX")"
  trap 'rm -rf "$STAGE"' EXIT
  stage_copy "$SRC/dist" "$STAGE/dist"
  # Build leftovers and test code are not part of the product.
  rm -rf "$STAGE/dist/.tsbuildinfo" "$STAGE/dist/test"
  find "$STAGE/dist" -name '*.map' -delete
  mkdir -p "$STAGE/node_modules"
  if [[ $DEPS == copy ]]; then
    local pkg
    while IFS= read -r pkg; do
      [[ -n $pkg ]] || continue
      # An optional platform package may be absent; npm skipped it too.
      [[ -e $SRC/$pkg ]] || continue
      mkdir -p "$STAGE/$(dirname "$pkg")"
      stage_copy "$SRC/$pkg" "$STAGE/$pkg"
    done < <(prod_packages)
  else
    command -v npm >/dev/null 2>&1 || die "npm not found (needed for --deps npm)"
    cp "$SRC/package.json" "$SRC/package-lock.json" "$STAGE/"
    # --ignore-scripts: `prepare` would run tsc, a dev dependency that --omit=dev leaves out.
    (cd "$STAGE" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
    rm -f "$STAGE/node_modules/.package-lock.json" "$STAGE/package.json" "$STAGE/package-lock.json"
  fi
  rm -rf "$STAGE/node_modules/.bin"
  sync_tree "$STAGE/dist" "$prefix/dist"
  sync_tree "$STAGE/node_modules" "$prefix/node_modules"
  install_file "$SRC/package.json" "$prefix/package.json" 0644
  install_file "$SRC/package-lock.json" "$prefix/package-lock.json" 0644
  [[ ! -f $SRC/README.md ]] || install_file "$SRC/README.md" "$prefix/README.md" 0644

  # 3. The unit, with this host's node in ExecStart=.
  local unit="$STAGE/teardownd.service"
  sed "s#^ExecStart=${UNIT_NODE} #ExecStart=${NODE} #" "$SRC/systemd/teardownd.service" >"$unit"
  grep -q "^ExecStart=${NODE} ${PREFIX}/dist/daemon/main.js " "$unit" ||
    die "could not set ExecStart= in the unit (systemd/teardownd.service changed shape?)"
  local unit_changed=0
  if ! [[ -f $(t "$UNIT_PATH") ]] || ! cmp -s "$unit" "$(t "$UNIT_PATH")"; then unit_changed=1; fi
  install_file "$unit" "$(t "$UNIT_PATH")" 0644

  # 4. Config and environment: written once, then the operator's.
  ensure_dir "$(t "$CONFIG_DIR")" 0755
  install_once "$SRC/scripts/config.example.json" "$(t "$CONFIG_PATH")" 0644
  install_once "$SRC/systemd/teardownd.env" "$(t "$ENV_PATH")" 0600

  # 5. State and reports (the unit's StateDirectory= would create the first, but not reports/).
  ensure_dir "$(t "$STATE_DIR")" 0750 "$SVC_USER:$SVC_GROUP"
  ensure_dir "$(t "$REPORTS_DIR")" 0750 "$SVC_USER:$SVC_GROUP"

  # 6. systemd.
  if have_systemd; then
    local program_changed=$((CHANGES > 0))
    ((unit_changed == 0)) || run systemctl daemon-reload
    systemctl is-enabled --quiet "$SERVICE" 2>/dev/null || run systemctl enable "$SERVICE"
    if ((START)); then
      if ! systemctl is-active --quiet "$SERVICE"; then
        run systemctl start "$SERVICE"
      elif ((program_changed)); then
        # A restart is harmless: the shutdown probe sees the instance `running` and touches nothing.
        run systemctl restart "$SERVICE"
      fi
    fi
  elif [[ -z $ROOT ]]; then
    say "warning: systemd is not running here; enable the service yourself: systemctl enable --now $SERVICE"
  fi

  if ((CHANGES == 0)); then
    say "teardownd is already installed and up to date: nothing changed"
  elif ((DRY_RUN)); then
    say "dry run: $CHANGES change(s) would be made"
  else
    say "installed ($CHANGES change(s)). Next: edit $CONFIG_PATH, then run: node $PREFIX/dist/daemon/main.js check"
  fi
}

# remove_if_default FILE DEFAULT: remove a config file only when it is still the shipped default.
remove_if_default() {
  local file="$1" default="$2"
  [[ -e $file ]] || return 0
  if ((PURGE)) || cmp -s "$file" "$default"; then
    run rm -f "$file"
  else
    say "keeping $file (edited; --purge removes it)"
  fi
}

do_uninstall() {
  say "removing teardownd"
  if have_systemd; then
    if systemctl is-active --quiet "$SERVICE"; then run systemctl stop "$SERVICE"; fi
    if systemctl is-enabled --quiet "$SERVICE" 2>/dev/null; then run systemctl disable "$SERVICE"; fi
  fi
  if [[ -e $(t "$UNIT_PATH") ]]; then
    run rm -f "$(t "$UNIT_PATH")"
    if have_systemd; then run systemctl daemon-reload; fi
  fi
  if [[ -e $(t "$PREFIX") ]]; then run rm -rf "$(t "$PREFIX")"; fi
  remove_if_default "$(t "$CONFIG_PATH")" "$SRC/scripts/config.example.json"
  remove_if_default "$(t "$ENV_PATH")" "$SRC/systemd/teardownd.env"
  if [[ -d $(t "$CONFIG_DIR") ]] && [[ -z $(ls -A "$(t "$CONFIG_DIR")") ]]; then run rmdir "$(t "$CONFIG_DIR")"; fi
  if ((PURGE)); then
    if [[ -e $(t "$STATE_DIR") ]]; then run rm -rf "$(t "$STATE_DIR")"; fi
    if [[ -z $ROOT ]] && getent passwd "$SVC_USER" >/dev/null; then run userdel "$SVC_USER"; fi
    if [[ -z $ROOT ]] && getent group "$SVC_GROUP" >/dev/null; then run groupdel "$SVC_GROUP"; fi
  elif [[ -e $(t "$STATE_DIR") ]]; then
    say "keeping $(t "$STATE_DIR") (reports and journal; --purge removes it)"
  fi
  if ((CHANGES == 0)); then
    say "teardownd is not installed: nothing changed"
  elif ((DRY_RUN)); then
    say "dry run: $CHANGES change(s) would be made"
  else
    say "removed ($CHANGES change(s))"
  fi
}

if ((UNINSTALL)); then do_uninstall; else do_install; fi
