//! Conan references: `name/version[@user[/channel]]`, their URL form with the `_` placeholder,
//! and full references `name/version@user/channel#rrev:package_id#prev`.
//!
//! # Rules
//! - Each component (name, version, user, channel) matches `[A-Za-z0-9_][A-Za-z0-9_+.-]{1,100}`:
//!   2 to 101 characters, the Conan 2 grammar. The canonical string of a recipe reference is at
//!   most [`MAX_REFERENCE_LEN`] (200) characters, as the Conan 2 client enforces.
//! - **Upper case is accepted and preserved.** Conan 1 and GitLab accept it, Conan 2 accepts it
//!   with `core:allow_uppercase_pkg_names`, and packages named that way exist in the wild, so a
//!   registry that refused them would strand their users. Names are compared exactly:
//!   `Zlib/1.0` and `zlib/1.0` are two recipes, as in Conan 1 and GitLab. (Search is
//!   case-insensitive by default; see [`crate::search`].)
//! - A channel needs a user (`pkg/1.0@user` is valid, a channel alone is not), as in Conan 2 and
//!   GitLab's newest rule.
//! - In URLs an absent user or channel is the placeholder `_`. A single `_` can never be a valid
//!   component (components have at least two characters), so the placeholder is unambiguous, and
//!   it never appears in a rendered reference string.

use std::fmt;
use std::str::FromStr;

use crate::revision::{PackageId, Revision, RevisionError};

/// The longest canonical recipe reference string accepted, in characters.
pub const MAX_REFERENCE_LEN: usize = 200;

/// The shortest component, in characters.
pub const MIN_COMPONENT_LEN: usize = 2;

/// The longest component, in characters.
pub const MAX_COMPONENT_LEN: usize = 101;

/// The placeholder the Conan clients put in URLs for an absent user or channel.
pub const URL_PLACEHOLDER: &str = "_";

/// Which part of a reference a component is; used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ComponentKind {
    /// The package name.
    Name,
    /// The package version.
    Version,
    /// The user (namespace); at instance level the project path with `/` written as `+`.
    User,
    /// The channel.
    Channel,
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Name => "name",
            Self::Version => "version",
            Self::User => "user",
            Self::Channel => "channel",
        })
    }
}

/// Why a reference or one of its parts was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// A component is shorter or longer than the grammar allows.
    #[error(
        "invalid package {kind} {value:?}: must be {MIN_COMPONENT_LEN} to {MAX_COMPONENT_LEN} \
         characters long"
    )]
    ComponentLength {
        /// Which component.
        kind: ComponentKind,
        /// The refused text.
        value: String,
    },
    /// A component contains a character outside the grammar.
    #[error(
        "invalid package {kind} {value:?}: {character:?} is not allowed (use letters, digits and \
         `_`, then also `+`, `.` and `-`)"
    )]
    ComponentCharacter {
        /// Which component.
        kind: ComponentKind,
        /// The refused text.
        value: String,
        /// The first offending character.
        character: char,
    },
    /// The canonical reference is longer than [`MAX_REFERENCE_LEN`].
    #[error("reference {reference:?} is too long: at most {MAX_REFERENCE_LEN} characters")]
    TooLong {
        /// The refused reference, rendered.
        reference: String,
    },
    /// The text is not of the form `name/version[@user[/channel]]`.
    #[error("invalid reference {text:?}: expected name/version[@user[/channel]]")]
    Syntax {
        /// The refused text.
        text: String,
    },
    /// A channel was given without a user.
    #[error("a user must be specified when a channel is provided (got channel {channel:?})")]
    ChannelWithoutUser {
        /// The orphan channel.
        channel: String,
    },
    /// A revision inside a full reference is invalid.
    #[error(transparent)]
    Revision(#[from] RevisionError),
    /// A full reference has a package revision but no package id.
    #[error("invalid reference {text:?}: a package revision needs a package id")]
    RevisionWithoutPackage {
        /// The refused text.
        text: String,
    },
}

