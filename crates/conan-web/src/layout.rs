//! The page shell and the small pieces every page uses: breadcrumbs, the pager, sizes and
//! times. maud escapes every value it interpolates; nothing here builds markup from strings.

use conan_model::RevisionTime;
use maud::{DOCTYPE, Markup, html};

use crate::access::Nav;
use crate::assets::stylesheet_path;
use crate::session::CSRF_FIELD;
use crate::urls;

/// A form's hidden CSRF field.
pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// The visitor's corner of the header: a sign-in link, or the user's name (a link to their
/// tokens) and the sign-out button.
fn account(nav: &Nav) -> Markup {
    html! {
        @match nav {
            Nav::Unknown => {}
            Nav::Anonymous => {
                a.account href=(urls::SIGN_IN) { "Sign in" }
            }
            Nav::SignedIn { name, csrf, admin } => {
                div.account {
                    @if *admin {
                        a href=(urls::ADMIN_USERS) { "Admin" }
                    }
                    a href=(urls::TOKENS) title="Your access tokens" { (name) }
                    form method="post" action=(urls::SIGN_OUT) {
                        (csrf_field(csrf))
                        button type="submit" { "Sign out" }
                    }
                }
            }
        }
    }
}

/// The whole document: `title`, the site header with the search box (holding `query` on the
/// search page) and the visitor's account links, then `body`.
pub(crate) fn page(title: &str, query: Option<&str>, nav: &Nav, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · conan-registry" }
                link rel="stylesheet" href=(stylesheet_path());
                // No icon: without this line every browser asks for /favicon.ico.
                link rel="icon" href="data:,";
            }
            body {
                header.site {
                    nav aria-label="Site" {
                        a.brand href="/" { "conan-registry" }
                        form.search role="search" method="get" action=(urls::SEARCH) {
                            label for="site-search" { "Search packages" }
                            input #site-search type="search" name="q" value=[query]
                                placeholder="zlib/*" maxlength="200";
                            button type="submit" { "Search" }
                        }
                        (account(nav))
                    }
                }
                main { (body) }
                footer.site {
                    "A Conan package registry."
                    @if matches!(nav, Nav::Anonymous) {
                        " Browsing as an anonymous visitor: public projects only."
                    }
                }
            }
        }
    }
}

/// A breadcrumb trail: each entry a link, the last one the current page.
pub(crate) fn breadcrumbs(trail: &[(&str, String)]) -> Markup {
    html! {
        nav.breadcrumbs aria-label="Breadcrumb" {
            ol {
                li { a href="/" { "Home" } }
                @for (index, (text, href)) in trail.iter().enumerate() {
                    li {
                        @if index + 1 == trail.len() {
                            a href=(href) aria-current="page" { (text) }
                        } @else {
                            a href=(href) { (text) }
                        }
                    }
                }
            }
        }
    }
}

/// Where a listing is: which page, whether another follows, and how many rows in all when
/// that is known.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Position {
    /// The page shown, from 1.
    pub(crate) page: u32,
    /// Whether rows follow this page.
    pub(crate) has_next: bool,
    /// How many rows match in all, when counted.
    pub(crate) total: Option<u64>,
}

/// The previous and next links of a listing; `link(page)` gives a page's URL.
pub(crate) fn pager(position: Position, link: &dyn Fn(u32) -> String) -> Markup {
    html! {
        @if position.page > 1 || position.has_next {
            nav.pages aria-label="Pages" {
                @if position.page > 1 {
                    a href=(link(position.page - 1)) rel="prev" { "← Previous" }
                }
                span {
                    "Page " (position.page)
                    @if let Some(total) = position.total {
                        " · " (total) " in all"
                    }
                }
                @if position.has_next {
                    a href=(link(position.page + 1)) rel="next" { "Next →" }
                }
            }
        }
    }
}

/// A size for people (`1.4 MiB`), the exact bytes in the title.
pub(crate) fn size(bytes: u64) -> Markup {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut scaled = bytes;
    while scaled >= 1024 * 1024 && unit + 2 < UNITS.len() {
        scaled /= 1024;
        unit += 1;
    }
    let text = if bytes < 1024 {
        format!("{bytes} bytes")
    } else {
        // One decimal, computed in integers: `scaled` is below 1 Mi of the unit below.
        let tenths = scaled * 10 / 1024;
        format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit + 1])
    };
    html! { span title={ (bytes) " bytes" } { (text) } }
}

/// A revision time as a `<time>` element: minutes for people, the exact time in the attribute.
pub(crate) fn time(at: RevisionTime) -> Markup {
    let exact = at.to_string();
    let shown = exact
        .get(..16)
        .map_or_else(|| exact.clone(), |minutes| minutes.replacen('T', " ", 1));
    html! { time datetime=(exact) title=(exact) { (shown) " UTC" } }
}

/// A block of commands to copy, with a label naming what it is for.
pub(crate) fn commands(label: &str, lines: &[String]) -> Markup {
    html! {
        figure {
            figcaption { (label) }
            pre { code { @for line in lines { (line) "\n" } } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        for (bytes, text) in [
            (0, "0 bytes"),
            (1023, "1023 bytes"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (1024 * 1024, "1.0 MiB"),
            (5 * 1024 * 1024 * 1024 + 1, "5.0 GiB"),
            (3 * 1024 * 1024 * 1024 * 1024 * 1024, "3072.0 TiB"),
        ] {
            let markup = size(bytes).into_string();
            assert!(markup.contains(&format!(">{text}<")), "{bytes}: {markup}");
            assert!(markup.contains(&format!("title=\"{bytes} bytes\"")));
        }
    }

    #[test]
    fn times_show_minutes_and_keep_the_exact_value() {
        let at = RevisionTime::from_unix_micros(1_734_426_999_334_123).unwrap();
        let markup = time(at).into_string();
        assert!(
            markup.contains("datetime=\"2024-12-17T09:16:39.334123Z\""),
            "{markup}"
        );
        assert!(markup.contains(">2024-12-17 09:16 UTC<"), "{markup}");
    }
}
