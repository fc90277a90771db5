//! SCIM resources as the organization holds them.
//!
//! `attrs` is the canonical attribute map produced by `scim::resource` normalization: only
//! client-settable, schema-declared data. `id`, `meta` and a User's `groups` are the
//! server's and are derived when a resource is rendered.

use super::ids::{ScimId, Version};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: ScimId,
    pub created: String,
    pub last_modified: String,
    pub version: Version,
    pub attrs: Map<String, Value>,
}

impl UserRecord {
    pub fn user_name(&self) -> &str {
        self.attrs
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// RFC 7643 §4.1.1: `active` absent means the service provider decides; for us an
    /// unset `active` is an active user (Okta and Entra always send it).
    pub fn active(&self) -> bool {
        self.attrs
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }

    pub fn display_name(&self) -> String {
        if let Some(d) = self.attrs.get("displayName").and_then(Value::as_str) {
            if !d.is_empty() {
                return d.to_owned();
            }
        }
        if let Some(name) = self.attrs.get("name") {
            if let Some(f) = name.get("formatted").and_then(Value::as_str) {
                if !f.is_empty() {
                    return f.to_owned();
                }
            }
            let given = name.get("givenName").and_then(Value::as_str).unwrap_or("");
            let family = name.get("familyName").and_then(Value::as_str).unwrap_or("");
            let full = format!("{given} {family}");
            let full = full.trim();
            if !full.is_empty() {
                return full.to_owned();
            }
        }
        self.user_name().to_owned()
    }

    /// The member's e-mail (issue #4): the primary e-mail, else the work one, else the
    /// first one, else `userName` when it is an address.
    pub fn member_email(&self) -> Option<String> {
        let emails = self.attrs.get("emails").and_then(Value::as_array);
        let pick = |pred: &dyn Fn(&Value) -> bool| {
            emails
                .and_then(|list| list.iter().find(|e| pred(e)))
                .and_then(|e| e.get("value"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        pick(&|e| e.get("primary").and_then(Value::as_bool) == Some(true))
            .or_else(|| {
                pick(&|e| {
                    e.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case("work"))
                })
            })
            .or_else(|| pick(&|_| true))
            .or_else(|| {
                let u = self.user_name();
                u.contains('@').then(|| u.to_owned())
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub id: ScimId,
    pub created: String,
    pub last_modified: String,
    pub version: Version,
    /// `displayName`, `externalId`: everything but `members`.
    pub attrs: Map<String, Value>,
    /// Members are users of the same org. Persisted as one key per edge, so adding one
    /// member to a 10,000-member group writes one small key, not the whole list.
    #[serde(skip)]
    pub members: imbl::OrdSet<ScimId>,
}

impl GroupRecord {
    pub fn display_name(&self) -> &str {
        self.attrs
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(attrs: Value) -> UserRecord {
        UserRecord {
            id: ScimId::new_random(),
            created: String::new(),
            last_modified: String::new(),
            version: Version(1),
            attrs: attrs.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn member_email_prefers_primary_then_work_then_username() {
        let u = user(json!({"userName": "u@x.test", "emails": [
            {"value": "home@x.test", "type": "home"},
            {"value": "work@x.test", "type": "work"},
            {"value": "p@x.test", "type": "other", "primary": true}]}));
        assert_eq!(u.member_email().as_deref(), Some("p@x.test"));
        let u = user(json!({"userName": "u@x.test", "emails": [
            {"value": "home@x.test", "type": "home"}, {"value": "work@x.test", "type": "work"}]}));
        assert_eq!(u.member_email().as_deref(), Some("work@x.test"));
        let u = user(json!({"userName": "u@x.test"}));
        assert_eq!(u.member_email().as_deref(), Some("u@x.test"));
        let u = user(json!({"userName": "jdoe"}));
        assert_eq!(u.member_email(), None);
    }

    #[test]
    fn display_name_falls_back_to_name_then_username() {
        assert_eq!(
            user(json!({"userName": "j", "displayName": "Jo"})).display_name(),
            "Jo"
        );
        assert_eq!(
            user(json!({"userName": "j", "name": {"givenName": "Jo", "familyName": "Doe"}}))
                .display_name(),
            "Jo Doe"
        );
        assert_eq!(user(json!({"userName": "j"})).display_name(), "j");
        assert!(!user(json!({"userName": "j", "active": false})).active());
    }
}
