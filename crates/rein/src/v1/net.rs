//! v1 net_cls and net_prio: the files of the tutorial's "network control". rein writes
//! them only as libcgroup's raw `-r` names on a host that mounts these hierarchies.
//! Mounting or enabling either on a host with cgroup2 disables cgroup2 socket matching
//! for the whole kernel, so rein never does; where they are not mounted, the names are
//! translated to rein's network programs ([`crate::network`]).

/// net_cls: the class id of the group's packets, one number `0xAAAABBBB` (tc's AAAA:BBBB).
pub const NET_CLS_CLASSID: &str = "net_cls.classid";
/// net_prio: `IFACE PRIO` per interface, the priority of the group's packets there.
pub const NET_PRIO_IFPRIOMAP: &str = "net_prio.ifpriomap";
