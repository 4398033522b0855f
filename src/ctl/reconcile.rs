//! `synclinkctl integration reconcile ID --wait`: follow the run it started
//! until it ends. On a terminal a progress bar (issues read of the issues
//! the queries return); otherwise one plain line per change of progress,
//! so logs and scripts read it. Exit 1 when the run failed.

use super::client::{Client, CtlError};
use serde_json::Value;
use std::io::IsTerminal;
use std::time::Duration;

/// How often the run's state is asked for.
const POLL: Duration = Duration::from_millis(200);

/// Wait for the run `started` (the answer of `POST .../reconcile`).
pub fn wait(client: &Client, id: u64, started: &Value, json: bool) -> Result<String, CtlError> {
    let path = format!("/v1/integrations/{id}/reconcile");
    let since = started["run"]["started"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "reconcile {bar:40} {pos}/{len} issues ({elapsed})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut shown = (u64::MAX, u64::MAX);
    let state = loop {
        let v = client.call("GET", &path, None)?;
        // Done once no run is going and the last one is this one (or newer).
        let last_started = v["last_run"]["started"].as_str().unwrap_or_default();
        if v["running"] != Value::Bool(true)
            && !last_started.is_empty()
            && last_started >= since.as_str()
        {
            break v;
        }
        let read = v["progress"]["issues_read"].as_u64().unwrap_or(0);
        let total = v["progress"]["issues_total"].as_u64().unwrap_or(0);
        if (read, total) != shown {
            shown = (read, total);
            match &bar {
                Some(b) => {
                    b.set_length(total);
                    b.set_position(read);
                }
                None if !json => eprintln!("reconcile: {read}/{total} issues read"),
                None => {}
            }
        }
        std::thread::sleep(POLL);
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let last = &state["last_run"];
    let out = if json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&state).unwrap_or_default()
        )
    } else {
        let outcomes: Vec<String> = last["outcomes"]
            .as_object()
            .map(|m| m.iter().map(|(k, n)| format!("{k} {n}")).collect())
            .unwrap_or_default();
        format!(
            "reconcile of integration {id}: {} issues read, {} histories applied{}{}\n",
            last["issues_read"],
            last["histories_applied"],
            if outcomes.is_empty() {
                String::new()
            } else {
                format!(" ({})", outcomes.join(", "))
            },
            match last["error"].as_str() {
                Some(e) => format!("; failed: {e}"),
                None => String::new(),
            }
        )
    };
    match last["error"].as_str() {
        Some(e) => Err(CtlError::Failed {
            output: out,
            message: format!("the reconcile run failed: {e}"),
        }),
        None => Ok(out),
    }
}