/// Checks one component against the grammar, returning it unchanged when valid.
fn validate_component(kind: ComponentKind, value: &str) -> Result<(), ReferenceError> {
    let length = value.chars().count();
    if !(MIN_COMPONENT_LEN..=MAX_COMPONENT_LEN).contains(&length) {
        return Err(ReferenceError::ComponentLength {
            kind,
            value: value.to_owned(),
        });
    }
    for (index, character) in value.chars().enumerate() {
        let allowed = character.is_ascii_alphanumeric()
            || character == '_'
            || (index > 0 && matches!(character, '+' | '.' | '-'));
        if !allowed {
            return Err(ReferenceError::ComponentCharacter {
                kind,
                value: value.to_owned(),
                character,
            });
        }
    }
    Ok(())
}

/// Declares a validated component newtype.
macro_rules! component {
    ($(#[$doc:meta])* $type:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $type(String);

        impl $type {
            /// The component as written.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $type {
            type Err = ReferenceError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                validate_component($kind, value)?;
                Ok(Self(value.to_owned()))
            }
        }

        crate::macros::string_newtype!($type);
    };
}

component!(
    /// A package name, such as `zlib`.
    Name,
    ComponentKind::Name
);
component!(
    /// A package version, such as `1.3.1` or `1.0-pre+build.2`.
    Version,
    ComponentKind::Version
);
component!(
    /// A reference's user (namespace), such as `conan` or, at instance level, `group+project`.
    User,
    ComponentKind::User
);
component!(
    /// A reference's channel, such as `stable`.
    Channel,
    ComponentKind::Channel
);

impl User {
    /// The project path this user names at instance level: every `+` becomes `/`
    /// (`my-group+my-project` is `my-group/my-project`), as GitLab does.
    #[must_use]
    pub fn project_path(&self) -> String {
        self.0.replace('+', "/")
    }
}

/// A recipe reference `name/version[@user[/channel]]`, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecipeReference {
    name: Name,
    version: Version,
    user: Option<User>,
    channel: Option<Channel>,
}

impl RecipeReference {
    /// Builds a reference from validated parts, checking the cross-component rules.
    pub fn new(
        name: Name,
        version: Version,
        user: Option<User>,
        channel: Option<Channel>,
    ) -> Result<Self, ReferenceError> {
        if user.is_none()
            && let Some(channel) = channel
        {
            return Err(ReferenceError::ChannelWithoutUser { channel: channel.0 });
        }
        let reference = Self {
            name,
            version,
            user,
            channel,
        };
        if reference.rendered_len() > MAX_REFERENCE_LEN {
            return Err(ReferenceError::TooLong {
                reference: reference.to_string(),
            });
        }
        Ok(reference)
    }

    /// Parses the four URL path segments `name/version/user/channel`, where `_` stands for an
    /// absent user or channel.
    pub fn from_url_segments(
        name: &str,
        version: &str,
        user: &str,
        channel: &str,
    ) -> Result<Self, ReferenceError> {
        fn optional(value: &str) -> Option<&str> {
            (value != URL_PLACEHOLDER).then_some(value)
        }
        Self::new(
            name.parse()?,
            version.parse()?,
            optional(user).map(str::parse).transpose()?,
            optional(channel).map(str::parse).transpose()?,
        )
    }

    /// The package name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The package version.
    #[must_use]
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The user, if any.
    #[must_use]
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// The channel, if any.
    #[must_use]
    pub fn channel(&self) -> Option<&Channel> {
        self.channel.as_ref()
    }

    /// The four URL segments, with `_` for an absent user or channel.
    #[must_use]
    pub fn url_segments(&self) -> [&str; 4] {
        [
            self.name.as_str(),
            self.version.as_str(),
            self.user.as_ref().map_or(URL_PLACEHOLDER, User::as_str),
            self.channel
                .as_ref()
                .map_or(URL_PLACEHOLDER, Channel::as_str),
        ]
    }

