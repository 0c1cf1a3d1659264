//! `GET/POST/PATCH/DELETE /projects/:id/packages/protection/rules`: GitLab's package protection
//! rules over conan-store's `ProtectionStore`, for maintainers and owners. Lists are not
//! paginated, as in GitLab; validation answers GitLab's 400s and 422s.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::Principal;
use conan_model::PackageNamePattern;
use conan_store::{
    AccessLevel, LevelUpdate, MetadataStore, NewProtectionRule, PackageType, ProtectionRule,
    ProtectionRuleId, ProtectionRuleUpdate, Role, StoreError,
};
use serde_json::{Map, Value, json};

use crate::access::{self, Caller, OwnedProjectKey, ProjectAccess};
use crate::error::RestError;
use crate::packages::resource;

/// The largest request body a rule may come in.
const MAX_BODY: usize = 16 * 1024;

/// GitLab's message when a new rule names neither level.
const NO_LEVEL: &str = "minimum_access_level_for_push, minimum_access_level_for_delete are \
                        missing, at least one parameter must be provided";

fn rule_json(rule: &ProtectionRule) -> Value {
    json!({
        "id": rule.id.0,
        "project_id": rule.project.0,
        "package_name_pattern": rule.package_name_pattern.as_str(),
        "package_type": rule.package_type.as_str(),
        "minimum_access_level_for_push": rule.minimum_access_level_for_push.map(AccessLevel::as_str),
        "minimum_access_level_for_delete": rule.minimum_access_level_for_delete.map(AccessLevel::as_str),
    })
}

pub(crate) fn json_response(status: actix_web::http::StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body.to_string())
}

/// Checks that the caller administers the project's packages (maintainer, owner or instance
/// administrator), with a token scope that allows writing when `write`: 401 for anonymous
/// callers (GitLab's `authenticate!`), 404 for a project they may not see, 403 otherwise.
pub(crate) fn administer(
    store: &dyn MetadataStore,
    principal: Principal,
    key: &OwnedProjectKey,
    write: bool,
) -> Result<ProjectAccess, RestError> {
    if !principal.is_authenticated() {
        return Err(RestError::Unauthorized);
    }
    let access = ProjectAccess::read(store, principal, key)?;
    let Principal::User {
        user,
        access: scopes,
        ..
    } = &access.principal
    else {
        return Err(RestError::Forbidden(None));
    };
    if !(user.is_admin || access.role.is_some_and(|role| role >= Role::Maintainer)) {
        return Err(RestError::Forbidden(None));
    }
    if write && !scopes.write {
        return Err(RestError::InsufficientScope);
    }
    Ok(access)
}

/// The JSON object of a request body: malformed JSON, or anything but an object, is a 400.
pub(crate) fn body_object(body: &[u8]) -> Result<Map<String, Value>, RestError> {
    if body.len() > MAX_BODY {
        return Err(RestError::BadRequest(
            "the request body is too large".to_owned(),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(RestError::BadRequest(
            "the body must be a JSON object".to_owned(),
        )),
        Err(_) => Err(RestError::BadRequest(
            "the body is not valid JSON".to_owned(),
        )),
    }
}

/// A field given as a string, parsed; absent is `None`, anything else GitLab's 400.
fn parsed<T: std::str::FromStr>(
    object: &Map<String, Value>,
    name: &str,
) -> Result<Option<T>, RestError> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => text
            .parse()
            .map(Some)
            .map_err(|_| RestError::invalid_param(name)),
        Some(_) => Err(RestError::invalid_param(name)),
    }
}

/// A level field: absent, `null` or a level.
fn level(object: &Map<String, Value>, name: &str) -> Result<LevelUpdate, RestError> {
    match object.get(name) {
        None => Ok(LevelUpdate::Keep),
        Some(Value::Null) => Ok(LevelUpdate::Clear),
        Some(_) => {
            Ok(parsed::<AccessLevel>(object, name)?.map_or(LevelUpdate::Keep, LevelUpdate::Set))
        }
    }
}

/// The delete level: GitLab's parameter takes `owner` and `admin` only (a maintainer may delete
/// without any rule), so `maintainer` is a 400 like any other value outside the enum.
fn delete_level(object: &Map<String, Value>) -> Result<LevelUpdate, RestError> {
    const NAME: &str = "minimum_access_level_for_delete";
    match level(object, NAME)? {
        LevelUpdate::Set(level) if !level.allowed_for_delete() => {
            Err(RestError::invalid_param(NAME))
        }
        update => Ok(update),
    }
}

