//! Text limits of the admin API, in one place (docs/DESIGN.md, "Text limits").

use crate::error::Error;

/// Organization, user, team, project and integration names.
pub const NAME_MAX: usize = 200;
/// Group titles.
pub const TITLE_MAX: usize = 1000;
/// A notification setting's `type`.
pub const SETTING_TYPE_MAX: usize = 100;
/// A notification setting's `value`.
pub const SETTING_VALUE_MAX: usize = 200;

/// `v` is not blank and has at most `max` characters; else a `BadRequest`
/// naming `field`.
pub fn check_text(field: &str, v: &str, max: usize) -> Result<(), Error> {
    if v.trim().is_empty() {
        return Err(Error::bad(format!("`{field}` must not be empty")));
    }
    if v.chars().count() > max {
        return Err(Error::bad(format!(
            "`{field}` must be at most {max} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_or_long_text_is_refused_naming_the_field() {
        assert!(check_text("name", "Acme", NAME_MAX).is_ok());
        assert!(check_text("name", &"é".repeat(NAME_MAX), NAME_MAX).is_ok());
        let e = check_text("name", &"é".repeat(NAME_MAX + 1), NAME_MAX).unwrap_err();
        assert_eq!(e.to_string(), "`name` must be at most 200 characters");
        let e = check_text("title", " \t", TITLE_MAX).unwrap_err();
        assert_eq!(e, Error::BadRequest("`title` must not be empty".into()));
    }
}
