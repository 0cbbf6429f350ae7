//! Release ids: a release is the directory `$LAMPHP_RELEASES/<id>`, and an id comes from
//! the function's configuration or an invocation's payload, so it is checked to be one
//! plain name that cannot leave that directory (no `/`, no `..`, no hidden names, which
//! are kept for `.partial-*` work directories).

use thiserror::Error;

/// Longer ids are refused; lamphp's own are 16 characters.
pub const MAX_LEN: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdError {
    #[error("the release id is empty")]
    Empty,
    #[error("the release id {0:?} is longer than {MAX_LEN} characters")]
    TooLong(String),
    #[error("the release id {0:?} starts with a dot; ids are names like 3f2a9c0d1b7e4f60")]
    LeadingDot(String),
    #[error("the release id {0:?} may hold only letters, digits, '.', '_' and '-'")]
    BadChar(String),
}

/// Check that `id` names a release directory and nothing else.
pub fn check(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_LEN {
        return Err(IdError::TooLong(id.to_owned()));
    }
    if id.starts_with('.') {
        return Err(IdError::LeadingDot(id.to_owned()));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !id.chars().all(allowed) {
        return Err(IdError::BadChar(id.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_pass() {
        let long = "a".repeat(MAX_LEN + 1);
        let table: [(&str, Result<(), IdError>); 12] = [
            ("3f2a9c0d1b7e4f60", Ok(())),
            ("v1.2.3_final-2", Ok(())),
            (&long[..MAX_LEN], Ok(())),
            ("", Err(IdError::Empty)),
            (&long, Err(IdError::TooLong(long.clone()))),
            ("..", Err(IdError::LeadingDot("..".into()))),
            (".partial-x", Err(IdError::LeadingDot(".partial-x".into()))),
            ("../etc", Err(IdError::LeadingDot("../etc".into()))),
            ("a/b", Err(IdError::BadChar("a/b".into()))),
            ("a\0", Err(IdError::BadChar("a\0".into()))),
            ("é", Err(IdError::BadChar("é".into()))),
            ("a b", Err(IdError::BadChar("a b".into()))),
        ];
        for (id, want) in table {
            assert_eq!(check(id), want, "{id:?}");
        }
    }
}
