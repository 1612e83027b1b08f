//! `rein plot`: a recorded run as a picture.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::PlotArgs;
use crate::plot;

pub fn plot(args: &PlotArgs) -> anyhow::Result<ExitCode> {
    let format = plot::Format::from_path(&args.output)?;
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| rein::Error::invalid("recording", args.file.display().to_string(), e.to_string()))?;
    let rec =
        plot::Recording::parse(&text).with_context(|| format!("reading the recording {}", args.file.display()))?;
    let bytes = plot::render(&rec, format)?;
    // Written whole, then renamed: no half-written picture is left behind.
    let dir = args.output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let tmp = tempfile_in(dir, &bytes).with_context(|| format!("cannot write {}", args.output.display()))?;
    std::fs::rename(&tmp, &args.output).with_context(|| format!("cannot write {}", args.output.display()))?;
    eoutln!(
        "rein: wrote {} ({} samples over {}, {} OOM kills)",
        args.output.display(),
        rec.samples.len(),
        rein::units::human_usec(rec.duration_usec()),
        rec.kills().len()
    );
    Ok(ExitCode::SUCCESS)
}

fn tempfile_in(dir: &std::path::Path, bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write;
    let path = dir.join(format!(".rein-plot-{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    if let Err(e) = f.write_all(bytes).and_then(|_| f.sync_all()) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}
