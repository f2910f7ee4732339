//! A `natsapi` child process whose log goes to a file the test reads: start it, wait for its
//! ready line, send it signals, wait for its exit.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use natsapi_testkit::KillOnDrop;

/// How long a start may take (a debug build on a loaded 2-core machine).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `natsapi` and its log file.
pub struct Process {
    child: KillOnDrop,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Process {
    /// Starts `natsapi ARGS` in a temporary working directory, without `RUST_LOG` or `NATSAPI_*`
    /// variables from the caller, with `env` set; stdout and stderr go to the log file.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Process {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Process::start_in(dir, args, env)
    }

    /// Like [`start`](Self::start), in `dir`.
    pub fn start_in(dir: tempfile::TempDir, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_natsapi"));
        command.args(args);
        Process::spawn(dir, command, env)
    }

    /// Like [`start`](Self::start), with a limit of `open_files` open files (soft and hard).
    pub fn start_with_open_files(open_files: u32, args: &[&str]) -> Process {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {open_files} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_natsapi"))
            .args(args);
        Process::spawn(dir, command, &[])
    }

    fn spawn(dir: tempfile::TempDir, mut command: Command, env: &[(&str, &str)]) -> Process {
        let log = dir.path().join("natsapi.log");
        let file = std::fs::File::create(&log).expect("the log file");
        command.current_dir(dir.path()).env_remove("RUST_LOG");
        for (name, _) in std::env::vars() {
            if name.starts_with("NATSAPI_") {
                command.env_remove(name);
            }
        }
        command.envs(env.iter().copied());
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file"))
            .stderr(file)
            .spawn()
            .expect("natsapi starts");
        Process { child: KillOnDrop(child), log, _dir: dir }
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the ready line and returns it; panics with the log if the process exits first
    /// or takes too long.
    pub fn wait_ready(&mut self) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains("natsapi ready: ")) {
                return line.to_owned();
            }
            if let Ok(Some(status)) = self.child.0.try_wait() {
                panic!("natsapi exited with {status} before it was ready:\n{log}");
            }
            assert!(Instant::now() < deadline, "natsapi was not ready in time:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `http://IP:PORT` the ready line gives for `part` ("HTTP API", "SSE poll",
    /// "ingest gateway").
    pub fn url_of(&mut self, part: &str) -> String {
        let line = self.wait_ready();
        let start = line.find(&format!("{part} http://")).unwrap_or_else(|| {
            panic!("the ready line names no {part}: {line}");
        }) + part.len()
            + 1;
        let url: String =
            line[start..].chars().take_while(|c| !matches!(c, ',' | ';' | ' ')).collect();
        url
    }

    /// The `IP:PORT` of `part` (see [`url_of`](Self::url_of)), with a wildcard IP made loopback.
    pub fn addr_of(&mut self, part: &str) -> std::net::SocketAddr {
        let url = self.url_of(part);
        let addr: std::net::SocketAddr =
            url.trim_start_matches("http://").parse().expect("an IP:PORT");
        if addr.ip().is_unspecified() {
            std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        }
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// The exit status, if it exits within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `GET path` from `host:port` over HTTP/1.0; the whole response, head and body.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nhost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    response
}

/// `natsapi serve` on NATS at `nats`, with the memory store and the HTTP API and poll listeners
/// on free loopback ports; with `ingest`, the ingest gateway too.
pub fn loopback_serve(nats: &str, ingest: bool) -> Vec<String> {
    let mut args = vec!["serve", "--api-nats-addr", nats, "--store", "memory"];
    args.extend(["--api-http-addr", "127.0.0.1:0", "--poll-addr", "127.0.0.1:0"]);
    if ingest {
        args.extend(["--ingest-enable", "--ingest-addr", "127.0.0.1:0"]);
    }
    args.into_iter().map(str::to_owned).collect()
}

/// Panics if any connection to `nats`, open or closed, ever subscribed to the API subject.
pub fn assert_never_subscribed(nats: &natsapi_testkit::NatsServer) {
    let monitoring = nats.monitoring_url();
    for state in ["open", "closed"] {
        let connz = http_get(
            monitoring.trim_start_matches("http://"),
            &format!("/connz?state={state}&subs=detail"),
        );
        assert!(connz.starts_with("HTTP/1.0 200"), "{connz}");
        assert!(!connz.contains("resonate.server"), "{state}: {connz}");
    }
}
