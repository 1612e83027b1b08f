//! `rein exporter`: the groups' accounting as Prometheus / OpenMetrics text over HTTP.
//!
//! One scrape is one [`rein::tree::Tree::sample`]: every exported interface file of every
//! group is read once, through files kept open between scrapes. Scrapes are served one at
//! a time. Metric names, labels, types and units are listed in docs/TOP-AND-METRICS.md.

use std::process::ExitCode;
use std::sync::Arc;

use rein::Hierarchy;

use crate::cli::exporter::ExporterArgs;

/// Parses `--listen`: `PORT` (on 127.0.0.1) or `IP:PORT` (`[::1]:PORT` for IPv6).
pub fn listen_address(s: &str) -> anyhow::Result<std::net::SocketAddr> {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse::<SocketAddr>().map_err(|_| {
        anyhow::anyhow!(
            "--listen: '{s}' is not an address to listen on; give a PORT (on 127.0.0.1), IP:PORT, or [IPv6]:PORT"
        )
    })
}

/// Runs `rein exporter` until killed.
pub fn exporter(
    args: &ExporterArgs,
    hierarchy: &dyn Fn() -> anyhow::Result<Arc<Hierarchy>>,
) -> anyhow::Result<ExitCode> {
    let addr = listen_address(&args.listen)?;
    let subtree = crate::cmd::sampling::subtree(args.subtree.as_deref(), "--subtree")?;
    #[cfg(feature = "exporter")]
    {
        serve::serve(addr, &subtree, args.all, args.max_open_files, hierarchy)
    }
    #[cfg(not(feature = "exporter"))]
    {
        let _ = (addr, subtree, hierarchy);
        anyhow::bail!(
            "this rein was built without the exporter (cargo feature 'exporter'); rebuild with '--features exporter'"
        )
    }
}

#[cfg(feature = "exporter")]
mod serve {
    use std::net::SocketAddr;
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::time::Instant;

    use anyhow::Context;
    use rein::stats::Fields;
    use rein::tree::{Read, Scope, Snapshot, Tree};
    use rein::{GroupPath, Hierarchy};
    use tiny_http::{Header, Method, Response, Server};

    use super::metrics;

    /// The exporter's default for `--max-open-files`: twice a tree's default
    /// ([`rein::tree::DEFAULT_MAX_OPEN_FILES`], what `rein top` keeps). A service that
    /// Prometheus waits on every 15 s is where kept files pay: each 1,000 more saves ~5.5 ms
    /// of CPU a scrape over 1,000 groups and holds ~4.3 MiB of kernel memory
    /// (docs/TOP-AND-METRICS.md, docs/BENCHMARKS.md).
    const MAX_OPEN_FILES: usize = 2 * rein::tree::DEFAULT_MAX_OPEN_FILES;

    const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    fn header(name: &str, value: &str) -> Header {
        Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
    }

