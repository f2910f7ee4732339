//! Spawning and supervising one `nats-server` process.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{TestkitError, http, resolve_nats_server_binary};

/// Environment variable: when set (to anything non-empty), the server's temporary directory
/// (config, log, store) is kept on drop and its path is logged, for debugging.
const KEEP_ENV: &str = "NATSAPI_TESTKIT_KEEP";

const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_MEM_STORE: u64 = 256 * 1024 * 1024;
const DEFAULT_MAX_FILE_STORE: u64 = 10 * 1024 * 1024 * 1024;
const LOG_TAIL_LINES: usize = 40;

/// Options for a [`NatsServer`]; create with [`NatsServer::builder`], finish with
/// [`NatsServerBuilder::start`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .start() is called"]
pub struct NatsServerBuilder {
    jetstream: bool,
    port: Option<u16>,
    host: String,
    store_dir: Option<PathBuf>,
    max_payload: Option<usize>,
    max_mem_store: u64,
    max_file_store: u64,
    binary: Option<PathBuf>,
    startup_timeout: Duration,
    config_lines: Vec<String>,
    config_files: Vec<PathBuf>,
}

impl Default for NatsServerBuilder {
    fn default() -> Self {
        Self {
            jetstream: true,
            port: None,
            host: "127.0.0.1".to_owned(),
            store_dir: None,
            max_payload: None,
            max_mem_store: DEFAULT_MAX_MEM_STORE,
            max_file_store: DEFAULT_MAX_FILE_STORE,
            binary: None,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            config_lines: Vec::new(),
            config_files: Vec::new(),
        }
    }
}

impl NatsServerBuilder {
    /// Enables or disables JetStream (default: enabled).
    pub fn jetstream(mut self, enabled: bool) -> Self {
        self.jetstream = enabled;
        self
    }

    /// Listens for clients on this port (default: a random free port chosen by the server).
    /// Port `0` means random as well.
    pub fn port(mut self, port: u16) -> Self {
        self.port = (port != 0).then_some(port);
        self
    }

    /// Listens for clients on this host (default `127.0.0.1`).
    pub fn host(mut self, host: &str) -> Self {
        host.clone_into(&mut self.host);
        self
    }

    /// Keeps the JetStream store in this directory (created if missing, never deleted) instead of
    /// a temporary directory owned by the server object.
    pub fn store_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store_dir = Some(dir.into());
        self
    }

    /// Sets the server's `max_payload` in bytes (server default: 1 MiB).
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// Sets JetStream's `max_mem_store` in bytes (default 256 MiB).
    pub fn max_mem_store(mut self, bytes: u64) -> Self {
        self.max_mem_store = bytes;
        self
    }

    /// Sets JetStream's `max_file_store` in bytes (default 10 GiB).
    pub fn max_file_store(mut self, bytes: u64) -> Self {
        self.max_file_store = bytes;
        self
    }

    /// Runs this binary instead of the one found by [`crate::nats_server_binary`].
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// How long [`start`](Self::start) and [`NatsServer::restart`] wait for readiness
    /// (default 10 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Appends a raw line to the generated server config (e.g. `"debug: true"`).
    pub fn config_line(mut self, line: impl Into<String>) -> Self {
        self.config_lines.push(line.into());
        self
    }

    /// Appends the content of a nats-server configuration file to the generated config (read by
    /// [`start`](Self::start)), e.g. the accounts and permissions a deployment uses. It must not
    /// set what the generated part sets (`listen`, `http`, `ports_file_dir`, `jetstream`).
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_files.push(path.into());
        self
    }

    /// Starts the server and waits until it is ready (its monitoring endpoint's `/healthz`
    /// answers 200, with `?js-enabled-only=true` when JetStream is on).
    pub fn start(mut self) -> Result<NatsServer, TestkitError> {
        for path in std::mem::take(&mut self.config_files) {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| TestkitError::io(format!("reading {}", path.display()), e))?;
            self.config_lines.push(text);
        }
        let binary = match &self.binary {
            Some(path) => resolve_nats_server_binary(Some(path))?,
            None => crate::nats_server_binary()?,
        };
        let dir = tempfile::Builder::new()
            .prefix("natsapi-nats-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temporary directory", e))?;
        let store_dir = match &self.store_dir {
            Some(dir) => dir.clone(),
            None => dir.path().join("jetstream"),
        };
        if self.jetstream {
            std::fs::create_dir_all(&store_dir).map_err(|e| {
                TestkitError::io(format!("creating store dir {}", store_dir.display()), e)
            })?;
        }
        let ports_dir = dir.path().join("ports");
        std::fs::create_dir_all(&ports_dir)
            .map_err(|e| TestkitError::io(format!("creating {}", ports_dir.display()), e))?;

        let requested_port = self.port;
        let mut server = NatsServer {
            options: self,
            binary,
            dir,
            store_dir,
            child: None,
            pid: 0,
            port: requested_port.unwrap_or(0),
            monitoring: String::new(),
        };
        server.launch(requested_port, false)?;
        Ok(server)
    }
}

