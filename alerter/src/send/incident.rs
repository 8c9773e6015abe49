//! Incident tools: PagerDuty (Events API v2 with a routing key, v1 with a
//! service key) and Opsgenie (create, close when resolved, update). Both
//! key their incidents by the SHA-256 of the group key, so later
//! notifications of a group update the same incident.

use httpclient::Method;
use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use super::{go_json, secret_or_file, timeout, truncate_runes, Render, Sender, TIMEOUT};
use crate::notify::SendError;
use crate::receiver::{OpsgenieConfig, PagerdutyConfig};
use crate::runtime::Delivery;

const PAGERDUTY_V1: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
const MAX_EVENT: usize = 512_000;

/// Upstream `Key.Hash()`: the SHA-256 of the group key, in hex.
pub fn key_hash(group_key: &str) -> String {
    Sha256::digest(group_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A response's verdict: 2xx is success; 5xx and `also` may be retried.
fn verdict(r: &super::http::Response, also: u16, detail: String) -> Result<(), SendError> {
    if (200..300).contains(&r.status) {
        return Ok(());
    }
    let message = if detail.is_empty() {
        r.describe()
    } else {
        format!("unexpected status code {}: {detail}", r.status)
    };
    Err(SendError {
        message,
        retry: r.status >= 500 || r.status == also,
    })
}

fn pagerduty_details(r: &mut Render, c: &PagerdutyConfig, d: &Delivery, now: i64) -> Json {
    let mut out = Map::new();
    let (firing, resolved): (Vec<Json>, Vec<Json>) = d
        .alerts
        .iter()
        .map(|a| crate::notify::alert_json(a, now))
        .partition(|a| a["status"] == "firing");
    // Upstream's defaults render the alerts with `toJson` and their
    // counts; the same values, built directly.
    let (num_firing, num_resolved) = (firing.len(), resolved.len());
    for (k, v) in [
        ("firing", Json::from(firing)),
        ("resolved", Json::from(resolved)),
        ("num_firing", Json::from(num_firing)),
        ("num_resolved", Json::from(num_resolved)),
    ] {
        if !c.details.contains_key(k) {
            out.insert(k.into(), v);
        }
    }
    for (k, v) in &c.details {
        let key = r.text(k);
        out.insert(key, r.json(v, true));
    }
    Json::Object(out)
}

fn pagerduty_errors(r: &super::http::Response) -> String {
    if r.status != 400 {
        return String::new();
    }
    let v: Json = serde_json::from_slice(&r.body).unwrap_or(Json::Null);
    let msg = v["message"].as_str().unwrap_or("");
    let errs: Vec<&str> = v["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e.as_str()).collect())
        .unwrap_or_default();
    if msg.is_empty() && errs.is_empty() {
        return String::new();
    }
    format!("{msg}: {}", errs.join(","))
}

/// PagerDuty: `trigger` while anything fires, `resolve` after.
pub async fn pagerduty(
    s: &Sender,
    c: &PagerdutyConfig,
    d: &Delivery,
    now: i64,
) -> Result<(), SendError> {
    let mut r = s.render(d, now);
    let resolved = !d.alerts.iter().any(|a| !a.is_resolved(now));
    let action = if resolved { "resolve" } else { "trigger" };
    let key = key_hash(&d.group_key);
    let v1 = !c.service_key.is_empty() || !c.service_key_file.is_empty();
    let description = r.text(
        c.description
            .as_deref()
            .unwrap_or("{{ template \"pagerduty.default.description\" .}}"),
    );
    let (summary, cut) = truncate_runes(&description, 1024);
    if cut {
        tracing::warn!(receiver = %d.receiver, "PagerDuty summary truncated to 1024 characters");
    }
    let client = r.or(&c.client, "pagerduty.default.client");
    let client_url = r.or(&c.client_url, "pagerduty.default.clientURL");
    let details = pagerduty_details(&mut r, c, d, now);
    let mut msg = Map::new();
    let (url, also) = if v1 {
        let raw = secret_or_file(&c.service_key, &c.service_key_file)?;
        let service_key = r.text(&raw);
        r.check()?;
        if service_key.is_empty() {
            return Err(SendError::fatal("service key cannot be empty"));
        }
        msg.insert("service_key".into(), service_key.into());
        msg.insert("incident_key".into(), key.into());
        msg.insert("event_type".into(), action.into());
        msg.insert("description".into(), summary.into());
        msg.insert("event_action".into(), "".into());
        msg.insert("payload".into(), Json::Null);
        if !resolved {
            msg.insert("client".into(), client.into());
            msg.insert("client_url".into(), client_url.into());
        }
        msg.insert("details".into(), details);
        (PAGERDUTY_V1.to_string(), 403)
    } else {
        let raw = secret_or_file(&c.routing_key, &c.routing_key_file)?;
        let routing_key = r.text(&raw);
        let source = if c.source.is_empty() {
            client.clone()
        } else {
            r.text(&c.source)
        };
        let severity = if c.severity.is_empty() {
            "error".to_string()
        } else {
            r.text(&c.severity)
        };
        let mut payload = Map::new();
        payload.insert("summary".into(), summary.into());
        payload.insert("source".into(), source.into());
        payload.insert("severity".into(), severity.into());
        for (k, v) in [
            ("class", &c.class),
            ("component", &c.component),
            ("group", &c.group),
        ] {
            let v = r.text(v);
            if !v.is_empty() {
                payload.insert(k.into(), v.into());
            }
        }
        payload.insert("custom_details".into(), details);
        let images: Vec<Json> = c
            .images
            .iter()
            .map(|i| json!({"src": r.text(&i.src), "alt": r.text(&i.alt), "href": r.text(&i.href)}))
            .filter(|i| i["src"] != "")
            .collect();
        let links: Vec<Json> = c
            .links
            .iter()
            .map(|l| json!({"href": r.text(&l.href), "text": r.text(&l.text)}))
            .filter(|l| l["href"] != "")
            .collect();
        r.check()?;
        if routing_key.is_empty() {
            return Err(SendError::fatal("routing key cannot be empty"));
        }
        msg.insert("routing_key".into(), routing_key.into());
        msg.insert("dedup_key".into(), key.into());
        msg.insert("event_action".into(), action.into());
        msg.insert("payload".into(), payload.into());
        msg.insert("client".into(), client.into());
        msg.insert("client_url".into(), client_url.into());
        if !images.is_empty() {
            msg.insert("images".into(), images.into());
        }
        if !links.is_empty() {
            msg.insert("links".into(), links.into());
        }
        let url = c
            .url
            .clone()
            .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into());
        (url, 429)
    };
    let mut body = go_json(&Json::Object(msg.clone()));
    if body.len() > MAX_EVENT {
        let note = json!({"error": "Custom details have been removed because the original event exceeds the maximum size of 512KB"});
        if v1 {
            msg.insert("details".into(), note);
        } else if let Some(p) = msg.get_mut("payload") {
            p["custom_details"] = note;
        }
        body = go_json(&Json::Object(msg));
    }
    let resp = s
        .clients
        .post(
            c.http_config.as_ref(),
            &url,
            &[],
            body,
            timeout(&c.timeout).unwrap_or(TIMEOUT),
        )
        .await
        .map_err(|e| e.context("failed to post message to PagerDuty"))?;
    verdict(&resp, also, pagerduty_errors(&resp))
}

/// Upstream's `safeSplit`: the whole trimmed, split on `sep`, empty
/// pieces dropped (pieces are not trimmed).
fn safe_split(s: &str, sep: char) -> Vec<String> {
    s.trim()
        .split(sep)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Opsgenie: creates the group's alert (and updates its message and
/// description with `update_alerts`), or closes it once all resolved.
pub async fn opsgenie(
    s: &Sender,
    c: &OpsgenieConfig,
    d: &Delivery,
    now: i64,
) -> Result<(), SendError> {
    let mut r = s.render(d, now);
    let alias = key_hash(&d.group_key);
    let resolved = !d.alerts.iter().any(|a| !a.is_resolved(now));
    let raw_key = secret_or_file(&c.api_key, &c.api_key_file)?;
    let key = r.text(&raw_key);
    let base = {
        let mut u = c
            .api_url
            .clone()
            .unwrap_or_else(|| "https://api.opsgenie.com/".into());
        if !u.ends_with('/') {
            u.push('/');
        }
        u
    };
    let source = r.or(&c.source, "opsgenie.default.source");
    let mut requests: Vec<(Method, String, Json)> = Vec::new();
    if resolved {
        requests.push((
            Method::POST,
            format!("{base}v2/alerts/{alias}/close?identifierType=alias"),
            json!({ "source": source }),
        ));
    } else {
        let (message, _) = truncate_runes(&r.or(&c.message, "opsgenie.default.message"), 130);
        let description = r.or(&c.description, "opsgenie.default.description");
        let mut details: Map<String, Json> = crate::notify::common(&d.alerts, |a| &a.labels)
            .into_iter()
            .map(|(k, v)| (k, Json::String(v)))
            .collect();
        for (k, v) in &c.details {
            details.insert(k.clone(), r.text(v).into());
        }
        let mut responders = Vec::new();
        for p in &c.responders {
            let (id, name, username, kind) = (
                r.text(&p.id),
                r.text(&p.name),
                r.text(&p.username),
                r.text(&p.kind),
            );
            if id.is_empty() && name.is_empty() && username.is_empty() && kind.is_empty() {
                continue;
            }
            if kind == "teams" {
                for team in safe_split(&name, ',') {
                    responders.push(json!({"name": team, "type": "team"}));
                }
                continue;
            }
            let mut m = Map::new();
            for (k, v) in [("id", id), ("name", name), ("username", username)] {
                if !v.is_empty() {
                    m.insert(k.into(), v.into());
                }
            }
            m.insert("type".into(), kind.into());
            responders.push(Json::Object(m));
        }
        let mut msg = Map::new();
        msg.insert("alias".into(), alias.clone().into());
        msg.insert("message".into(), message.clone().into());
        if !description.is_empty() {
            msg.insert("description".into(), description.clone().into());
        }
        msg.insert("details".into(), details.into());
        msg.insert("source".into(), source.into());
        if !responders.is_empty() {
            msg.insert("responders".into(), responders.into());
        }
        let tags = safe_split(&r.text(&c.tags), ',');
        if !tags.is_empty() {
            msg.insert("tags".into(), tags.into());
        }
        for (k, v) in [
            ("note", &c.note),
            ("priority", &c.priority),
            ("entity", &c.entity),
        ] {
            let v = r.text(v);
            if !v.is_empty() {
                msg.insert(k.into(), v.into());
            }
        }
        let actions = safe_split(&r.text(&c.actions), ',');
        if !actions.is_empty() {
            msg.insert("actions".into(), actions.into());
        }
        requests.push((Method::POST, format!("{base}v2/alerts"), Json::Object(msg)));
        if c.update_alerts {
            requests.push((
                Method::PUT,
                format!("{base}v2/alerts/{alias}/message?identifierType=alias"),
                json!({ "message": message }),
            ));
            requests.push((
                Method::PUT,
                format!("{base}v2/alerts/{alias}/description?identifierType=alias"),
                json!({ "description": description }),
            ));
        }
    }
    r.check().map_err(|e| e.context("templating error"))?;
    let auth = [("authorization", format!("GenieKey {key}"))];
    for (method, url, body) in requests {
        let resp = s
            .clients
            .request(
                method,
                c.http_config.as_ref(),
                &url,
                "application/json",
                &auth,
                go_json(&body),
                TIMEOUT,
            )
            .await?;
        verdict(&resp, 429, String::new())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_key_hash_is_sha256_hex() {
        assert_eq!(
            key_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn safe_split_keeps_inner_spaces() {
        assert_eq!(safe_split(" a, b,,c ", ','), ["a", " b", "c"]);
    }
}
