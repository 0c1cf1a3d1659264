//! Query parameters as GitLab's Grape validates them, and GitLab's offset pagination: `page`,
//! `per_page` (default 20, at most 100), the `X-*` headers and a `Link` header with absolute
//! URLs, which python-gitlab follows for `get_all=True`.

use std::collections::BTreeMap;

use actix_web::HttpRequest;
use actix_web::HttpResponseBuilder;

use crate::access::RestState;
use crate::error::RestError;

/// The default page size.
const DEFAULT_PER_PAGE: u32 = 20;
/// The largest page size; larger requests are capped to it, as GitLab does.
pub(crate) const MAX_PER_PAGE: u32 = 100;

/// A request's query parameters, the last value of each name winning (as Rack parses them).
#[derive(Debug, Clone, Default)]
pub(crate) struct Query(BTreeMap<String, String>);

impl Query {
    /// Parses the request's query string (`application/x-www-form-urlencoded`). A value that
    /// does not decode to UTF-8 is GitLab's 400 naming its parameter (a name that does not, a
    /// plain 400): never a lossy value that would match something else.
    pub(crate) fn of(request: &HttpRequest) -> Result<Self, RestError> {
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(&text.replace('+', " "))
                .decode_utf8()
                .map(std::borrow::Cow::into_owned)
                .ok()
        };
        let mut params = BTreeMap::new();
        for pair in request
            .query_string()
            .split('&')
            .filter(|pair| !pair.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name).ok_or_else(|| {
                RestError::BadRequest("the query string does not decode".to_owned())
            })?;
            let value = decode(value).ok_or_else(|| RestError::malformed_param(&name))?;
            params.insert(name, value);
        }
        Ok(Self(params))
    }

    /// A parameter's value, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// One of `allowed`, or `default` when absent; anything else is GitLab's 400.
    pub(crate) fn choice<'a>(
        &self,
        name: &str,
        allowed: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, RestError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => allowed
                .iter()
                .find(|candidate| **candidate == value)
                .copied()
                .ok_or_else(|| RestError::invalid_param(name)),
        }
    }

    /// A boolean as Grape coerces it (`true`, `True`, `1`, `yes`, ...), `false` when absent.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, RestError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "t" | "1" | "yes" | "y" | "on") => Ok(true),
            None | Some("false" | "f" | "0" | "no" | "n" | "off" | "") => Ok(false),
            Some(_) => Err(RestError::malformed_param(name)),
        }
    }

    /// The page the request asks for.
    pub(crate) fn page(&self) -> Result<Page, RestError> {
        let number = |name: &str, default: i64| -> Result<i64, RestError> {
            match self.get(name) {
                None | Some("") => Ok(default),
                Some(value) => value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| RestError::malformed_param(name)),
            }
        };
        // GitLab (Kaminari) treats a page below 1 as the first and caps `per_page` at 100; a
        // `per_page` below 1 is clamped to 1 (GitLab leaves it unvalidated).
        let page = u64::try_from(number("page", 1)?.max(1)).unwrap_or(1);
        let per_page = u32::try_from(
            number("per_page", i64::from(DEFAULT_PER_PAGE))?.clamp(1, i64::from(MAX_PER_PAGE)),
        )
        .unwrap_or(DEFAULT_PER_PAGE);
        Ok(Page { page, per_page })
    }
}

/// A page of a paginated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    /// The page number, from 1.
    pub(crate) page: u64,
    /// The page size, 1 to 100.
    pub(crate) per_page: u32,
}

/// How many items a paginated listing holds, as far as they were counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extent {
    /// Counted: this many.
    Counted(u64),
    /// Not counted (more than a listing counts); whether a page follows this one.
    Uncounted {
        /// Whether items follow this page.
        has_next: bool,
    },
}

impl Extent {
    /// A catalog page's extent: its total when counted.
    pub(crate) fn of(total: Option<u64>, has_next: bool) -> Self {
        total.map_or(Self::Uncounted { has_next }, Self::Counted)
    }
}

impl Page {
    /// How many items the pages before this one hold.
    pub(crate) fn offset(self) -> u64 {
        (self.page - 1).saturating_mul(u64::from(self.per_page))
    }