    pub fn serve(
        addr: SocketAddr,
        subtree: &GroupPath,
        all: bool,
        max_open_files: Option<usize>,
        hierarchy: &dyn Fn() -> anyhow::Result<Arc<Hierarchy>>,
    ) -> anyhow::Result<ExitCode> {
        let h = hierarchy()?;
        // Up to 4 threads read the groups: a scrape's time is kernel time per file, and
        // Prometheus waits for it (the CPU it costs is the same).
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let max_open_files = Some(max_open_files.unwrap_or(MAX_OPEN_FILES));
        let mut tree = crate::cmd::sampling::open_tree(h, subtree, all, threads, max_open_files)?;
        let fields = metrics::fields();
        // The first reading opens every file; do it before the first scrape waits for it.
        let warm = tree.sample_with(&|_| Read::Fields(fields));
        let server = Server::http(addr).map_err(|e| {
            let hint = match e.downcast_ref::<std::io::Error>().map(|e| e.kind()) {
                Some(std::io::ErrorKind::AddrInUse) => "; another process listens there: pick another port",
                Some(std::io::ErrorKind::AddrNotAvailable) => "; no interface of this machine has that address",
                Some(std::io::ErrorKind::PermissionDenied) => "; ports below 1024 need CAP_NET_BIND_SERVICE",
                _ => "",
            };
            anyhow::anyhow!("cannot listen on {addr}: {e}{hint}")
        })?;
        let bound = server.server_addr().to_ip().context("the server has no IP address")?;
        if !bound.ip().is_loopback() {
            eoutln!(
                "rein: warning: serving on {bound}, not loopback: anyone who can reach it reads every group's \
                 name and usage (no TLS, no authentication)"
            );
        }
        let scope = if tree.scope() == Scope::All { "every group" } else { "rein's groups" };
        eoutln!(
            "rein exporter: listening on http://{bound}/metrics ({scope} under {}: {} now, read in {:.1} ms, \
             {} files kept open)",
            tree.subtree(),
            warm.groups.len(),
            warm.took.as_secs_f64() * 1e3,
            warm.open_files
        );
        for request in server.incoming_requests() {
            let path = request.url().split('?').next().unwrap_or("").to_string();
            let method = request.method().clone();
            let response = match (&method, path.as_str()) {
                (Method::Get | Method::Head, "/metrics") => {
                    let body = scrape(&mut tree, fields);
                    Response::from_string(body).with_header(header("Content-Type", OPENMETRICS))
                }
                (Method::Get | Method::Head, "/healthz") => health(&tree),
                (Method::Get | Method::Head, "/") => Response::from_string(
                    "rein exporter\n/metrics  OpenMetrics text of the groups' accounting\n/healthz  ok when the \
                     subtree can be read\n",
                )
                .with_header(header("Content-Type", "text/plain; charset=utf-8")),
                (Method::Get | Method::Head, _) => Response::from_string("not found: try /metrics or /healthz\n")
                    .with_status_code(404)
                    .with_header(header("Content-Type", "text/plain; charset=utf-8")),
                _ => Response::from_string("only GET and HEAD\n")
                    .with_status_code(405)
                    .with_header(header("Allow", "GET, HEAD")),
            };
            // A client that went away is its own problem.
            let _ = request.respond(response);
        }
        Ok(ExitCode::SUCCESS)
    }

    /// One scrape: read every group once, encode.
    fn scrape(tree: &mut Tree, fields: Fields) -> String {
        let started = Instant::now();
        let snap: Snapshot = tree.sample_with(&|_| Read::Fields(fields));
        metrics::encode(&snap, tree.hierarchy(), started.elapsed())
    }

    /// 200 while the subtree's root can still be read, 503 once it is gone.
    fn health(tree: &Tree) -> Response<std::io::Cursor<Vec<u8>>> {
        let h = tree.hierarchy();
        let root = tree.subtree();
        let mut mounts = h.v1_mounts().iter().map(|m| &m.mount).chain(h.unified().map(|u| &u.mount));
        let text = |s: &str| Response::from_string(s).with_header(header("Content-Type", "text/plain; charset=utf-8"));
        if mounts.any(|m| m.exists(root)) {
            text("ok\n")
        } else {
            text(&format!("group {root} is gone\n")).with_status_code(503)
        }
    }
}

#[cfg(feature = "exporter")]
pub mod metrics {
    //! The metric families: names, help, units, types, and how each comes from [`Stats`].

    use std::borrow::Cow;
    use std::time::Duration;

    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
    use prometheus_client::metrics::MetricType;
    use prometheus_client::metrics::info::Info;
    use prometheus_client::registry::{Registry, Unit};
    use rein::stats::{Field, Fields};
    use rein::tree::Snapshot;
    use rein::units::Limit;
    use rein::{Hierarchy, Stats};

    /// The figures the metric families are made of: a scrape reads the files that feed
    /// them, no more (it costs a read per file).
    pub fn fields() -> Fields {
        families().iter().fold(Fields::NONE, |f, fam| f | fam.reads)
    }

    /// A sample value: counts stay integers, seconds are fractional.
    #[derive(Debug, Clone, Copy)]
    enum Value {
        Count(u64),
        Real(f64),
    }