    /// The URL path form `name/version/user/channel`, with `_` placeholders, as the clients
    /// put it in routes.
    #[must_use]
    pub fn url_path(&self) -> String {
        self.url_segments().join("/")
    }

    fn rendered_len(&self) -> usize {
        // Components are ASCII, so bytes are characters.
        self.name.0.len()
            + 1
            + self.version.0.len()
            + self.user.as_ref().map_or(0, |user| 1 + user.0.len())
            + self
                .channel
                .as_ref()
                .map_or(0, |channel| 1 + channel.0.len())
    }
}

impl fmt::Display for RecipeReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.version)?;
        if let Some(user) = &self.user {
            write!(f, "@{user}")?;
            if let Some(channel) = &self.channel {
                write!(f, "/{channel}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for RecipeReference {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || ReferenceError::Syntax {
            text: text.to_owned(),
        };
        let (name_version, user_channel) = match text.split_once('@') {
            Some((left, right)) => (left, Some(right)),
            None => (text, None),
        };
        let (name, version) = name_version.split_once('/').ok_or_else(syntax)?;
        if version.contains('/') {
            return Err(syntax());
        }
        let (user, channel) = match user_channel {
            None => (None, None),
            Some(rest) => {
                let (user, channel) = match rest.split_once('/') {
                    Some((user, channel)) => (user, Some(channel)),
                    None => (rest, None),
                };
                if user.is_empty() || channel.is_some_and(|channel| channel.contains('/')) {
                    return Err(syntax());
                }
                (Some(user.parse()?), channel.map(str::parse).transpose()?)
            }
        };
        Self::new(name.parse()?, version.parse()?, user, channel)
    }
}

crate::macros::display_serde!(RecipeReference);

/// A full reference, from a bare recipe up to one package revision:
/// `name/version[@user[/channel]][#rrev][:package_id[#prev]]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FullReference {
    recipe: RecipeReference,
    recipe_revision: Option<Revision>,
    package_id: Option<PackageId>,
    package_revision: Option<Revision>,
}

impl FullReference {
    /// Builds a full reference, checking that a package revision comes with a package id.
    pub fn new(
        recipe: RecipeReference,
        recipe_revision: Option<Revision>,
        package_id: Option<PackageId>,
        package_revision: Option<Revision>,
    ) -> Result<Self, ReferenceError> {
        let reference = Self {
            recipe,
            recipe_revision,
            package_id,
            package_revision,
        };
        if reference.package_id.is_none() && reference.package_revision.is_some() {
            return Err(ReferenceError::RevisionWithoutPackage {
                text: reference.to_string(),
            });
        }
        Ok(reference)
    }

    /// The recipe part.
    #[must_use]
    pub fn recipe(&self) -> &RecipeReference {
        &self.recipe
    }

    /// The recipe revision, if any.
    #[must_use]
    pub fn recipe_revision(&self) -> Option<&Revision> {
        self.recipe_revision.as_ref()
    }

    /// The package id, if any.
    #[must_use]
    pub fn package_id(&self) -> Option<&PackageId> {
        self.package_id.as_ref()
    }

    /// The package revision, if any.
    #[must_use]
    pub fn package_revision(&self) -> Option<&Revision> {
        self.package_revision.as_ref()
    }
}

impl From<RecipeReference> for FullReference {
    fn from(recipe: RecipeReference) -> Self {
        Self {
            recipe,
            recipe_revision: None,
            package_id: None,
            package_revision: None,
        }
    }
}

