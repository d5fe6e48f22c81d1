//! Built-in presets, each a settings document that a settings file refines
//! with JSON merge-patch semantics (objects merge key by key; a list in the
//! file replaces the preset's list).

use serde_json::{Value, json};

/// A named starting policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// No network; secrets unreadable; writes only in the working directory.
    Conservative,
    /// The recommended default for agents: a few package and API hosts.
    Balanced,
    /// Trusted code: any domain except internal ones.
    Permissive,
}

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Conservative, Preset::Balanced, Preset::Permissive];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Conservative => "conservative",
            Preset::Balanced => "balanced",
            Preset::Permissive => "permissive",
        }
    }

    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The preset as a settings document.
    pub fn settings(self) -> Value {
        match self {
            Preset::Conservative => json!({
                "network": {"allowedDomains": [], "deniedDomains": []},
                "filesystem": {
                    "denyRead": ["~/.ssh", "~/.anthropic", "~/.aws", "~/.kube", "~/.docker", "/root", "/etc/passwd"],
                    "allowWrite": ["."],
                    "denyWrite": [".env", ".git", "~/.ssh"]
                }
            }),
            Preset::Balanced => json!({
                "network": {
                    "allowedDomains": ["api.github.com", "*.pypi.org", "api.anthropic.com"],
                    "deniedDomains": ["localhost", "127.0.0.1", "internal-*"]
                },
                "filesystem": {
                    "denyRead": ["~/.ssh", "~/.anthropic", "~/.aws", "/root"],
                    "allowWrite": [".", "/tmp", "logs/", "cache/"],
                    "denyWrite": [".env", ".git", "config.json"]
                }
            }),
            Preset::Permissive => json!({
                "network": {"allowedDomains": ["*"], "deniedDomains": ["internal.company.com"]},
                "filesystem": {
                    "denyRead": ["~/.anthropic", "~/.aws"],
                    "allowWrite": [".", "/tmp"],
                    "denyWrite": [".env", ".git/"]
                }
            }),
        }
    }
}
