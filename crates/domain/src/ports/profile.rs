//! Profiles, settings and IP allowlists.

use crate::model::ids::UserId;
use crate::model::profile::{Profile, Settings};
use async_trait::async_trait;
use ipnet::IpNet;

use super::StoreError;

/// An account's profile, settings and token IP allowlist.
#[async_trait]
pub trait ProfileRepo: Send {
    async fn profile(&mut self, user: UserId) -> Result<Profile, StoreError>;
    async fn save_profile(&mut self, user: UserId, profile: &Profile) -> Result<(), StoreError>;
    async fn settings(&mut self, user: UserId) -> Result<Settings, StoreError>;
    async fn save_settings(&mut self, user: UserId, settings: &Settings) -> Result<(), StoreError>;
    async fn allowlist(&mut self, user: UserId) -> Result<Vec<IpNet>, StoreError>;
    async fn save_allowlist(&mut self, user: UserId, cidrs: &[IpNet]) -> Result<(), StoreError>;
}