    fn secs(usec: u64) -> Value {
        Value::Real(usec as f64 / 1e6)
    }

    /// Extra label of a family beside `group` (a borrowed value where it is a constant:
    /// a scrape writes some 20,000 series, and allocates per group, not per series).
    type Extra = Option<(&'static str, Cow<'static, str>)>;

    /// One metric family: name (without unit and `_total`), help, unit, type, the figures
    /// it is made of, values.
    struct Family {
        name: &'static str,
        help: &'static str,
        unit: Option<Unit>,
        counter: bool,
        reads: Fields,
        values: fn(&Stats, &mut Vec<(Extra, Value)>),
    }

    fn one(out: &mut Vec<(Extra, Value)>, v: Option<Value>) {
        if let Some(v) = v {
            out.push((None, v));
        }
    }

    fn limit(l: Option<Limit<u64>>) -> Option<Value> {
        l.and_then(|l| l.value().copied()).map(Value::Count)
    }

    /// Every family, in output order. A limit is absent when there is none ("max").
    fn families() -> Vec<Family> {
        use Value::Count;
        vec![
            Family {
                name: "rein_cpu_usage",
                help: "CPU time used by the group's tasks (cpu.stat usage_usec; v1 cpuacct.usage).",
                unit: Some(Unit::Seconds),
                counter: true,
                reads: Field::CpuUsage.into(),
                values: |s, o| one(o, s.cpu.usage_usec.map(secs)),
            },
            Family {
                name: "rein_cpu_user",
                help: "CPU time in user mode (cpu.stat user_usec; v1 cpuacct.usage_all or usage_user).",
                unit: Some(Unit::Seconds),
                counter: true,
                reads: Field::CpuUser.into(),
                values: |s, o| one(o, s.cpu.user_usec.map(secs)),
            },
            Family {
                name: "rein_cpu_system",
                help: "CPU time in kernel mode (cpu.stat system_usec; v1 cpuacct.usage_all or usage_sys).",
                unit: Some(Unit::Seconds),
                counter: true,
                reads: Field::CpuSystem.into(),
                values: |s, o| one(o, s.cpu.system_usec.map(secs)),
            },
            Family {
                name: "rein_cpu_periods",
                help: "CPU bandwidth enforcement periods that elapsed (cpu.stat nr_periods).",
                unit: None,
                counter: true,
                reads: Field::CpuPeriods.into(),
                values: |s, o| one(o, s.cpu.nr_periods.map(Count)),
            },
            Family {
                name: "rein_cpu_throttled_periods",
                help: "Periods in which the group was throttled by its CPU limit (cpu.stat nr_throttled).",
                unit: None,
                counter: true,
                reads: Field::CpuThrottledPeriods.into(),
                values: |s, o| one(o, s.cpu.nr_throttled.map(Count)),
            },
            Family {
                name: "rein_cpu_throttled",
                help: "Time the group was throttled by its CPU limit (cpu.stat throttled_usec).",
                unit: Some(Unit::Seconds),
                counter: true,
                reads: Field::CpuThrottledTime.into(),
                values: |s, o| one(o, s.cpu.throttled_usec.map(secs)),
            },
            Family {
                name: "rein_cpu_max_quota",
                help: "CPU time allowed per period (cpu.max; v1 cpu.cfs_quota_us); absent without a limit.",
                unit: Some(Unit::Seconds),
                counter: false,
                reads: Field::CpuMax.into(),
                values: |s, o| one(o, s.cpu.max.and_then(|m| m.quota_usec.value().copied()).map(secs)),
            },
            Family {
                name: "rein_cpu_max_period",
                help: "CPU bandwidth period (cpu.max; v1 cpu.cfs_period_us); absent without a limit.",
                unit: Some(Unit::Seconds),
                counter: false,
                reads: Field::CpuMax.into(),
                values: |s, o| {
                    one(o, s.cpu.max.filter(|m| m.quota_usec.value().is_some()).map(|m| secs(m.period_usec)));
                },
            },
            Family {
                name: "rein_memory_current",
                help: "Memory in use by the group and below (memory.current; v1 memory.usage_in_bytes).",
                unit: Some(Unit::Bytes),
                counter: false,
                reads: Field::MemoryCurrent.into(),
                values: |s, o| one(o, s.memory.and_then(|m| m.current).map(Count)),
            },
            Family {
                name: "rein_memory_peak",
                help: "Highest memory use seen (memory.peak; v1 memory.max_usage_in_bytes).",
                unit: Some(Unit::Bytes),
                counter: false,
                reads: Field::MemoryPeak.into(),
                values: |s, o| one(o, s.memory.and_then(|m| m.peak).map(Count)),
            },
            Family {
                name: "rein_memory_max",
                help: "Hard memory limit (memory.max; v1 memory.limit_in_bytes); absent without a limit.",
                unit: Some(Unit::Bytes),
                counter: false,
                reads: Field::MemoryMax.into(),
                values: |s, o| one(o, limit(s.memory.and_then(|m| m.max))),
            },
            Family {
                name: "rein_memory_high",
                help: "Memory throttle limit (memory.high); absent without a limit.",
                unit: Some(Unit::Bytes),
                counter: false,
                reads: Field::MemoryHigh.into(),
                values: |s, o| one(o, limit(s.memory.and_then(|m| m.high))),
            },
            Family {
                name: "rein_memory_swap_current",
                help: "Swap in use (memory.swap.current; v1 memsw.usage_in_bytes - usage_in_bytes).",
                unit: Some(Unit::Bytes),
                counter: false,
                reads: Field::MemorySwapCurrent.into(),
                values: |s, o| one(o, s.memory.and_then(|m| m.swap_current).map(Count)),
            },
            Family {
                name: "rein_memory_swap_max",
                help: "Swap limit (memory.swap.max; v1 memsw.limit_in_bytes - limit_in_bytes); absent without a limit.",
                unit: Some(Unit::Bytes),
                counter: false,
                reads: Field::MemorySwapMax.into(),
                values: |s, o| one(o, limit(s.memory.and_then(|m| m.swap_max))),
            },
            Family {
                name: "rein_memory_oom",
                help: "Times the group's memory use reached its limit and the OOM path ran (memory.events oom).",
                unit: None,
                counter: true,
                reads: Field::MemoryOom.into(),
                values: |s, o| one(o, s.memory.and_then(|m| m.oom).map(Count)),
            },
            Family {
                name: "rein_memory_oom_kill",
                help: "Processes the OOM killer killed in the group (memory.events oom_kill; v1 memory.oom_control).",
                unit: None,
                counter: true,
                reads: Field::MemoryOomKill.into(),
                values: |s, o| one(o, s.memory.and_then(|m| m.oom_kill).map(Count)),
            },
            Family {
                name: "rein_memory_max_events",
                help: "Times memory use was about to go over the hard limit (memory.events max; v1 memory.failcnt plus memory.memsw.failcnt).",
                unit: None,
                counter: true,
                reads: Field::MemoryMaxEvents.into(),
                values: |s, o| one(o, s.memory.and_then(|m| m.max_events).map(Count)),
            },
            Family {
                name: "rein_memory_high_events",
                help: "Times memory use went over memory.high and was throttled (memory.events high).",
                unit: None,
                counter: true,
                reads: Field::MemoryHighEvents.into(),
                values: |s, o| one(o, s.memory.and_then(|m| m.high_events).map(Count)),
            },
            Family {
                name: "rein_pids_current",
                help: "Tasks in the group and below (pids.current).",
                unit: None,
                counter: false,
                reads: Field::PidsCurrent.into(),
                values: |s, o| one(o, s.pids.and_then(|p| p.current).map(Count)),
            },
            Family {
                name: "rein_pids_peak",
                help: "Highest number of tasks seen (pids.peak).",
                unit: None,
                counter: false,
                reads: Field::PidsPeak.into(),
                values: |s, o| one(o, s.pids.and_then(|p| p.peak).map(Count)),
            },
            Family {
                name: "rein_pids_max",
                help: "Task limit (pids.max); absent without a limit.",
                unit: None,
                counter: false,
                reads: Field::PidsMax.into(),
                values: |s, o| one(o, limit(s.pids.and_then(|p| p.max))),
            },
            Family {
                name: "rein_pids_max_events",
                help: "Forks refused because of the task limit (pids.events max).",
                unit: None,
                counter: true,
                reads: Field::PidsMaxEvents.into(),
                values: |s, o| one(o, s.pids.and_then(|p| p.max_events).map(Count)),
            },
            Family {
                name: "rein_io_read",
                help: "Bytes read from a block device (io.stat rbytes; v1 blkio.throttle.io_service_bytes_recursive).",
                unit: Some(Unit::Bytes),
                counter: true,
                reads: Field::Io.into(),
                values: |s, o| io(s, o, |d| d.rbytes),
            },
            Family {
                name: "rein_io_written",
                help: "Bytes written to a block device (io.stat wbytes; v1 blkio.throttle.io_service_bytes_recursive).",
                unit: Some(Unit::Bytes),
                counter: true,
                reads: Field::Io.into(),
                values: |s, o| io(s, o, |d| d.wbytes),
            },
            Family {
                name: "rein_io_reads",
                help: "Read operations on a block device (io.stat rios; v1 blkio.throttle.io_serviced_recursive).",
                unit: None,
                counter: true,
                reads: Field::Io.into(),
                values: |s, o| io(s, o, |d| d.rios),
            },
            Family {
                name: "rein_io_writes",
                help: "Write operations on a block device (io.stat wios; v1 blkio.throttle.io_serviced_recursive).",
                unit: None,
                counter: true,
                reads: Field::Io.into(),
                values: |s, o| io(s, o, |d| d.wios),
            },
            Family {
                name: "rein_network_receive",
                help: "Bytes the group's sockets received, IP headers included (rein's network programs; groups with a network setting).",
                unit: Some(Unit::Bytes),
                counter: true,
                reads: Field::Network.into(),
                values: |s, o| one(o, s.network.map(|n| Count(n.rx_bytes))),
            },
            Family {
                name: "rein_network_transmit",
                help: "Bytes the group's sockets sent, IP headers included (rein's network programs).",
                unit: Some(Unit::Bytes),
                counter: true,
                reads: Field::Network.into(),
                values: |s, o| one(o, s.network.map(|n| Count(n.tx_bytes))),
            },
            Family {
                name: "rein_network_receive_packets",
                help: "Packets the group's sockets received (a GRO packet counts once).",
                unit: None,
                counter: true,
                reads: Field::Network.into(),
                values: |s, o| one(o, s.network.map(|n| Count(n.rx_packets))),
            },
            Family {
                name: "rein_network_transmit_packets",
                help: "Packets the group's sockets sent (a GSO packet counts once).",
                unit: None,
                counter: true,
                reads: Field::Network.into(),
                values: |s, o| one(o, s.network.map(|n| Count(n.tx_packets))),
            },
            Family {
                name: "rein_network_dropped_packets",
                help: "Packets dropped for being over the group's rate (--net-egress, --net-ingress).",
                unit: None,
                counter: true,
                reads: Field::Network.into(),
                values: |s, o| {
                    if let Some(n) = s.network {
                        o.push((Some(("direction", Cow::Borrowed("egress"))), Count(n.tx_dropped)));
                        o.push((Some(("direction", Cow::Borrowed("ingress"))), Count(n.rx_dropped)));
                    }
                },
            },
            Family {
                name: "rein_pressure_some",
                help: "Time some of the group's tasks stalled on a resource (cpu/memory/io.pressure some total).",
                unit: Some(Unit::Seconds),
                counter: true,
                reads: Fields::of(&[Field::PressureCpu, Field::PressureMemory, Field::PressureIo]),
                values: |s, o| pressure(s, o, false),
            },
            Family {
                name: "rein_pressure_full",
                help: "Time all non-idle tasks of the group stalled on a resource at once (*.pressure full total).",
                unit: Some(Unit::Seconds),
                counter: true,
                reads: Fields::of(&[Field::PressureCpu, Field::PressureMemory, Field::PressureIo]),
                values: |s, o| pressure(s, o, true),
            },
            Family {
                name: "rein_policy_actions",
                help: "Actions a policy enforcer took on the group (rein run's policies, rein supervise): term, kill, freeze, thaw, throttle, restore, notify.",
                unit: None,
                counter: true,
                reads: Field::PolicyActions.into(),
                values: |s, o| {
                    for (action, n) in s.policy_actions.iter().flatten() {
                        o.push((Some(("action", Cow::Owned(action.clone()))), Count(*n)));
                    }
                },
            },
            Family {
                name: "rein_populated",
                help: "1 while a process is in the group or below (cgroup.events populated).",
                unit: None,
                counter: false,
                reads: Field::Populated.into(),
                values: |s, o| one(o, s.populated.map(|p| Count(p as u64))),
            },
            Family {
                name: "rein_frozen",
                help: "1 while the group is frozen (cgroup.events frozen; v1 freezer.state).",
                unit: None,
                counter: false,
                reads: Field::Frozen.into(),
                values: |s, o| one(o, s.frozen.map(|f| Count(f as u64))),
            },
        ]
    }

