//! Task receivers (`recv`): parsing and resolution to a [`Destination`].
//!
//! A recv is stored as JSON text, in one of two forms (Resonate v0.7, the `resonate:invoke` tag):
//!
//! - a string: a logical target name looked up in [`Targets`] (one level: a target's value must
//!   be a URL), or `default` when no target of that name is configured (`poll://any@default`), or
//!   a URL: `nats://<subject>`, `http://…`, `https://…`, `poll://any@<group>`,
//!   `poll://any@<group>/<id>` (prefer that id, else any of the group) or `poll://uni@<group>/<id>`
//!   (`poll://<group>[/<id>]`, without a cast, is `any`, as the Python SDK's `poll("g")` sends);
//! - an object `{"type": "nats"|"http"|"poll", "data": {...}}`: `nats` takes `{"subject"}`, `http`
//!   takes `{"url"}`, `poll` takes `{"group", "id"?, "cast"?: "any"|"uni"}` (cast `any` when
//!   absent). Unknown fields and an empty `type` are errors.
//!
//! [`validate`] checks a recv when a request brings it (a bad one is a 400), [`resolve`] turns it
//! into a destination when the task is delivered.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// Logical target names and their recv URLs (the `targets` configuration key).
pub type Targets = BTreeMap<String, String>;

/// The recv string that means poll, cast any, group `default`, unless a target of that name is
/// configured.
pub const DEFAULT_TARGET: &str = "default";

/// Which poll connections may receive a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cast {
    /// Any connection of the group (the one with the given id when it is connected).
    Any,
    /// Only the connection with the given id.
    Uni,
}

impl Cast {
    /// `any` or `uni`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cast::Any => "any",
            Cast::Uni => "uni",
        }
    }
}

/// Where a task message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// Published on a NATS subject.
    Nats {
        /// A valid subject without wildcards.
        subject: String,
    },
    /// POSTed to an `http://` or `https://` URL.
    Http {
        /// The URL.
        url: String,
    },
    /// Handed to a poll connection (see [`PollHub`](super::PollHub)).
    Poll {
        /// The group of connections.
        group: String,
        /// The connection id: required for [`Cast::Uni`], a preference for [`Cast::Any`].
        id: Option<String>,
        /// Which connections may receive it.
        cast: Cast,
    },
}

