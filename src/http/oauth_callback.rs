//! `GET /extensions/jira-server/oauth/callback?oauth_token=..&oauth_verifier=..`:
//! where the Jira admin's browser lands after authorising (or denying) the
//! connection. Answers a small HTML page; everything echoed is escaped.

use super::AppState;
use crate::actors::jira::{FinishHandshake, Handshake};
use crate::error::{Error, UpstreamStep};
use crate::http::error::{self, Surface};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(crate::jira::client::CALLBACK_PATH, web::get().to(callback));
}

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t}</title></head>\n\
         <body>\n<h1>{t}</h1>\n<p>{m}</p>\n</body>\n</html>\n",
        t = escape(title),
        m = escape(message)
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .body(body)
}

async fn callback(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let mut token = None;
    let mut verifier = None;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match k.as_ref() {
            "oauth_token" => token = Some(v.into_owned()),
            "oauth_verifier" => verifier = Some(v.into_owned()),
            _ => {}
        }
    }
    let token = match token {
        Some(t) if !t.is_empty() => t,
        _ => return page(
            StatusCode::BAD_REQUEST,
            "Jira connection failed",
            "Unknown OAuth token: the request carries no oauth_token. Start the connection again.",
        ),
    };
    let msg = FinishHandshake {
        handshake: Handshake::RequestToken(token),
        verifier,
    };
    match state.actors.jira.send(msg).await {
        Ok(Ok(i)) => page(
            StatusCode::OK,
            "Jira connection active",
            &format!(
                "synclink is now connected to Jira at {} and has registered its issue webhook. The connection is active; you can close this window.",
                i.base_url
            ),
        ),
        Ok(Err(e)) => {
            let status = error::status(&e, Surface::OAuthPage);
            let text = match &e {
                Error::Upstream { step, .. } => {
                    let hint = match step {
                        UpstreamStep::Webhook => {
                            "The integration stays pending with its access token: retry the registration with POST /v1/integrations/{id}/webhook on the admin API."
                        }
                        _ => {
                            "The integration stays pending: reload this page to retry (or post the verifier to POST /v1/integrations/{id}/verifier on the admin API); if Jira says the token expired, connect again."
                        }
                    };
                    format!("{e} {hint}")
                }
                Error::Storage(_) => "Storage is unavailable; try again.".to_string(),
                e => e.to_string(),
            };
            page(status, "Jira connection failed", &text)
        }
        Err(_) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Jira connection failed",
            "synclink is busy or shutting down; try again.",
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
