//! Package protection rules on diesel. Patterns are matched in Rust
//! ([`conan_model::PackageNamePattern::matches`]), never with SQL `LIKE`, so both databases
//! decide alike; a project has a handful of rules, read by the project's index.

use diesel::dsl::Eq;
use diesel::prelude::*;

use super::schema::{package_protection_rules as rules, projects};
use super::{DbConnection, DbError, DieselStore, now_micros, parse_stored};
use crate::StoreError;
use crate::records::{
    AccessLevel, NewProtectionRule, PackageType, ProjectId, ProtectionRule, ProtectionRuleId,
    ProtectionRuleUpdate,
};
use crate::traits::ProtectionStore;

type RuleRow = (i64, i64, String, String, Option<String>, Option<String>);

const RULE_COLUMNS: (
    rules::id,
    rules::project_id,
    rules::package_name_pattern,
    rules::package_type,
    rules::minimum_access_level_for_push,
    rules::minimum_access_level_for_delete,
) = (
    rules::id,
    rules::project_id,
    rules::package_name_pattern,
    rules::package_type,
    rules::minimum_access_level_for_push,
    rules::minimum_access_level_for_delete,
);

fn rule_of(
    (id, project, pattern, package_type, push, delete): RuleRow,
) -> Result<ProtectionRule, DbError> {
    Ok(ProtectionRule {
        id: ProtectionRuleId(id),
        project: ProjectId(project),
        package_name_pattern: parse_stored(&pattern)?,
        package_type: parse_stored(&package_type)?,
        minimum_access_level_for_push: push.as_deref().map(parse_stored).transpose()?,
        minimum_access_level_for_delete: delete.as_deref().map(parse_stored).transpose()?,
    })
}

fn rules_of(rows: Vec<RuleRow>) -> Result<Vec<ProtectionRule>, DbError> {
    rows.into_iter().map(rule_of).collect()
}

/// The rule `id` if it belongs to `project`.
fn find_rule(
    conn: &mut DbConnection,
    project: ProjectId,
    id: ProtectionRuleId,
) -> Result<Option<ProtectionRule>, DbError> {
    let row: Option<RuleRow> = rules::table
        .filter(rules::id.eq(id.0))
        .filter(rules::project_id.eq(project.0))
        .select(RULE_COLUMNS)
        .first(conn)
        .optional()?;
    row.map(rule_of).transpose()
}

/// The rule of `project` with this package type and exactly this pattern (the unique key).
fn find_rule_by_key(
    conn: &mut DbConnection,
    project: ProjectId,
    package_type: PackageType,
    pattern: &str,
) -> Result<Option<ProtectionRule>, DbError> {
    let row: Option<RuleRow> = rules::table
        .filter(rules::project_id.eq(project.0))
        .filter(rules::package_type.eq(package_type.as_str()))
        .filter(rules::package_name_pattern.eq(pattern))
        .select(RULE_COLUMNS)
        .first(conn)
        .optional()?;
    row.map(rule_of).transpose()
}

/// The assignments of the columns holding what a rule says.
type Content<'a> = (
    Eq<rules::package_name_pattern, &'a str>,
    Eq<rules::package_type, &'static str>,
    Eq<rules::minimum_access_level_for_push, Option<&'static str>>,
    Eq<rules::minimum_access_level_for_delete, Option<&'static str>>,
);

/// The columns holding what a rule says, as creating and updating set them.
fn content(
    pattern: &str,
    package_type: PackageType,
    push: Option<AccessLevel>,
    delete: Option<AccessLevel>,
) -> Content<'_> {
    (
        rules::package_name_pattern.eq(pattern),
        rules::package_type.eq(package_type.as_str()),
        rules::minimum_access_level_for_push.eq(push.map(AccessLevel::as_str)),
        rules::minimum_access_level_for_delete.eq(delete.map(AccessLevel::as_str)),
    )
}

