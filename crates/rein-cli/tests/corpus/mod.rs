//! The hostile-input corpus, shared by tests/hostile.rs (fake trees, every layout) and
//! the real-kernel suite (tests/kernel/reliability.rs): group names and paths, values
//! of every vocabulary, devices, CPU lists, usage errors. Each entry says what exit
//! status it must give and what the message must name.

#![allow(dead_code)]

use rein::testing::Layout;

/// One hostile input: the arguments, the exit status wanted, and text the error must
/// contain (what was wrong, in rein's words).
pub struct Case {
    pub args: Vec<String>,
    pub code: i32,
    pub needle: String,
    /// Only on these layouts (others: every layout).
    pub only: Option<&'static [Layout]>,
}

pub fn case(args: &[&str], code: i32, needle: &str) -> Case {
    Case { args: args.iter().map(|s| s.to_string()).collect(), code, needle: needle.into(), only: None }
}

pub fn owned(args: Vec<String>, code: i32, needle: &str) -> Case {
    Case { args, code, needle: needle.into(), only: None }
}

/// Names no command may accept, and what the refusal says.
pub fn hostile_names() -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = vec![
        ("..".into(), "'..'"),
        ("../etc".into(), "'..'"),
        ("a/../../b".into(), "'..'"),
        ("g/..".into(), "'..'"),
        ("./g".into(), "'.'"),
        ("a//b".into(), "empty path component"),
        ("/".into(), "empty name"),
        ("".into(), "empty name || no path after ':'"),
        ("/sys/fs/cgroup/g".into(), "not a filesystem path"),
        ("/proc/self".into(), "not a filesystem path"),
        (".hidden".into(), "must not start with '.'"),
        ("a\nb".into(), "control characters"),
        ("tab\there".into(), "control characters"),
        ("esc\x1b[31m".into(), "control characters"),
        ("ünïcode".into(), "'ü' not allowed"),
        ("名前".into(), "not allowed"),
        ("a b".into(), "' ' not allowed"),
        ("$(id)".into(), "'$' not allowed"),
        ("a;b".into(), "';' not allowed"),
        ("a\\b".into(), "not allowed"),
        ("*".into(), "'*' not allowed"),
        ("cgroup.procs".into(), "interface file"),
        ("memory.max".into(), "interface file"),
        ("g/cpu.weight".into(), "interface file"),
        ("irq.pressure".into(), "interface file"),
        ("dmem.max".into(), "interface file"),
        ("tasks".into(), "v1 interface file"),
        ("release_agent".into(), "v1 interface file"),
        ("notify_on_release".into(), "v1 interface file"),
        ("x".repeat(4096), "longer than 1024 bytes"),
        ("y".repeat(256), "longer than 255 bytes"),
    ];
    v.push((format!("{}/z", "d/".repeat(600)), "longer than 1024 bytes"));
    v
}

/// Every command that names a group, with the name in the right place.
pub fn name_commands(name: &str) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    vec![
        s(&["run", "--name", name, "--", "true"]),
        s(&["run", "--parent", name, "--", "true"]),
        s(&["run", "-g", name, "--", "true"]),
        s(&["create", name]),
        s(&["create", "-g", &format!("memory:{name}")]),
        s(&["set", name, "--memory", "1M"]),
        s(&["show", name]),
        s(&["exec", name, "--", "true"]),
        s(&["move", name, &std::process::id().to_string()]),
        s(&["freeze", name]),
        s(&["kill", name]),
        s(&["rm", name]),
        s(&["stat", name]),
        s(&["events", name]),
        s(&["ls", name]),
        s(&["gc", name]),
    ]
}

