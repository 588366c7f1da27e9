//! Profiles, settings and IP allowlists.

use super::MemRepo;
use async_trait::async_trait;
use ipnet::IpNet;
use jobby_domain::model::ids::UserId;
use jobby_domain::model::profile::{Profile, Settings};
use jobby_domain::ports::{ProfileRepo, StoreError};

#[async_trait]
impl ProfileRepo for MemRepo<'_> {
    async fn profile(&mut self, user: UserId) -> Result<Profile, StoreError> {
        Ok(self.account(user)?.profile.clone())
    }
    async fn save_profile(&mut self, user: UserId, profile: &Profile) -> Result<(), StoreError> {
        self.account(user)?.profile = profile.clone();
        Ok(())
    }
    async fn settings(&mut self, user: UserId) -> Result<Settings, StoreError> {
        Ok(self.account(user)?.settings.clone().unwrap_or_default())
    }
    async fn save_settings(&mut self, user: UserId, settings: &Settings) -> Result<(), StoreError> {
        self.account(user)?.settings = Some(settings.clone());
        Ok(())
    }
    async fn allowlist(&mut self, user: UserId) -> Result<Vec<IpNet>, StoreError> {
        Ok(self.account(user)?.allowlist.clone())
    }
    async fn save_allowlist(&mut self, user: UserId, cidrs: &[IpNet]) -> Result<(), StoreError> {
        self.account(user)?.allowlist = cidrs.to_vec();
        Ok(())
    }
}
