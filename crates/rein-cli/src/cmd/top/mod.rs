//! `rein top`: a live view of groups in the terminal, or one frame as text (`--once`).

mod model;
#[cfg(feature = "tui")]
mod tui;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use rein::Hierarchy;
use rein::tree::{Read, Scope, Tree};

use model::{History, View};

use crate::cli::top::TopArgs;
use crate::cmd::sampling;

/// Runs `rein top`.
pub fn top(args: &TopArgs, hierarchy: &dyn Fn() -> anyhow::Result<Arc<Hierarchy>>) -> anyhow::Result<ExitCode> {
    // Everything the user typed is checked before the host is touched.
    let subtree = sampling::subtree(args.subtree.as_deref(), "SUBTREE")?;
    let interval = sampling::duration(&args.interval, "--interval")?;
    let view = View {
        sort: args.sort,
        reverse: args.reverse,
        filter: args.filter.clone().unwrap_or_default(),
        tree: args.tree,
    };
    if !args.once {
        interactive_possible()?;
    }
    // One thread: a refresh reads a few files per group, and its cost is CPU time either way.
    let mut tree = sampling::open_tree(hierarchy()?, &subtree, args.all, 1, None)?;
    if args.once {
        return once(&mut tree, &view, interval);
    }
    #[cfg(feature = "tui")]
    {
        tui::run(tree, view, interval)?;
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "tui"))]
    unreachable!("interactive_possible() refuses without the tui feature")
}

/// The live view needs a terminal on stdin and stdout, and the `tui` feature.
fn interactive_possible() -> anyhow::Result<()> {
    if !cfg!(feature = "tui") {
        anyhow::bail!(
            "this rein was built without the live view (cargo feature 'tui'); use 'rein top --once' for text, \
             or rebuild with '--features tui'"
        );
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!("the live view needs a terminal; use 'rein top --once' to print one frame as text");
    }
    Ok(())
}

/// Text of where nothing was found, and what to try.
fn nothing_hint(tree: &Tree) -> String {
    match tree.scope() {
        Scope::Own => format!(
            "rein top: no groups of rein's at or under {} (rein's are /rein and groups rein marked); \
             --all shows every group",
            tree.subtree()
        ),
        Scope::All => format!("rein top: no groups at or under {}", tree.subtree()),
    }
}

/// `--once`: two readings `interval` apart (for rates), then one frame as text.
fn once(tree: &mut Tree, view: &View, interval: std::time::Duration) -> anyhow::Result<ExitCode> {
    let fields = model::all_fields();
    let mut history = History::default();
    let first = tree.sample_with(&|_| Read::Fields(fields));
    history.rows(&first, &|_| true);
    std::thread::sleep(interval);
    let snap = tree.sample_with(&|_| Read::Fields(fields));
    let rows = history.rows(&snap, &|_| true);
    // A reader that stopped early (`| head`) is not an error.
    use std::io::Write;
    match std::io::stdout().lock().write_all(model::text(&rows, view).as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    for (path, e) in &snap.errors {
        eoutln!("rein: warning: {path}: {e}");
    }
    if rows.is_empty() {
        eoutln!("{}", nothing_hint(tree));
    }
    Ok(ExitCode::SUCCESS)
}