/// The conflict of a second rule with the same key.
fn duplicate(package_type: PackageType, pattern: &str) -> DbError {
    DbError::Store(StoreError::Conflict(format!(
        "a {package_type} protection rule for the package name pattern {pattern:?} already \
         exists in this project"
    )))
}

impl ProtectionStore for DieselStore {
    fn protection_rules(&self, project: ProjectId) -> Result<Vec<ProtectionRule>, StoreError> {
        self.read(|conn| {
            let rows: Vec<RuleRow> = rules::table
                .filter(rules::project_id.eq(project.0))
                .order(rules::id)
                .select(RULE_COLUMNS)
                .load(conn)?;
            rules_of(rows)
        })
    }

    fn protection_rule(
        &self,
        project: ProjectId,
        id: ProtectionRuleId,
    ) -> Result<Option<ProtectionRule>, StoreError> {
        self.read(|conn| find_rule(conn, project, id))
    }

    fn create_protection_rule(
        &self,
        project: ProjectId,
        rule: &NewProtectionRule,
    ) -> Result<ProtectionRule, StoreError> {
        rule.check()?;
        let pattern = rule.package_name_pattern.as_str();
        self.transaction(|conn| {
            let exists: Option<i64> = projects::table
                .find(project.0)
                .select(projects::id)
                .first(conn)
                .optional()?;
            if exists.is_none() {
                return Err(DbError::Store(StoreError::NotFound(format!(
                    "project {project} does not exist"
                ))));
            }
            if find_rule_by_key(conn, project, rule.package_type, pattern)?.is_some() {
                return Err(duplicate(rule.package_type, pattern));
            }
            // A racing insert of the same key is a unique violation, which runs this again.
            diesel::insert_into(rules::table)
                .values((
                    rules::project_id.eq(project.0),
                    content(
                        pattern,
                        rule.package_type,
                        rule.minimum_access_level_for_push,
                        rule.minimum_access_level_for_delete,
                    ),
                    rules::created_at.eq(now_micros()),
                ))
                .execute(conn)?;
            find_rule_by_key(conn, project, rule.package_type, pattern)?
                .ok_or(DbError::Diesel(diesel::result::Error::NotFound))
        })
    }

    fn update_protection_rule(
        &self,
        project: ProjectId,
        id: ProtectionRuleId,
        update: &ProtectionRuleUpdate,
    ) -> Result<Option<ProtectionRule>, StoreError> {
        self.transaction(|conn| {
            let Some(current) = find_rule(conn, project, id)? else {
                return Ok(None);
            };
            let updated = update.apply(&current)?;
            let pattern = updated.package_name_pattern.as_str();
            if let Some(other) = find_rule_by_key(conn, project, updated.package_type, pattern)?
                && other.id != id
            {
                return Err(duplicate(updated.package_type, pattern));
            }
            diesel::update(rules::table.find(id.0))
                .set(content(
                    pattern,
                    updated.package_type,
                    updated.minimum_access_level_for_push,
                    updated.minimum_access_level_for_delete,
                ))
                .execute(conn)?;
            Ok(Some(updated))
        })
    }

    fn delete_protection_rule(
        &self,
        project: ProjectId,
        id: ProtectionRuleId,
    ) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let deleted = diesel::delete(
                rules::table
                    .filter(rules::id.eq(id.0))
                    .filter(rules::project_id.eq(project.0)),
            )
            .execute(conn)?;
            Ok(deleted > 0)
        })
    }

    fn matching_protection_rules(
        &self,
        project: ProjectId,
        package_type: PackageType,
        name: &str,
    ) -> Result<Vec<ProtectionRule>, StoreError> {
        self.read(|conn| {
            let rows: Vec<RuleRow> = rules::table
                .filter(rules::project_id.eq(project.0))
                .filter(rules::package_type.eq(package_type.as_str()))
                .order(rules::id)
                .select(RULE_COLUMNS)
                .load(conn)?;
            let mut matching = rules_of(rows)?;
            matching.retain(|rule| rule.package_name_pattern.matches(name));
            Ok(matching)
        })
    }
}
