//! Choosing the driver: `--driver`, `--user`, and what the host offers.

use std::sync::Arc;

use rein::Hierarchy;
use rein_systemd::{Bounds, Decision, Facts, Instance, Requested, ScopeOptions, Systemd};

use crate::cli::DriverArg;

/// What the command line says about drivers.
#[derive(Debug, Clone, Copy)]
pub struct DriverOpts {
    /// `--driver`.
    pub driver: DriverArg,
    /// `--user`.
    pub user: bool,
    /// The tree is a fake one (`REIN_CGROUP_ROOT`).
    pub fake_tree: bool,
}

/// The driver a command will use, and why.
pub enum Chosen {
    /// rein writes cgroupfs.
    Cgroupfs {
        /// Why (for `rein check`).
        reason: String,
    },
    /// systemd, connected.
    Systemd {
        /// The driver.
        sd: Box<Systemd>,
        /// Why.
        reason: String,
    },
}

/// Applies the policy ([`rein_systemd::decide`]) and, for systemd, connects to its bus
/// with `bounds` for every wait on it. Under `auto` (and without `--user`) a bus that does
/// not answer means cgroupfs; an interrupted wait means the end.
pub fn choose(opts: DriverOpts, h: &Arc<Hierarchy>, scope: ScopeOptions, bounds: Bounds) -> anyhow::Result<Chosen> {
    let requested = match opts.driver {
        DriverArg::Auto => Requested::Auto,
        DriverArg::Systemd => Requested::Systemd,
        DriverArg::Cgroupfs => Requested::Cgroupfs,
    };
    let facts =
        Facts { booted: rein_systemd::systemd_booted(), mode: h.mode(), fake_tree: opts.fake_tree, user: opts.user };
    match rein_systemd::decide(requested, facts)? {
        Decision::Cgroupfs(reason) => Ok(Chosen::Cgroupfs { reason }),
        Decision::Systemd(reason) => {
            let instance = if opts.user { Instance::User } else { Instance::System };
            match Systemd::connect_with(instance, h.clone(), scope, bounds) {
                Ok(sd) => {
                    let reason = format!("{reason}; systemd {} answers on the {} bus", sd.version(), instance.as_str());
                    Ok(Chosen::Systemd { sd: Box::new(sd), reason })
                }
                Err(e)
                    if requested == Requested::Auto && !opts.user && !matches!(e, rein::Error::Interrupted { .. }) =>
                {
                    Ok(Chosen::Cgroupfs { reason: format!("auto: systemd is PID 1 but its bus does not answer ({e})") })
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
