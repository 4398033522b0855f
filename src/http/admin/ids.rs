//! Snowflake IDs: `POST /v1/ids` issues one, `GET /v1/ids/{id}` decodes one.

use crate::actors::id::NextId;
use crate::domain::snowflake;
use crate::http::error::Error;
use crate::http::{ts, AppState};
use actix_web::{web, HttpResponse};
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/ids", web::post().to(issue))
        .route("/v1/ids/{id}", web::get().to(decode));
}

async fn issue(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let id = state.actors.ids.send(NextId).await??;
    Ok(HttpResponse::Ok().json(json!({ "id": id })))
}

async fn decode(state: web::Data<AppState>, id: web::Path<u64>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    let p = snowflake::decode(id).map_err(|e| Error::bad(e.to_string()))?;
    let epoch = state.config.ids.epoch_secs();
    Ok(HttpResponse::Ok().json(json!({
        "id": id,
        "version": p.version,
        "seconds": p.seconds,
        "timestamp": ts((epoch + p.seconds as i64) * 1000),
        "region": p.region,
        "sequence": p.sequence,
    })))
}
