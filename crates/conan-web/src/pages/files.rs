//! The table of a revision's files: path, size, sha1, sha256 and a download link to the Conan
//! API's own file URL (which checks the same permission as the page).

use conan_model::{RecipeReference, Revision};
use conan_store::{FileRecord, ProjectId};
use maud::{Markup, html};

use crate::layout;
use crate::urls::{self, FileOwner};

/// The most files a revision's table lists (real revisions hold a handful).
pub(crate) const MAX_FILES: usize = 100;

/// The files of one revision, at most [`MAX_FILES`] of them.
pub(crate) fn table(
    project: ProjectId,
    reference: &RecipeReference,
    recipe_revision: &Revision,
    owner: &FileOwner<'_>,
    files: &[FileRecord],
) -> Markup {
    html! {
        div.table-wrap {
            table {
                caption.muted { (files.len()) " files" }
                thead {
                    tr {
                        th scope="col" { "File" }
                        th.num scope="col" { "Size" }
                        th scope="col" { "SHA-1" }
                        th scope="col" { "SHA-256" }
                    }
                }
                tbody {
                    @for file in files.iter().take(MAX_FILES) {
                        tr {
                            td {
                                a href=(urls::download(project, reference, recipe_revision, owner, &file.path))
                                    download { code { (file.path.as_str()) } }
                            }
                            td.num { (layout::size(file.digests.size)) }
                            td { code.hash { (file.digests.sha1) } }
                            td { code.hash { (file.digests.sha256.as_str()) } }
                        }
                    }
                }
            }
        }
        @if files.len() > MAX_FILES {
            p.muted { "Showing the first " (MAX_FILES) " files." }
        }
    }
}

/// The total size of `files`.
pub(crate) fn total_size(files: &[FileRecord]) -> u64 {
    files.iter().map(|file| file.digests.size).sum()
}