impl fmt::Display for Destination {
    /// Writes the URL form: `nats://subject`, the HTTP URL, or `poll://cast@group[/id]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Nats { subject } => write!(f, "nats://{subject}"),
            Destination::Http { url } => f.write_str(url),
            Destination::Poll { group, id, cast } => {
                write!(f, "poll://{}@{group}", cast.as_str())?;
                match id {
                    Some(id) => write!(f, "/{id}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Why a recv does not name a destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The text is not JSON.
    #[error("recv is not valid JSON: {0}")]
    Json(String),
    /// The JSON is neither a string nor an object.
    #[error("recv must be a JSON string or an object {{\"type\", \"data\"}}, not {0}")]
    Shape(&'static str),
    /// The object has a missing, unknown or mistyped field.
    #[error("recv object is invalid: {0}")]
    Object(String),
    /// The object's `type` is empty.
    #[error("recv object has an empty type")]
    EmptyType,
    /// The object's `type` is not one this server delivers to.
    #[error("recv type {0:?} is unknown (expected nats, http or poll)")]
    UnknownType(String),
    /// The string is not a configured target, not `default` and not a URL.
    #[error(
        "recv {0:?} is neither a configured target nor a URL \
         (nats://<subject>, http(s)://..., poll://any@<group>, poll://uni@<group>/<id>)"
    )]
    NotUrl(String),
    /// The URL's scheme is not one this server delivers to.
    #[error(
        "recv URL {url:?} has an unsupported scheme {scheme:?} (expected nats, http, https or poll)"
    )]
    Scheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The NATS subject is empty, has an empty token, whitespace or wildcards.
    #[error("recv NATS subject {subject:?} is invalid: {reason}")]
    Subject {
        /// The subject.
        subject: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP URL does not parse or has no host.
    #[error("recv HTTP URL {url:?} is invalid: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The poll group, id or cast is missing or malformed.
    #[error("recv poll destination {recv:?} is invalid: {reason}")]
    Poll {
        /// The recv, as a URL or as the object's data.
        recv: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A configured target's value is not a valid recv URL.
    #[error("target {name:?}: {source}")]
    Target {
        /// The target's name.
        name: String,
        /// What is wrong with its value.
        #[source]
        source: Box<RecvError>,
    },
}

/// A parsed recv, before target names are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recv {
    /// A string: a target name, `default` or a URL.
    Text(String),
    /// An object `{"type", "data"}`, already checked.
    Object(Destination),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObject {
    #[serde(rename = "type")]
    kind: String,
    data: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NatsData {
    subject: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpData {
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PollData {
    group: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    cast: Option<Cast>,
}

impl Recv {
    /// Parses the stored JSON text of a recv. Objects are checked completely here; strings are
    /// checked by [`Recv::resolve`], which needs the targets.
    ///
    /// # Errors
    /// A [`RecvError`] naming what is wrong.
    pub fn parse(recv_json: &str) -> Result<Recv, RecvError> {
        let value: serde_json::Value =
            serde_json::from_str(recv_json).map_err(|e| RecvError::Json(e.to_string()))?;
        match value {
            serde_json::Value::String(s) => Ok(Recv::Text(s)),
            object @ serde_json::Value::Object(_) => parse_object(object).map(Recv::Object),
            serde_json::Value::Null => Err(RecvError::Shape("null")),
            serde_json::Value::Bool(_) => Err(RecvError::Shape("a boolean")),
            serde_json::Value::Number(_) => Err(RecvError::Shape("a number")),
            serde_json::Value::Array(_) => Err(RecvError::Shape("an array")),
        }
    }

    /// The destination: a string is looked up in `targets`, then taken as `default`, then parsed
    /// as a URL.
    ///
    /// # Errors
    /// A [`RecvError`] naming what is wrong; [`RecvError::Target`] when the string names a
    /// target whose value is not a valid URL.
    pub fn resolve(&self, targets: &Targets) -> Result<Destination, RecvError> {
        match self {
            Recv::Object(destination) => Ok(destination.clone()),
            Recv::Text(text) => {
                if let Some(value) = targets.get(text) {
                    return parse_target(text, value);
                }
                if text == DEFAULT_TARGET {
                    return Ok(Destination::Poll {
                        group: DEFAULT_TARGET.to_owned(),
                        id: None,
                        cast: Cast::Any,
                    });
                }
                parse_url(text)
            }
        }
    }
}

/// Checks a recv when a request brings it, so a bad one is rejected with a 400 instead of
/// failing at every delivery. Returns the destination it resolves to with these targets.
///
/// # Errors
/// A [`RecvError`] naming what is wrong.
pub fn validate(recv_json: &str, targets: &Targets) -> Result<Destination, RecvError> {
    resolve(recv_json, targets)
}

/// The destination of a stored recv at delivery time.
///
/// # Errors
/// A [`RecvError`] naming what is wrong (for a recv accepted by [`validate`], only when the
/// targets changed since).
pub fn resolve(recv_json: &str, targets: &Targets) -> Result<Destination, RecvError> {
    Recv::parse(recv_json)?.resolve(targets)
}

/// Checks that every target's value is a valid recv URL.
///
/// # Errors
/// [`RecvError::Target`] for the first target that is not.
pub fn validate_targets(targets: &Targets) -> Result<(), RecvError> {
    targets.iter().try_for_each(|(name, value)| parse_target(name, value).map(drop))
}

fn parse_target(name: &str, value: &str) -> Result<Destination, RecvError> {
    parse_url(value).map_err(|e| RecvError::Target { name: name.to_owned(), source: Box::new(e) })
}

/// Parses a recv URL: `nats://<subject>`, `http(s)://…`, `poll://any@<group>[/<id>]` or
/// `poll://uni@<group>/<id>`. Schemes are case-insensitive.
///
/// # Errors
/// A [`RecvError`] naming what is wrong.
pub fn parse_url(url: &str) -> Result<Destination, RecvError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(RecvError::NotUrl(url.to_owned()));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "nats" => {
            check_subject(rest)?;
            Ok(Destination::Nats { subject: rest.to_owned() })
        }
        "http" | "https" => {
            check_http_url(url)?;
            Ok(Destination::Http { url: url.to_owned() })
        }
        "poll" => parse_poll_url(url, rest),
        _ => Err(RecvError::Scheme { url: url.to_owned(), scheme: scheme.to_owned() }),
    }
}

fn parse_object(value: serde_json::Value) -> Result<Destination, RecvError> {
    let object = |e: serde_json::Error| RecvError::Object(e.to_string());
    let raw: RawObject = serde_json::from_value(value).map_err(object)?;
    let data = |e: serde_json::Error| RecvError::Object(format!("data of type {}: {e}", raw.kind));
    match raw.kind.as_str() {
        "" => Err(RecvError::EmptyType),
        "nats" => {
            let NatsData { subject } = serde_json::from_value(raw.data.clone()).map_err(data)?;
            check_subject(&subject)?;
            Ok(Destination::Nats { subject })
        }
        "http" => {
            let HttpData { url } = serde_json::from_value(raw.data.clone()).map_err(data)?;
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            if !matches!(scheme.as_deref(), Some("http" | "https")) {
                return Err(RecvError::Http {
                    url,
                    reason: "the scheme must be http or https".to_owned(),
                });
            }
            check_http_url(&url)?;
            Ok(Destination::Http { url })
        }
        "poll" => {
            let PollData { group, id, cast } =
                serde_json::from_value(raw.data.clone()).map_err(data)?;
            let recv = || raw.data.to_string();
            poll(group, id, cast.unwrap_or(Cast::Any), recv)
        }
        other => Err(RecvError::UnknownType(other.to_owned())),
    }
}

/// A subject to publish on: non-empty dot-separated tokens, no whitespace, no wildcards.
fn check_subject(subject: &str) -> Result<(), RecvError> {
    let bad = |reason| Err(RecvError::Subject { subject: subject.to_owned(), reason });
    if subject.is_empty() {
        return bad("it is empty");
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains whitespace or control characters");
    }
    if subject.contains(['*', '>']) {
        return bad("wildcards (* and >) are not allowed");
    }
    if subject.split('.').any(str::is_empty) {
        return bad("it has an empty token (leading, trailing or double dot)");
    }
    Ok(())
}

/// An `http://` or `https://` URL with a host and no whitespace.
fn check_http_url(url: &str) -> Result<(), RecvError> {
    let bad = |reason: String| Err(RecvError::Http { url: url.to_owned(), reason });
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains whitespace or control characters".to_owned());
    }
    match reqwest::Url::parse(url) {
        Err(e) => bad(e.to_string()),
        Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => bad("it has no host".into()),
        Ok(_) => Ok(()),
    }
}

fn parse_poll_url(url: &str, rest: &str) -> Result<Destination, RecvError> {
    let bad = |reason| Err(RecvError::Poll { recv: url.to_owned(), reason });
    // Without a cast (`poll://<group>[/<id>]`, what the Resonate Python SDK's `poll("g")`
    // sends), the cast is `any`, as the Go server does.
    let (cast, path) = rest.split_once('@').unwrap_or(("any", rest));
    let cast = match cast {
        "any" => Cast::Any,
        "uni" => Cast::Uni,
        _ => return bad("the cast before @ must be any or uni"),
    };
    let (group, id) = match path.split_once('/') {
        Some((group, id)) => (group, Some(id.to_owned())),
        None => (path, None),
    };
    poll(group.to_owned(), id, cast, || url.to_owned())
}

/// Checks a poll destination's group and id.
fn poll(
    group: String,
    id: Option<String>,
    cast: Cast,
    recv: impl Fn() -> String,
) -> Result<Destination, RecvError> {
    let bad = |reason| Err(RecvError::Poll { recv: recv(), reason });
    if group.is_empty() {
        return bad("the group is empty");
    }
    if !poll_name(&group) {
        return bad("the group contains whitespace, control characters or one of / @ ? #");
    }
    match id.as_deref() {
        None if cast == Cast::Uni => return bad("cast uni needs an id"),
        Some("") => return bad("the id is empty"),
        Some(id) if !poll_name(id) => {
            return bad("the id contains whitespace, control characters or one of / @ ? #");
        }
        _ => {}
    }
    Ok(Destination::Poll { group, id, cast })
}

/// A poll group or id: usable as one path segment.
fn poll_name(s: &str) -> bool {
    !s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | '?' | '#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Targets {
        Targets::from([
            ("orders".to_owned(), "nats://orders.tasks".to_owned()),
            ("hook".to_owned(), "https://example.com/hook".to_owned()),
            ("default".to_owned(), "poll://any@workers".to_owned()),
            ("broken".to_owned(), "ftp://example.com".to_owned()),
        ])
    }

    fn nats(subject: &str) -> Destination {
        Destination::Nats { subject: subject.to_owned() }
    }

    fn http(url: &str) -> Destination {
        Destination::Http { url: url.to_owned() }
    }

    fn poll(group: &str, id: Option<&str>, cast: Cast) -> Destination {
        Destination::Poll { group: group.to_owned(), id: id.map(str::to_owned), cast }
    }

    #[test]
    fn valid_forms_resolve() {
        let any = Cast::Any;
        let cases = [
            (r#""nats://orders.tasks""#, nats("orders.tasks")),
            (r#""NATS://a""#, nats("a")),
            (r#""http://127.0.0.1:8080/tasks""#, http("http://127.0.0.1:8080/tasks")),
            (r#""https://example.com""#, http("https://example.com")),
            (r#""poll://any@workers""#, poll("workers", None, any)),
            (r#""poll://any@workers/w1""#, poll("workers", Some("w1"), any)),
            (r#""poll://uni@workers/w1""#, poll("workers", Some("w1"), Cast::Uni)),
            (r#""poll://workers""#, poll("workers", None, any)),
            (r#""poll://workers/w1""#, poll("workers", Some("w1"), any)),
            (r#"{"type":"nats","data":{"subject":"a.b"}}"#, nats("a.b")),
            (r#"{"type":"http","data":{"url":"http://h/x"}}"#, http("http://h/x")),
            (r#"{"type":"poll","data":{"group":"g"}}"#, poll("g", None, any)),
            (
                r#"{"type":"poll","data":{"group":"g","id":"i","cast":"uni"}}"#,
                poll("g", Some("i"), Cast::Uni),
            ),
            (
                r#"{"type":"poll","data":{"group":"g","id":"i","cast":"any"}}"#,
                poll("g", Some("i"), any),
            ),
            (r#""orders""#, nats("orders.tasks")),
            (r#""hook""#, http("https://example.com/hook")),
        ];
        for (recv, want) in cases {
            assert_eq!(validate(recv, &targets()), Ok(want.clone()), "{recv}");
            assert_eq!(resolve(recv, &targets()), Ok(want), "{recv}");
        }
    }

    #[test]
    fn default_is_poll_any_default_unless_configured() {
        let none = Targets::new();
        assert_eq!(resolve(r#""default""#, &none), Ok(poll("default", None, Cast::Any)));
        assert_eq!(resolve(r#""default""#, &targets()), Ok(poll("workers", None, Cast::Any)));
    }

    #[test]
    fn display_writes_the_url_form() {
        for url in ["nats://a.b", "https://h/x", "poll://any@g", "poll://uni@g/i"] {
            assert_eq!(parse_url(url).map(|d| d.to_string()), Ok(url.to_owned()));
        }
    }

    #[test]
    fn bad_forms_name_the_problem() {
        let cases = [
            (r#""nats://""#, "is empty"),
            (r#""nats://a.*""#, "wildcards"),
            (r#""nats://a.>""#, "wildcards"),
            (r#""nats://a..b""#, "empty token"),
            (r#""nats://a b""#, "whitespace"),
            (r#""ftp://example.com""#, r#"unsupported scheme "ftp""#),
            (r#""http://""#, "HTTP URL"),
            (r#""https://exa mple.com""#, "whitespace"),
            (r#""poll://""#, "group is empty"),
            (r#""poll://all@workers""#, "any or uni"),
            (r#""poll://any@""#, "group is empty"),
            (r#""poll://uni@workers""#, "uni needs an id"),
            (r#""poll://any@workers/""#, "id is empty"),
            (r#""poll://any@workers/a/b""#, "the id contains"),
            (r#""nowhere""#, "neither a configured target nor a URL"),
            (r#""broken""#, r#"target "broken": recv URL "ftp://example.com""#),
            (r#"{"type":"sqs","data":{}}"#, r#"type "sqs" is unknown"#),
            (r#"{"type":"","data":{}}"#, "empty type"),
            (r#"{"type":"nats","data":{"subject":"a"},"x":1}"#, "unknown field `x`"),
            (r#"{"type":"nats","data":{"subject":"a","x":1}}"#, "unknown field `x`"),
            (r#"{"type":"nats","data":{"subject":""}}"#, "is empty"),
            (r#"{"type":"http","data":{"url":"ftp://h"}}"#, "http or https"),
            (r#"{"type":"poll","data":{"group":"g","cast":"uni"}}"#, "uni needs an id"),
            (r#"{"type":"poll","data":{"group":"g","cast":"all"}}"#, "unknown variant `all`"),
            (r#"{"type":"poll","data":{"group":""}}"#, "group is empty"),
            (r#"{"data":{}}"#, "missing field `type`"),
            (r#"{"type":"nats"}"#, "missing field `data`"),
            ("42", "not a number"),
            (r#"["nats://a"]"#, "not an array"),
            ("null", "not null"),
            ("nats://a", "not valid JSON"),
        ];
        for (recv, want) in cases {
            let err = match validate(recv, &targets()) {
                Ok(d) => panic!("{recv} resolved to {d}"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(want), "{recv}: {err:?} does not contain {want:?}");
        }
    }

    #[test]
    fn targets_are_checked_one_level() {
        assert!(validate_targets(&Targets::from([("a".into(), "poll://any@g".into())])).is_ok());
        let chained = Targets::from([("a".into(), "b".into()), ("b".into(), "nats://x".into())]);
        let err = validate_targets(&chained).map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err("target \"a\": recv \"b\" is neither a configured target nor a URL \
                 (nats://<subject>, http(s)://..., poll://any@<group>, poll://uni@<group>/<id>)"
                .to_owned())
        );
    }
}