    /// Adds GitLab's pagination headers to `response`: with the total when the listing was
    /// counted (`X-Total`, `X-Total-Pages` and the `last` link, which GitLab too leaves out above
    /// 10,000 items).
    pub(crate) fn headers(
        self,
        response: &mut HttpResponseBuilder,
        request: &HttpRequest,
        state: &RestState,
        query: &Query,
        extent: Extent,
    ) {
        let (counted, has_next) = match extent {
            Extent::Counted(total) => {
                let pages = total.div_ceil(u64::from(self.per_page)).max(1);
                (Some((total, pages)), self.page < pages)
            }
            Extent::Uncounted { has_next } => (None, has_next),
        };
        let next = has_next.then(|| self.page + 1);
        let prev = (self.page > 1).then(|| self.page - 1);
        let text = |page: Option<u64>| page.map(|page| page.to_string()).unwrap_or_default();
        response
            .insert_header(("X-Page", self.page.to_string()))
            .insert_header(("X-Per-Page", self.per_page.to_string()))
            .insert_header(("X-Next-Page", text(next)))
            .insert_header(("X-Prev-Page", text(prev)));
        if let Some((total, pages)) = counted {
            response
                .insert_header(("X-Total", total.to_string()))
                .insert_header(("X-Total-Pages", pages.to_string()));
        }
        let base = format!("{}{}", state.base_url(request), request.uri().path());
        let link = |page: u64, rel: &str| {
            let mut params = query.0.clone();
            params.insert("page".to_owned(), page.to_string());
            params.insert("per_page".to_owned(), self.per_page.to_string());
            let encoded = serde_urlencoded::to_string(&params).unwrap_or_default();
            format!("<{base}?{encoded}>; rel=\"{rel}\"")
        };
        let mut links = Vec::with_capacity(4);
        if let Some(prev) = prev {
            links.push(link(prev, "prev"));
        }
        if let Some(next) = next {
            links.push(link(next, "next"));
        }
        links.push(link(1, "first"));
        if let Some((_, pages)) = counted {
            links.push(link(pages, "last"));
        }
        response.insert_header(("Link", links.join(", ")));
    }
}

/// GitLab's fuzzy name search: whitespace-separated words that must all occur, a
/// `"quoted phrase"` counting as one word.
pub(crate) fn search_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return words;
        }
        if let Some(quoted) = rest.strip_prefix('"')
            && let Some(end) = quoted.find('"')
        {
            if end > 0 {
                words.push(quoted[..end].to_owned());
            }
            rest = &quoted[end + 1..];
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        words.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
}

/// The time now, as the store records times.
pub(crate) fn now() -> Result<conan_model::RevisionTime, RestError> {
    conan_model::RevisionTime::from_system_time(std::time::SystemTime::now())
        .map_err(|_| RestError::internal("the system clock is outside the range of revision times"))
}

/// A time as GitLab writes it: ISO 8601 in UTC with milliseconds.
pub(crate) fn gitlab_time(time: conan_model::RevisionTime) -> String {
    // `RevisionTime` shows microseconds: `2025-05-02T09:14:03.512345Z`.
    let text = time.to_string();
    match text.rsplit_once('.') {
        Some((seconds, fraction)) => format!("{seconds}.{}Z", fraction.get(..3).unwrap_or("000")),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_whitespace_and_keep_quoted_phrases() {
        assert_eq!(search_words("  zlib  open "), ["zlib", "open"]);
        assert_eq!(search_words("\"a b\" c"), ["a b", "c"]);
        assert_eq!(search_words("\"unterminated x"), ["\"unterminated", "x"]);
        assert!(search_words("   ").is_empty());
        assert!(search_words("\"\"").is_empty());
    }

    #[test]
    fn pages_count_from_one() {
        let page = Page {
            page: 3,
            per_page: 20,
        };
        assert_eq!(page.offset(), 40);
        let huge = Page {
            page: u64::MAX,
            per_page: 100,
        };
        assert_eq!(huge.offset(), u64::MAX);
    }

    #[test]
    fn times_have_milliseconds() {
        let time = conan_model::RevisionTime::from_unix_micros(1_746_177_243_512_345).unwrap();
        assert_eq!(gitlab_time(time), "2025-05-02T09:14:03.512Z");
    }
}
