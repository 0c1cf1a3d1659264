//! A project's cleanup policy and its checks.

use std::fmt;
use std::str::FromStr;

use conan_model::{CaseSensitivity, RecipeReference, RevisionTime, SearchPattern};
use serde::{Deserialize, Serialize};

/// The most patterns a policy's include or exclude list may hold.
pub const MAX_PATTERNS: usize = 20;
/// The longest pattern a policy accepts, in bytes.
pub const MAX_PATTERN_LEN: usize = 200;
/// The largest count a `keep_n_*` rule accepts.
pub const MAX_KEEP: u32 = 10_000;
/// The largest `unused_days` (100 years).
pub const MAX_UNUSED_DAYS: u32 = 36_500;

/// How often a policy runs by itself once enabled: GitLab's container-cleanup cadences (GitLab's
/// package policy has a fixed 12 hours; "1d" is the nearest and the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Cadence {
    /// Every day.
    #[default]
    #[serde(rename = "1d")]
    Day,
    /// Every 7 days.
    #[serde(rename = "7d")]
    Week,
    /// Every 14 days.
    #[serde(rename = "14d")]
    TwoWeeks,
    /// Every 30 days.
    #[serde(rename = "1month")]
    Month,
    /// Every 90 days.
    #[serde(rename = "3month")]
    ThreeMonths,
}

impl Cadence {
    /// Every cadence, in its wire form.
    pub const ALL: [&'static str; 5] = ["1d", "7d", "14d", "1month", "3month"];

    /// The interval in microseconds.
    #[must_use]
    pub fn micros(self) -> i64 {
        const DAY: i64 = 86_400 * 1_000_000;
        DAY * match self {
            Self::Day => 1,
            Self::Week => 7,
            Self::TwoWeeks => 14,
            Self::Month => 30,
            Self::ThreeMonths => 90,
        }
    }

    /// The time of the next run after `now`.
    #[must_use]
    pub fn after(self, now: RevisionTime) -> RevisionTime {
        RevisionTime::from_unix_micros(now.unix_micros().saturating_add(self.micros()))
            .unwrap_or(RevisionTime::MAX)
    }

    /// The wire form (`"1d"`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "1d",
            Self::Week => "7d",
            Self::TwoWeeks => "14d",
            Self::Month => "1month",
            Self::ThreeMonths => "3month",
        }
    }
}

impl FromStr for Cadence {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "1d" => Self::Day,
            "7d" => Self::Week,
            "14d" => Self::TwoWeeks,
            "1month" => Self::Month,
            "3month" => Self::ThreeMonths,
            _ => {
                return Err(PolicyError::invalid(
                    "cadence",
                    "does not have a valid value",
                ));
            }
        })
    }
}

/// GitLab's `keep_n_duplicated_package_files`: `"all"` (off) or how many copies of a file name
/// within one package to keep. This registry keeps one file per path per revision (an upload of
/// the same path replaces or matches it), so no revision ever holds duplicates and the value
/// changes nothing here; it is stored and answered so that scripts written against GitLab work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeepDuplicates {
    /// Keep every duplicate (GitLab's default).
    #[default]
    All,
    /// Keep the newest `n` (1, 10, 20, 30, 40 or 50).
    Newest(u8),
}

impl KeepDuplicates {
    /// The wire form: `"all"`, `"1"`, `"10"`, ...
    #[must_use]
    pub fn as_string(self) -> String {
        match self {
            Self::All => "all".to_owned(),
            Self::Newest(n) => n.to_string(),
        }
    }
}

impl FromStr for KeepDuplicates {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "all" => Ok(Self::All),
            "1" => Ok(Self::Newest(1)),
            "10" => Ok(Self::Newest(10)),
            "20" => Ok(Self::Newest(20)),
            "30" => Ok(Self::Newest(30)),
            "40" => Ok(Self::Newest(40)),
            "50" => Ok(Self::Newest(50)),
            _ => Err(PolicyError::invalid(
                "keep_n_duplicated_package_files",
                "is invalid",
            )),
        }
    }
}

impl Serialize for KeepDuplicates {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_string())
    }
}

