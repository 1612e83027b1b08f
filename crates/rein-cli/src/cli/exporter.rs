//! `rein exporter`'s arguments and help epilogue.

/// `rein exporter --help` epilogue.
pub const HELP: &str = "Serves /metrics (OpenMetrics text: rein_cpu_usage_seconds_total, \
rein_memory_current_bytes, ... with a group=\"/path\" label) and /healthz. A bare PORT listens on \
127.0.0.1 only; give an IP to listen elsewhere (there is no TLS and no authentication: anyone who can \
reach the port reads every group's name and usage).\n\n\
Examples:\n  rein exporter --listen 9949                    # 127.0.0.1:9949, rein's groups\n  \
rein exporter --listen 127.0.0.1:9949 --all    # every group\n  \
rein exporter --listen 9949 --subtree rein/web # one subtree\n\n\
Between scrapes the exporter keeps up to --max-open-files of the interface files it reads open (a \
read of an open file costs a tenth of open+read+close); each costs about 5.4 KiB of kernel memory: \
the default 8192 hold 35-44 MiB (all the files of ~400 groups on a hybrid host), all the files of 1,000 \
groups 85-105 MiB. \
A higher limit makes scrapes of many groups faster; 0 holds nothing between scrapes.";

/// `rein exporter`.
#[derive(clap::Args, Debug)]
pub struct ExporterArgs {
    /// Address to serve on: PORT (loopback, 127.0.0.1:PORT) or IP:PORT
    #[arg(short, long, value_name = "[IP:]PORT")]
    pub listen: String,

    /// Export this group and the groups below it (a path relative to the cgroup root)
    #[arg(long, value_name = "PATH")]
    pub subtree: Option<String>,

    /// Export every group, not only rein's (the `rein` parent and groups rein marked)
    #[arg(short, long)]
    pub all: bool,

    /// Keep at most N interface files open between scrapes (each costs about 5.4 KiB of
    /// kernel memory; files beyond are opened at each scrape, which is slower) [default: 8192,
    /// about 40 MiB]
    #[arg(long, value_name = "N")]
    pub max_open_files: Option<usize>,
}
