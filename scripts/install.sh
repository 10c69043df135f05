#!/usr/bin/env bash
# Installs (or removes) teardownd on a host without dpkg, from the same artefacts the .deb carries:
# the single executable (build/teardownd: its own Node 22 runtime, nothing else needed), the systemd
# unit, the example config, the teardownd system user and its state directory. On Debian/Ubuntu
# prefer `apt install ./build/teardownd_<version>_amd64.deb`. Idempotent: a second run with nothing
# new changes nothing and exits 0. The unit starts only once /etc/teardownd/config.json exists.
#
#   scripts/install.sh [--binary PATH] [--no-start] [--root DIR] [--dry-run]
#   scripts/install.sh --uninstall [--purge] [--root DIR] [--dry-run]
#
# Run `npm run package` first (it builds build/teardownd), or pass --binary.
set -euo pipefail

readonly SERVICE=teardownd
readonly BIN_PATH=/usr/local/bin/teardownd
readonly UNIT_PATH=/etc/systemd/system/teardownd.service
readonly CONFIG_DIR=/etc/teardownd
readonly CONFIG_PATH=/etc/teardownd/config.json
readonly EXAMPLE_PATH=/etc/teardownd/config.example.json
readonly ENV_PATH=/etc/default/teardownd
readonly STATE_DIR=/var/lib/teardownd
readonly REPORTS_DIR=/var/lib/teardownd/reports
readonly SVC_USER=teardownd
readonly SVC_GROUP=teardownd
# Where the unit file (and the .deb) put the executable; install.sh puts it under /usr/local.
readonly UNIT_BIN=/usr/bin/teardownd

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=""
DRY_RUN=0
UNINSTALL=0
PURGE=0
START=1
BINARY=""
CHANGES=0
STAGE=""
umask 022

usage() {
  cat <<EOF
usage: $0 [options]

Install:
  --binary PATH     the single executable to install (default: build/teardownd of this checkout)
  --no-start        enable the service but do not start or restart it

Uninstall:
  --uninstall       stop and disable the service, remove the unit and ${BIN_PATH}; keep
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
    --binary)
      [[ $# -ge 2 ]] || die "--binary needs a path"
      BINARY="$2"
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

do_install() {
  [[ -n $BINARY ]] || BINARY="$SRC/build/teardownd"
  [[ -x $BINARY ]] || die "$BINARY not found: run \`npm ci && npm run package\` first (or pass --binary)"
  "$BINARY" --version >/dev/null 2>&1 || die "$BINARY does not run here (not a teardownd executable for this machine?)"
  say "installing teardownd $("$BINARY" --version) from $BINARY"

  # 1. The service user (a system account with no login and no home of its own).
  if [[ -z $ROOT ]]; then
    if ! getent group "$SVC_GROUP" >/dev/null; then run groupadd --system "$SVC_GROUP"; fi
    if ! getent passwd "$SVC_USER" >/dev/null; then
      run useradd --system --gid "$SVC_GROUP" --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "teardownd daemon" "$SVC_USER"
    fi
  fi

  # 2. The program: one file, replaced by a rename so a running daemon keeps its old inode.
  ensure_dir "$(t "$(dirname "$BIN_PATH")")" 0755
  if ! [[ -f $(t "$BIN_PATH") ]] || ! cmp -s "$BINARY" "$(t "$BIN_PATH")"; then
    run install -m 0755 "$BINARY" "$(t "$BIN_PATH").new"
    run mv -f "$(t "$BIN_PATH").new" "$(t "$BIN_PATH")"
  elif [[ $(stat -c '%a' "$(t "$BIN_PATH")") != 755 ]]; then
    run chmod 0755 "$(t "$BIN_PATH")"
  fi

  # 3. The unit, pointing at where this script put the executable.
  STAGE="$(mktemp -d "${TMPDIR:-/tmp}/teardownd-install.XXXXXX")"
  trap 'rm -rf "$STAGE"' EXIT
  local unit="$STAGE/teardownd.service"
  sed "s#^ExecStart=${UNIT_BIN} #ExecStart=${BIN_PATH} #" "$SRC/systemd/teardownd.service" >"$unit"
  grep -q "^ExecStart=${BIN_PATH} run " "$unit" ||
    die "could not set ExecStart= in the unit (systemd/teardownd.service changed shape?)"
  local unit_changed=0
  if ! [[ -f $(t "$UNIT_PATH") ]] || ! cmp -s "$unit" "$(t "$UNIT_PATH")"; then unit_changed=1; fi
  install_file "$unit" "$(t "$UNIT_PATH")" 0644

  # 4. The example config (ours, kept current) and the environment file (the operator's once written).
  #    config.json itself is the operator's: until it exists the unit does not start.
  ensure_dir "$(t "$CONFIG_DIR")" 0755
  install_file "$SRC/scripts/config.example.json" "$(t "$EXAMPLE_PATH")" 0644
  install_once "$SRC/systemd/teardownd.env" "$(t "$ENV_PATH")" 0600

  # 5. State and reports (the unit's StateDirectory= would create the first, but not reports/).
  ensure_dir "$(t "$STATE_DIR")" 0750 "$SVC_USER:$SVC_GROUP"
  ensure_dir "$(t "$REPORTS_DIR")" 0750 "$SVC_USER:$SVC_GROUP"

  # 6. systemd.
  if have_systemd; then
    local program_changed=$((CHANGES > 0))
    ((unit_changed == 0)) || run systemctl daemon-reload
    systemctl is-enabled --quiet "$SERVICE" 2>/dev/null || run systemctl enable "$SERVICE"
    if ((START)) && [[ -e $CONFIG_PATH ]]; then
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
    say "installed ($CHANGES change(s)). Next: cp $EXAMPLE_PATH $CONFIG_PATH, edit it, run: teardownd check"
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
  if [[ -e $(t "$BIN_PATH") ]]; then run rm -f "$(t "$BIN_PATH")"; fi
  if [[ -e $(t "$EXAMPLE_PATH") ]]; then run rm -f "$(t "$EXAMPLE_PATH")"; fi
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
