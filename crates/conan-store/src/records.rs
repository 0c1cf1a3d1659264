//! The values the storage traits take and return.

use std::fmt;
use std::str::FromStr;

use conan_model::{FilePath, PackageId, RecipeReference, Revision, RevisionTime};

use crate::StoreError;
use crate::blob::Digests;

/// Declares a numeric id newtype, shown as its number.
macro_rules! id_type {
    ($(#[$doc:meta])* $type:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        pub struct $type(pub i64);

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// A project's numeric id.
    ProjectId
);
id_type!(
    /// A user's numeric id.
    UserId
);
id_type!(
    /// A token's numeric id, unique among the tokens of its [`TokenKind`].
    TokenId
);
id_type!(
    /// A JWT signing key's numeric id, which JWTs name in their header.
    SigningKeyId
);
id_type!(
    /// A recipe's numeric id: one reference (`name/version@user/channel`) in one project, what
    /// GitLab's Packages API calls a package.
    RecipeId
);
id_type!(
    /// A stored file's numeric id (GitLab's package file id).
    FileId
);
id_type!(
    /// A package protection rule's numeric id.
    ProtectionRuleId
);

/// Declares a string-backed enum stored as lowercase text, with `FromStr` and `Display`.
macro_rules! text_enum {
    ($(#[$doc:meta])* $type:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $type {
            $($(#[$vdoc])* $variant),+
        }

        impl $type {
            /// Every value, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            /// The stored and displayed form.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = crate::StoreError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(crate::StoreError::Invalid(format!(
                        concat!("unknown ", $what, " {:?}: expected one of {}"),
                        text,
                        Self::ALL.iter().map(|value| value.as_str()).collect::<Vec<_>>().join(", ")
                    ))),
                }
            }
        }
    };
}

text_enum!(
    /// Who may read a project's packages, as in GitLab.
    Visibility, "visibility", {
        /// Anyone, including anonymous callers.
        Public => "public",
        /// Any signed-in user.
        Internal => "internal",
        /// Members only.
        Private => "private",
    }
);

text_enum!(
    /// A member's role in a project, GitLab's ladder from least to most powerful.
    Role, "role", {
        /// May read private projects.
        Guest => "guest",
        /// May read.
        Reporter => "reporter",
        /// May upload.
        Developer => "developer",
        /// May delete.
        Maintainer => "maintainer",
        /// Owns the project.
        Owner => "owner",
    }
);

impl Role {
    /// GitLab's numeric access level of the role: guest 10, reporter 20, developer 30,
    /// maintainer 40, owner 50.
    #[must_use]
    pub fn access_level(self) -> u8 {
        match self {
            Self::Guest => 10,
            Self::Reporter => 20,
            Self::Developer => 30,
            Self::Maintainer => 40,
            Self::Owner => 50,
        }
    }
}

/// A project: the unit of ownership and permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The numeric id.
    pub id: ProjectId,
    /// The unique full path, such as `group/sub/project`.
    pub path: String,
    /// Who may read it.
    pub visibility: Visibility,
    /// When it was created.
    pub created_at: RevisionTime,
}

/// How a request names a project: by id or by full path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectKey<'a> {
    /// The numeric id.
    Id(ProjectId),
    /// The full path, such as `group/sub/project`.
    Path(&'a str),
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The numeric id.
    pub id: UserId,
    /// The unique user name.
    pub username: String,
    /// The argon2 hash of the password, if the user has one.
    pub password_hash: Option<String>,
    /// Whether the user is an instance administrator.
    pub is_admin: bool,
    /// Whether the user may sign in at all.
    pub is_active: bool,
    /// When the account was created.
    pub created_at: RevisionTime,
}

/// A user account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The unique user name.
    pub username: String,
    /// The argon2 hash of the password, if any.
    pub password_hash: Option<String>,
    /// Whether the user is an instance administrator.
    pub is_admin: bool,
}

/// A personal access token or a deploy token, as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token's id (per kind).
    pub id: TokenId,
    /// What the token belongs to.
    pub owner: TokenOwner,
    /// A label chosen at creation.
    pub name: String,
    /// The hash of the secret.
    pub token_hash: String,
    /// The scopes, as stored (the identity layer parses them).
    pub scopes: Vec<String>,
    /// When it stops working, if ever.
    pub expires_at: Option<RevisionTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<RevisionTime>,
    /// When it was last used (personal access tokens only).
    pub last_used_at: Option<RevisionTime>,
    /// When it was created.
    pub created_at: RevisionTime,
}

