//! Recipe search on diesel ([`SearchStore`]).

use conan_model::SearchPattern;
use diesel::dsl::exists;
use diesel::prelude::*;

use super::DieselStore;
use super::lookup::stored_reference;
use super::schema::{recipe_revisions, recipes};
use crate::StoreError;
use crate::records::{ProjectId, RecipeMatch, SearchScope};
use crate::traits::SearchStore;

diesel::define_sql_function!(
    /// SQL `lower(text)`, the same on both databases for ASCII.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
);

/// How many rows a search reads per round trip while it filters with the exact pattern.
const SEARCH_PAGE: i64 = 1_000;

/// The recipe-name filter a pattern's literal prefix allows: an exact (lower-cased) name, or a
/// range of lower-cased names, or nothing at all.
#[derive(Debug, PartialEq, Eq)]
enum NameFilter {
    Any,
    Exact(String),
    Range { from: String, to: String },
    Nothing,
}

fn name_filter(pattern: &SearchPattern) -> NameFilter {
    let prefix = pattern.literal_prefix().to_ascii_lowercase();
    // References are ASCII: a non-ASCII literal can match nothing.
    if !prefix.is_ascii() {
        return NameFilter::Nothing;
    }
    match prefix.find(['/', '@']) {
        Some(end) if prefix.as_bytes().get(end) == Some(&b'/') => {
            NameFilter::Exact(prefix[..end].to_owned())
        }
        // A name never contains `@`.
        Some(_) => NameFilter::Nothing,
        None if prefix.is_empty() => NameFilter::Any,
        None => {
            // The smallest string greater than every string starting with the prefix: bump the
            // last byte (a printable ASCII character, so the bump stays ASCII).
            let mut to = prefix.clone().into_bytes();
            if let Some(last) = to.last_mut() {
                *last = last.saturating_add(1);
            }
            NameFilter::Range {
                from: prefix,
                to: String::from_utf8_lossy(&to).into_owned(),
            }
        }
    }
}

/// The reference columns of a recipe's row, and its project.
#[derive(Queryable, Selectable)]
#[diesel(table_name = recipes, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct RecipeRow {
    project_id: i64,
    name: String,
    version: String,
    user_name: String,
    channel: String,
}

impl SearchStore for DieselStore {
    fn search_recipes(
        &self,
        scope: &SearchScope,
        pattern: &SearchPattern,
        limit: usize,
    ) -> Result<Vec<RecipeMatch>, StoreError> {
        let filter = name_filter(pattern);
        if filter == NameFilter::Nothing || limit == 0 {
            return Ok(Vec::new());
        }
        if let SearchScope::Projects(projects) = scope
            && projects.is_empty()
        {
            return Ok(Vec::new());
        }
        self.read(|conn| {
            let mut found = Vec::new();
            let mut offset = 0;
            loop {
                let mut query = recipes::table
                    .filter(exists(
                        recipe_revisions::table
                            .filter(recipe_revisions::recipe_id.eq(recipes::id))
                            .filter(recipe_revisions::committed_at.is_not_null()),
                    ))
                    .select(RecipeRow::as_select())
                    .order((
                        recipes::name,
                        recipes::version,
                        recipes::user_name,
                        recipes::channel,
                        recipes::project_id,
                    ))
                    .limit(SEARCH_PAGE)
                    .offset(offset)
                    .into_boxed();
                if let SearchScope::Projects(projects) = scope {
                    query = query.filter(
                        recipes::project_id.eq_any(projects.iter().map(|project| project.0)),
                    );
                }
                query = match &filter {
                    NameFilter::Exact(name) => query.filter(lower(recipes::name).eq(name.clone())),
                    NameFilter::Range { from, to } => query
                        .filter(lower(recipes::name).ge(from.clone()))
                        .filter(lower(recipes::name).lt(to.clone())),
                    NameFilter::Any | NameFilter::Nothing => query,
                };
                let rows: Vec<RecipeRow> = query.load(conn)?;
                let page_len = rows.len();
                for row in rows {
                    let reference =
                        stored_reference(&row.name, &row.version, &row.user_name, &row.channel)?;
                    if pattern.matches_reference(&reference) {
                        found.push(RecipeMatch {
                            reference,
                            project: ProjectId(row.project_id),
                        });
                        if found.len() >= limit {
                            return Ok(found);
                        }
                    }
                }
                if page_len < usize::try_from(SEARCH_PAGE).unwrap_or(usize::MAX) {
                    return Ok(found);
                }
                offset += SEARCH_PAGE;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use conan_model::CaseSensitivity;

    use super::*;

    fn filter_of(pattern: &str) -> NameFilter {
        name_filter(&SearchPattern::new(pattern, CaseSensitivity::Insensitive).unwrap())
    }

    #[test]
    fn name_filters_follow_the_literal_prefix() {
        assert_eq!(filter_of(""), NameFilter::Any);
        assert_eq!(filter_of("*"), NameFilter::Any);
        assert_eq!(filter_of("zlib/1.*"), NameFilter::Exact("zlib".to_owned()));
        assert_eq!(filter_of("ZLib/*"), NameFilter::Exact("zlib".to_owned()));
        assert_eq!(
            filter_of("zl*"),
            NameFilter::Range {
                from: "zl".to_owned(),
                to: "zm".to_owned()
            }
        );
        assert_eq!(
            filter_of("zlib"),
            NameFilter::Range {
                from: "zlib".to_owned(),
                to: "zlic".to_owned()
            }
        );
        assert_eq!(filter_of("zlib@x"), NameFilter::Nothing);
        assert_eq!(filter_of("zlïb*"), NameFilter::Nothing);
    }
}