/// Values: every limit flag, the systemd and Docker vocabularies, raw writes.
pub fn hostile_values() -> Vec<Case> {
    vec![
        // sizes
        case(&["--memory", "-1"], 125, "negative"),
        case(&["--memory", "1e99"], 125, "'1e99'"),
        case(&["--memory", "NaN"], 125, "'NaN'"),
        case(&["--memory", "inf"], 125, "'inf'"),
        case(&["--memory", ""], 125, "empty"),
        case(&["--memory", "0"], 125, "0 would OOM-kill"),
        case(&["--memory", "100"], 125, "below one page"),
        case(&["--memory", "0.5K"], 125, "below one page"),
        case(&["--memory", "18446744073709551616"], 125, "too large"),
        case(&["--memory", "99999999999999999999G"], 125, "too large"),
        case(&["--memory", "16E"], 125, "'16E'"),
        case(&["--memory", "17179869184G"], 125, "too large"),
        case(&["--memory", "1M2K"], 125, "'1M2K'"),
        case(&["--memory", "1.5.5M"], 125, "'1.5.5M'"),
        case(&["--memory", "12 parsecs"], 125, "'12 parsecs'"),
        case(&["--memory", "0x100"], 125, "'0x100'"),
        case(&["--memory-high", "-5M"], 125, "negative"),
        case(&["--swap", "lots"], 125, "'lots'"),
        case(&["--memory-low", "1e3M"], 125, "'1e3M'"),
        // CPU bandwidth
        case(&["--cpu", "NaN%"], 125, "'NaN%'"),
        case(&["--cpu", "inf%"], 125, "'inf%'"),
        case(&["--cpu", "-20%"], 125, "'-20%'"),
        case(&["--cpu", "0%"], 125, "--cpu '0%'"),
        case(&["--cpu", "1e99%"], 125, "'1e99%'"),
        case(&["--cpu", "20"], 125, "percentage"),
        case(&["--cpu", "0.1%"], 125, "at least 1000us"),
        case(&["--cpu", "0/100000"], 125, "--cpu '0/100000'"),
        case(&["--cpu", "20000/999"], 125, "--cpu '20000/999'"),
        case(&["--cpu", "20000/99999999"], 125, "--cpu '20000/99999999'"),
        case(&["--cpu", "20%", "--cpu-period", "0"], 125, "--cpu-period"),
        case(&["--cpus", "-1"], 125, "--cpus '-1'"),
        case(&["--cpus", "NaN"], 125, "--cpus 'NaN'"),
        case(&["--cpus", "4096"], 125, "a number of CPUs is at most"),
        // weights
        case(&["--cpu-weight", "0"], 125, "between 1 and 10000"),
        case(&["--cpu-weight", "10001"], 125, "between 1 and 10000"),
        case(&["--cpu-weight", "-3"], 125, "--cpu-weight '-3'"),
        case(&["--cpu-weight", "1.5"], 125, "--cpu-weight '1.5'"),
        case(&["--cpu-shares", "1"], 125, "--cpu-shares '1'"),
        case(&["--io-weight", "0"], 125, "between 1 and 10000"),
        case(&["--io-weight", "99999999999999999999"], 125, "--io-weight"),
        // counts
        case(&["--pids", "-5"], 125, "--pids '-5'"),
        case(&["--pids", "99999999999999999999999"], 125, "too large"),
        case(&["--pids", "5.5"], 125, "--pids '5.5'"),
        // CPU and memory-node lists
        case(&["--cpuset", "3-1"], 125, "reversed"),
        case(&["--cpuset", "0-9"], 125, "not available"),
        case(&["--cpuset", "4294967295"], 125, "out of range"),
        case(&["--cpuset", "0-4294967295"], 125, "out of range"),
        case(&["--cpuset", "-1"], 125, "--cpuset"),
        case(&["--cpuset", "0-"], 125, "'0-'"),
        case(&["--cpuset", "a"], 125, "'a'"),
        case(&["--cpuset", ""], 125, "empty list"),
        case(&["--cpuset", ","], 125, "empty list"),
        case(&["--mems", "5"], 125, "not available"),
        case(&["--cpus", "1-0"], 125, "reversed"),
        // devices
        case(&["--io-max", "/nonexistent:wbps=1M"], 125, "/nonexistent"),
        case(&["--io-max", "/dev/null:wbps=1M"], 125, "character device"),
        case(&["--io-max", "/etc/hostname:wbps=1M"], 125, "not a device"),
        case(&["--io-max", "/dev:wbps=1M"], 125, "not a device"),
        case(&["--io-max", "4095:4095:wbps=1M"], 125, "no block device"),
        case(&["--io-max", "8:0:bogus=1"], 125, "bogus"),
        case(&["--io-max", "banana"], 125, "banana"),
        case(&["--io-max", "7:0:wbps=-1"], 125, "--io-max"),
        case(&["--device-write-bps", "/dev/null:1mb"], 125, "character device"),
        case(&["--device-read-iops", "/nonexistent:10"], 125, "/nonexistent"),
        // systemd properties
        case(&["-p", "MemoryMax=-1"], 125, "MemoryMax"),
        case(&["-p", "MemoryMax=1e99"], 125, "MemoryMax"),
        case(&["-p", "CPUQuota=abc"], 125, "CPUQuota"),
        case(&["-p", "CPUQuota=0%"], 125, "CPUQuota"),
        case(&["-p", "CPUWeight=0"], 125, "CPUWeight"),
        case(&["-p", "TasksMax=-1"], 125, "TasksMax"),
        case(&["-p", "AllowedCPUs=3-1"], 125, "reversed"),
        case(&["-p", "Bogus=1"], 125, "Bogus"),
        case(&["-p", "MemoryMax"], 125, "MemoryMax"),
        case(&["-p", "=5"], 125, "'=5'"),
        case(&["-p", "IOWriteBandwidthMax=/dev/null 5M"], 125, "character device"),
        // Docker flags
        case(&["--memory", "10m", "--memory-swap", "5m"], 125, "--memory-swap"),
        case(&["--memory-swap", "20m"], 125, "--memory-swap"),
        case(&["--cpu-quota", "-5"], 125, "--cpu-quota"),
        case(&["--blkio-weight", "5"], 125, "--blkio-weight"),
        case(&["--pids-limit", "abc"], 125, "--pids-limit"),
        // raw interface-file writes
        case(&["-r", "memory.max="], 125, "both parts"),
        case(&["-r", "=5"], 125, "both parts"),
        case(&["-r", "nothing"], 125, "NAME=VALUE"),
        case(&["-r", "bogus.file=1"], 125, "not a cgroup controller"),
        case(&["-r", "../x=1"], 125, "-r"),
        case(&["-r", "memory.max/../../cgroup.procs=1"], 125, "-r"),
        case(&["-r", "cgroup.procs=1"], 125, "rein move"),
        case(&["-r", "tasks=1"], 125, "rein move"),
        case(&["-r", "cgroup.threads=1"], 125, "rein move"),
        case(&["-r", "cgroup.kill=1"], 125, "rein kill"),
        case(&["-r", "cgroup.subtree_control=+memory"], 125, "-g CONTROLLERS:PATH"),
        case(&["-r", "release_agent=/tmp/x"], 125, "release_agent"),
        case(&["-r", "memory.current=5"], 125, "memory.current"),
        case(&["-r", "memory.max=1\n2"], 125, "control characters"),
        case(&["-r", "memory.max=1M", "--memory", "2M"], 125, "give each setting once"),
        case(&["-r", "memory.limit_in_bytes=100"], 125, "below one page"),
        case(&["-r", "memory.max=100"], 125, "below one page"),
    ]
}