impl Token {
    /// Which kind of token this is.
    #[must_use]
    pub fn kind(&self) -> TokenKind {
        self.owner.kind()
    }
}

/// The two kinds of token credential. Each kind numbers its tokens on its own, so a
/// [`TokenId`] names a token only together with its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A personal access token: it acts as its user.
    Personal,
    /// A deploy token: it acts for one project under a user name of its own.
    Deploy,
}

/// Whose tokens to list: a user's personal access tokens or a project's deploy tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenHolder {
    /// A user's personal access tokens.
    User(UserId),
    /// A project's deploy tokens.
    Project(ProjectId),
}

/// Whose a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// A personal access token of this user.
    User(UserId),
    /// A deploy token of this project, with its own user name.
    Project {
        /// The project.
        project: ProjectId,
        /// The deploy token's user name.
        username: String,
    },
}

impl TokenOwner {
    /// The kind of token this owner has.
    #[must_use]
    pub fn kind(&self) -> TokenKind {
        match self {
            Self::User(_) => TokenKind::Personal,
            Self::Project { .. } => TokenKind::Deploy,
        }
    }
}

/// A token to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// What the token belongs to.
    pub owner: TokenOwner,
    /// A label.
    pub name: String,
    /// The hash of the secret.
    pub token_hash: String,
    /// The scopes.
    pub scopes: Vec<String>,
    /// When it stops working, if ever.
    pub expires_at: Option<RevisionTime>,
}

/// A JWT signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// The key's id, which JWTs name in their header.
    pub id: SigningKeyId,
    /// The secret, hex or base64 as the identity layer chose.
    pub secret: String,
    /// When it was created.
    pub created_at: RevisionTime,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A committed revision and the time it was committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionEntry {
    /// The revision.
    pub revision: Revision,
    /// When its manifest was stored; never changes.
    pub time: RevisionTime,
}

/// One recipe revision in one project.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecipeRevisionKey {
    /// The project holding the recipe.
    pub project: ProjectId,
    /// The recipe.
    pub recipe: RecipeReference,
    /// The recipe revision.
    pub revision: Revision,
}

/// One package revision in one project.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageRevisionKey {
    /// The recipe revision the package was built from.
    pub recipe: RecipeRevisionKey,
    /// The package id.
    pub package_id: PackageId,
    /// The package revision.
    pub revision: Revision,
}

/// The revision a file belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileOwner {
    /// A recipe revision's file.
    Recipe(RecipeRevisionKey),
    /// A package revision's file.
    Package(PackageRevisionKey),
}

impl FileOwner {
    /// The recipe revision this file is under (its own, or its package's).
    #[must_use]
    pub fn recipe(&self) -> &RecipeRevisionKey {
        match self {
            Self::Recipe(key) => key,
            Self::Package(key) => &key.recipe,
        }
    }

    /// The owner's own revision: the recipe revision of a recipe file, the package revision of
    /// a package file.
    #[must_use]
    pub fn revision(&self) -> &Revision {
        match self {
            Self::Recipe(key) => &key.revision,
            Self::Package(key) => &key.revision,
        }
    }
}

/// `name/version@user/channel#rrev`, with `:package_id#prev` for a package.
impl fmt::Display for FileOwner {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Recipe(key) => write!(formatter, "{}#{}", key.recipe, key.revision),
            Self::Package(key) => write!(
                formatter,
                "{}#{}:{}#{}",
                key.recipe.recipe, key.recipe.revision, key.package_id, key.revision
            ),
        }
    }
}

/// A stored file of a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// The path inside the revision.
    pub path: FilePath,
    /// Size and checksums of its content; `sha256` names the blob.
    pub digests: Digests,
    /// When the file was first stored.
    pub created_at: RevisionTime,
    /// When its content last changed (only `metadata/**` files change).
    pub updated_at: RevisionTime,
}