impl fmt::Display for FullReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.recipe)?;
        if let Some(revision) = &self.recipe_revision {
            write!(f, "#{revision}")?;
        }
        if let Some(package_id) = &self.package_id {
            write!(f, ":{package_id}")?;
            if let Some(revision) = &self.package_revision {
                write!(f, "#{revision}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for FullReference {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (recipe_part, package_part) = match text.split_once(':') {
            Some((recipe, package)) => (recipe, Some(package)),
            None => (text, None),
        };
        let (recipe, recipe_revision) = match recipe_part.split_once('#') {
            Some((recipe, revision)) => (recipe, Some(revision.parse()?)),
            None => (recipe_part, None),
        };
        let (package_id, package_revision) = match package_part {
            None => (None, None),
            Some(package) => match package.split_once('#') {
                Some((id, revision)) => (Some(id.parse()?), Some(revision.parse()?)),
                None => (Some(package.parse()?), None),
            },
        };
        Self::new(
            recipe.parse()?,
            recipe_revision,
            package_id,
            package_revision,
        )
    }
}

crate::macros::display_serde!(FullReference);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn canonical_forms_round_trip() {
        for text in [
            "zlib/1.3",
            "zlib/1.3@user/channel",
            "pkg/1.0@user",
            "Poco/1.9.4@pocoproject/stable",
            "my_pkg/1.0-pre+build.2@group+sub+project/testing",
            "_a/1.0",
            "a1/v2",
        ] {
            let reference: RecipeReference = text.parse().unwrap();
            assert_eq!(reference.to_string(), text);
        }
    }

    #[test]
    fn parts_are_exposed() {
        let reference: RecipeReference = "zlib/1.3@user/channel".parse().unwrap();
        assert_eq!(reference.name().as_str(), "zlib");
        assert_eq!(reference.version().as_str(), "1.3");
        assert_eq!(reference.user().map(User::as_str), Some("user"));
        assert_eq!(reference.channel().map(Channel::as_str), Some("channel"));
        let bare: RecipeReference = "zlib/1.3".parse().unwrap();
        assert_eq!(bare.user(), None);
        assert_eq!(bare.channel(), None);
    }

    #[test]
    fn invalid_references_are_refused_with_the_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "expected name/version"),
            ("zlib", "expected name/version"),
            ("zlib/", "invalid package version \"\""),
            ("/1.3", "invalid package name \"\""),
            ("zlib/1.3/extra", "expected name/version"),
            ("zlib/1.3@", "expected name/version"),
            ("zlib/1.3@/channel", "expected name/version"),
            ("zlib/1.3@user/", "invalid package channel \"\""),
            ("zlib/1.3@user/chan/nel", "expected name/version"),
            ("zlib/1.3@a@b", "invalid package user \"a@b\""),
            ("z/1.3", "must be 2 to 101 characters"),
            ("zlib/1", "invalid package version \"1\""),
            ("zlib/1.3@_/_", "invalid package user \"_\""),
            ("-zlib/1.3", "'-' is not allowed"),
            ("+zlib/1.3", "'+' is not allowed"),
            (".zlib/1.3", "'.' is not allowed"),
            ("zl ib/1.3", "' ' is not allowed"),
            ("zlib/1.3#", "'#' is not allowed"),
            ("zlïb/1.3", "'ï' is not allowed"),
            ("zlib/[>1.0]", "'[' is not allowed"),
            ("zlib/1.3@us*er", "'*' is not allowed"),
        ];
        for (text, expected) in cases {
            let error = text.parse::<RecipeReference>().unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{text:?}: {error:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn component_length_limits() {
        let longest = "a".repeat(MAX_COMPONENT_LEN);
        assert!(format!("{longest}/1.0").parse::<RecipeReference>().is_ok());
        let too_long = "a".repeat(MAX_COMPONENT_LEN + 1);
        let error = format!("{too_long}/1.0")
            .parse::<RecipeReference>()
            .unwrap_err();
        assert!(matches!(
            error,
            ReferenceError::ComponentLength {
                kind: ComponentKind::Name,
                ..
            }
        ));
    }

    #[test]
    fn whole_reference_is_at_most_200_characters() {
        // 50 + 1 + 50 + 1 + 50 + 1 + 47 = 200 exactly.
        let part = "a".repeat(50);
        let at_limit = format!("{part}/{part}@{part}/{}", "c".repeat(47));
        assert_eq!(at_limit.len(), 200);
        assert!(at_limit.parse::<RecipeReference>().is_ok());
        let over = format!("{part}/{part}@{part}/{}", "c".repeat(48));
        let error = over.parse::<RecipeReference>().unwrap_err();
        assert!(matches!(error, ReferenceError::TooLong { .. }), "{error}");
        assert!(error.to_string().contains("at most 200 characters"));
    }

    #[test]
    fn url_placeholder_both_directions() {
        let cases = [
            (["zlib", "1.3", "_", "_"], "zlib/1.3"),
            (["zlib", "1.3", "user", "_"], "zlib/1.3@user"),
            (["zlib", "1.3", "user", "channel"], "zlib/1.3@user/channel"),
        ];
        for (segments, text) in cases {
            let [name, version, user, channel] = segments;
            let reference =
                RecipeReference::from_url_segments(name, version, user, channel).unwrap();
            assert_eq!(reference.to_string(), text);
            assert!(!reference.to_string().contains('_'));
            assert_eq!(reference.url_segments(), segments);
            assert_eq!(reference.url_path(), segments.join("/"));
            assert_eq!(text.parse::<RecipeReference>().unwrap(), reference);
        }
    }

    #[test]
    fn placeholder_user_with_real_channel_is_refused() {
        let error = RecipeReference::from_url_segments("zlib", "1.3", "_", "stable").unwrap_err();
        assert_eq!(
            error,
            ReferenceError::ChannelWithoutUser {
                channel: "stable".to_owned()
            }
        );
        assert!(error.to_string().contains("user must be specified"));
    }

    #[test]
    fn placeholder_is_only_meaningful_in_user_and_channel() {
        assert!(RecipeReference::from_url_segments("_", "1.3", "_", "_").is_err());
        assert!(RecipeReference::from_url_segments("zlib", "_", "_", "_").is_err());
    }

    #[test]
    fn upper_case_is_accepted_and_preserved() {
        let upper: RecipeReference = "Zlib/1.3@User/Channel".parse().unwrap();
        let lower: RecipeReference = "zlib/1.3@user/channel".parse().unwrap();
        assert_eq!(upper.to_string(), "Zlib/1.3@User/Channel");
        assert_ne!(upper, lower);
    }

    #[test]
    fn instance_level_user_names_a_project_path() {
        let user: User = "my-group+sub+my-project".parse().unwrap();
        assert_eq!(user.project_path(), "my-group/sub/my-project");
    }

    #[test]
    fn full_references() {
        let rrev = "a".repeat(32);
        let pkgid = "b".repeat(40);
        let prev = "c".repeat(32);
        for text in [
            "zlib/1.3".to_owned(),
            format!("zlib/1.3#{rrev}"),
            format!("zlib/1.3@user/channel#{rrev}:{pkgid}"),
            format!("zlib/1.3@user/channel#{rrev}:{pkgid}#{prev}"),
            format!("zlib/1.3:{pkgid}"),
            format!("zlib/1.3@user#0:{pkgid}#0"),
        ] {
            let full: FullReference = text.parse().unwrap();
            assert_eq!(full.to_string(), text);
        }
        let full: FullReference = format!("zlib/1.3@user/channel#{rrev}:{pkgid}#{prev}")
            .parse()
            .unwrap();
        assert_eq!(full.recipe().to_string(), "zlib/1.3@user/channel");
        assert_eq!(
            full.recipe_revision().map(Revision::as_str),
            Some(rrev.as_str())
        );
        assert_eq!(
            full.package_id().map(PackageId::as_str),
            Some(pkgid.as_str())
        );
        assert_eq!(
            full.package_revision().map(Revision::as_str),
            Some(prev.as_str())
        );
    }

    #[test]
    fn invalid_full_references() {
        let pkgid = "b".repeat(40);
        for text in [
            "zlib/1.3#".to_owned(),
            "zlib/1.3#xyz".to_owned(),
            "zlib/1.3:".to_owned(),
            "zlib/1.3:123".to_owned(),
            format!("zlib/1.3:{pkgid}#"),
            format!("zlib/1.3#0#0:{pkgid}"),
            format!("zlib/1.3:{pkgid}:{pkgid}"),
        ] {
            assert!(
                text.parse::<FullReference>().is_err(),
                "{text:?} was accepted"
            );
        }
        let recipe: RecipeReference = "zlib/1.3".parse().unwrap();
        let error = FullReference::new(recipe, None, None, Some(Revision::zero())).unwrap_err();
        assert!(matches!(
            error,
            ReferenceError::RevisionWithoutPackage { .. }
        ));
    }

    #[test]
    fn serde_uses_the_canonical_string() {
        let reference: RecipeReference = "zlib/1.3@user".parse().unwrap();
        let json = serde_json::to_string(&reference).unwrap();
        assert_eq!(json, "\"zlib/1.3@user\"");
        assert_eq!(
            serde_json::from_str::<RecipeReference>(&json).unwrap(),
            reference
        );
        assert!(serde_json::from_str::<RecipeReference>("\"zlib/1.3@_/_\"").is_err());
        assert!(serde_json::from_str::<Name>("\"x\"").is_err());
    }

    fn component() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_][A-Za-z0-9_+.-]{1,30}"
    }

    prop_compose! {
        fn recipe_text()(
            name in component(),
            version in component(),
            user in proptest::option::of(component()),
            channel in proptest::option::of(component()),
        ) -> String {
            let mut text = format!("{name}/{version}");
            if let Some(user) = user {
                text.push('@');
                text.push_str(&user);
                if let Some(channel) = channel {
                    text.push('/');
                    text.push_str(&channel);
                }
            }
            text
        }
    }

    proptest! {
        #[test]
        fn parse_render_round_trip(text in recipe_text()) {
            let reference: RecipeReference = text.parse().unwrap();
            prop_assert_eq!(reference.to_string(), text);
        }

        #[test]
        fn url_form_round_trip(text in recipe_text()) {
            let reference: RecipeReference = text.parse().unwrap();
            let [name, version, user, channel] = reference.url_segments();
            let back = RecipeReference::from_url_segments(name, version, user, channel).unwrap();
            prop_assert_eq!(back, reference);
        }

        #[test]
        fn full_reference_round_trip(
            text in recipe_text(),
            rrev in proptest::option::of("0|[0-9a-f]{32}|[0-9a-f]{40}"),
            package in proptest::option::of(("[0-9a-f]{40}", proptest::option::of("0|[0-9a-f]{32}"))),
        ) {
            let mut full = text;
            if let Some(rrev) = rrev {
                full = format!("{full}#{rrev}");
            }
            if let Some((id, prev)) = package {
                full = format!("{full}:{id}");
                if let Some(prev) = prev {
                    full = format!("{full}#{prev}");
                }
            }
            let parsed: FullReference = full.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), full);
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,64}") {
            let _ = text.parse::<RecipeReference>();
            let _ = text.parse::<FullReference>();
        }

        #[test]
        fn accepted_references_obey_the_grammar(text in "[a-z_@/.+-]{0,12}") {
            if let Ok(reference) = text.parse::<RecipeReference>() {
                prop_assert_eq!(reference.to_string(), text.clone());
                prop_assert!(text.len() <= MAX_REFERENCE_LEN);
                for part in text.split(['/', '@']) {
                    prop_assert!(validate_component(ComponentKind::Name, part).is_ok());
                }
            }
        }
    }
}
