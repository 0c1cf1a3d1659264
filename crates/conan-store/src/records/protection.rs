//! Package protection rules, as GitLab has them: per project, a package name pattern and type,
//! and the least access level that may push or delete the packages it matches.

use std::fmt;
use std::str::FromStr;

use conan_model::PackageNamePattern;

use super::{ProjectId, ProtectionRuleId};
use crate::StoreError;

text_enum!(
    /// The least access level a protection rule demands, GitLab's `minimum_access_level_for_*`.
    AccessLevel, "access level", {
        /// Maintainers and above (40).
        Maintainer => "maintainer",
        /// Owners and above (50).
        Owner => "owner",
        /// Instance administrators only (60).
        Admin => "admin",
    }
);

impl AccessLevel {
    /// GitLab's numeric level: maintainer 40, owner 50, admin 60, comparable with
    /// [`crate::Role::access_level`].
    #[must_use]
    pub fn value(self) -> u8 {
        match self {
            Self::Maintainer => 40,
            Self::Owner => 50,
            Self::Admin => 60,
        }
    }

    /// Whether the level may be a delete level: GitLab allows `owner` and `admin` only, since
    /// deleting needs a maintainer anyway.
    #[must_use]
    pub fn allowed_for_delete(self) -> bool {
        self != Self::Maintainer
    }
}

text_enum!(
    /// The package type a protection rule covers, GitLab's list. Rules of every type may be
    /// stored; only [`PackageType::Conan`] rules take effect in this registry.
    PackageType, "package type", {
        /// Conan recipes and packages.
        Conan => "conan",
        /// Generic packages.
        Generic => "generic",
        /// Helm charts.
        Helm => "helm",
        /// Maven packages.
        Maven => "maven",
        /// npm packages.
        Npm => "npm",
        /// .NET packages (`NuGet`).
        Nuget => "nuget",
        /// Python packages (`PyPI`).
        Pypi => "pypi",
    }
);

/// A stored package protection rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectionRule {
    /// The rule's id.
    pub id: ProtectionRuleId,
    /// The project whose packages it protects.
    pub project: ProjectId,
    /// Which package names it covers (`*` wildcards, case-insensitive, the name only).
    pub package_name_pattern: PackageNamePattern,
    /// Which package type it covers.
    pub package_type: PackageType,
    /// Who may push a covered package: `None` leaves the usual rule (developer and above).
    pub minimum_access_level_for_push: Option<AccessLevel>,
    /// Who may delete a covered package: `None` leaves the usual rule (maintainer and above).
    pub minimum_access_level_for_delete: Option<AccessLevel>,
}

/// A protection rule to create in a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProtectionRule {
    /// Which package names it covers; unique per project and package type.
    pub package_name_pattern: PackageNamePattern,
    /// Which package type it covers.
    pub package_type: PackageType,
    /// Who may push a covered package.
    pub minimum_access_level_for_push: Option<AccessLevel>,
    /// Who may delete a covered package (`owner` or `admin`).
    pub minimum_access_level_for_delete: Option<AccessLevel>,
}

impl NewProtectionRule {
    /// Checks the levels: at least one of them, and a delete level of `owner` or `admin`.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] saying which rule is broken.
    pub fn check(&self) -> Result<(), StoreError> {
        check_levels(
            self.minimum_access_level_for_push,
            self.minimum_access_level_for_delete,
        )
    }
}

/// What to do with one level of a rule being updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LevelUpdate {
    /// Leave the level as it is (the field was not given).
    #[default]
    Keep,
    /// Set the level.
    Set(AccessLevel),
    /// Remove the level (the field was given as `null`).
    Clear,
}

impl LevelUpdate {
    /// The level after this update of `current`.
    #[must_use]
    pub fn apply(self, current: Option<AccessLevel>) -> Option<AccessLevel> {
        match self {
            Self::Keep => current,
            Self::Set(level) => Some(level),
            Self::Clear => None,
        }
    }
}

/// A change to a protection rule: any subset of its fields, as GitLab's `PATCH` takes them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProtectionRuleUpdate {
    /// A new pattern, if given.
    pub package_name_pattern: Option<PackageNamePattern>,
    /// A new package type, if given.
    pub package_type: Option<PackageType>,
    /// What to do with the push level.
    pub minimum_access_level_for_push: LevelUpdate,
    /// What to do with the delete level.
    pub minimum_access_level_for_delete: LevelUpdate,
}

