//! Video rooms on Daily.co. When both humans accept, the match gets a private room that
//! ejects everyone after the interview's cap (`eject_after_elapsed`) and holds two people.
//! Jobby's own room link admits a person (once, in their session, within 30 seconds); only
//! then is a meeting token minted for that room and that user, expiring 30 seconds later
//! (`exp`), and the browser sent on to Daily with it. `eject_at_token_exp` is never set: the
//! token bounds joining, not staying.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobby_domain::model::ids::UserId;
use jobby_domain::model::matches::{INTERVIEW_MAX_SECONDS, Match, room_url_lifetime};
use jobby_domain::ports::{VideoError, VideoRooms};
use serde::Deserialize;
use serde_json::{Value, json};

/// Daily's API, unless `DAILY_API_BASE` says otherwise.
pub const DEFAULT_API_BASE: &str = "https://api.daily.co/v1";
/// How long Daily keeps a room after its match was made; the interview itself is capped by
/// `eject_after_elapsed`.
pub const ROOM_LIFETIME_SECONDS: i64 = 24 * 60 * 60;

/// How to reach Daily. Holds the API key, so it does not implement `Debug`.
#[derive(Clone)]
pub struct DailyConfig {
    pub api_key: String,
    pub api_base: String,
    /// Each call to Daily gives up after this (connect included).
    pub timeout: Duration,
}

impl DailyConfig {
    pub fn new(api_key: impl Into<String>, api_base: Option<String>) -> Self {
        DailyConfig {
            api_key: api_key.into(),
            api_base: api_base.unwrap_or_else(|| DEFAULT_API_BASE.into()),
            timeout: Duration::from_secs(10),
        }
    }
}

pub struct DailyRooms {
    http: reqwest::Client,
    base: String,
    api_key: String,
}

#[derive(Deserialize)]
struct Room {
    url: String,
}

#[derive(Deserialize)]
struct MeetingToken {
    token: String,
}

impl DailyRooms {
    pub fn new(config: DailyConfig) -> Result<Arc<Self>, VideoError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| VideoError(format!("cannot build the Daily client: {e}")))?;
        Ok(Arc::new(DailyRooms {
            http,
            base: config.api_base.trim_end_matches('/').to_owned(),
            api_key: config.api_key,
        }))
    }

    /// One call to Daily. A transport failure, a time-out or any non-2xx answer is a
    /// `VideoError` carrying Daily's status and its `error`/`info` fields (never the key).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Result<Value, (u16, String)>, VideoError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.api_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| {
            let why = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            tracing::warn!(%method, path, error = %e, "Daily {why}");
            VideoError(format!("Daily {why}: {method} {path}"))
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| {
            tracing::warn!(%method, path, error = %e, "reading Daily's answer failed");
            VideoError(format!("reading Daily's answer to {method} {path} failed"))
        })?;
        if status.is_success() {
            return serde_json::from_str(&text).map(Ok).map_err(|e| {
                tracing::warn!(%method, path, error = %e, "Daily's answer is not the expected JSON");
                VideoError(format!("Daily's answer to {method} {path} is not JSON"))
            });
        }
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .map(|v| {
                let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                format!("{} {}", field("error"), field("info"))
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default();
        Ok(Err((status.as_u16(), detail)))
    }

    fn refused(what: &str, (status, detail): (u16, String)) -> VideoError {
        tracing::warn!(status, detail, "Daily refused to {what}");
        VideoError(format!("Daily answered {status} to {what}: {detail}"))
    }

    fn parse<T: for<'de> Deserialize<'de>>(v: Value, what: &str) -> Result<T, VideoError> {
        serde_json::from_value(v)
            .map_err(|e| VideoError(format!("Daily's answer to {what} lacks a field: {e}")))
    }
}

#[async_trait]
impl VideoRooms for DailyRooms {
    async fn create_room(&self, m: &Match) -> Result<(), VideoError> {
        let body = json!({
            "name": m.room_name(),
            "privacy": "private",
            "properties": {
                "max_participants": 2,
                "eject_after_elapsed": INTERVIEW_MAX_SECONDS,
                "exp": (m.created_at.timestamp() + ROOM_LIFETIME_SECONDS),
            },
        });
        match self
            .call(reqwest::Method::POST, "/rooms", Some(body))
            .await?
        {
            Ok(_) => Ok(()),
            // Created before (a retry, or another process): the room is there, which is all
            // that was asked.
            Err((400, detail)) if detail.contains("already exists") => Ok(()),
            Err(refusal) => Err(Self::refused("create a room", refusal)),
        }
    }

    async fn enter(
        &self,
        m: &Match,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, VideoError> {
        let name = m.room_name.clone().unwrap_or_else(|| m.room_name());
        let expires_at = now + room_url_lifetime();
        let token = json!({
            "properties": {
                "room_name": name,
                "user_id": user.to_string(),
                "exp": expires_at.timestamp(),
            },
        });
        let token: MeetingToken = Self::parse(
            self.call(reqwest::Method::POST, "/meeting-tokens", Some(token))
                .await?
                .map_err(|r| Self::refused("issue a meeting token", r))?,
            "a meeting token",
        )?;
        let room: Room = Self::parse(
            self.call(reqwest::Method::GET, &format!("/rooms/{name}"), None)
                .await?
                .map_err(|r| Self::refused("look the room up", r))?,
            "a room lookup",
        )?;
        Ok(Some(format!("{}?t={}", room.url, token.token)))
    }
}
