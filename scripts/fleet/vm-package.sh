#!/bin/bash
# scripts/fleet/vm-package.sh: run by scripts/fleet/test inside the systemd VM
# (scripts/vm/run-systemd), in /payload beside rein_*.deb. Installs the package with dpkg
# and checks what it promises: files, no libcgroup names, both units (enabled, started,
# hardened, limited), the exporter scraped on loopback, rein-apply making the groups of
# /etc/rein/rein.toml (again after a restart), a bad file failing the unit with rein's
# error in the journal, and removal. Each check prints "1 passed, 0 failed (NAME)" or
# "0 passed, 1 failed (NAME)"; the scrape is printed between @@SCRAPE-BEGIN@@ and
# @@SCRAPE-END@@ for the host to check against the exporter's metric names.
set -u
export SYSTEMD_PAGER='' SYSTEMD_COLORS=0
failed=0

ok() { echo "1 passed, 0 failed ($1)"; }
bad() { echo "  $2"; echo "0 passed, 1 failed ($1)"; failed=1; }
# check NAME CMD...: CMD's status decides.
check() { local name=$1 out; shift; if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(printf '%s' "$out" | tail -n 20)"; fi; }
# until_ok SECONDS CMD...: CMD succeeds within SECONDS (polled every 0.1 s).
until_ok() { local end=$((SECONDS + $1)); shift; until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $end ] || return 1; sleep 0.1; done; }

# scrape PATH: an HTTP/1.0 GET on 127.0.0.1:9949 with bash's /dev/tcp (the image has no curl).
scrape() {
  exec 3<>/dev/tcp/127.0.0.1/9949 || return 1
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&3
  cat <&3
  exec 3<&-
}