impl ProtectionRuleUpdate {
    /// The rule after this update, with its levels checked as [`NewProtectionRule::check`]
    /// does.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the result would break a rule (no level left, or a delete
    /// level of `maintainer`).
    pub fn apply(&self, rule: &ProtectionRule) -> Result<ProtectionRule, StoreError> {
        let updated = ProtectionRule {
            id: rule.id,
            project: rule.project,
            package_name_pattern: self
                .package_name_pattern
                .clone()
                .unwrap_or_else(|| rule.package_name_pattern.clone()),
            package_type: self.package_type.unwrap_or(rule.package_type),
            minimum_access_level_for_push: self
                .minimum_access_level_for_push
                .apply(rule.minimum_access_level_for_push),
            minimum_access_level_for_delete: self
                .minimum_access_level_for_delete
                .apply(rule.minimum_access_level_for_delete),
        };
        check_levels(
            updated.minimum_access_level_for_push,
            updated.minimum_access_level_for_delete,
        )?;
        Ok(updated)
    }
}

/// GitLab's two rules on a rule's levels.
fn check_levels(push: Option<AccessLevel>, delete: Option<AccessLevel>) -> Result<(), StoreError> {
    if push.is_none() && delete.is_none() {
        return Err(StoreError::Invalid(
            "A rule must have at least a minimum access role for push or delete.".to_owned(),
        ));
    }
    if let Some(level) = delete.filter(|level| !level.allowed_for_delete()) {
        return Err(StoreError::Invalid(format!(
            "invalid minimum access level for delete {:?}: expected owner or admin",
            level.as_str()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn rule(push: Option<AccessLevel>, delete: Option<AccessLevel>) -> ProtectionRule {
        ProtectionRule {
            id: ProtectionRuleId(1),
            project: ProjectId(2),
            package_name_pattern: "zlib*".parse().unwrap(),
            package_type: PackageType::Conan,
            minimum_access_level_for_push: push,
            minimum_access_level_for_delete: delete,
        }
    }

    #[test]
    fn levels_and_types_parse_as_gitlab_spells_them() {
        assert_eq!("owner".parse::<AccessLevel>().unwrap(), AccessLevel::Owner);
        assert!("developer".parse::<AccessLevel>().is_err());
        assert!("Owner".parse::<AccessLevel>().is_err());
        let values: Vec<u8> = AccessLevel::ALL.iter().map(|level| level.value()).collect();
        assert_eq!(values, [40, 50, 60]);
        let types: Vec<&str> = PackageType::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(
            types,
            ["conan", "generic", "helm", "maven", "npm", "nuget", "pypi"]
        );
        assert!("rubygems".parse::<PackageType>().is_err());
    }

    #[test]
    fn a_rule_needs_a_level_and_a_delete_level_above_maintainer() {
        let new = |push, delete| NewProtectionRule {
            package_name_pattern: "zlib".parse().unwrap(),
            package_type: PackageType::Conan,
            minimum_access_level_for_push: push,
            minimum_access_level_for_delete: delete,
        };
        assert!(new(Some(AccessLevel::Maintainer), None).check().is_ok());
        assert!(new(None, Some(AccessLevel::Owner)).check().is_ok());
        let none = new(None, None).check().unwrap_err();
        assert!(none.to_string().contains("at least a minimum access role"));
        let maintainer = new(None, Some(AccessLevel::Maintainer))
            .check()
            .unwrap_err();
        assert!(maintainer.to_string().contains("expected owner or admin"));
    }

    #[test]
    fn updates_keep_set_or_clear_each_level() {
        let before = rule(Some(AccessLevel::Maintainer), Some(AccessLevel::Owner));
        let keep = ProtectionRuleUpdate::default().apply(&before).unwrap();
        assert_eq!(keep, before);
        let changed = ProtectionRuleUpdate {
            package_name_pattern: Some("other".parse().unwrap()),
            minimum_access_level_for_push: LevelUpdate::Clear,
            minimum_access_level_for_delete: LevelUpdate::Set(AccessLevel::Admin),
            ..ProtectionRuleUpdate::default()
        }
        .apply(&before)
        .unwrap();
        assert_eq!(changed.package_name_pattern.as_str(), "other");
        assert_eq!(changed.minimum_access_level_for_push, None);
        assert_eq!(
            changed.minimum_access_level_for_delete,
            Some(AccessLevel::Admin)
        );
        let emptied = ProtectionRuleUpdate {
            minimum_access_level_for_push: LevelUpdate::Clear,
            minimum_access_level_for_delete: LevelUpdate::Clear,
            ..ProtectionRuleUpdate::default()
        };
        assert!(emptied.apply(&before).is_err());
    }
}