pub fn usage_errors() -> Vec<Case> {
    vec![
        case(&["run"], 2, "COMMAND"),
        case(&["run", "--bogus", "--", "true"], 2, "--bogus"),
        case(&["run", "--memory"], 2, "--memory"),
        case(&["nonsense"], 2, "nonsense"),
        case(&["create"], 2, "NAME"),
        case(&["--driver", "bogus", "check"], 2, "bogus"),
        case(&["run", "--report=xml", "--", "true"], 2, "xml"),
    ]
}

/// Commands where values go: run (a new group under `parent`, or the default parent),
/// create (a new group `fresh`), set (an existing group `existing`).
pub fn with_values_in(values: &[String], parent: Option<&str>, fresh: &str, existing: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `rein run` has no -r (raw writes belong to named groups).
    let raw = values.first().is_some_and(|v| v == "-r");
    let mut run = vec!["run".to_string()];
    if let Some(p) = parent {
        run.extend(["--parent".to_string(), p.to_string()]);
    }
    for (head, tail) in [
        (run, vec!["--".to_string(), "true".to_string()]),
        (vec!["create".to_string(), fresh.to_string()], vec![]),
        (vec!["set".to_string(), existing.to_string()], vec![]),
    ] {
        if raw && head[0] == "run" {
            continue;
        }
        let mut a = head.clone();
        a.extend(values.iter().cloned());
        a.extend(tail);
        out.push(a);
    }
    out
}

/// [`with_values_in`] on a fake tree: groups `fresh` and `g` at the root.
pub fn with_values(values: &[String]) -> Vec<Vec<String>> {
    with_values_in(values, None, "fresh", "g")
}
