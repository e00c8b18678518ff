//! The files the CLI writes: `--out` checked before any work is done
//! (a missing directory, a directory where a file is expected, one that
//! is not writable), and written whole or not at all with the user's
//! usual permissions.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// What `--out` must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    /// One file: its directory must exist and be writable.
    File,
    /// A directory of parts and their manifest: created if missing, in a
    /// directory that exists.
    Directory,
}

/// Checks `out` before anything is created on a server: each refusal
/// says which path, what was expected and what was found.
pub fn check_out(out: &Path, kind: OutKind) -> anyhow::Result<()> {
    match kind {
        OutKind::File => {
            anyhow::ensure!(
                !out.is_dir(),
                "--out {} is a directory; expected a file path, like {}",
                out.display(),
                out.join("export.csv").display()
            );
            writable_dir(&parent_dir(out), out)
        }
        OutKind::Directory => {
            if out.exists() {
                anyhow::ensure!(
                    out.is_dir(),
                    "--out {} is a file; an export in parts needs a directory (it writes the parts and a manifest there)",
                    out.display()
                );
                writable_dir(out, out)
            } else {
                writable_dir(&parent_dir(out), out)
            }
        }
    }
}

/// `dir` exists, is a directory, and takes a new file (tried, not
/// guessed from mode bits: ACLs, read-only mounts and root all differ).
fn writable_dir(dir: &Path, out: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        dir.exists(),
        "--out {}: the directory {} does not exist; create it first or choose another path",
        out.display(),
        dir.display()
    );
    anyhow::ensure!(
        dir.is_dir(),
        "--out {}: {} is not a directory",
        out.display(),
        dir.display()
    );
    tempfile::Builder::new()
        .prefix(".exporter-check-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            anyhow::anyhow!(
                "--out {}: cannot write in {} ({}); choose a directory you can write to",
                out.display(),
                dir.display(),
                e.kind()
            )
        })
}

/// A temporary file in `out`'s directory, created with the user's usual
/// permissions (0666 less the umask) rather than tempfile's 0600, so the
/// file it becomes is like any other the user makes.
pub fn temp_file_beside(out: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = parent_dir(out);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".exporter-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))
}

/// The directory a file `out` lands in.
pub fn parent_dir(out: &Path) -> PathBuf {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_paths_are_checked_before_any_work() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        check_out(&dir.join("a.csv"), OutKind::File).unwrap();
        let message = check_out(dir, OutKind::File).unwrap_err().to_string();
        assert!(
            message.contains("is a directory; expected a file path"),
            "{message}"
        );
        let missing = dir.join("missing").join("a.csv");
        let message = check_out(&missing, OutKind::File).unwrap_err().to_string();
        assert!(message.contains("does not exist"), "{message}");
        std::fs::write(dir.join("file"), "x").unwrap();
        let message = check_out(&dir.join("file"), OutKind::Directory)
            .unwrap_err()
            .to_string();
        assert!(message.contains("is a file"), "{message}");
        check_out(&dir.join("parts"), OutKind::Directory).unwrap();
        assert!(!dir.join("parts").exists(), "checking creates nothing");
    }

    #[cfg(unix)]
    #[test]
    fn written_files_follow_the_umask_not_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let scratch = tempfile::tempdir().unwrap();
        let out = scratch.path().join("f.txt");
        let temp = temp_file_beside(&out).unwrap();
        temp.persist(&out).unwrap();
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        // Whatever the umask, group or others can read unless it forbids it;
        // 0600 is what tempfile makes on its own.
        // SAFETY: reading the umask by setting it and putting it back.
        let umask = unsafe {
            let old = libc::umask(0o022);
            libc::umask(old);
            old
        } as u32;
        assert_eq!(mode, 0o666 & !umask, "mode {mode:o}, umask {umask:o}");
    }
}
