//! PATCH operation paths (RFC 7644 §3.5.2): `PATH = attrPath / valuePath [subAttr]`.
//!
//! The value filter inside `[…]` is parsed by the filter parser itself (not by splitting on
//! `]`), so string literals in it may contain `]`, `:` or `.`. The same length and
//! nesting limits as for filters apply.

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::{AttrPath, Filter, Parser, SyntaxError, MAX_FILTER_LEN};
use crate::scim::schema::{ResourceTypeDef, SchemaDef};
use std::fmt;

/// A parsed PATCH `path`.
///
/// | path                                                     | `attr`               | `filter`     | `value_sub` |
/// |----------------------------------------------------------|----------------------|--------------|-------------|
/// | `name.givenName`                                         | `name` . `givenName` | –            | –           |
/// | `members[value eq "2819c223"]`                           | `members`            | `value eq …` | –           |
/// | `emails[type eq "work"].value`                           | `emails`             | `type eq …`  | `value`     |
/// | `urn:…:enterprise:2.0:User:manager.value`                | urn, `manager`.`value` | –          | –           |
///
/// Invariants of parsed paths: when `filter` is set, `attr.sub` is `None`; `value_sub` is
/// only set together with `filter`. The filter's attribute paths are relative to the
/// elements of `attr` (as in [`Filter::ValuePath`]).
///
/// A path naming a whole extension, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`,
/// is syntactically `urn:…:2.0` + attribute `User`: which one is meant is the caller's call,
/// see [`PatchPath::whole_extension`].
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub value_sub: Option<String>,
}

impl PatchPath {
    /// The extension schema of `rt` when this path names a whole extension
    /// (`"urn:…:enterprise:2.0:User"`, matched case-insensitively) rather than an attribute.
    pub fn whole_extension(&self, rt: &ResourceTypeDef) -> Option<&'static SchemaDef> {
        if self.attr.sub.is_some() || self.filter.is_some() {
            return None;
        }
        let urn = self.attr.urn.as_deref()?;
        rt.extensions
            .iter()
            .map(|(s, _)| *s)
            .find(|s| is_urn_colon_attr(s.id, urn, &self.attr.attr))
    }
}

/// `id == format!("{urn}:{attr}")`, case-insensitively, without allocating.
fn is_urn_colon_attr(id: &str, urn: &str, attr: &str) -> bool {
    id.len() == urn.len() + 1 + attr.len()
        && id.is_char_boundary(urn.len())
        && id[..urn.len()].eq_ignore_ascii_case(urn)
        && id.as_bytes()[urn.len()] == b':'
        && id[urn.len() + 1..].eq_ignore_ascii_case(attr)
}

/// Parse a PATCH `path` (RFC 7644 §3.5.2). Surrounding whitespace is ignored.
///
/// Every failure is `400 invalidPath` ("The "path" attribute was invalid or malformed
/// (see Figure 7)", RFC 7644 §3.12, Table 9), including a malformed filter inside `[…]`:
/// the filter is part of the path's grammar, and invalidFilter would send the IdP admin
/// looking for a `filter` parameter that is not there. Details never echo the input.
pub fn parse_path(s: &str) -> ScimResult<PatchPath> {
    if s.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_path(format!(
            "path is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    let invalid = |e: SyntaxError| ScimError::invalid_path(format!("invalid path: {}", e.detail()));
    let mut p = Parser::new(s);
    p.skip_ws();
    let attr = p.attr_path().map_err(invalid)?;
    let after_attr = p.offset();
    p.skip_ws();
    let (filter, value_sub) = if p.peek() == Some(b'[') {
        if attr.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "invalid path: a value filter applies to an attribute, not a sub-attribute (at byte {})",
                after_attr
            )));
        }
        let (filter, _) = p.value_filter().map_err(invalid)?;
        let value_sub = if p.eat(b'.') {
            Some(p.attr_name().map_err(invalid)?)
        } else {
            None
        };
        (Some(filter), value_sub)
    } else {
        (None, None)
    };
    p.skip_ws();
    if !p.at_end() {
        return Err(invalid(p.error("expected the end of the path")));
    }
    Ok(PatchPath {
        attr,
        filter,
        value_sub,
    })
}

