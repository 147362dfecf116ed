//! What counts as a plain URL path: the rule for `api_prefix`, forwarded
//! prefixes and the paths of a program's own routes and static folders.

/// A path segment of letters, digits, `-`, `_`, `.` and `~`, and not `.`
/// or `..`.
pub(crate) fn plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
}

/// `/` followed by plain segments separated by `/`, with no trailing `/`.
///
/// ```text
/// plain_path("/lab") && plain_path("/api/v2") && !plain_path("/lab/") && !plain_path("/../x")
/// ```
pub(crate) fn plain_path(path: &str) -> bool {
    path.strip_prefix('/')
        .is_some_and(|rest| rest.split('/').all(plain_segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths() {
        for good in ["/lab", "/api/v2", "/a.b/c~d_e-f"] {
            assert!(plain_path(good), "{good}");
        }
        for bad in ["", "/", "lab", "/lab/", "/../x", "/a/./b", "/a b", "/a/{id}", "/a//b"] {
            assert!(!plain_path(bad), "{bad}");
        }
    }
}
