//! The discovery side of the NATS micro-service protocol (ADR-32, `io.nats.micro.v1`) for one
//! service instance with one endpoint, answered on our own subscriptions.
//!
//! [`MicroService`] answers `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS`, each bare, with the
//! service name (`$SRV.PING.natsapi`) and with name and instance id (`$SRV.PING.natsapi.<id>`).
//! These are nine plain subscriptions, not in a queue group: every instance answers. The endpoint
//! itself is not subscribed here — the transport owns that subscription (so it can drain it) and
//! reports each request to the shared [`EndpointStats`], which `$SRV.STATS` reads.
//!
//! The replies have the shapes async-nats, nats.go and nats-py produce and parse: `metadata` is
//! always present, the endpoint's `data` is `null`, times are integer nanoseconds, and `started`
//! is RFC 3339 in UTC with exactly six fractional digits (nats-py parses it with
//! `%Y-%m-%dT%H:%M:%S.%fZ`, which takes neither nanoseconds nor a missing fraction).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::{Client, Message, Subscriber};
use bytes::Bytes;
use futures::stream::{SelectAll, Stream, StreamExt};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`MicroService::stop`] waits for the discovery subscriptions to drain.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest `last_error` kept, in characters.
const MAX_LAST_ERROR: usize = 256;

/// Counters of one endpoint, shared between the request path and the `$SRV.STATS` responder.
///
/// Each counter is updated atomically on its own; a `STATS` reply read while a request is being
/// recorded may count its time but not yet the request (or the reverse), never anything worse.
#[derive(Debug, Default)]
pub struct EndpointStats {
    requests: AtomicU64,
    errors: AtomicU64,
    processing_time_ns: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A copy of an endpoint's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointStatsSnapshot {
    /// Requests recorded, failed ones included.
    pub requests: u64,
    /// Requests recorded as failed.
    pub errors: u64,
    /// Total time spent on the requests.
    pub processing_time: Duration,
    /// `processing_time / requests`, zero before the first request.
    pub average_processing_time: Duration,
    /// The last error recorded, as given to [`EndpointStats::record`].
    pub last_error: Option<String>,
}

impl EndpointStats {
    /// Counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one answered request that took `elapsed`; `error` marks it failed and becomes
    /// `last_error`. By the micro convention (async-nats, nats.go) it reads `"<code>:<status>"`,
    /// e.g. `"404:promise not found"`.
    pub fn record(&self, elapsed: Duration, error: Option<&str>) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.processing_time_ns.fetch_add(nanos, Ordering::Relaxed);
        if let Some(error) = error {
            self.errors.fetch_add(1, Ordering::Relaxed);
            // Bounded: STATS must stay small, and should not echo whole requests.
            let end = error.char_indices().nth(MAX_LAST_ERROR).map_or(error.len(), |(at, _)| at);
            *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(error[..end].to_owned());
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> EndpointStatsSnapshot {
        let requests = self.requests.load(Ordering::Relaxed);
        let errors = self.errors.load(Ordering::Relaxed);
        let total_ns = self.processing_time_ns.load(Ordering::Relaxed);
        let average_ns = total_ns.checked_div(requests).unwrap_or(0);
        let last_error = self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone();
        EndpointStatsSnapshot {
            requests,
            errors,
            processing_time: Duration::from_nanos(total_ns),
            average_processing_time: Duration::from_nanos(average_ns),
            last_error,
        }
    }
}

/// What a [`MicroService`] announces about itself and its one endpoint.
#[derive(Debug, Clone, Default)]
pub struct MicroConfig {
    /// The service name, shared by all instances (`natsapi`): `A-Z a-z 0-9 - _` only.
    pub name: String,
    /// The service version, semver (`CARGO_PKG_VERSION`).
    pub version: String,
    /// A human-readable description; may be empty.
    pub description: String,
    /// The endpoint's name (`api`): `A-Z a-z 0-9 - _` only.
    pub endpoint_name: String,
    /// The subject the endpoint is served on.
    pub subject: String,
    /// The queue group the endpoint's subscription is in.
    pub queue_group: String,
    /// Service metadata, in every reply.
    pub metadata: HashMap<String, String>,
    /// Endpoint metadata, in `INFO` replies.
    pub endpoint_metadata: HashMap<String, String>,
}

/// Errors starting a [`MicroService`].
#[derive(Debug, thiserror::Error)]
pub enum MicroError {
    /// A configuration value the protocol does not allow.
    #[error("invalid micro service {field} {value:?}: {reason}")]
    InvalidConfig {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A discovery subject could not be subscribed.
    #[error("cannot subscribe to {subject}: {source}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        source: async_nats::SubscribeError,
    },
}

/// Answers `$SRV.PING|INFO|STATS` (bare, `.<name>`, `.<name>.<id>`) for one service instance
/// with one endpoint. Dropping it without [`MicroService::stop`] drains the subscriptions in the
/// background.
#[derive(Debug)]
pub struct MicroService {
    id: String,
    name: String,
    started: SystemTime,
    stats: Arc<EndpointStats>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl MicroService {
    /// Subscribes the nine discovery subjects on `client` and starts answering them. When this
    /// returns the subscriptions are registered with the client; call `client.flush()` to be sure
    /// the server has them before announcing the instance.
    pub async fn start(client: Client, config: MicroConfig) -> Result<MicroService, MicroError> {
        validate(&config)?;
        let id = nuid::next().to_string();
        let started = SystemTime::now();
        let replies = Replies::new(&config, &id, started);
        let stats = replies.stats.clone();

        let mut streams = SelectAll::new();
        for verb in [Verb::Ping, Verb::Info, Verb::Stats] {
            for subject in verb.subjects(&config.name, &id) {
                let subscriber = client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|source| MicroError::Subscribe { subject, source })?;
                streams.push(VerbStream { verb, subscriber });
            }
        }
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(respond(client, streams, replies, stopped));
        tracing::debug!(name = %config.name, id = %id, "micro service discoverable");
        Ok(MicroService { id, name: config.name, started, stats, stop, task })
    }