/// Prints the path in the form [`parse_path`] reads back.
impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
            if let Some(sub) = &self.value_sub {
                write!(f, ".{sub}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::filter::{parse_filter, CompValue, CompareOp, MAX_FILTER_DEPTH};
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA_ID, GROUP_RESOURCE, USER_RESOURCE};
    use proptest::prelude::*;

    fn pp(s: &str) -> PatchPath {
        parse_path(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn ap(urn: Option<&str>, attr: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            urn: urn.map(Into::into),
            attr: attr.into(),
            sub: sub.map(Into::into),
        }
    }

    #[test]
    fn parses_attribute_paths() {
        assert_eq!(
            pp("userName"),
            PatchPath {
                attr: ap(None, "userName", None),
                filter: None,
                value_sub: None
            }
        );
        assert_eq!(
            pp(" name.givenName "),
            PatchPath {
                attr: ap(None, "name", Some("givenName")),
                filter: None,
                value_sub: None
            }
        );
        let ent = format!("{ENTERPRISE_USER_SCHEMA_ID}:manager.value");
        assert_eq!(
            pp(&ent).attr,
            ap(Some(ENTERPRISE_USER_SCHEMA_ID), "manager", Some("value"))
        );
        assert_eq!(pp("members.$ref").attr, ap(None, "members", Some("$ref")));
    }

    #[test]
    fn parses_value_paths() {
        let p = pp(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#);
        assert_eq!(p.attr, ap(None, "members", None));
        assert_eq!(
            p.filter,
            Some(parse_filter(r#"value eq "2819c223-7f76-453a-919d-413861904646""#).unwrap())
        );
        assert_eq!(p.value_sub, None);

        let p = pp(r#"emails[type eq "work"].value"#);
        assert_eq!(p.attr, ap(None, "emails", None));
        assert_eq!(
            p.filter,
            Some(Filter::Compare(
                ap(None, "type", None),
                CompareOp::Eq,
                CompValue::Str("work".into())
            ))
        );
        assert_eq!(p.value_sub.as_deref(), Some("value"));

        // `]`, `:` and `.` inside literals belong to the literal.
        let p = pp(r#"emails[value eq "a].b:c" or type eq "x[y"].display"#);
        assert_eq!(
            p.filter.unwrap().to_string(),
            r#"value eq "a].b:c" or type eq "x[y""#
        );
        assert_eq!(p.value_sub.as_deref(), Some("display"));
    }

    #[test]
    fn whole_extension_is_left_to_the_caller_with_a_helper() {
        let p = pp(ENTERPRISE_USER_SCHEMA_ID);
        assert_eq!(
            p.attr,
            ap(
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0"),
                "User",
                None
            )
        );
        assert_eq!(
            p.whole_extension(&USER_RESOURCE).map(|s| s.id),
            Some(ENTERPRISE_USER_SCHEMA_ID)
        );
        assert!(pp(&ENTERPRISE_USER_SCHEMA_ID.to_uppercase())
            .whole_extension(&USER_RESOURCE)
            .is_some());
        assert!(p.whole_extension(&GROUP_RESOURCE).is_none());
        assert!(pp(&format!("{ENTERPRISE_USER_SCHEMA_ID}:manager"))
            .whole_extension(&USER_RESOURCE)
            .is_none());
        assert!(pp("userName").whole_extension(&USER_RESOURCE).is_none());
    }

    #[test]
    fn rejects_invalid_paths_as_invalid_path() {
        for bad in [
            "",
            "  ",
            "name.givenName.x",
            "name.givenName[value pr]",
            "emails[",
            "emails[type eq \"work\"",
            "emails[type eq]",
            "emails[type eq \"work\"].",
            "emails[type eq \"work\"].value.x",
            "emails[type eq \"work\"]x",
            "emails[members[value pr]]",
            "emails[]",
            "emails x",
            "1emails",
            ":emails",
            "emails]",
        ] {
            let e = parse_path(bad).expect_err(bad);
            assert_eq!(
                (e.status, e.scim_type),
                (400, Some(ScimType::InvalidPath)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn errors_never_echo_the_path() {
        for bad in [
            r#"emails[value eq "secret@corp.example"].secret.x"#,
            r#"emails[value eq "secret@corp.example" secret]"#,
            "secret.secret.secret",
        ] {
            let e = parse_path(bad).unwrap_err();
            assert!(!e.detail.contains("secret"), "{}", e.detail);
        }
    }

    #[test]
    fn enforces_limits() {
        let long = format!("emails[value eq \"{}\"]", "a".repeat(MAX_FILTER_LEN));
        assert_eq!(
            parse_path(&long).unwrap_err().scim_type,
            Some(ScimType::InvalidPath)
        );
        let deep = format!("emails[{}value pr{}]", "(".repeat(1500), ")".repeat(1500));
        assert!(parse_path(&deep)
            .unwrap_err()
            .detail
            .contains("nested too deeply"));
        // The bracket itself is one level.
        let ok = format!(
            "emails[{}value pr{}]",
            "(".repeat(MAX_FILTER_DEPTH - 1),
            ")".repeat(MAX_FILTER_DEPTH - 1)
        );
        assert!(parse_path(&ok).is_ok());
        let over = format!(
            "emails[{}value pr{}]",
            "(".repeat(MAX_FILTER_DEPTH),
            ")".repeat(MAX_FILTER_DEPTH)
        );
        assert!(parse_path(&over).is_err());
    }

    #[test]
    fn displays_round_trip() {
        for s in [
            "userName",
            "name.givenName",
            "members[value eq \"2819c223\"]",
            "emails[type eq \"work\" and not (primary eq true)].value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ] {
            assert_eq!(pp(s).to_string(), s);
            assert_eq!(pp(&pp(s).to_string()), pp(s));
        }
        assert_eq!(
            pp(" emails [ TYPE EQ \"work\" ].value ").to_string(),
            "emails[TYPE eq \"work\"].value"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics(s in "\\PC{0,48}|.{0,48}") {
            let _ = parse_path(&s);
        }

        #[test]
        fn never_panics_on_pathish_text(parts in prop::collection::vec(prop::sample::select(vec![
            "emails", "members", "[", "]", ".", "value", ":", "urn:x:2.0:User", " ", "type eq ", "\"w]\"",
            "\"", "\\", "(", ")", "not", "pr", "é", "$ref",
        ]), 0..24)) {
            let s = parts.concat();
            if let Ok(p) = parse_path(&s) {
                prop_assert_eq!(parse_path(&p.to_string()), Ok(p));
            }
        }
    }
}