/// A running `nats-server` child process. Killed (and its temporary directory removed) on drop.
#[derive(Debug)]
pub struct NatsServer {
    options: NatsServerBuilder,
    binary: PathBuf,
    dir: TempDir,
    store_dir: PathBuf,
    child: Option<Child>,
    pid: u32,
    port: u16,
    /// `host:port` of the HTTP monitoring endpoint.
    monitoring: String,
}

impl NatsServer {
    /// A builder with the defaults: JetStream on, random port on 127.0.0.1, temporary store.
    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder::default()
    }

    /// Starts a server with JetStream on a random port (same as `NatsServer::builder().start()`).
    pub fn start() -> Result<NatsServer, TestkitError> {
        Self::builder().start()
    }

    /// The client URL, e.g. `nats://127.0.0.1:41234`. A wildcard listen host (`0.0.0.0`, `::`)
    /// is replaced by the loopback address.
    pub fn url(&self) -> String {
        format!("nats://{}:{}", self.connect_host(), self.port)
    }

    /// The client URL with the `tls://` scheme, e.g. `tls://127.0.0.1:41234`, for a server
    /// configured with a `tls` block: the client then requires TLS from the start.
    pub fn tls_url(&self) -> String {
        format!("tls://{}:{}", self.connect_host(), self.port)
    }

    /// The client port (the one chosen by the server when none was requested).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host the server listens on, as configured.
    pub fn host(&self) -> &str {
        &self.options.host
    }

    /// The process id of the current (or, after [`stop`](Self::stop), the last) server process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The HTTP monitoring base URL, e.g. `http://127.0.0.1:41235` (its port changes on restart).
    pub fn monitoring_url(&self) -> String {
        format!("http://{}", self.monitoring)
    }

    /// Whether JetStream is enabled.
    pub fn jetstream_enabled(&self) -> bool {
        self.options.jetstream
    }

    /// The JetStream store directory (the server adds a `jetstream/` level below it).
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// The temporary directory holding the config, log and ports files (and, by default, the
    /// store). Removed on drop unless `NATSAPI_TESTKIT_KEEP` is set.
    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file (recreated on every start).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    /// The binary that runs this server.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The last `lines` lines of the server log and of its stderr.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = tail(&self.log_path(), lines);
        let stderr = tail(&self.stderr_path(), lines);
        if !stderr.trim().is_empty() {
            let _ = write!(out, "\n--- stderr ---\n{stderr}");
        }
        out
    }

    /// Whether the server process is still alive (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server process and waits for it to exit. Does nothing when already stopped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Err(e) = child.kill() {
                tracing::debug!(pid = child.id(), error = %e, "killing nats-server");
            }
            if let Err(e) = child.wait() {
                tracing::warn!(pid = child.id(), error = %e, "waiting for nats-server");
            }
            tracing::debug!(pid = self.pid, port = self.port, "nats-server stopped");
        }
    }

    /// Stops the server (if running) and starts it again on the same port with the same store
    /// directory, so JetStream streams and messages survive. Waits for readiness like `start`.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop();
        self.launch(Some(self.port), true)
    }

    fn connect_host(&self) -> String {
        let host = self.options.host.as_str();
        match host {
            "" | "0.0.0.0" => "127.0.0.1".to_owned(),
            "::" | "[::]" => "[::1]".to_owned(),
            h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
            h => h.to_owned(),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.conf")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.stderr")
    }

    fn ports_dir(&self) -> PathBuf {
        self.dir.path().join("ports")
    }

    fn render_config(&self, port: Option<u16>) -> String {
        let o = &self.options;
        let host = if o.host.contains(':') && !o.host.starts_with('[') {
            format!("[{}]", o.host)
        } else {
            o.host.clone()
        };
        let port = port.map_or_else(|| "-1".to_owned(), |p| p.to_string());
        let mut conf = String::from("# generated by natsapi-testkit\n");
        let _ = writeln!(conf, "listen: {}", quote(&format!("{host}:{port}")));
        let _ = writeln!(conf, "http: \"127.0.0.1:-1\"");
        let _ = writeln!(conf, "ports_file_dir: {}", quote(&self.ports_dir().to_string_lossy()));
        if let Some(max_payload) = o.max_payload {
            let _ = writeln!(conf, "max_payload: {max_payload}");
        }
        if o.jetstream {
            let _ = writeln!(conf, "jetstream {{");
            let _ = writeln!(conf, "  store_dir: {}", quote(&self.store_dir.to_string_lossy()));
            let _ = writeln!(conf, "  max_mem_store: {}", o.max_mem_store);
            let _ = writeln!(conf, "  max_file_store: {}", o.max_file_store);
            let _ = writeln!(conf, "}}");
        }
        for line in &o.config_lines {
            let _ = writeln!(conf, "{line}");
        }
        conf
    }

    /// Writes the config, spawns the process and waits for readiness. With `retry_in_use`, an
    /// early exit because the port is still taken is retried until the startup timeout.
    fn launch(&mut self, port: Option<u16>, retry_in_use: bool) -> Result<(), TestkitError> {
        let deadline = Instant::now() + self.options.startup_timeout;
        let config = self.render_config(port);
        std::fs::write(self.config_path(), &config).map_err(|e| {
            TestkitError::io(format!("writing {}", self.config_path().display()), e)
        })?;
        loop {
            self.spawn()?;
            match self.wait_ready(deadline) {
                Ok(()) => {
                    tracing::debug!(
                        pid = self.pid,
                        url = %self.url(),
                        binary = %self.binary.display(),
                        "nats-server ready"
                    );
                    return Ok(());
                }
                Err(reason) => {
                    self.stop();
                    let log_tail = self.log_tail(LOG_TAIL_LINES);
                    let in_use = log_tail.contains("address already in use");
                    if retry_in_use && in_use && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                    return Err(TestkitError::Startup {
                        binary: self.binary.clone(),
                        reason,
                        log_tail,
                    });
                }
            }
        }
    }

    fn spawn(&mut self) -> Result<(), TestkitError> {
        // Fresh log and ports files for this process.
        let _ = std::fs::remove_file(self.log_path());
        if let Ok(entries) = std::fs::read_dir(self.ports_dir()) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let stderr_path = self.stderr_path();
        let stderr = File::create(&stderr_path)
            .map_err(|e| TestkitError::io(format!("creating {}", stderr_path.display()), e))?;
        let stdout = stderr
            .try_clone()
            .map_err(|e| TestkitError::io(format!("duplicating {}", stderr_path.display()), e))?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.config_path())
            .arg("-l")
            .arg(self.log_path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| TestkitError::io(format!("spawning {}", self.binary.display()), e))?;
        self.pid = child.id();
        self.child = Some(child);
        Ok(())
    }

    /// Waits for the ports file, then for `/healthz` to answer 200. The error is the reason.
    fn wait_ready(&mut self, deadline: Instant) -> Result<(), String> {
        let suffix = format!("_{}.ports", self.pid);
        let (port, monitoring) = loop {
            self.check_alive()?;
            if let Some(found) = read_ports_file(&self.ports_dir(), &suffix) {
                break found;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no ports file in {} after {:?}",
                    self.ports_dir().display(),
                    self.options.startup_timeout
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.port = port;
        self.monitoring = monitoring;

        let path =
            if self.options.jetstream { "/healthz?js-enabled-only=true" } else { "/healthz" };
        loop {
            self.check_alive()?;
            let last = match http::get(&self.monitoring, path, Duration::from_secs(1)) {
                Ok((200, _)) => return Ok(()),
                Ok((status, body)) => format!("HTTP {status}: {}", body.trim()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "http://{}{path} did not answer 200 within {:?} (last: {last})",
                    self.monitoring, self.options.startup_timeout
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn check_alive(&mut self) -> Result<(), String> {
        let Some(child) = &mut self.child else {
            return Err("not running".to_owned());
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("process exited early ({status})")),
            Err(e) => Err(format!("cannot query the process: {e}")),
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os(KEEP_ENV).is_some_and(|v| !v.is_empty()) {
            self.dir.disable_cleanup(true);
            tracing::info!(dir = %self.dir.path().display(), "{KEEP_ENV} set: keeping nats-server dir");
        }
    }
}

/// Reads `<dir>/*<suffix>` (the server writes `<exe>_<pid>.ports`) and returns the client port
/// and the monitoring `host:port`. `None` while the file is missing or incomplete.
fn read_ports_file(dir: &Path, suffix: &str) -> Option<(u16, String)> {
    let entry = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(suffix))?;
    let text = std::fs::read_to_string(entry.path()).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let nats = json.get("nats")?.as_array()?.first()?.as_str()?;
    let port = nats.rsplit(':').next()?.trim_end_matches('/').parse().ok()?;
    let monitoring = json.get("monitoring")?.as_array()?.first()?.as_str()?;
    let monitoring =
        monitoring.strip_prefix("http://").unwrap_or(monitoring).trim_end_matches('/').to_owned();
    Some((port, monitoring))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            format!("({} was not written)", path.display())
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
