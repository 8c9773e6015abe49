//! Slack's Socket Mode: interactions and slash commands over an outbound
//! WebSocket, for servers Slack cannot reach (behind a firewall, no
//! public URL). With `slack.app_token` (an app-level token, `xapp-…`,
//! with `connections:write`), the alerter keeps one connection open.
//!
//! The protocol, as Slack's "Using Socket Mode" documents it: `POST
//! apps.connections.open` with the app token answers `{"ok": true, "url":
//! "wss://…"}`; the connection first says `{"type": "hello"}`; each event
//! comes as an envelope `{"envelope_id", "type", "payload",
//! "accepts_response_payload"}` of type `interactive` (the same payload
//! as the interactivity URL's) or `slash_commands` (the command's fields
//! as JSON), and must be acknowledged within 3 s by sending back
//! `{"envelope_id": …}`, with `"payload"` for a slash command's answer.
//! `{"type": "disconnect"}` asks for a new connection (Slack refreshes
//! them every few hours). A dropped connection, or one silent for 2
//! minutes (Slack pings it more often), is opened again with back-off
//! from 1 s to 1 min; a reload that changes the app token opens a new one.
//!
//! No signature is checked: only Slack, holding the app token's
//! connection, can send on it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value as Json};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::chatops::command;
use crate::chatops::config::Slack;
use crate::chatops::slack;
use crate::service::Service;

const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the session checks that it still hears Slack and that the
/// app token is the one in force.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Silence after which the connection counts as dead.
const SILENT_MAX: Duration = Duration::from_secs(120);

