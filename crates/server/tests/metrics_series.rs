//! `/metrics` of a freshly started server: every series the README lists is there from the start,
//! and no request counter exists for a status its operation cannot answer (as the README's
//! operation table lists them). A test binary of its own: the metrics recorder is per process.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Harness;

const README: &str = include_str!("../../../README.md");

/// The series names of the README's `GET /metrics` item.
fn listed_series() -> Vec<String> {
    let start = README.find("- `GET /metrics`").expect("the README lists the metrics");
    let item = &README[start..];
    let end = item[2..].find("\n-").map_or(item.len(), |i| i + 2);
    let item = &item[..end.min(item.find("\n\n").unwrap_or(item.len()))];
    let mut names = Vec::new();
    for (i, _) in item.match_indices("natsapi_") {
        let name: String = item[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
            .collect();
        names.push(name);
    }
    assert!(names.len() >= 8, "{names:?}");
    names
}

/// Each operation of the README's operation table with the statuses it lists, plus those the
/// README says any request can get (400 bad input, 500 store failure, 503 shutting down) and
/// 412 for the writes that take a fence (create, complete, callback).
fn documented_statuses() -> BTreeMap<String, BTreeSet<u16>> {
    let table = &README[README.find("### Operations").expect("the operation table")..];
    let (mut listed, mut statuses) = (BTreeMap::new(), BTreeMap::new());
    for row in table.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'))
    {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(name), Some(answers)) = (cells.get(1), cells.get(cells.len().saturating_sub(2)))
        else {
            continue;
        };
        let Some(name) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) else {
            continue;
        };
        let mut codes: BTreeSet<u16> = answers
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| n.len() == 3)
            .filter_map(|n| n.parse().ok())
            .collect();
        // "as `promises.callback`": the answers the table lists for an operation before.
        if let Some(other) = answers.strip_prefix("as `").and_then(|a| a.strip_suffix('`')) {
            codes.extend(listed.get(other).cloned().unwrap_or_default());
        }
        listed.insert(name.to_owned(), codes.clone());
        codes.extend([400, 500, 503]);
        if matches!(name, "promises.create" | "promises.complete" | "promises.callback") {
            codes.insert(412);
        }
        statuses.insert(name.to_owned(), codes);
    }
    assert_eq!(statuses.len(), 18, "{statuses:?}");
    statuses
}

/// The value of label `name` in a series line `metric{a="x",b="y"} 0`.
fn label<'a>(line: &'a str, name: &str) -> &'a str {
    let needle = format!("{name}=\"");
    let start = line.find(&needle).unwrap_or_else(|| panic!("{name} in {line}")) + needle.len();
    let rest = &line[start..];
    &rest[..rest.find('"').unwrap_or(rest.len())]
}

#[tokio::test]
async fn a_fresh_server_lists_every_readme_series_and_no_impossible_request_counter() {
    let h = Harness::start().await;
    let url = format!("http://{}/metrics", h.server().http_addr().unwrap());
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();

    for name in listed_series() {
        assert!(samples.iter().any(|l| l.starts_with(&name)), "{name} is missing:\n{text}");
    }

    let documented = documented_statuses();
    let requests: Vec<&str> =
        samples.iter().copied().filter(|l| l.starts_with("natsapi_requests_total{")).collect();
    let mut seen = BTreeSet::new();
    for line in &requests {
        let (transport, operation) = (label(line, "transport"), label(line, "operation"));
        let status: u16 = label(line, "status").parse().unwrap();
        let allowed = match operation {
            "unknown" | "invalid" => {
                assert_eq!(transport, "nats", "only NATS requests can name no operation: {line}");
                BTreeSet::from([400])
            }
            name => documented.get(name).unwrap_or_else(|| panic!("unknown {name}")).clone(),
        };
        assert!(allowed.contains(&status), "impossible series: {line}");
        assert!(line.ends_with(" 0"), "a fresh server counted a request: {line}");
        seen.insert((transport.to_owned(), operation.to_owned(), status));
    }
    // The example, and what must be there from the start instead.
    assert!(!seen.contains(&("nats".into(), "promises.read".into(), 201)));
    for transport in ["nats", "http"] {
        for (operation, statuses) in &documented {
            for status in statuses {
                let series = (transport.to_owned(), operation.clone(), *status);
                assert!(seen.contains(&series), "{series:?} is missing");
            }
        }
    }
    h.stop().await;
}