/// A file to record, whose blob has been published.
#[derive(Debug, Clone, Copy)]
pub struct NewFile<'a> {
    /// The path inside the revision.
    pub path: &'a FilePath,
    /// Size and checksums; `sha256` names the blob.
    pub digests: &'a Digests,
    /// The raw text when the file is a package's `conaninfo.txt`, kept for package search.
    pub conaninfo: Option<&'a str>,
    /// The Conan 1 upload this file belongs to, for files of revision `0` (see [`UploadId`]).
    pub upload: Option<&'a UploadId>,
    /// For a `conanmanifest.txt`: the sha256 of a committed manifest that the caller checked
    /// lists the same files (another builder's manifest of the same revision, differing only in
    /// its timestamp line). When the committed manifest is that one, it is kept
    /// ([`FileOutcome::Kept`]) instead of the upload being refused.
    pub same_files_as: Option<&'a str>,
    /// For a `conanmanifest.txt` of a revision copied from elsewhere (a remote project's
    /// fetch): the time the revision was committed there. Committing it here keeps that time,
    /// so every node, and a node answering from what it holds, gives the upstream's times and
    /// the upstream's `latest`; its last download is set to now, so cleanup counts it used
    /// from when it arrived. `None`: committed at the registry's clock, after its siblings.
    pub revision_time: Option<RevisionTime>,
}

/// One Conan 1 upload into the mutable revision `0`.
///
/// Conan 1 without revisions writes every upload to revision `0`, which is mutable by
/// definition. The files of revision `0` PUT under one upload id are recorded aside, invisible,
/// and become the revision's whole content together, in the transaction that records that
/// upload's `conanmanifest.txt` (which Conan 1 uploads last): a reader sees the old set or the
/// new one, never a mix, and files the new upload does not include are gone with the old set.
/// Files PUT without an id share one anonymous upload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// A fresh, random upload id (32 lowercase hexadecimal digits).
    #[must_use]
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Parses an upload id: exactly 32 lowercase hexadecimal digits.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        if text.len() == 32
            && text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        {
            Ok(Self(text.to_owned()))
        } else {
            Err(StoreError::Invalid(format!(
                "invalid upload id {text:?}: expected 32 lowercase hexadecimal digits"
            )))
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// What recording a file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    /// The path was new in its revision.
    Created,
    /// The same content was already stored under this path: nothing changed.
    Unchanged,
    /// Different content replaced the old (a `metadata/**` file, or any file of a revision not
    /// committed yet).
    Replaced,
    /// A committed revision holds other bytes under this path and they were kept, the upload
    /// succeeding: an archive (`conan_export.t*`, `conan_sources.t*`, `conan_package.t*`, which
    /// another builder compresses from the same files with other timestamps) or a manifest
    /// listing the same files (see [`NewFile::same_files_as`]).
    Kept,
    /// A committed revision holds other content under this immutable path, and this content
    /// is not interchangeable with it: the transaction rolled back and nothing changed. The
    /// caller reports a conflict.
    Refused,
}

/// The result of [`crate::FileStore::record_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFile {
    /// What happened to the file.
    pub outcome: FileOutcome,
    /// Set when this call committed the revision (the first store of its `conanmanifest.txt`).
    pub committed: Option<RevisionEntry>,
}

/// A binary package of a recipe revision, with its latest committed revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEntry {
    /// The package id.
    pub package_id: PackageId,
    /// Its newest committed package revision.
    pub latest: RevisionEntry,
    /// The raw `conaninfo.txt` of that revision, when one was stored.
    pub conaninfo: Option<String>,
}

/// Which projects a search covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchScope {
    /// Every project (an instance administrator).
    All,
    /// These projects only (the ones the caller may read).
    Projects(Vec<ProjectId>),
}

/// One recipe found by a search.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecipeMatch {
    /// The recipe.
    pub reference: RecipeReference,
    /// The project holding it.
    pub project: ProjectId,
}

mod protection;

pub use protection::{
    AccessLevel, LevelUpdate, NewProtectionRule, PackageType, ProtectionRule, ProtectionRuleUpdate,
};

#[cfg(test)]
mod upload_id_tests {
    use super::UploadId;

    #[test]
    fn upload_ids_are_32_lowercase_hex_digits() {
        let fresh = UploadId::generate();
        assert_eq!(UploadId::parse(fresh.as_str()).ok(), Some(fresh.clone()));
        assert_ne!(fresh, UploadId::generate());
        for bad in [
            "",
            "nope",
            &"a".repeat(31),
            &"a".repeat(33),
            &"A".repeat(32),
            &format!("{}g", "a".repeat(31)),
        ] {
            assert!(UploadId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