impl<'de> Deserialize<'de> for KeepDuplicates {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A project's cleanup policy. Every rule is optional; a policy removes only what at least one
/// of its rules selects, and never the newest recipe revision of a reference unless the whole
/// reference is unused (see [`super::plan`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupPolicy {
    /// Whether it runs by itself every [`Self::cadence`]; runs started by hand need no `enabled`.
    pub enabled: bool,
    /// How often it runs when enabled.
    pub cadence: Cadence,
    /// GitLab's rule; see [`KeepDuplicates`].
    pub keep_n_duplicated_package_files: KeepDuplicates,
    /// Keep the newest N recipe revisions of each reference.
    pub keep_n_recipe_revisions: Option<u32>,
    /// Keep the newest N package revisions of each binary of each kept recipe revision.
    pub keep_n_package_revisions: Option<u32>,
    /// Remove what was neither committed nor downloaded in the last D days.
    pub unused_days: Option<u32>,
    /// Remove the source backups neither stored nor downloaded in the last D days (a recipe
    /// that uses a backup downloads it when built from source, and `conan upload` stores its
    /// summary again). The reference filter and protection rules do not apply: a backup is one
    /// file that many references may share.
    #[serde(default)]
    pub source_backups_unused_days: Option<u32>,
    /// Only references matching one of these Conan search patterns (empty: every reference).
    pub include: Vec<String>,
    /// Never references matching one of these.
    pub exclude: Vec<String>,
}

/// A policy as stored, with its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCleanupPolicy {
    /// The policy.
    pub policy: CleanupPolicy,
    /// When it runs next by itself; `None` while disabled.
    pub next_run_at: Option<RevisionTime>,
    /// When it was last saved; `None` for the default policy of a project that never saved one.
    pub updated_at: Option<RevisionTime>,
}

impl CleanupPolicy {
    /// Checks counts and patterns; the error names the field, as GitLab's validation does.
    pub fn check(&self) -> Result<(), PolicyError> {
        for (field, value, max) in [
            (
                "keep_n_recipe_revisions",
                self.keep_n_recipe_revisions,
                MAX_KEEP,
            ),
            (
                "keep_n_package_revisions",
                self.keep_n_package_revisions,
                MAX_KEEP,
            ),
            ("unused_days", self.unused_days, MAX_UNUSED_DAYS),
            (
                "source_backups_unused_days",
                self.source_backups_unused_days,
                MAX_UNUSED_DAYS,
            ),
        ] {
            if value.is_some_and(|value| value == 0 || value > max) {
                return Err(PolicyError::invalid(
                    field,
                    &format!("must be between 1 and {max}"),
                ));
            }
        }
        for (field, patterns) in [("include", &self.include), ("exclude", &self.exclude)] {
            if patterns.len() > MAX_PATTERNS {
                return Err(PolicyError::invalid(
                    field,
                    &format!("holds at most {MAX_PATTERNS} patterns"),
                ));
            }
            for pattern in patterns {
                if pattern.is_empty() || pattern.len() > MAX_PATTERN_LEN {
                    return Err(PolicyError::invalid(
                        field,
                        &format!("patterns are 1 to {MAX_PATTERN_LEN} bytes"),
                    ));
                }
                SearchPattern::new(pattern, CaseSensitivity::Insensitive)
                    .map_err(|error| PolicyError::invalid(field, &error.to_string()))?;
            }
        }
        Ok(())
    }

    /// Whether any rule removes anything (GitLab's duplicate rule never does here).
    #[must_use]
    pub fn has_rules(&self) -> bool {
        self.keep_n_recipe_revisions.is_some()
            || self.keep_n_package_revisions.is_some()
            || self.unused_days.is_some()
            || self.source_backups_unused_days.is_some()
    }

    /// Whether any rule removes package revisions (the walk over recipes has something to do).
    #[must_use]
    pub fn has_package_rules(&self) -> bool {
        self.keep_n_recipe_revisions.is_some()
            || self.keep_n_package_revisions.is_some()
            || self.unused_days.is_some()
    }

    /// Whether the reference filter selects `reference`: it matches an include pattern (or
    /// there are none) and no exclude pattern, with the search's matcher and its default, ignoring ASCII case.
    #[must_use]
    pub fn selects(&self, reference: &RecipeReference) -> bool {
        let matches = |pattern: &String| {
            SearchPattern::new(pattern, CaseSensitivity::Insensitive)
                .is_ok_and(|pattern| pattern.matches_reference(reference))
        };
        (self.include.is_empty() || self.include.iter().any(matches))
            && !self.exclude.iter().any(matches)
    }
}

