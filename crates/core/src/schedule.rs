//! The schedule: a cron expression that creates a promise on every tick (spec §10), the template
//! its promise ids are rendered from, and the store interface for schedules.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{TxError, quoted};
use crate::value::Value;

/// The tag a scheduled promise carries, naming its schedule.
pub const SCHEDULE_TAG: &str = "resonate:schedule";

/// The tag that marks a scheduled promise as a top-level invocation (value `"true"`).
pub const INVOCATION_TAG: &str = "resonate:invocation";

/// A schedule in Resonate's JSON shape: the description is `desc` (left out when empty), as the
/// Go server writes it; empty tag maps are left out like a promise's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// The id chosen by the client.
    pub id: String,
    /// Free text.
    #[serde(rename = "desc", skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The cron expression or descriptor, as given.
    pub cron: String,
    /// Free-form string tags of the schedule itself.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The template each promise id is rendered from (`{{.id}}`, `{{.timestamp}}`).
    pub promise_id: String,
    /// How long each promise may stay pending, ms after its tick.
    pub promise_timeout: i64,
    /// Each promise's `param`.
    pub promise_param: Value,
    /// Each promise's tags (plus the schedule and invocation tags).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub promise_tags: BTreeMap<String, String>,
    /// The tick that last fired, epoch ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_time: Option<i64>,
    /// The tick that fires next, epoch ms; [`NEVER`] when the cron has no further tick.
    pub next_run_time: i64,
    /// The idempotency key of the create that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// When it was created, epoch ms.
    pub created_on: i64,
    /// Insertion order, for newest-first search and cursors. Never serialized.
    #[serde(skip)]
    pub sort_id: i64,
}

/// The `next_run_time` of a schedule whose cron has no further tick: it never comes due.
pub const NEVER: i64 = i64::MAX;

/// Which schedules a search selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleFilter {
    /// Id pattern; `*` is the only wildcard.
    pub id: String,
    /// Tags that must all be present with exactly these values.
    pub tags: BTreeMap<String, String>,
}

impl ScheduleFilter {
    /// Whether `schedule` passes the filter.
    pub fn matches(&self, schedule: &Schedule) -> bool {
        crate::glob::matches(&self.id, &schedule.id)
            && self.tags.iter().all(|(k, v)| schedule.tags.get(k) == Some(v))
    }
}

/// Reads and writes of schedules.
pub trait ScheduleTx {
    /// The schedule with this id.
    fn schedule(&mut self, id: &str) -> Result<Option<Schedule>, TxError>;

    /// Inserts the schedule and assigns its `sort_id`, unless one with its id exists; returns
    /// whether it inserted.
    fn insert_schedule(&mut self, schedule: &mut Schedule) -> Result<bool, TxError>;

    /// Deletes the schedule with this id; returns whether there was one.
    fn delete_schedule(&mut self, id: &str) -> Result<bool, TxError>;

    /// Schedules matching `filter` with `sort_id` below `before` (all when `None`), newest first,
    /// at most `limit`.
    fn search_schedules(
        &mut self,
        filter: &ScheduleFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Schedule>, TxError>;

    /// Schedules whose `next_run_time` is at or before `now`, by `next_run_time` then `sort_id`,
    /// at most `limit`.
    fn due_schedules(&mut self, now: i64, limit: usize) -> Result<Vec<Schedule>, TxError>;

    /// Moves an existing schedule on: sets its `last_run_time` and `next_run_time`.
    fn advance_schedule(&mut self, id: &str, last_run: i64, next_run: i64) -> Result<(), TxError>;

    /// The earliest `next_run_time` of all schedules.
    fn next_schedule_run(&mut self) -> Result<Option<i64>, TxError>;
}

/// A promise id template: text with `{{.id}}` (the schedule id) and `{{.timestamp}}` (the tick,
/// epoch ms in decimal) placeholders; spaces inside the braces are allowed.
///
/// Unlike Resonate, which renders with Go's `html/template` and so HTML-escapes the values
/// (`&` becomes `&amp;`), the values are inserted as they are: a promise id is not HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromiseIdTemplate(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Id,
    Timestamp,
}

/// A promise id template that cannot be rendered, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid promiseId template {}: {reason}", quoted(.template))]
pub struct InvalidTemplate {
    /// The template as given.
    pub template: String,
    /// What is wrong with it.
    pub reason: String,
}

impl PromiseIdTemplate {
    /// Parses a template; only `{{.id}}` and `{{.timestamp}}` are known.
    pub fn parse(template: &str) -> Result<Self, InvalidTemplate> {
        let invalid = |reason: String| InvalidTemplate { template: template.to_owned(), reason };
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(invalid("\"{{\" is never closed by \"}}\"".into()));
            };
            parts.push(match after[..close].trim() {
                ".id" => Part::Id,
                ".timestamp" => Part::Timestamp,
                other => {
                    return Err(invalid(format!(
                        "unknown placeholder {}; expected {{{{.id}}}} or {{{{.timestamp}}}}",
                        quoted(&format!("{{{{{other}}}}}"))
                    )));
                }
            });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(PromiseIdTemplate(parts))
    }

    /// The promise id for schedule `id` at tick `timestamp`.
    pub fn render(&self, id: &str, timestamp: i64) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Id => out.push_str(id),
                Part::Timestamp => out.push_str(&timestamp.to_string()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str) -> String {
        PromiseIdTemplate::parse(template).unwrap().render("s&1", 1_700_000_000_000)
    }

    #[test]
    fn placeholders_render_plainly() {
        assert_eq!(render("{{.id}}.{{.timestamp}}"), "s&1.1700000000000");
        assert_eq!(render("run-{{ .timestamp }}"), "run-1700000000000");
        assert_eq!(render("fixed"), "fixed");
        assert_eq!(render("{single} braces}"), "{single} braces}");
        assert_eq!(render(""), "");
    }

    #[test]
    fn unknown_or_unclosed_placeholders_are_refused() {
        let err = PromiseIdTemplate::parse("p-{{.when}}").unwrap_err().to_string();
        assert!(err.contains("{{.when}}") && err.contains("{{.timestamp}}"), "{err}");
        let err = PromiseIdTemplate::parse("p-{{.id").unwrap_err().to_string();
        assert!(err.contains("never closed"), "{err}");
    }

    #[test]
    fn minimal_schedule_json_matches_resonate() {
        let s = Schedule {
            id: "s".into(),
            description: String::new(),
            cron: "* * * * *".into(),
            tags: BTreeMap::new(),
            promise_id: "p".into(),
            promise_timeout: 5,
            promise_param: Value::default(),
            promise_tags: BTreeMap::new(),
            last_run_time: None,
            next_run_time: 60_000,
            idempotency_key: None,
            created_on: 1,
            sort_id: 9,
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"id":"s","cron":"* * * * *","promiseId":"p","promiseTimeout":5,"promiseParam":{},"nextRunTime":60000,"createdOn":1}"#
        );
        let full = Schedule {
            description: "d".into(),
            last_run_time: Some(0),
            idempotency_key: Some("k".into()),
            ..s
        };
        let json = serde_json::to_value(&full).unwrap();
        assert_eq!(json["desc"], "d");
        assert_eq!(json["lastRunTime"], 0);
        assert_eq!(json["idempotencyKey"], "k");
    }
}
