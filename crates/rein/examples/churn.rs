//! Group churn: create a group with a memory and a CPU limit, then remove it, N times.
//! Prints groups per second. Used by scripts/bench; needs root.
//!
//! ```sh
//! cargo run --release -p rein --example churn -- 10000
//! ```

use std::sync::Arc;
use std::time::Instant;

use rein::{Bytes, Group, GroupPath, Hierarchy, Resources, Spec};

fn main() -> rein::Result<()> {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let h = Arc::new(Hierarchy::detect()?);
    let parent = GroupPath::parse(&format!("rein-bench-churn-{}", std::process::id()))?;
    let spec = Spec { resources: Resources::new().memory_max(Bytes::mib(64)).cpu_percent(50.0)?, ..Spec::default() };
    // Warm up: the first create makes the parent and enables controllers.
    Group::create(h.clone(), &parent.join("warm")?, &spec)?.remove()?;
    let start = Instant::now();
    for i in 0..n {
        let g = Group::create(h.clone(), &parent.join(&format!("g{i}"))?, &spec)?;
        g.remove()?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{n} groups in {secs:.3}s: {:.0} groups/s", n as f64 / secs);
    // Remove the parent in every hierarchy.
    if let Ok(g) = Group::open(h, &parent) {
        g.remove()?;
    }
    Ok(())
}