    fn io(s: &Stats, o: &mut Vec<(Extra, Value)>, f: fn(&rein::stats::IoDeviceStats) -> Option<u64>) {
        for d in s.io.iter().flatten() {
            if let Some(v) = f(d) {
                o.push((Some(("device", Cow::Owned(d.device.to_string()))), Value::Count(v)));
            }
        }
    }

    fn pressure(s: &Stats, o: &mut Vec<(Extra, Value)>, full: bool) {
        let Some(p) = s.pressure else { return };
        for (resource, r) in [("cpu", p.cpu), ("memory", p.memory), ("io", p.io)] {
            let line = r.and_then(|r| if full { r.full } else { Some(r.some) });
            if let Some(l) = line {
                o.push((Some(("resource", Cow::Borrowed(resource))), secs(l.total_usec)));
            }
        }
    }

    /// One scrape's worth of data, as a collector for a fresh registry.
    #[derive(Debug)]
    struct Scrape {
        groups: Vec<(String, Stats)>,
        took: Duration,
        open_files: usize,
        errors: usize,
        unnamed: usize,
        mode: String,
    }

    fn encode_value(
        enc: &mut prometheus_client::encoding::MetricEncoder<'_>,
        counter: bool,
        v: Value,
    ) -> Result<(), std::fmt::Error> {
        match (counter, v) {
            (true, Value::Count(n)) => enc.encode_counter::<NoLabelSet, _, u64>(&n, None),
            (true, Value::Real(x)) => enc.encode_counter::<NoLabelSet, _, u64>(&x, None),
            (false, Value::Count(n)) => enc.encode_gauge(&n),
            (false, Value::Real(x)) => enc.encode_gauge(&x),
        }
    }

