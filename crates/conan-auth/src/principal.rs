//! Who is calling.

use conan_store::{ProjectId, TokenId, User, UserId};

use crate::token::Access;

/// Which credential a user authenticated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The user's password.
    Password,
    /// A personal access token, by id.
    PersonalToken(TokenId),
}

/// The caller of a request, after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A user, through a password or a personal access token.
    User {
        /// The user, active at authentication time.
        user: User,
        /// What the credential allows at most.
        access: Access,
        /// The credential.
        source: Source,
    },
    /// A project's deploy token.
    DeployToken {
        /// The token's id.
        token_id: TokenId,
        /// The project it belongs to.
        project: ProjectId,
        /// Its user name.
        username: String,
        /// What its scopes allow.
        access: Access,
    },
}

impl Principal {
    /// The caller's name as the Conan client shows it (`check_credentials`, error messages).
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Anonymous => "anonymous",
            Self::User { user, .. } => &user.username,
            Self::DeployToken { username, .. } => username,
        }
    }

    /// The user whose memberships count for the caller: a signed-in user, never a deploy token
    /// or an anonymous caller.
    #[must_use]
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Self::User { user, .. } => Some(user.id),
            Self::Anonymous | Self::DeployToken { .. } => None,
        }
    }

    /// Whether the caller presented valid credentials.
    #[must_use]
    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Self::Anonymous)
    }
}
