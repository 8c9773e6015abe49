//! `/api/v1/chatops/…`: the chats' callbacks. Each handler reads the raw
//! body (up to the alerter's limit; longer ones are refused with 413 and
//! counted), hands it with the chat's headers to the alerter, which
//! verifies the request before reading anything in it, and answers what
//! the alerter says.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use alerter::chatops::serve::{Reply, BODY_LIMIT};
use alerter::chatops::verify::Chat;

use crate::server::AppState;

fn answer(r: Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if r.body.is_null() {
        status.into_response()
    } else {
        (status, axum::Json(r.body)).into_response()
    }
}

/// The alerter and the body of a chat's callback, read to at most
/// [`BODY_LIMIT`] bytes; else the answer: 404 without an alerter, 413 for
/// a longer body (counted as refused for `chat`).
async fn take(
    state: &AppState,
    chat: Chat,
    body: Body,
) -> Result<(Arc<alerter::Service>, axum::body::Bytes), Response> {
    let Some(svc) = state.alerter.clone() else {
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => Ok((svc, b)),
        Err(_) => {
            svc.refused_too_large(chat);
            Err(StatusCode::PAYLOAD_TOO_LARGE.into_response())
        }
    }
}

/// A header's value, when it is text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Slack's timestamp and signature headers, which every Slack request
/// carries.
fn slack_headers(headers: &HeaderMap) -> (Option<&str>, Option<&str>) {
    (
        header(headers, "x-slack-request-timestamp"),
        header(headers, "x-slack-signature"),
    )
}

/// `POST /api/v1/chatops/slack/interactions`: Slack's interactivity
/// request URL.
pub async fn slack_interactions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (svc, bytes) = match take(&state, Chat::Slack, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (ts, sig) = slack_headers(&headers);
    answer(svc.slack_interaction(ts, sig, &bytes).await)
}

/// `POST /api/v1/chatops/slack/commands`: the slash command's request
/// URL.
pub async fn slack_commands(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (svc, bytes) = match take(&state, Chat::Slack, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (ts, sig) = slack_headers(&headers);
    answer(svc.slack_command(ts, sig, &bytes).await)
}

/// `POST /api/v1/chatops/mattermost/commands`: the Mattermost slash
/// command's request URL.
pub async fn mattermost_commands(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (svc, bytes) = match take(&state, Chat::Mattermost, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    answer(
        svc.mattermost_command(header(&headers, "authorization"), &bytes)
            .await,
    )
}

/// `POST /api/v1/chatops/discord/interactions`: the Discord
/// application's interactions endpoint URL.
pub async fn discord_interactions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (svc, bytes) = match take(&state, Chat::Discord, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (ts, sig) = (
        header(&headers, "x-signature-timestamp"),
        header(&headers, "x-signature-ed25519"),
    );
    answer(svc.discord_interaction(ts, sig, &bytes).await)
}

/// `POST /api/v1/chatops/telegram/webhook`: the URL given to Telegram's
/// `setWebhook`, with its `secret_token`.
pub async fn telegram_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (svc, bytes) = match take(&state, Chat::Telegram, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let secret = header(&headers, "x-telegram-bot-api-secret-token");
    answer(svc.telegram_webhook(secret, &bytes).await)
}

/// `POST /api/v1/chatops/mattermost/actions`: the `integration.url` of
/// each attachment action Watchfire's Mattermost posts carry.
pub async fn mattermost_actions(State(state): State<Arc<AppState>>, body: Body) -> Response {
    let (svc, bytes) = match take(&state, Chat::Mattermost, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    answer(svc.mattermost_action(&bytes).await)
}

/// `GET /api/v1/chatops/graph/{token}.png`: the graph a notification
/// shows, under a token that allows only that; 404 for an unknown token,
/// 410 once it expired.
pub async fn graph(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let Some(svc) = state.alerter.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(token) = file.strip_suffix(".png") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match svc.graph_png(token).await {
        Ok(png) => (
            StatusCode::OK,
            [
                (axum::http::header::CONTENT_TYPE, "image/png"),
                (axum::http::header::CACHE_CONTROL, "private, max-age=60"),
            ],
            png,
        )
            .into_response(),
        Err((status, why)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            why,
        )
            .into_response(),
    }
}
