//! Every URL a page links to, built in one place: the pages' own (stable, with the project path
//! and the reference readable in them), the Conan API's file downloads, and the remote URLs
//! for `conan remote add`. Each path segment is percent-encoded once here; maud then escapes
//! the whole URL for its attribute.

use conan_model::{FilePath, PackageId, RecipeReference, Revision};
use conan_store::{Project, ProjectId};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// The search page.
pub(crate) const SEARCH: &str = "/-/web/search";
/// The sign-in page (`GET`) and form (`POST`).
pub(crate) const SIGN_IN: &str = "/-/web/sign-in";
/// Where the sign-out button posts.
pub(crate) const SIGN_OUT: &str = "/-/web/sign-out";
/// The signed-in user's personal access tokens.
pub(crate) const TOKENS: &str = "/-/web/user/tokens";
/// The administrators' list of users.
pub(crate) const ADMIN_USERS: &str = "/-/web/admin/users";
/// The administrators' list of projects.
pub(crate) const ADMIN_PROJECTS: &str = "/-/web/admin/projects";

/// What a path segment must encode: everything but unreserved characters and the few
/// sub-delimiters reference components use (`+` stays literal: paths are not form-encoded).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'&')
    .add(b'\'')
    .add(b';')
    .add(b'=');

/// What a query value must encode: [`SEGMENT`] and `+` (which a query reads as a space).
const QUERY_VALUE: &AsciiSet = &SEGMENT.add(b'+');

/// One path segment, encoded.
fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// A path of `/`-separated segments (a project path, a file path), each segment encoded.
fn path(text: &str) -> String {
    text.split('/').map(segment).collect::<Vec<_>>().join("/")
}

/// A query string (`?a=1&b=2`, or nothing) from pairs, each encoded.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(key, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(key, QUERY_VALUE),
                utf8_percent_encode(value, QUERY_VALUE)
            )
        })
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

/// `/-/web/projects/<path>`: a project's page.
pub(crate) fn project(project_path: &str) -> String {
    format!("/-/web/projects/{}", path(project_path))
}

/// `/-/web/projects/<path>/-/recipes/<name>/<version>/<user|_>/<channel|_>`: a recipe's page.
pub(crate) fn recipe(project_path: &str, reference: &RecipeReference) -> String {
    let [name, version, user, channel] = reference.url_segments();
    format!(
        "{}/-/recipes/{}/{}/{}/{}",
        project(project_path),
        segment(name),
        segment(version),
        segment(user),
        segment(channel)
    )
}

/// `.../revisions/<rrev>`: a recipe revision's page, with its binaries.
pub(crate) fn recipe_revision(
    project_path: &str,
    reference: &RecipeReference,
    revision: &Revision,
) -> String {
    format!(
        "{}/revisions/{}",
        recipe(project_path, reference),
        segment(revision.as_str())
    )
}

/// `.../revisions/<rrev>/packages/<package id>`: a binary (the prefix of its revisions' pages
/// and of its delete page, `.../delete`).
pub(crate) fn binary(
    project_path: &str,
    reference: &RecipeReference,
    recipe_revision: &Revision,
    package_id: &PackageId,
) -> String {
    format!(
        "{}/packages/{}",
        self::recipe_revision(project_path, reference, recipe_revision),
        segment(package_id.as_str())
    )
}

/// `.../revisions/<rrev>/packages/<package id>/revisions/<prev>`: a package revision's page.
pub(crate) fn package_revision(
    project_path: &str,
    reference: &RecipeReference,
    recipe_revision: &Revision,
    package_id: &PackageId,
    revision: &Revision,
) -> String {
    format!(
        "{}/revisions/{}",
        binary(project_path, reference, recipe_revision, package_id),
        segment(revision.as_str())
    )
}

/// The owner of a file, for its download URL.
pub(crate) enum FileOwner<'a> {
    /// A recipe revision's file.
    Recipe,
    /// A package revision's file.
    Package(&'a PackageId, &'a Revision),
}

/// The Conan v2 API URL that downloads a file (same origin, so a relative path): what the
/// client itself fetches, with the same permission check.
pub(crate) fn download(
    project: ProjectId,
    reference: &RecipeReference,
    recipe_revision: &Revision,
    owner: &FileOwner<'_>,
    file: &FilePath,
) -> String {
    let [name, version, user, channel] = reference.url_segments();
    let mut url = format!(
        "/api/v4/projects/{}/packages/conan/v2/conans/{}/{}/{}/{}/revisions/{}",
        project.0,
        segment(name),
        segment(version),
        segment(user),
        segment(channel),
        segment(recipe_revision.as_str())
    );
    if let FileOwner::Package(package_id, revision) = owner {
        url.push_str("/packages/");
        url.push_str(&segment(package_id.as_str()));
        url.push_str("/revisions/");
        url.push_str(&segment(revision.as_str()));
    }
    url.push_str("/files/");
    url.push_str(&path(file.as_str()));
    url
}

/// The Conan remote URL of a project: `<base>/api/v4/projects/<id>/packages/conan`.
pub(crate) fn project_remote(base: &str, project: &Project) -> String {
    format!("{base}/api/v4/projects/{}/packages/conan", project.id.0)
}

/// The instance-level Conan remote URL: `<base>/api/v4/packages/conan`.
pub(crate) fn instance_remote(base: &str) -> String {
    format!("{base}/api/v4/packages/conan")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_stay_readable_and_odd_characters_are_encoded() {
        let reference: RecipeReference = "zlib/1.3+build.2@me/stable".parse().unwrap();
        assert_eq!(
            recipe("team/libs", &reference),
            "/-/web/projects/team/libs/-/recipes/zlib/1.3+build.2/me/stable"
        );
        let bare: RecipeReference = "zlib/1.3".parse().unwrap();
        assert_eq!(
            recipe("demo", &bare),
            "/-/web/projects/demo/-/recipes/zlib/1.3/_/_"
        );
        assert_eq!(segment("a b/c?d#e%f"), "a%20b%2Fc%3Fd%23e%25f");
        assert_eq!(path("licenses/a b.txt"), "licenses/a%20b.txt");
    }

    #[test]
    fn queries_encode_their_values() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("q", "zlib/* & co+"), ("page", "2")]),
            "?q=zlib%2F*%20%26%20co%2B&page=2"
        );
    }
}
