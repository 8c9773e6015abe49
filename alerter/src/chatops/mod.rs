//! ChatOps: the interactive-notification parts, where a chat calls back
//! into Watchfire (a button pressed under a notification, a slash
//! command typed in a channel) rather than only receiving messages.
//!
//! - [`verify`]: proves that a callback came from the chat (Slack's
//!   HMAC, Discord's Ed25519, Telegram's and Mattermost's shared
//!   tokens) before anything in it is read; pure functions over the raw
//!   request parts, with refusals that name their reason and status.
//! - [`config`]: the ChatOps file (`--chatops.config.file`), apart from
//!   `alertmanager.yml`, read and checked with file, line and reason.
//! - [`discord`]: the Discord message with its components, the
//!   interaction, and the answers that edit the message.
//! - [`graph`]: the alert's graph, asked of the server's renderer, for
//!   email and chat messages.
//! - [`serve`]: a verified callback acted on: allowlists, tokens, the
//!   action, the message edited.
//! - [`slack`]: the interactive Slack message, its restatements, the
//!   interaction payload and the Web API calls.
//! - [`telegram`]: the Telegram message with its keyboard, its
//!   restatements, the callback query and the Bot API calls.
//! - [`state`]: action tokens and the chat messages sent per group, in
//!   `alerter.db`.

pub mod config;
pub mod discord;
pub mod graph;
pub mod serve;
pub mod slack;
pub mod state;
pub mod telegram;
pub mod verify;

use crate::ack::Answer;
use crate::chatops::config::Receiver;
use crate::chatops::state::Silenced;

/// What a message says about its group beyond the templates: its state
/// and what it offers.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub token: &'a str,
    pub receiver: &'a Receiver,
    pub answer: Option<&'a Answer>,
    pub silenced: Option<&'a Silenced>,
    /// When the group resolved, if it has.
    pub resolved_at: Option<i64>,
    /// The first `runbook_url` annotation of the group's alerts.
    pub runbook: Option<&'a str>,
}
