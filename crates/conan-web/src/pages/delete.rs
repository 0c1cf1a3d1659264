//! Deleting a whole package (a recipe reference with every revision), one recipe revision, or
//! one binary (a package id with every package revision), each with a confirmation step:
//! `GET .../delete` is the confirmation page, `POST` to the same address deletes.
//!
//! Allowed exactly as the Conan API allows the same delete: conan-auth's
//! [`Authenticator::authorize_package`](conan_auth::Authenticator::authorize_package) with
//! [`Action::Delete`] (maintainers and owners, narrowed by the project's protection rules). A
//! project the visitor may not read is the 404 page; one they may read but not delete in is the
//! 403 page. The delete itself is the store call the API's route makes.

use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::{Action, Decision};
use conan_model::{PackageId, RecipeReference, Revision};
use conan_store::{Project, RecipeRevisionKey};
use maud::html;

use crate::access::{self, Nav, Reader};
use crate::error::WebError;
use crate::layout;
use crate::params;
use crate::respond;
use crate::session;
use crate::urls;

/// What is to be deleted.
#[derive(Clone)]
enum Target {
    /// The whole package: every recipe revision with its binaries.
    Recipe,
    /// One recipe revision with its binaries.
    Revision(Revision),
    /// One binary of a recipe revision: every package revision of the package id.
    Binary(Revision, PackageId),
}

/// The target of a delete address.
fn target(request: &HttpRequest) -> Result<(String, RecipeReference, Target), WebError> {
    let path = params::segment(request, "project")?;
    let reference = params::reference(request)?;
    let target = if request.match_info().get("rrev").is_none() {
        Target::Recipe
    } else {
        let revision = params::revision(request, "rrev", "recipe revision")?;
        if request.match_info().get("package_id").is_some() {
            Target::Binary(revision, params::package_id(request)?)
        } else {
            Target::Revision(revision)
        }
    };
    Ok((path, reference, target))
}

/// The project, if the visitor may delete `reference` in it: the 404 page when they may not
/// read it, the 403 page when they may read but not delete.
pub(crate) fn deletable(
    reader: &Reader<'_>,
    path: &str,
    reference: &RecipeReference,
) -> Result<Project, WebError> {
    let project = reader.project(path)?;
    match reader.package_decision(&project, Action::Delete, reference)? {
        Decision::Allow => Ok(project),
        Decision::DeleteProtected => Err(WebError::Forbidden(
            "A protection rule of this project keeps this package from being deleted at your \
             access level."
                .to_owned(),
        )),
        Decision::Unauthorized => Err(WebError::Forbidden(
            "Sign in to delete packages.".to_owned(),
        )),
        _ => Err(WebError::Forbidden(
            "Deleting packages takes the maintainer or owner role in this project.".to_owned(),
        )),
    }
}

/// What a target stands for, and how much of it there is (`None`: it does not exist).
fn describe(
    reader: &Reader<'_>,
    project: &Project,
    reference: &RecipeReference,
    target: &Target,
) -> Result<Option<String>, WebError> {
    let key = |revision: &Revision| RecipeRevisionKey {
        project: project.id,
        recipe: reference.clone(),
        revision: revision.clone(),
    };
    Ok(match target {
        Target::Recipe => {
            let revisions = reader.store.recipe_revisions(project.id, reference)?;
            (!revisions.is_empty()).then(|| {
                format!(
                    "the package {reference}: its {} recipe revisions with every binary",
                    revisions.len()
                )
            })
        }
        Target::Revision(revision) => {
            if reader.store.recipe_revision(&key(revision))?.is_some() {
                let binaries = reader.store.packages(&key(revision))?.len();
                Some(format!(
                    "the recipe revision {reference}#{revision} with its {binaries} binaries"
                ))
            } else {
                None
            }
        }
        Target::Binary(revision, package_id) => {
            let revisions = reader.store.package_revisions(&key(revision), package_id)?;
            (!revisions.is_empty()).then(|| {
                format!(
                    "the binary {reference}#{revision}:{package_id} with its {} package revisions",
                    revisions.len()
                )
            })
        }
    })
}

/// `GET .../delete`: the confirmation page.
pub(crate) async fn confirm(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let (path, reference, target) = target(&request)?;
    let wanted = (reference.clone(), target.clone());
    let ((project, what), nav) = access::read(&state, access::viewer(&request), move |reader| {
        let (reference, target) = wanted;
        let project = deletable(reader, &path, &reference)?;
        let what = describe(reader, &project, &reference, &target)?.ok_or(WebError::NotFound)?;
        Ok((project, what))
    })
    .await?;
    let Nav::SignedIn { csrf, .. } = &nav else {
        return Err(WebError::internal(
            "a visitor allowed to delete is not signed in",
        ));
    };
    let back = back_to(&project, &reference, &target);
    let body = html! {
        h1 { "Delete?" }
        p { "This deletes " strong { (what) } ", for every client, at once. It cannot be undone." }
        form method="post" action=(request.path()) {
            (layout::csrf_field(csrf))
            button.danger type="submit" { "Delete" }
            " "
            a href=(back) { "Cancel" }
        }
    };
    Ok(respond::ok(layout::page("Delete?", None, &nav, &body)))
}

/// The page a target is shown on.
fn back_to(project: &Project, reference: &RecipeReference, target: &Target) -> String {
    match target {
        Target::Recipe => urls::recipe(&project.path, reference),
        Target::Revision(revision) | Target::Binary(revision, _) => {
            urls::recipe_revision(&project.path, reference, revision)
        }
    }
}

/// `POST .../delete`: deletes, then goes to the page above what was deleted.
pub(crate) async fn delete(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    session::signed_form(&request, &body)?;
    let (path, reference, target) = target(&request)?;
    let wanted = (reference.clone(), target.clone());
    let (next, _) = access::act(&state, access::viewer(&request), move |reader| {
        let (reference, target) = wanted;
        let project = deletable(reader, &path, &reference)?;
        let key = |revision: &Revision| RecipeRevisionKey {
            project: project.id,
            recipe: reference.clone(),
            revision: revision.clone(),
        };
        let deleted = match &target {
            Target::Recipe => reader.store.delete_recipe(project.id, &reference)?,
            Target::Revision(revision) => reader.store.delete_recipe_revision(&key(revision))?,
            Target::Binary(revision, package_id) => {
                reader.store.delete_package(&key(revision), package_id)?
            }
        };
        if !deleted {
            return Err(WebError::NotFound);
        }
        tracing::info!(
            user = reader.viewer.name(),
            project = %project.path,
            reference = %reference,
            "web: deleted"
        );
        // After a revision, its recipe's page if the recipe is still there.
        Ok(match &target {
            Target::Recipe => urls::project(&project.path),
            Target::Revision(_) => {
                if reader
                    .store
                    .recipe_revisions(project.id, &reference)?
                    .is_empty()
                {
                    urls::project(&project.path)
                } else {
                    urls::recipe(&project.path, &reference)
                }
            }
            Target::Binary(revision, _) => {
                urls::recipe_revision(&project.path, &reference, revision)
            }
        })
    })
    .await?;
    Ok(respond::redirect(&next))
}
