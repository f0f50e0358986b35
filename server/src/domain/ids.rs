//! Identity types, parsed once where text enters (a posted build, a URL, a
//! query parameter, a flag): a value of these types is valid by
//! construction, so nothing past the boundary checks it again.

use std::fmt;

use super::field_error::FieldError;

/// Git allows long ref names; these are the first 255 characters' worth.
const MAX_BRANCH: usize = 255;
const MAX_NAME: usize = 64;

fn check_chars(
    value: &str,
    field: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::field(field, format!("{field} is empty")));
    }
    if value.chars().count() > max {
        return Err(FieldError::field(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(FieldError::field(
            field,
            format!("{field} contains the character {bad:?}, which is not allowed"),
        ));
    }
    Ok(())
}

macro_rules! text_type {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A branch name by git's ref name rules (git check-ref-format), without
/// `refs/heads/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Branch(String);
text_type!(Branch);

impl Branch {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let name = value.strip_prefix("refs/heads/").unwrap_or(value);
        let bad = |why: &str| FieldError::field("branch", format!("branch '{name}' {why}"));
        if name.is_empty() {
            return Err(FieldError::field("branch", "branch is empty"));
        }
        if name.len() > MAX_BRANCH {
            return Err(bad("is longer than 255 characters"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(*c))
        {
            return Err(bad(&format!("contains {c:?}, which git does not allow")));
        }
        if name.contains("..") || name.contains("@{") || name.contains("//") || name == "@" {
            return Err(bad("is not a valid git ref name"));
        }
        if name.starts_with('/')
            || name.ends_with('/')
            || name.ends_with('.')
            || name.ends_with(".lock")
            || name.split('/').any(|part| part.starts_with('.'))
        {
            return Err(bad("is not a valid git ref name"));
        }
        Ok(Branch(name.to_string()))
    }

    /// An optional branch parameter: absent or empty means none.
    pub fn parse_optional(value: Option<&str>) -> Result<Option<Self>, FieldError> {
        value
            .filter(|v| !v.is_empty())
            .map(Branch::parse)
            .transpose()
    }

    /// A branch parameter as every route of one branch takes it: the
    /// default branch when absent or empty.
    pub fn parse_or(value: Option<&str>, default: &Branch) -> Result<Self, FieldError> {
        Ok(Self::parse_optional(value)?.unwrap_or_else(|| default.clone()))
    }
}

/// A component, architecture or build type: short, lower-case, safe in URLs
/// and document ids. `field` names it in errors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(String);
text_type!(Name);

impl Name {
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        let value = value.to_ascii_lowercase();
        check_chars(&value, field, MAX_NAME, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
        })?;
        Ok(Name(value))
    }

    /// An architecture, under the name the dashboard uses for it.
    pub fn arch(value: &str) -> Result<Self, FieldError> {
        let name = Name::parse("arch", value)?;
        Ok(match name.as_str() {
            "x86_64" | "x86-64" => Name("amd64".into()),
            "aarch64" => Name("arm64".into()),
            _ => name,
        })
    }
}

/// A full commit SHA: 40 hexadecimal digits, lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitSha(String);
text_type!(CommitSha);

impl CommitSha {
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        if value.len() == 40 && value.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(CommitSha(value.to_ascii_lowercase()))
        } else {
            Err(FieldError::field(
                field,
                format!("{field} must be a full commit SHA: 40 hexadecimal characters"),
            ))
        }
    }
}

/// A GitHub repository, `owner/name`, as GitHub allows them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository(String);
text_type!(Repository);

impl Repository {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let bad = || {
            FieldError::field(
                "repository",
                format!("repository '{value}' is not of the form owner/name"),
            )
        };
        let (owner, name) = value.split_once('/').ok_or_else(bad)?;
        let owner_ok = (1..=39).contains(&owner.len())
            && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let name_ok = (1..=100).contains(&name.len())
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if owner_ok && name_ok {
            Ok(Repository(value.to_string()))
        } else {
            Err(bad())
        }
    }
}

/// Builds are looked up by their id in URLs and stores: a short, safe token.
pub fn check_build_id(id: &str) -> Result<(), FieldError> {
    check_chars(id, "id", 128, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_follow_git() {
        assert_eq!(Branch::parse("refs/heads/v1.8").unwrap().as_str(), "v1.8");
        assert_eq!(
            Branch::parse("feature/x+y#1").unwrap().as_str(),
            "feature/x+y#1"
        );
        for bad in [
            "", "a..b", "a b", "x.lock", "/x", "x/", ".x", "a/.b", "@", "a~1",
        ] {
            let e = Branch::parse(bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("branch"), "{bad}");
        }
    }

    #[test]
    fn names_are_lower_case_and_arches_have_one_name() {
        assert_eq!(Name::parse("component", "AGW").unwrap().as_str(), "agw");
        assert_eq!(Name::arch("x86_64").unwrap().as_str(), "amd64");
        assert_eq!(Name::arch("AArch64").unwrap().as_str(), "arm64");
        let e = Name::parse("build_type", "unit tests").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("build_type"));
        assert!(Name::parse("arch", &"a".repeat(65)).is_err());
    }

    #[test]
    fn shas_and_repositories() {
        let sha = "A".repeat(40);
        assert_eq!(
            CommitSha::parse("commit", &sha).unwrap().as_str(),
            "a".repeat(40)
        );
        assert!(CommitSha::parse("parent", "abc").is_err());
        assert!(Repository::parse("magma/magma").is_ok());
        for bad in ["magma", "a/..", "/x", "a/b/c", "a_b/c"] {
            assert!(Repository::parse(bad).is_err(), "{bad}");
        }
    }
}
