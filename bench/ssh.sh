#!/usr/bin/env bash
# The ssh provider at scale: N (default 1000) small files (a site build)
# uploaded to a throwaway local sshd with `infra apply` (one connection,
# parallel channels), `scp -r` and `rsync -a` into empty folders, then a
# no-op `infra plan` of them (the issue's bound: under 2 s, which needs the
# batched hash reads; the issue's bound on apply: within 1.5x of rsync).
# infra writes and reads the files by SFTP (sshd's internal-sftp here).
# Prints wall time and user+system CPU of each command
# (of the process and its children, so of ssh too); the machine may be
# shared, so compare within one run.
# Usage: bench/ssh.sh [N]. INFRA_BIN=path uses that binary instead of
# building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-1000}
if [[ -n ${INFRA_BIN:-} ]]; then
  binary=$INFRA_BIN
else
  cargo build --release --quiet
  target_dir=${CARGO_TARGET_DIR:-target}
  [[ $target_dir == /* ]] || target_dir="$(pwd)/$target_dir"
  binary="$target_dir/release/infra"
fi
if [[ ! -x /usr/sbin/sshd ]] || ! command -v rsync > /dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get > /dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends openssh-server openssh-client rsync > /dev/null
  else
    echo "needs sshd and rsync: sudo apt-get install -y openssh-server rsync" >&2
    exit 1
  fi
fi

work=$(mktemp -d /tmp/infra-ssh-bench.XXXXXX)
sshd_pid=
cleanup() {
  [[ -n $sshd_pid ]] && kill "$sshd_pid" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
user=$(id -un)
cat > "$work/sshd_config" << CONF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
MaxSessions 20
Subsystem sftp internal-sftp
CONF
mkdir -p /run/sshd 2> /dev/null || true
/usr/sbin/sshd -D -f "$work/sshd_config" -E "$work/sshd.log" &
sshd_pid=$!
for _ in $(seq 1 500); do
  (echo > "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break
  sleep 0.02
done

# The site: N small files in 10 folders.
mkdir -p "$work/stack/site"
for ((i = 0; i < n; i++)); do
  mkdir -p "$work/stack/site/d$((i % 10))"
  printf '<html><body>page %d %s</body></html>\n' "$i" "$(head -c 200 /dev/zero | tr '\0' x)" \
    > "$work/stack/site/d$((i % 10))/page$i.html"
done
{
  printf 'stack "ssh_bench" {}\n\nsecret "deploy_key" {\n  env = "DEPLOY_KEY"\n}\n\n'
  printf 'provider "ssh" {\n  host = "127.0.0.1"\n  port = %s\n  user = "%s"\n' "$port" "$user"
  printf '  private_key = secret.deploy_key\n  host_key = "%s"\n}\n\n' "$(cat "$work/host_key.pub")"
  printf 'resource "ssh_directory" "dirs" {\n  for_each = toset([for i in range(10) : "d${i}"])\n  path = "%s/infra/${each.key}"\n}\n\n' "$work/remote"
  printf 'resource "ssh_file" "site" {\n  for_each = fileset("site", "**/*.html")\n'
  printf '  path     = "%s/infra/${each.key}"\n  source   = "site/${each.key}"\n' "$work/remote"
  printf '  depends_on = [ssh_directory.dirs]\n}\n'
} > "$work/stack/main.infra"
export DEPLOY_KEY
DEPLOY_KEY=$(cat "$work/client_key")
ssh_opts=(-i "$work/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)

# timed LABEL COMMAND...: wall seconds and CPU (user+sys, with children).
timed() {
  local label=$1
  shift
  /usr/bin/time -o "$work/time.txt" -f '%e %U %S' "$@" > "$work/out.log" 2>&1 || {
    echo "$label failed:" >&2
    cat "$work/out.log" >&2
    exit 1
  }
  local wall cpu_user cpu_sys
  read -r wall cpu_user cpu_sys < "$work/time.txt"
  printf '%-28s wall %6.2f s   cpu %6.2f s (user %.2f, sys %.2f)\n' "$label" "$wall" \
    "$(echo "$cpu_user + $cpu_sys" | bc)" "$cpu_user" "$cpu_sys"
}

echo "$n files, $(du -sh "$work/stack/site" | cut -f1); sshd on 127.0.0.1:$port; $(nproc) cores (shared), load $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$work/remote/scp" "$work/remote/rsync"
timed "scp -r" scp -q -r -P "$port" "${ssh_opts[@]}" "$work/stack/site" "$user@127.0.0.1:$work/remote/scp/"
timed "rsync -a" rsync -a -e "ssh -p $port ${ssh_opts[*]}" "$work/stack/site/" "$user@127.0.0.1:$work/remote/rsync/"
timed "infra apply" "$binary" apply -C "$work/stack" --auto-approve --parallelism 64
timed "infra plan (no-op)" "$binary" plan -C "$work/stack" --detailed-exitcode --parallelism 64
timed "infra plan (no-op, par 10)" "$binary" plan -C "$work/stack" --detailed-exitcode
echo "logins: $(grep -c 'Accepted publickey' "$work/sshd.log" || true) (scp 1, rsync 1, infra 1 per command); load $(cut -d' ' -f1-3 /proc/loadavg)"
[[ $(find "$work/remote/infra" -type f | wc -l) == "$n" ]] || { echo "infra uploaded the wrong number of files" >&2; exit 1; }
