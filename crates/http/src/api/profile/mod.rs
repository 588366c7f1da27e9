//! The caller's profile.

use jobby_domain::model::profile::Profile;
use serde::Serialize;
use utoipa::ToSchema;

operations! {
    get => get_profile,
    update => patch_profile,
}

#[derive(Serialize, ToSchema)]
pub struct ProfileBody {
    pub name: String,
    pub headline: Option<String>,
    pub skills: Vec<String>,
    pub location: Option<String>,
    pub links: Vec<String>,
    pub resume_text: Option<String>,
    /// Recruiter accounts only.
    pub company: Option<String>,
}

impl From<Profile> for ProfileBody {
    fn from(p: Profile) -> Self {
        ProfileBody {
            name: p.name,
            headline: p.headline,
            skills: p.skills,
            location: p.location,
            links: p.links,
            resume_text: p.resume_text,
            company: p.company,
        }
    }
}