    impl Collector for Scrape {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            let mut values = Vec::new();
            for fam in families() {
                // Families with no sample this scrape are left out.
                let mut samples: Vec<(&str, Extra, Value)> = Vec::new();
                for (path, stats) in &self.groups {
                    values.clear();
                    (fam.values)(stats, &mut values);
                    samples.extend(values.drain(..).map(|(extra, v)| (path.as_str(), extra, v)));
                }
                if samples.is_empty() {
                    continue;
                }
                let ty = if fam.counter { MetricType::Counter } else { MetricType::Gauge };
                let mut metric = encoder.encode_descriptor(fam.name, fam.help, fam.unit.as_ref(), ty)?;
                for (path, extra, v) in &samples {
                    let pair = [("group", *path), extra.as_ref().map_or(("", ""), |(k, v)| (*k, v.as_ref()))];
                    let labels: &[(&str, &str)] = if extra.is_some() { &pair } else { &pair[..1] };
                    let mut family = metric.encode_family(&labels)?;
                    encode_value(&mut family, fam.counter, *v)?;
                }
            }
            let meta: [(&str, &str, Option<Unit>, Value); 5] = [
                ("rein_exporter_groups", "Groups read in this scrape.", None, Value::Count(self.groups.len() as u64)),
                (
                    "rein_exporter_read_duration",
                    "Time this scrape spent reading the groups' interface files.",
                    Some(Unit::Seconds),
                    Value::Real(self.took.as_secs_f64()),
                ),
                (
                    "rein_exporter_open_files",
                    "Interface files kept open between scrapes.",
                    None,
                    Value::Count(self.open_files as u64),
                ),
                (
                    "rein_exporter_unreadable_groups",
                    "Groups whose interface files could not be parsed in this scrape.",
                    None,
                    Value::Count(self.errors as u64),
                ),
                (
                    "rein_exporter_unnamed_groups",
                    "Directories left out because rein cannot name them.",
                    None,
                    Value::Count(self.unnamed as u64),
                ),
            ];
            for (name, help, unit, v) in meta {
                let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
                encode_value(&mut metric, false, v)?;
            }
            let info = Info::new(vec![("version", env!("CARGO_PKG_VERSION").to_string()), ("mode", self.mode.clone())]);
            let metric = encoder.encode_descriptor(
                "rein_exporter",
                "The exporter and the host's cgroup mode.",
                None,
                info.metric_type(),
            )?;
            info.encode(metric)?;
            Ok(())
        }
    }

    /// The OpenMetrics text of a snapshot.
    pub fn encode(snap: &Snapshot, h: &Hierarchy, took: Duration) -> String {
        let scrape = Scrape {
            groups: snap.groups.iter().map(|g| (g.path.to_string(), g.stats.clone())).collect(),
            took,
            open_files: snap.open_files,
            errors: snap.errors.len(),
            unnamed: snap.unnamed,
            mode: h.mode().to_string(),
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }

    #[cfg(test)]
    mod tests {
        /// The interface files a scrape reads (cgroup2, v1), as the exporter read them when
        /// it still named them itself: what a tree keeps open, and so what
        /// `--max-open-files` bounds, follows from these lists. Order is free.
        const FILES: (&[&str], &[&str]) = (
            &[
                "cpu.stat",
                "cpu.max",
                "cgroup.events",
                "cpu.pressure",
                "memory.pressure",
                "io.pressure",
                "memory.current",
                "memory.peak",
                "memory.max",
                "memory.high",
                "memory.swap.current",
                "memory.swap.max",
                "memory.events",
                "pids.current",
                "pids.peak",
                "pids.max",
                "pids.events",
                "io.stat",
            ],
            &[
                "cpuacct.usage",
                "cpuacct.usage_all",
                "cpuacct.usage_user",
                "cpuacct.usage_sys",
                "cpu.stat",
                "cpu.cfs_quota_us",
                "cpu.cfs_period_us",
                "memory.usage_in_bytes",
                "memory.max_usage_in_bytes",
                "memory.limit_in_bytes",
                "memory.memsw.limit_in_bytes",
                "memory.memsw.usage_in_bytes",
                "memory.failcnt",
                "memory.memsw.failcnt",
                "memory.oom_control",
                "pids.current",
                "pids.peak",
                "pids.max",
                "pids.events",
                "blkio.throttle.io_service_bytes_recursive",
                "blkio.throttle.io_serviced_recursive",
                "freezer.state",
            ],
        );

        fn sorted(files: &[&str]) -> Vec<String> {
            let mut v: Vec<String> = files.iter().map(|f| f.to_string()).collect();
            v.sort();
            v.dedup();
            v
        }

        #[test]
        fn a_scrape_reads_the_files_it_always_read() {
            use rein::backend::{Version, stat_files};
            let f = super::fields();
            assert_eq!(
                (sorted(&stat_files(Version::V2, f)), sorted(&stat_files(Version::V1, f))),
                (sorted(FILES.0), sorted(FILES.1))
            );
        }
    }
}
