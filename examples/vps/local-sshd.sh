#!/bin/sh
# Starts a throwaway sshd on 127.0.0.1:PORT that plays "a VPS" for this
# example: its own host key, a fresh deploy key in its authorized_keys, and
# its sessions' $HOME in the same folder. Prints the lines to paste into
# your shell. Stop it with: kill "$(cat DIR/sshd.pid)".
#
#   sh local-sshd.sh 2201 /tmp/vps-staging
set -eu
port=${1:?usage: local-sshd.sh PORT DIR}
dir=${2:?usage: local-sshd.sh PORT DIR}
mkdir -p "$dir/home" /run/sshd 2>/dev/null || mkdir -p "$dir/home"
dir=$(cd "$dir" && pwd)
[ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C vps-host -f "$dir/host_key"
[ -f "$dir/deploy_key" ] || ssh-keygen -q -t ed25519 -N '' -C vps-deploy -f "$dir/deploy_key"
cp "$dir/deploy_key.pub" "$dir/authorized_keys"
cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowTcpForwarding yes
MaxSessions 20
ForceCommand cd $dir/home && HOME=$dir/home exec /bin/sh -c "\$SSH_ORIGINAL_COMMAND"
CONF
/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
echo "export VPS_DEPLOY_KEY=\"\$(cat $dir/deploy_key)\""
echo "# infra ... --var ssh_port=$port --var ssh_user=$(id -un) --var home=$dir/home --var host_key=\"\$(cat $dir/host_key.pub)\""