/// Keeps a Socket Mode connection open while the ChatOps file in force
/// has a Slack `app_token`; returns when the service is gone.
pub async fn run(svc: Weak<Service>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let app = {
            let Some(s) = svc.upgrade() else {
                return;
            };
            s.chatops()
                .and_then(|c| c.slack.clone())
                .filter(|a| a.app_token.is_some())
        };
        let Some(app) = app else {
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        };
        let ended = session(&svc, &app).await;
        if let Some(s) = svc.upgrade() {
            s.counters
                .socket_connected
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
        match ended {
            Ok(()) => backoff = Duration::from_secs(1),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "Slack Socket Mode: the connection failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// Asks Slack for a WebSocket URL with the app token.
async fn open(svc: &Service, app: &Slack) -> Result<String, String> {
    let token = app
        .app_token
        .as_ref()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let url = format!(
        "{}/apps.connections.open",
        app.api_url.trim_end_matches('/')
    );
    let sender = svc.sender.lock().clone();
    let auth = [("authorization", format!("Bearer {token}"))];
    let resp = sender
        .clients
        .post(None, &url, &auth, b"{}".to_vec(), OPEN_TIMEOUT)
        .await
        .map_err(|e| format!("apps.connections.open: {}", e.message))?;
    let v: Json = serde_json::from_slice(&resp.body).unwrap_or(Json::Null);
    if v["ok"] != Json::Bool(true) {
        return Err(format!(
            "apps.connections.open: {}",
            v["error"].as_str().unwrap_or(&resp.describe())
        ));
    }
    v["url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "apps.connections.open answered no url".to_string())
}

/// One connection, until Slack asks for another (`Ok`) or it fails.
async fn session(svc: &Weak<Service>, app: &Slack) -> Result<(), String> {
    let url = {
        let s = svc.upgrade().ok_or("stopping")?;
        open(&s, app).await?
    };
    let tls = tokio_tungstenite::Connector::Rustls(Arc::new(model::tls::default_config()));
    let (ws, _) = tokio::time::timeout(
        OPEN_TIMEOUT,
        tokio_tungstenite::connect_async_tls_with_config(&url, None, false, Some(tls)),
    )
    .await
    .map_err(|_| "no WebSocket within 10 s".to_string())?
    .map_err(|e| format!("WebSocket: {e}"))?;
    let (mut tx, mut rx) = ws.split();
    let (acks, mut queue) = tokio::sync::mpsc::channel::<Json>(64);
    let mut heard = tokio::time::Instant::now();
    let mut check = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            _ = check.tick() => {
                // Slack pings the connection; silence this long means it
                // is gone without a close.
                if heard.elapsed() > SILENT_MAX {
                    return Err(format!("nothing heard for {SILENT_MAX:?}"));
                }
                // A reload that changed or removed the app: a new session.
                let now = svc.upgrade().and_then(|s| s.chatops()).and_then(|c| c.slack.clone());
                if now.map(|a| a.app_token.clone()) != Some(app.app_token.clone()) {
                    tracing::info!("Slack Socket Mode: the app token changed; reconnecting");
                    return Ok(());
                }
            }
            out = queue.recv() => {
                let Some(out) = out else { continue };
                tx.send(Frame::text(out.to_string()))
                    .await
                    .map_err(|e| format!("WebSocket send: {e}"))?;
            }
            frame = rx.next() => {
                let frame = match frame {
                    None => return Err("the connection closed".into()),
                    Some(Err(e)) => return Err(format!("WebSocket: {e}")),
                    Some(Ok(f)) => f,
                };
                heard = tokio::time::Instant::now();
                let text = match frame {
                    Frame::Text(t) => t.to_string(),
                    Frame::Close(_) => return Err("Slack closed the connection".into()),
                    // Pings are answered by the library.
                    _ => continue,
                };
                let Ok(v) = serde_json::from_str::<Json>(&text) else {
                    tracing::warn!("Slack Socket Mode: a frame that is not JSON");
                    continue;
                };
                match v["type"].as_str().unwrap_or("") {
                    "hello" => {
                        if let Some(s) = svc.upgrade() {
                            s.counters.socket_connected.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        tracing::info!("Slack Socket Mode: connected");
                    }
                    "disconnect" => {
                        tracing::info!(reason = v["reason"].as_str().unwrap_or(""), "Slack Socket Mode: Slack asks for a new connection");
                        return Ok(());
                    }
                    _ => {
                        let Some(id) = v["envelope_id"].as_str().map(str::to_string) else {
                            continue;
                        };
                        let Some(s) = svc.upgrade() else {
                            return Ok(());
                        };
                        let acks = acks.clone();
                        tokio::spawn(async move {
                            let answer = envelope(&s, &v).await;
                            let mut ack = json!({"envelope_id": id});
                            if let Some(p) = answer {
                                ack["payload"] = p;
                            }
                            let _ = acks.send(ack).await;
                        });
                    }
                }
            }
        }
    }
}

/// Carries out an envelope; the payload to acknowledge it with, if any.
async fn envelope(s: &Arc<Service>, v: &Json) -> Option<Json> {
    let c = s.chatops()?;
    let app = c.slack.clone()?;
    match v["type"].as_str().unwrap_or("") {
        "interactive" => {
            match slack::parse_payload(&v["payload"]) {
                Ok(i) => {
                    // Acknowledge at once; the answer goes to the
                    // response_url and the edit follows.
                    let s = s.clone();
                    tokio::spawn(async move { s.slack_press(&c, i).await });
                }
                Err(e) => {
                    s.count_refused("slack", "malformed");
                    tracing::info!(error = %e, "Slack Socket Mode: an interaction that cannot be read");
                }
            }
            None
        }
        "slash_commands" => {
            let body = serde_json::to_vec(&v["payload"]).unwrap_or_default();
            match command::parse_request(&body) {
                Ok(t) => Some(s.slack_typed(&c, &app, &t).await),
                Err(e) => {
                    s.count_refused("slack", "malformed");
                    tracing::info!(error = %e, "Slack Socket Mode: a command that cannot be read");
                    None
                }
            }
        }
        other => {
            tracing::debug!(
                kind = other,
                "Slack Socket Mode: an envelope Watchfire does not use"
            );
            None
        }
    }
}