    /// This instance's id, unique per start.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When this instance started.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// The endpoint's counters, to record requests in.
    pub fn stats(&self) -> Arc<EndpointStats> {
        self.stats.clone()
    }

    /// Stops answering: drains the discovery subscriptions (requests already received are still
    /// answered) and waits, up to two seconds, for that to finish. The connection stays open.
    pub async fn stop(self) {
        let MicroService { id, mut task, stop, .. } = self;
        let _ = stop.send(());
        if tokio::time::timeout(STOP_TIMEOUT, &mut task).await.is_err() {
            tracing::warn!(id = %id, "micro service did not drain in time");
            task.abort();
        }
    }
}

/// Fails on a name, endpoint name or version the protocol rejects, or an empty subject or queue
/// group.
fn validate(config: &MicroConfig) -> Result<(), MicroError> {
    let invalid = |field, value: &str, reason| {
        Err(MicroError::InvalidConfig { field, value: value.to_owned(), reason })
    };
    let is_name = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !is_name(&config.name) {
        return invalid("name", &config.name, "only A-Z, a-z, 0-9, - and _ are allowed");
    }
    if !is_name(&config.endpoint_name) {
        return invalid(
            "endpoint name",
            &config.endpoint_name,
            "only A-Z, a-z, 0-9, - and _ are allowed",
        );
    }
    if !is_semver(&config.version) {
        return invalid("version", &config.version, "not a semantic version");
    }
    let is_token = |s: &str| !s.is_empty() && !s.bytes().any(|b| b.is_ascii_whitespace());
    if !is_token(&config.subject) {
        return invalid("subject", &config.subject, "empty or contains whitespace");
    }
    if !is_token(&config.queue_group) {
        return invalid("queue group", &config.queue_group, "empty or contains whitespace");
    }
    Ok(())
}

/// `MAJOR.MINOR.PATCH` without leading zeros, optionally followed by `-pre` and/or `+build` made
/// of dot-separated `[0-9A-Za-z-]` identifiers (semver 2.0, as async-nats checks it).
fn is_semver(version: &str) -> bool {
    let ident =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let numeric = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| numeric(p))
        && pre.is_none_or(|pre| {
            pre.split('.')
                .all(|p| ident(p) && (!p.bytes().all(|b| b.is_ascii_digit()) || numeric(p)))
        })
        && build.is_none_or(|build| build.split('.').all(ident))
}

/// Formats `time` as RFC 3339 in UTC with exactly six fractional digits, e.g.
/// `2023-11-14T22:13:20.000000Z` (what nats-py's and Go's parsers accept). Times before 1970
/// read as 1970-01-01.
pub fn rfc3339_micros(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_micros()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days end the (400-year) era and the year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[derive(Debug, Clone, Copy)]
enum Verb {
    Ping,
    Info,
    Stats,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Ping => "PING",
            Verb::Info => "INFO",
            Verb::Stats => "STATS",
        }
    }

    /// `$SRV.<VERB>`, `$SRV.<VERB>.<name>` and `$SRV.<VERB>.<name>.<id>`.
    fn subjects(self, name: &str, id: &str) -> [String; 3] {
        let verb = self.as_str();
        [format!("$SRV.{verb}"), format!("$SRV.{verb}.{name}"), format!("$SRV.{verb}.{name}.{id}")]
    }
}

/// One discovery subscription, tagging its messages with the verb.
struct VerbStream {
    verb: Verb,
    subscriber: Subscriber,
}

impl Stream for VerbStream {
    type Item = (Verb, Message);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let verb = self.verb;
        self.subscriber.poll_next_unpin(cx).map(|next| next.map(|message| (verb, message)))
    }
}

