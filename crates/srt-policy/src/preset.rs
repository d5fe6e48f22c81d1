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
    /// Every preset, from the most restrictive to the least.
    pub const ALL: [Preset; 3] = [Preset::Conservative, Preset::Balanced, Preset::Permissive];

    /// The name `--preset` takes (`conservative`, `balanced`,
    /// `permissive`), also its serialized form.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Conservative => "conservative",
            Preset::Balanced => "balanced",
            Preset::Permissive => "permissive",
        }
    }

    /// The preset `--preset NAME` names, matched exactly (lower case);
    /// `None` for any other name.
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

/// Where credentials live in a user's home: tokens, keys, cloud and registry
/// logins, and shell histories (which hold pasted tokens). Unreadable in the
/// untrusted-code default of `srt-mcp`.
pub const CREDENTIAL_STORES: [&str; 30] = [
    "~/.ssh",
    "~/.gnupg",
    "~/.aws",
    "~/.azure",
    "~/.config/gcloud",
    "~/.kube",
    "~/.docker",
    "~/.netrc",
    "~/.git-credentials",
    "~/.config/git/credentials",
    "~/.npmrc",
    "~/.yarnrc.yml",
    "~/.pypirc",
    "~/.cargo/credentials",
    "~/.cargo/credentials.toml",
    "~/.anthropic",
    "~/.claude/.credentials.json",
    "~/.config/gh",
    "~/.config/hub",
    "~/.vault-token",
    "~/.pgpass",
    "~/.my.cnf",
    "~/.password-store",
    "~/.local/share/keyrings",
    "~/.terraform.d/credentials.tfrc.json",
    "~/.bash_history",
    "~/.zsh_history",
    "~/.python_history",
    "~/.srt-settings.json",
    // Kerberos tickets: the sandbox's /tmp shows the host's.
    "/tmp/krb5cc_*",
];

/// The credential stores of a home other than the one `~` stands for (the
/// account's home from the password database, when `$HOME` says otherwise
/// or is unset): the same entries, made absolute.
pub fn credential_stores_in(home: &std::path::Path) -> impl Iterator<Item = std::path::PathBuf> + '_ {
    CREDENTIAL_STORES.iter().filter_map(move |e| e.strip_prefix("~/").map(|rest| home.join(rest)))
}

/// What `srt-mcp` runs code under when no settings file exists (DESIGN.md:
/// "a policy for untrusted code"): no network, no writes (each execution
/// adds its own workspace), and the credential stores unreadable. The
/// `srt` command keeps srt's own default (reads allowed everywhere).
pub fn untrusted_code() -> Value {
    json!({
        "network": {"allowedDomains": [], "deniedDomains": []},
        "filesystem": {"denyRead": CREDENTIAL_STORES, "allowWrite": []}
    })
}