/// What the store's refusals of a rule mean to a GitLab client: a 422.
fn refused(error: StoreError) -> RestError {
    match error {
        StoreError::Conflict(_) => {
            RestError::Unprocessable("Package name pattern has already been taken".to_owned())
        }
        StoreError::Invalid(message) => RestError::Unprocessable(message),
        error => error.into(),
    }
}

fn rule_id(request: &HttpRequest) -> Result<ProtectionRuleId, RestError> {
    request
        .match_info()
        .get("rule_id")
        .and_then(|value| value.parse().ok())
        .map(ProtectionRuleId)
        .ok_or_else(|| RestError::malformed_param("package_protection_rule_id"))
}

pub(crate) fn project(request: &HttpRequest) -> Result<OwnedProjectKey, RestError> {
    access::project_key(request.match_info().get("id").unwrap_or_default())
}

fn rule_not_found() -> RestError {
    RestError::NotFound("Not Found".to_owned())
}

/// `GET .../protection/rules`: every rule of the project, by id, unpaginated.
async fn list(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let caller = Caller::of(&request)?;
    let rules = access::read(&state, caller, move |store, principal| {
        let access = administer(store, principal, &key, false)?;
        Ok(store.protection_rules(access.project.id)?)
    })
    .await?;
    Ok(json_response(
        actix_web::http::StatusCode::OK,
        &Value::Array(rules.iter().map(rule_json).collect()),
    ))
}

/// `POST .../protection/rules`: 201 with the new rule.
async fn create(request: HttpRequest, body: web::Bytes) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let object = body_object(&body)?;
    let pattern: PackageNamePattern = parsed(&object, "package_name_pattern")?
        .ok_or_else(|| RestError::Param("package_name_pattern is missing".to_owned()))?;
    let package_type: PackageType = parsed(&object, "package_type")?
        .ok_or_else(|| RestError::Param("package_type is missing".to_owned()))?;
    let push = level(&object, "minimum_access_level_for_push")?;
    let delete = delete_level(&object)?;
    if push == LevelUpdate::Keep && delete == LevelUpdate::Keep {
        return Err(RestError::Param(NO_LEVEL.to_owned()));
    }
    let rule = NewProtectionRule {
        package_name_pattern: pattern,
        package_type,
        minimum_access_level_for_push: push.apply(None),
        minimum_access_level_for_delete: delete.apply(None),
    };
    let caller = Caller::of(&request)?;
    let created = access::run(&state, caller, false, move |store, principal| {
        let access = administer(store, principal, &key, true)?;
        store
            .create_protection_rule(access.project.id, &rule)
            .map_err(refused)
    })
    .await?;
    Ok(json_response(
        actix_web::http::StatusCode::CREATED,
        &rule_json(&created),
    ))
}

/// `PATCH .../protection/rules/:id`: any subset of the fields; `null` clears a level.
async fn update(request: HttpRequest, body: web::Bytes) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let id = rule_id(&request)?;
    let object = body_object(&body)?;
    let update = ProtectionRuleUpdate {
        package_name_pattern: parsed(&object, "package_name_pattern")?,
        package_type: parsed(&object, "package_type")?,
        minimum_access_level_for_push: level(&object, "minimum_access_level_for_push")?,
        minimum_access_level_for_delete: delete_level(&object)?,
    };
    let caller = Caller::of(&request)?;
    let updated = access::run(&state, caller, false, move |store, principal| {
        let access = administer(store, principal, &key, true)?;
        store
            .update_protection_rule(access.project.id, id, &update)
            .map_err(refused)?
            .ok_or_else(rule_not_found)
    })
    .await?;
    Ok(json_response(
        actix_web::http::StatusCode::OK,
        &rule_json(&updated),
    ))
}

/// `DELETE .../protection/rules/:id`: 204.
async fn delete(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let id = rule_id(&request)?;
    let caller = Caller::of(&request)?;
    access::run(&state, caller, false, move |store, principal| {
        let access = administer(store, principal, &key, true)?;
        if store.delete_protection_rule(access.project.id, id)? {
            Ok(())
        } else {
            Err(rule_not_found())
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The routes of this module, under `/api/v4`.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    const RULES: &str = "/api/v4/projects/{id}/packages/protection/rules";
    config
        .service(
            resource(RULES)
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(
            resource(&format!("{RULES}/{{rule_id}}"))
                .route(web::patch().to(update))
                .route(web::delete().to(delete)),
        );
}