/// Answers discovery requests until stopped (or the service is dropped), then drains the
/// subscriptions and answers what they still deliver.
async fn respond(
    client: Client,
    mut streams: SelectAll<VerbStream>,
    replies: Replies,
    mut stop: oneshot::Receiver<()>,
) {
    let mut stopping = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut stop, if !stopping => {
                if !crate::nats::is_connected(&client) {
                    // A drain ends when the server confirms it, which it cannot now.
                    break;
                }
                stopping = true;
                for stream in streams.iter_mut() {
                    // Fails only when the connection is gone, which ends the stream anyway.
                    let _ = stream.subscriber.drain().await;
                }
            }
            next = streams.next() => match next {
                Some((verb, message)) => {
                    let Some(reply) = message.reply else { continue };
                    let body = replies.body(verb);
                    if let Err(e) = client.publish(reply, body).await {
                        tracing::warn!(error = %e, verb = verb.as_str(), "micro reply not sent");
                    }
                }
                None => break,
            },
        }
    }
}

/// The reply bodies: PING and INFO never change; STATS is built per request.
struct Replies {
    ping: Bytes,
    info: Bytes,
    stats: Arc<EndpointStats>,
    config: MicroConfig,
    id: String,
    started: String,
}

/// The fields every verb's reply starts with (the whole PING reply).
#[derive(Serialize)]
struct IdentityJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    id: &'a str,
    version: &'a str,
    metadata: &'a HashMap<String, String>,
}

#[derive(Serialize)]
struct InfoJson<'a> {
    #[serde(flatten)]
    identity: IdentityJson<'a>,
    description: &'a str,
    endpoints: [EndpointInfoJson<'a>; 1],
}

/// The fields naming the endpoint, in INFO and STATS alike.
#[derive(Serialize)]
struct EndpointIdJson<'a> {
    name: &'a str,
    subject: &'a str,
    queue_group: &'a str,
}

impl<'a> EndpointIdJson<'a> {
    fn of(config: &'a MicroConfig) -> Self {
        EndpointIdJson {
            name: &config.endpoint_name,
            subject: &config.subject,
            queue_group: &config.queue_group,
        }
    }
}

#[derive(Serialize)]
struct EndpointInfoJson<'a> {
    #[serde(flatten)]
    endpoint: EndpointIdJson<'a>,
    metadata: &'a HashMap<String, String>,
}

#[derive(Serialize)]
struct StatsJson<'a> {
    #[serde(flatten)]
    identity: IdentityJson<'a>,
    started: &'a str,
    endpoints: [EndpointStatsJson<'a>; 1],
}

#[derive(Serialize)]
struct EndpointStatsJson<'a> {
    #[serde(flatten)]
    endpoint: EndpointIdJson<'a>,
    num_requests: u64,
    num_errors: u64,
    processing_time: u64,
    average_processing_time: u64,
    last_error: &'a str,
    data: Option<()>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn identity<'a>(kind: &'static str, config: &'a MicroConfig, id: &'a str) -> IdentityJson<'a> {
    IdentityJson {
        kind,
        name: &config.name,
        id,
        version: &config.version,
        metadata: &config.metadata,
    }
}

impl Replies {
    fn new(config: &MicroConfig, id: &str, started: SystemTime) -> Replies {
        let ping = identity("io.nats.micro.v1.ping_response", config, id);
        let info = InfoJson {
            identity: identity("io.nats.micro.v1.info_response", config, id),
            description: &config.description,
            endpoints: [EndpointInfoJson {
                endpoint: EndpointIdJson::of(config),
                metadata: &config.endpoint_metadata,
            }],
        };
        Replies {
            ping: to_bytes(&ping),
            info: to_bytes(&info),
            stats: Arc::new(EndpointStats::new()),
            config: config.clone(),
            id: id.to_owned(),
            started: rfc3339_micros(started),
        }
    }

    fn body(&self, verb: Verb) -> Bytes {
        match verb {
            Verb::Ping => self.ping.clone(),
            Verb::Info => self.info.clone(),
            Verb::Stats => {
                let snapshot = self.stats.snapshot();
                let config = &self.config;
                to_bytes(&StatsJson {
                    identity: identity("io.nats.micro.v1.stats_response", config, &self.id),
                    started: &self.started,
                    endpoints: [EndpointStatsJson {
                        endpoint: EndpointIdJson::of(config),
                        num_requests: snapshot.requests,
                        num_errors: snapshot.errors,
                        processing_time: nanos(snapshot.processing_time),
                        average_processing_time: nanos(snapshot.average_processing_time),
                        last_error: snapshot.last_error.as_deref().unwrap_or(""),
                        data: None,
                    }],
                })
            }
        }
    }
}

fn to_bytes<T: Serialize>(value: &T) -> Bytes {
    // Plain structs of strings, numbers and string maps always serialize.
    serde_json::to_vec(value).map(Bytes::from).unwrap_or_default()
}
