//! Reconcile (SPEC section 11): `POST /v1/integrations/{id}/reconcile`
//! starts a run (202; 409 while one is going), `GET` shows the cursor, the
//! run going on with its progress, and the last run. The runs are the
//! `ReconcileActor`'s.

use crate::actors::reconcile::{RunInfo, Start, Status};
use crate::domain::Id;
use crate::http::error::Error;
use crate::http::{ts, AppState};
use actix_web::{web, HttpResponse};
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/integrations/{id}/reconcile", web::post().to(start))
        .route("/v1/integrations/{id}/reconcile", web::get().to(status));
}

/// The optional body `{since?: RFC 3339}` (an empty body is `{}`): where
/// the run reads from, in ms.
fn since(body: &[u8]) -> Result<Option<i64>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Error::bad(format!("the body is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::bad("the body must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| k.as_str() != "since") {
        return Err(Error::bad(format!(
            "unknown field `{k}` (the body takes `since`)"
        )));
    }
    match obj.get("since") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => {
            let t = chrono::DateTime::parse_from_rfc3339(s.trim())
                .map_err(|_| {
                    Error::bad(format!(
                        "`since` must be an RFC 3339 time such as 2026-01-31T08:00:00Z, not `{s}`"
                    ))
                })?
                .timestamp_millis();
            if t > crate::domain::now_ms() {
                return Err(Error::bad(format!("`since` ({s}) is in the future")));
            }
            Ok(Some(t))
        }
        Some(_) => Err(Error::bad(
            "`since` must be an RFC 3339 time (a string), such as 2026-01-31T08:00:00Z",
        )),
    }
}

fn run_view(r: &RunInfo) -> serde_json::Value {
    json!({
        "integration": r.integration,
        "started": ts(r.started),
        "from": ts(r.from),
        "manual": r.manual,
    })
}

async fn start(
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let since = since(&body)?;
    let run = state
        .actors
        .reconcile
        .send(Start {
            integration: id.into_inner(),
            since,
        })
        .await??;
    Ok(HttpResponse::Accepted().json(json!({ "run": run_view(&run) })))
}

async fn status(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let v = state
        .actors
        .reconcile
        .send(Status(id.into_inner()))
        .await??;
    let last_run = v.last_run.as_ref().map(|l| {
        json!({
            "started": ts(l.started),
            "finished": ts(l.finished),
            "issues_read": l.issues_read,
            "histories_applied": l.histories_applied,
            "outcomes": l.outcomes,
            "error": l.error,
        })
    });
    Ok(HttpResponse::Ok().json(json!({
        "cursor": v.cursor.map(ts),
        "running": v.running.is_some(),
        "run": v.running.as_ref().map(run_view),
        "progress": v.progress,
        "last_run": last_run,
    })))
}

#[cfg(test)]
mod tests {
    use super::since;

    #[test]
    fn the_body_is_empty_or_names_since_only() {
        assert_eq!(since(b"").unwrap(), None);
        assert_eq!(since(b" {} ").unwrap(), None);
        assert_eq!(since(br#"{"since": null}"#).unwrap(), None);
        assert_eq!(
            since(br#"{"since": "2025-11-28T15:44:11Z"}"#).unwrap(),
            Some(1_764_344_651_000)
        );
        for (body, says) in [
            (&b"{"[..], "not JSON"),
            (b"[]", "JSON object"),
            (br#"{"since": 5}"#, "RFC 3339"),
            (br#"{"since": "yesterday"}"#, "`yesterday`"),
            (br#"{"since": "2999-01-01T00:00:00Z"}"#, "future"),
            (
                br#"{"from": "2025-11-28T15:44:11Z"}"#,
                "unknown field `from`",
            ),
        ] {
            let e = since(body).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
