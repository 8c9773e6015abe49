//! The confirmation page of a signed action link
//! (`/chatops/{token}/{action}?sig=…`, see `alerter::chatops::links`):
//! `GET` shows the group and what the action will do, and asks who acts;
//! only the page's form, a `POST`, acts. The page is plain HTML with the
//! UI's stylesheet and no script, so it works in any mail client's
//! browser, and nothing that merely fetches the link (a preview, a mail
//! scanner) changes anything.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use alerter::chatops::links::Page;

use crate::server::AppState;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A whole page around `body`; links and the stylesheet under the
/// external URL's path.
fn page(st: &AppState, status: u16, title: &str, body: &str) -> Response {
    let prefix = esc(&st.link_prefix);
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{} · Watchfire</title>\n\
         <link rel=\"icon\" href=\"{prefix}/static/favicon.svg\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"{prefix}/static/app.css\">\n</head>\n<body>\n\
         <header><a class=\"brand\" href=\"{prefix}/alert-groups\">Watchfire</a></header>\n\
         <main class=\"confirm\">\n{body}\n\
         <p><a href=\"{prefix}/alert-groups\">All alert groups</a></p>\n</main>\n</body>\n</html>\n",
        esc(title)
    );
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // The link's signature must not leave in a Referer.
            (header::REFERRER_POLICY, "no-referrer"),
            (header::HeaderName::from_static("x-robots-tag"), "noindex"),
        ],
        html,
    )
        .into_response()
}

fn refused(st: &AppState, (status, why): (u16, String)) -> Response {
    page(
        st,
        status,
        "Not done",
        &format!(
            "<h1>Nothing was done</h1>\n<p class=\"error\">{}</p>",
            esc(&why)
        ),
    )
}

fn question(p: &Page) -> String {
    match p.action.as_str() {
        "ack" => "Acknowledge this alert group? Repeats stop until it resolves; the resolved notice names you.",
        "unack" => "Take the acknowledgement back? Repeats resume.",
        "silence" => "Silence this alert group? A silence matching its labels, made in your name, which amtool and the UI show.",
        "snooze" => "Snooze this alert group? Repeats are held until the time you pick, then resume.",
        _ => "Act on this alert group?",
    }
    .to_string()
}

fn form(p: &Page, sig: &str) -> String {
    let mut f = format!(
        "<form method=\"post\">\n<input type=\"hidden\" name=\"sig\" value=\"{}\">\n\
         <p><label>Your name <input name=\"who\" required maxlength=\"100\" autocomplete=\"name\"></label></p>\n",
        esc(sig)
    );
    if !p.choices.is_empty() {
        f.push_str("<p><label>For <select name=\"value\">");
        for (label, value) in &p.choices {
            f.push_str(&format!(
                "<option value=\"{}\">{}</option>",
                esc(value),
                esc(label)
            ));
        }
        f.push_str("</select></label></p>\n");
    }
    f.push_str(&format!(
        "<p><button class=\"primary\" type=\"submit\">{}</button></p>\n</form>",
        esc(&p.label)
    ));
    f
}

fn describe(p: &Page) -> String {
    let labels: Vec<String> = p
        .group_labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    let mut out = format!(
        "<p>Receiver <b>{}</b>, group <code>{{{}}}</code></p>\n<ul>\n",
        esc(&p.receiver),
        esc(&labels.join(", "))
    );
    for (ls, firing) in &p.alerts {
        out.push_str(&format!(
            "<li><code>{}</code> {}</li>\n",
            esc(ls),
            if *firing { "firing" } else { "resolved" }
        ));
    }
    out.push_str("</ul>\n");
    if let Some(s) = &p.state {
        out.push_str(&format!("<p>{}</p>\n", esc(s).replace('\n', "<br>")));
    }
    if let Some(r) = &p.runbook {
        out.push_str(&format!("<p><a href=\"{}\">Runbook</a></p>\n", esc(r)));
    }
    out
}

#[derive(serde::Deserialize)]
pub struct Sig {
    #[serde(default)]
    sig: String,
}

/// `GET /chatops/{token}/{action}?sig=…`: shows; changes nothing.
pub async fn show(
    State(st): State<Arc<AppState>>,
    Path((token, action)): Path<(String, String)>,
    Query(q): Query<Sig>,
) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return refused(&st, (404, "This server runs no alerter.".into()));
    };
    match svc.link_page(&token, &action, &q.sig) {
        Ok(p) => {
            let body = format!(
                "<h1>{}</h1>\n<p>{}</p>\n{}{}",
                esc(&p.label),
                esc(&question(&p)),
                describe(&p),
                form(&p, &q.sig)
            );
            page(&st, 200, &p.label, &body)
        }
        Err(r) => refused(&st, r),
    }
}

#[derive(serde::Deserialize)]
pub struct Answer {
    #[serde(default)]
    sig: String,
    #[serde(default)]
    who: String,
    #[serde(default)]
    value: Option<String>,
}

/// `POST /chatops/{token}/{action}` (the page's form): acts.
pub async fn act(
    State(st): State<Arc<AppState>>,
    Path((token, action)): Path<(String, String)>,
    axum::Form(a): axum::Form<Answer>,
) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return refused(&st, (404, "This server runs no alerter.".into()));
    };
    let value = a.value.as_deref().filter(|v| !v.is_empty());
    match svc.link_act(&token, &action, &a.sig, &a.who, value).await {
        Ok(done) => page(
            &st,
            200,
            "Done",
            &format!("<h1>Done</h1>\n<p>{}</p>", esc(&done)),
        ),
        Err(r) => refused(&st, r),
    }
}