deb=$(ls /payload/rein_*.deb)
# The test image is built without man pages and docs (path-exclude in dpkg's config, see
# scripts/vm/run-systemd): a real system keeps them, and so must this install.
sed -i '/^path-exclude/d; /^path-include/d' /etc/dpkg/dpkg.cfg.d/* 2>/dev/null
check dpkg-install dpkg -i "$deb"
check files sh -c 'test -x /usr/bin/rein && test -s /usr/share/man/man1/rein-run.1.gz &&
  test -s /usr/share/man/man1/rein-cgexec.1.gz && test -s /usr/share/bash-completion/completions/rein &&
  test -s /usr/share/zsh/vendor-completions/_rein && test -s /usr/share/fish/vendor_completions.d/rein.fish &&
  test -s /usr/share/doc/rein/examples/dev-environment.toml && test -s /usr/share/doc/rein/contrib/prometheus/rein.rules.yml'
check no-libcgroup-names sh -c '! dpkg -L rein | grep -E "/(cgcreate|cgset|cgget|cgexec|cgclassify|cgdelete)(\.1\.gz)?$" &&
  ! test -e /usr/bin/cgcreate'
check units-verify systemd-analyze verify --man=no /lib/systemd/system/rein-apply.service /lib/systemd/system/rein-exporter.service /lib/systemd/system/rein-supervise.service
check units-enabled sh -c 'systemctl is-enabled rein-apply.service && systemctl is-enabled rein-exporter.service'
check apply-before-sysinit sh -c 'systemctl show -p Before --value rein-apply.service | grep -qw sysinit.target'
# Enabled where the boot pulls it in: sysinit.target wants rein-apply, and every ordinary
# service (DefaultDependencies) comes after sysinit.target, so after the groups exist.
check apply-wanted-at-boot sh -c 'systemctl list-dependencies --plain --no-pager sysinit.target | grep -qw rein-apply.service'
check exporter-wanted-at-boot sh -c 'systemctl list-dependencies --plain --no-pager multi-user.target | grep -qw rein-exporter.service'
check services-after-sysinit sh -c 'systemctl show -p After --value cron.service dbus.service 2>/dev/null | grep -qw sysinit.target'

# The exporter: started by the package, as a dynamic user, limited, on loopback only.
check exporter-active until_ok 60 systemctl is-active rein-exporter.service
check exporter-listens until_ok 60 scrape /healthz
pid=$(systemctl show -p MainPID --value rein-exporter.service)
check exporter-unprivileged sh -c "u=\$(awk '/^Uid:/ {print \$2}' /proc/$pid/status); echo uid \$u; test \"\$u\" -ne 0"
cg=/sys/fs/cgroup$(systemctl show -p ControlGroup --value rein-exporter.service)
check exporter-limits sh -c "cat $cg/memory.max $cg/pids.max $cg/cpu.max; test \"\$(cat $cg/memory.max)\" = 134217728 &&
  test \"\$(cat $cg/pids.max)\" = 32 && test \"\$(cat $cg/cpu.max)\" = '50000 100000'"
# 9949 = 0x26DD: bound to 127.0.0.1 (0100007F), not to every address.
check exporter-loopback-only sh -c 'grep -q " 0100007F:26DD 00000000:0000 0A " /proc/net/tcp && ! grep -q " 00000000:26DD " /proc/net/tcp && ! grep -qi ":26DD 0* 0A " /proc/net/tcp6'
echo "  $(systemd-analyze security rein-exporter.service 2>&1 | tail -n 1)"
check exporter-hardened sh -c 'systemd-analyze security rein-exporter.service | tail -n 1; systemd-analyze security rein-exporter.service | tail -n 1 | grep -Eq "exposure level for rein-exporter.service: [0-2]\.[0-9]"'

# rein-apply: the groups of /etc/rein/rein.toml, at start and again after a restart.
mkdir -p /etc/rein
cat >/etc/rein/rein.toml <<'TOML'
name = "fleet-vm"
parent = "fleet"

[groups.web]
memory = "64M"
cpu = "20%"

[groups.batch]
pids = 32
cpu-weight = 50
on-oom = "notify"
TOML
groups_ok() {
  test "$(cat /sys/fs/cgroup/fleet/web/memory.max)" = 67108864 &&
    test "$(cat /sys/fs/cgroup/fleet/web/cpu.max)" = "20000 100000" &&
    test "$(cat /sys/fs/cgroup/fleet/batch/pids.max)" = 32 &&
    test "$(cat /sys/fs/cgroup/fleet/batch/cpu.weight)" = 50
}
check apply-start systemctl start rein-apply.service
check apply-active sh -c 'systemctl is-active rein-apply.service'
check apply-groups groups_ok
check diff-no-change rein diff --exit-code /etc/rein/rein.toml
# A reboot, as far as the groups know: they go, and the unit makes them again.
check down rein down /etc/rein/rein.toml
check groups-gone sh -c '! test -e /sys/fs/cgroup/fleet/web'
check apply-restart systemctl restart rein-apply.service
check apply-groups-again groups_ok
check apply-journal sh -c 'journalctl -u rein-apply.service --no-pager -o cat | grep -E "to create|no change"'

# rein-supervise: the file's policies, enforced while it runs; stopped before the bad file below.
check supervise-start systemctl start rein-supervise.service
check supervise-enforcing until_ok 30 sh -c 'journalctl -u rein-supervise.service --no-pager -o cat | grep -q "/fleet/batch: enforcing on-oom notify"'
check supervise-stop sh -c 'systemctl stop rein-supervise.service && ! systemctl is-failed rein-supervise.service'

# The exporter sees the applied groups (rein's marks are readable by its dynamic user).
check exporter-sees-groups until_ok 30 bash -c "$(declare -f scrape); scrape /metrics | grep -q '^rein_memory_max_bytes{group=\"/fleet/web\"} 67108864\$'"
echo "@@SCRAPE-BEGIN@@"
scrape /metrics | sed '1,/^\r\?$/d'
echo "@@SCRAPE-END@@"

# A mistake in the file: the unit fails, with rein's error (line and column) in the journal;
# the groups stay as they were.
sed -i 's/^memory = "64M"/memroy = "64M"/' /etc/rein/rein.toml
systemctl restart rein-apply.service >/dev/null 2>&1
check bad-file-restart-fails sh -c '! systemctl is-active rein-apply.service'
check bad-file-failed-state sh -c 'systemctl is-failed rein-apply.service'
check bad-file-journal sh -c 'journalctl -u rein-apply.service --no-pager -o cat | tee /dev/stderr | grep -q "rein.toml:5:1: error: .*memroy"'
echo "  journal: $(journalctl -u rein-apply.service --no-pager -o cat | grep 'error:' | tail -n 1)"
check bad-file-groups-kept groups_ok

# Removal stops the exporter and takes the binary; the groups stay (they are the admin's).
check dpkg-remove dpkg -r rein
check removed sh -c '! test -e /usr/bin/rein && ! systemctl is-active rein-exporter.service && test -d /sys/fs/cgroup/fleet/web'
exit $failed
