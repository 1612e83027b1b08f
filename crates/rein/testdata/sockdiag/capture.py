#!/usr/bin/env python3
"""Captures the sock_diag dumps of testdata/sockdiag (run as root on a host with cgroup2):

    unshare -n python3 capture.py CGROUP2_DIR OUT_DIR

In a network namespace of its own (so the dumps hold only the sockets made here), with
loopback up: two listeners, whose peers never read (small receive buffers), made
outside the group; then, from inside CGROUP2_DIR (a new cgroup2 directory, removed at
the end): an IPv4 client with data queued, one closed with data queued (an orphan in
FIN_WAIT1), an IPv6 client with data queued. Writes the replies to the AF_INET and
AF_INET6 dumps as received (inet4.bin, inet6.bin: the datagrams one after another), and
expected.txt: the group's cgroup id (the directory's inode) and each client's SIOCOUTQ
(write_seq - snd_una, what inet_diag reports as idiag_wqueue) read right before the dump.
"""
import fcntl, os, socket, struct, sys, time

SIOCOUTQ = 0x5411
grp, out = sys.argv[1], sys.argv[2]
os.system("ip link set lo up")
os.makedirs(grp)
home = open("/proc/self/cgroup").read().split("0::", 1)[1].split("\n")[0]
root = grp[: grp.index("/", len("/sys/fs/cgroup/unified"))] if grp.startswith("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"

def listener(fam, addr):
    l = socket.socket(fam, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    l.bind((addr, 0))
    l.listen(4)
    return l

l4, l6 = listener(socket.AF_INET, "127.0.0.1"), listener(socket.AF_INET6, "::1")
open(grp + "/cgroup.procs", "w").write(str(os.getpid()))
clients = {}
for name, fam, l in [("a", socket.AF_INET, l4), ("b", socket.AF_INET, l4), ("c", socket.AF_INET6, l6)]:
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.connect(l.getsockname()[:2])
    c.setblocking(False)
    try:
        while True:
            c.send(b"x" * 65536)
    except BlockingIOError:
        pass
    clients[name] = c
open(root + home.rstrip("/") + "/cgroup.procs" if home != "/" else root + "/cgroup.procs", "w").write(str(os.getpid()))
accepted = [l4.accept()[0], l4.accept()[0], l6.accept()[0]]
time.sleep(0.5)  # let the peers' windows close
outq = {k: struct.unpack("i", fcntl.ioctl(c.fileno(), SIOCOUTQ, b"\0" * 4))[0] for k, c in clients.items()}
clients["b"].close()
time.sleep(0.2)

def dump(fam):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4)  # NETLINK_SOCK_DIAG
    states = sum(1 << x for x in (1, 2, 3, 4, 8, 9, 11))
    req = struct.pack("=IHHII", 72, 20, 0x301, 1, 0) + struct.pack("=BBBBI", fam, 6, 0, 0, states) + b"\0" * 48
    s.sendto(req, (0, 0))
    data = b""
    while True:
        d = s.recv(65536)
        data += d
        if struct.unpack_from("=H", d, 4)[0] == 3 or struct.unpack_from("=H", d, len(d) - 20 + 4)[0] == 3:
            # NLMSG_DONE is alone or last in its datagram
            break
    return data

with open(out + "/inet4.bin", "wb") as f:
    f.write(dump(socket.AF_INET))
with open(out + "/inet6.bin", "wb") as f:
    f.write(dump(socket.AF_INET6))
with open(out + "/expected.txt", "w") as f:
    f.write("cgroup_id %d\n" % os.stat(grp).st_ino)
    for k in sorted(outq):
        f.write("outq_%s %d\n" % (k, outq[k]))
for c in list(clients.values()) + accepted:
    c.close()
os.rmdir(grp)
