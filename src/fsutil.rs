//! File writes that never leave a half-written file behind: a temporary file
//! in the same folder, created with owner-only permissions, synced, then
//! renamed over the target.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `dir` (and its parents) if missing; a folder this tool creates is
/// readable by its owner only.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::io("creating the folder", dir, e))
}

/// Opens a new file with mode 0600 from the start (not chmod after), so no
/// other user can open it between creation and the permission change.
pub fn create_private_file(path: &Path, truncate_existing: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true);
    if truncate_existing {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Replaces `path` with `contents` atomically, creating the folder (0700) if
/// needed. On any failure the old file is untouched and the temporary file is
/// removed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    ensure_private_dir(parent_or_current(path))?;
    replace_file(path, contents)
}

/// Writes `contents` to `path` with mode 0600, replacing the file if it
/// exists. Used for files the user names (`--file`), which may be outside
/// any folder this tool owns, so a missing folder is an error.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    if !parent_or_current(path).is_dir() {
        return Err(Error::io(
            "writing",
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "the folder does not exist"),
        ));
    }
    replace_file(path, contents)
}

fn parent_or_current(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

fn replace_file(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = parent_or_current(path);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp_path = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));

    let result = (|| -> std::io::Result<()> {
        let mut file = create_private_file(&temp_path, false)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp_path, path)?;
        // Sync the folder so the rename itself survives a crash.
        #[cfg(unix)]
        if let Ok(dir_handle) = File::open(dir) {
            let _ = dir_handle.sync_all();
        }
        Ok(())
    })();

    if let Err(e) = result {
        let _ = fs::remove_file(&temp_path);
        return Err(Error::io("writing", path, e));
    }
    Ok(())
}

/// Warns on stderr when `path` (the config folder or a file in it) can be
/// read or written by other users, as ssh does for its keys. Returns whether
/// it warned.
pub fn warn_if_exposed(path: &Path, expected_mode: u32) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(metadata) = fs::metadata(path) else {
            return false;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            crate::ui::warn(&format!(
                "{} is accessible by other users (mode {mode:o}); restrict it with `chmod \
                 {expected_mode:o} '{}'`",
                path.display(),
                path.display()
            ));
            return true;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, expected_mode);
    false
}
