//! How rein ends: its own failure status, and how errors are printed.

/// rein's own failures.
pub const EXIT_FAILURE: u8 = 125;

/// 128 + N for a wait that signal N cut short (as if the signal had ended rein), else
/// [`EXIT_FAILURE`].
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<rein::Error>())
        .and_then(rein::Error::interrupted_by)
        .map_or(EXIT_FAILURE, |sig| (128 + sig).clamp(0, 255) as u8)
}

/// Whether the error is a reader that went away (`rein stat --watch 1s | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Prints `rein: error: ...` and, for rein's own errors, a hint line. The message is the
/// error's chain joined by ": " (anyhow's `{:#}`), an OS error in the same words on every
/// build of rein ([`rein::errno::Shown`]).
pub fn print_error(err: &anyhow::Error) {
    eoutln!("rein: error: {}", message(err));
    if let Some(hint) = err.chain().find_map(|e| e.downcast_ref::<rein::Error>()).and_then(rein::Error::hint) {
        eoutln!("rein: hint: {hint}");
    }
}

/// The error's chain joined by ": ", OS errors through [`rein::errno::Shown`].
pub fn message(err: &anyhow::Error) -> String {
    let parts: Vec<String> = err
        .chain()
        .map(|e| match e.downcast_ref::<std::io::Error>() {
            Some(io) => rein::errno::Shown(io).to_string(),
            None => e.to_string(),
        })
        .collect();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    #[test]
    fn message_is_the_chain_with_glibc_words() {
        let err = Err::<(), _>(std::io::Error::from_raw_os_error(libc::EBUSY)).context("cannot write x").unwrap_err();
        assert_eq!(super::message(&err), "cannot write x: Device or resource busy (os error 16)");
    }
}