/// The time `days` days before `now` (the start of time when that is before it).
#[must_use]
pub fn days_before(days: u32, now: RevisionTime) -> RevisionTime {
    let micros = i64::from(days) * 86_400 * 1_000_000;
    RevisionTime::from_unix_micros(now.unix_micros().saturating_sub(micros))
        .unwrap_or(RevisionTime::MIN)
}

impl CleanupPolicy {
    /// The time before which a source backup's last use makes it expire at `now`, if the policy
    /// expires backups.
    #[must_use]
    pub fn source_backups_unused_before(&self, now: RevisionTime) -> Option<RevisionTime> {
        self.source_backups_unused_days
            .map(|days| days_before(days, now))
    }
}

/// The fields of a policy as JSON objects name them (the API's and the CLI's).
pub const POLICY_FIELDS: [&str; 9] = [
    "enabled",
    "cadence",
    "keep_n_duplicated_package_files",
    "keep_n_recipe_revisions",
    "keep_n_package_revisions",
    "unused_days",
    "source_backups_unused_days",
    "include",
    "exclude",
];

impl CleanupPolicy {
    /// This policy with the fields `changes` names set to their values (`null` clears an
    /// optional rule), then [checked](Self::check): what a partial update (the API's `PUT`, the
    /// CLI's `cleanup policy set`) saves. An unknown field or a value of the wrong type names
    /// the field.
    pub fn updated_with(
        &self,
        changes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, PolicyError> {
        let Ok(serde_json::Value::Object(mut object)) = serde_json::to_value(self) else {
            return Err(PolicyError::invalid("policy", "cannot be represented"));
        };
        let mut updated = self.clone();
        for (key, value) in changes {
            let Some(field) = POLICY_FIELDS.iter().copied().find(|field| field == key) else {
                return Err(PolicyError {
                    field: "policy",
                    message: format!(
                        "has no field {key:?}; the fields are {}",
                        POLICY_FIELDS.join(", ")
                    ),
                });
            };
            object.insert(key.clone(), value.clone());
            updated = serde_json::from_value(serde_json::Value::Object(object.clone()))
                .map_err(|_| PolicyError::invalid(field, "is invalid"))?;
        }
        updated.check()?;
        Ok(updated)
    }
}

/// A refused policy: the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct PolicyError {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl PolicyError {
    fn invalid(field: &'static str, message: &str) -> Self {
        Self {
            field,
            message: message.to_owned(),
        }
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(json: &str) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_partial_update_sets_what_it_names_and_clears_with_null() {
        let policy = CleanupPolicy {
            keep_n_package_revisions: Some(3),
            ..CleanupPolicy::default()
        };
        let updated = policy
            .updated_with(&changes(r#"{"enabled": true, "cadence": "14d", "keep_n_recipe_revisions": 2, "include": ["zlib/*"]}"#))
            .unwrap();
        assert!(updated.enabled);
        assert_eq!(updated.cadence, Cadence::TwoWeeks);
        assert_eq!(
            (
                updated.keep_n_recipe_revisions,
                updated.keep_n_package_revisions
            ),
            (Some(2), Some(3))
        );
        assert_eq!(updated.include, ["zlib/*"]);
        let cleared = updated
            .updated_with(&changes(r#"{"keep_n_package_revisions": null}"#))
            .unwrap();
        assert_eq!(cleared.keep_n_package_revisions, None);
        assert_eq!(
            policy.updated_with(&serde_json::Map::new()).unwrap(),
            policy
        );
    }

    #[test]
    fn a_partial_update_names_the_field_it_refuses() {
        let policy = CleanupPolicy::default();
        for (json, field) in [
            (
                r#"{"keep_n_recipe_revisions": -1}"#,
                "keep_n_recipe_revisions",
            ),
            (
                r#"{"keep_n_recipe_revisions": "2"}"#,
                "keep_n_recipe_revisions",
            ),
            (
                r#"{"keep_n_recipe_revisions": 0}"#,
                "keep_n_recipe_revisions",
            ),
            (r#"{"unused_days": 99999999}"#, "unused_days"),
            (
                r#"{"source_backups_unused_days": 0}"#,
                "source_backups_unused_days",
            ),
            (r#"{"cadence": "2d"}"#, "cadence"),
            (r#"{"enabled": "yes"}"#, "enabled"),
            (
                r#"{"keep_n_duplicated_package_files": "2"}"#,
                "keep_n_duplicated_package_files",
            ),
            (r#"{"include": "zlib/*"}"#, "include"),
            (r#"{"exclude": [""]}"#, "exclude"),
            (r#"{"next_run_at": null}"#, "policy"),
            (r#"{"keep_n": 1}"#, "policy"),
        ] {
            assert_eq!(
                policy.updated_with(&changes(json)).unwrap_err().field,
                field,
                "{json}"
            );
        }
    }

    #[test]
    fn a_policy_stored_before_backup_expiry_reads_back_without_it() {
        let json = r#"{"enabled":false,"cadence":"1d","keep_n_duplicated_package_files":"all","keep_n_recipe_revisions":2,"keep_n_package_revisions":null,"unused_days":null,"include":[],"exclude":[]}"#;
        let policy: CleanupPolicy = serde_json::from_str(json).unwrap();
        assert_eq!(policy.source_backups_unused_days, None);
        assert_eq!(policy.keep_n_recipe_revisions, Some(2));
        let backups = CleanupPolicy {
            source_backups_unused_days: Some(30),
            ..CleanupPolicy::default()
        };
        assert!(backups.has_rules() && !backups.has_package_rules());
    }

    #[test]
    fn keep_duplicates_takes_gitlab_values_only() {
        for text in ["all", "1", "10", "20", "30", "40", "50"] {
            assert_eq!(text.parse::<KeepDuplicates>().unwrap().as_string(), text);
        }
        for text in ["0", "2", "ALL", "", " 1", "100"] {
            assert!(text.parse::<KeepDuplicates>().is_err(), "{text}");
        }
    }

    #[test]
    fn checks_counts_and_patterns() {
        let mut policy = CleanupPolicy {
            keep_n_recipe_revisions: Some(0),
            ..CleanupPolicy::default()
        };
        assert_eq!(policy.check().unwrap_err().field, "keep_n_recipe_revisions");
        policy.keep_n_recipe_revisions = Some(2);
        policy.include = vec![String::new()];
        assert_eq!(policy.check().unwrap_err().field, "include");
        policy.include = vec!["zlib/*".to_owned()];
        policy.exclude = vec!["x".repeat(MAX_PATTERN_LEN + 1)];
        assert_eq!(policy.check().unwrap_err().field, "exclude");
        policy.exclude = vec!["*@acme/stable".to_owned()];
        policy.check().unwrap();
    }

    #[test]
    fn the_filter_uses_the_search_matcher() {
        let policy = CleanupPolicy {
            include: vec!["zlib/*".to_owned(), "boost/*".to_owned()],
            exclude: vec!["*@acme/stable".to_owned()],
            ..CleanupPolicy::default()
        };
        let reference = |text: &str| text.parse::<RecipeReference>().unwrap();
        assert!(policy.selects(&reference("zlib/1.3")));
        assert!(policy.selects(&reference("boost/1.80@acme/testing")));
        assert!(!policy.selects(&reference("zlib/1.3@acme/stable")));
        assert!(!policy.selects(&reference("openssl/3.0")));
        assert!(CleanupPolicy::default().selects(&reference("openssl/3.0")));
    }

    #[test]
    fn serde_round_trips_the_wire_forms() {
        let policy = CleanupPolicy {
            enabled: true,
            cadence: Cadence::Week,
            keep_n_duplicated_package_files: KeepDuplicates::Newest(10),
            keep_n_recipe_revisions: Some(2),
            ..CleanupPolicy::default()
        };
        let json = serde_json::to_string(&policy).unwrap();
        assert!(json.contains(r#""cadence":"7d""#), "{json}");
        assert!(
            json.contains(r#""keep_n_duplicated_package_files":"10""#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<CleanupPolicy>(&json).unwrap(),
            policy
        );
    }
}
