#![doc = include_str!("../README.md")]

mod macros;

pub mod conaninfo;
pub mod manifest;
pub mod path;
pub mod protection;
pub mod reference;
pub mod revision;
pub mod search;
mod text;
pub mod timestamp;

pub use conaninfo::{ConanInfo, ConanInfoError, PackageInfo};
pub use manifest::{Manifest, ManifestError};
pub use path::{Compression, FileKind, FilePath, PathError};
pub use protection::{NamePatternError, PackageNamePattern};
pub use reference::{
    Channel, ComponentKind, FullReference, Name, RecipeReference, ReferenceError, User, Version,
};
pub use revision::{PackageId, Revision, RevisionError, RevisionKind};
pub use search::{CaseSensitivity, SearchPattern, SearchPatternError};
pub use timestamp::{RevisionTime, TimeError};
