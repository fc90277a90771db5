//! SCIM resources as the organization holds them.
//!
//! `attrs` is the canonical attribute map produced by `scim::resource` normalization: only
//! client-settable, schema-declared data. `id`, `meta` and a User's `groups` are the
//! server's and are derived when a resource is rendered.

use super::ids::{ScimId, Timestamp, Version};
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA_ID, MEMBERSHIP_SCHEMA_ID};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A User's canonical attributes, kept as compact JSON text rather than a parsed map: a
/// parsed `serde_json::Map` of a typical IdP user takes about 2.2 KB in small
/// allocations, the text a few hundred bytes in one, which is also all a lookup reads.
/// Parsed where the attributes are used (PATCH, filters, membership evaluation).
#[derive(Clone, PartialEq, Eq)]
pub struct Attrs(Box<str>);

impl Attrs {
    pub fn from_map(map: &Map<String, Value>) -> Attrs {
        Attrs(
            serde_json::to_string(map)
                .expect("a JSON map serializes")
                .into_boxed_str(),
        )
    }

    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(&self.0).expect("Attrs holds JSON written by from_map")
    }

    /// The JSON object text, e.g. `{"userName":"ada",...}`.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// Whether the object has `urn` as a key. The text is compact JSON written by
    /// `from_map`, so a `"` inside a string value is always written `\"`: the quoted URN
    /// followed by `:` can only be a key, and the only keys that are URNs are the top-level
    /// extension objects (normalization stores schema-declared names only).
    fn has_top_level_key(&self, urn: &str) -> bool {
        debug_assert!(urn.starts_with("urn:"));
        let text = self.0.as_bytes();
        let needle = urn.as_bytes();
        text.windows(needle.len() + 3).any(|w| {
            w[0] == b'"'
                && &w[1..=needle.len()] == needle
                && w[needle.len() + 1] == b'"'
                && w[needle.len() + 2] == b':'
        })
    }

    /// Read a few fields without building the whole map.
    fn peek<'a, T: Deserialize<'a>>(&'a self) -> T {
        serde_json::from_str(&self.0).expect("Attrs holds JSON written by from_map")
    }
}

impl std::fmt::Debug for Attrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Attrs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Stored inline as the JSON object it is, not as a string holding JSON.
        let raw = serde_json::value::RawValue::from_string(self.0.to_string())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Box<serde_json::value::RawValue> = Deserialize::deserialize(d)?;
        Ok(Attrs(raw.get().into()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: ScimId,
    pub created: Timestamp,
    pub last_modified: Timestamp,
    pub version: Version,
    pub attrs: Attrs,
}

/// What membership needs of a user, read in one pass over its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user_name: String,
    pub active: bool,
    pub display_name: String,
    pub email: Option<String>,
}

#[derive(Deserialize)]
struct UserNamePeek<'a> {
    #[serde(rename = "userName", borrow, default)]
    user_name: Option<std::borrow::Cow<'a, str>>,
}

/// Which extension objects a User's attributes hold.
pub struct Extensions {
    pub enterprise: bool,
    /// The membership view attached by the client (`scim::resource::is_server_view`).
    pub membership: bool,
}

impl UserRecord {
    pub fn user_name(&self) -> String {
        self.attrs
            .peek::<UserNamePeek>()
            .user_name
            .map(|c| c.into_owned())
            .unwrap_or_default()
    }

    /// Read on every whole-User answer, so found without parsing the attributes: a
    /// deserialization that skipped everything but two keys still tokenized the whole text,
    /// about 6 % of a lookup's server CPU at 100,000 users.
    pub fn extensions(&self) -> Extensions {
        Extensions {
            enterprise: self.attrs.has_top_level_key(ENTERPRISE_USER_SCHEMA_ID),
            membership: self.attrs.has_top_level_key(MEMBERSHIP_SCHEMA_ID),
        }
    }

    pub fn profile(&self) -> Profile {
        let attrs = self.attrs.to_map();
        let user_name = attrs
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        Profile {
            // RFC 7643 §4.1.1: `active` absent means the service provider decides; for us
            // an unset `active` is an active user (Okta and Entra always send it).
            active: attrs.get("active").and_then(Value::as_bool).unwrap_or(true),
            display_name: display_name(&attrs, &user_name),
            email: member_email(&attrs, &user_name),
            user_name,
        }
    }
}

fn display_name(attrs: &Map<String, Value>, user_name: &str) -> String {
    if let Some(d) = attrs.get("displayName").and_then(Value::as_str) {
        if !d.is_empty() {
            return d.to_owned();
        }
    }
    if let Some(name) = attrs.get("name") {
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
    user_name.to_owned()
}

/// The member's e-mail (issue #4): the primary e-mail, else the work one, else the first
/// one, else `userName` when it is an address.
fn member_email(attrs: &Map<String, Value>, user_name: &str) -> Option<String> {
    let emails = attrs.get("emails").and_then(Value::as_array);
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
        .or_else(|| user_name.contains('@').then(|| user_name.to_owned()))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub id: ScimId,
    pub created: Timestamp,
    pub last_modified: Timestamp,
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
    use crate::scim::schema::MEMBERSHIP_SCHEMA_ID;
    use serde_json::json;

    fn user(attrs: Value) -> UserRecord {
        UserRecord {
            id: ScimId::new_random(),
            created: Timestamp(0),
            last_modified: Timestamp(0),
            version: Version(1),
            attrs: Attrs::from_map(attrs.as_object().unwrap()),
        }
    }

    #[test]
    fn member_email_prefers_primary_then_work_then_username() {
        let u = user(json!({"userName": "u@x.test", "emails": [
            {"value": "home@x.test", "type": "home"},
            {"value": "work@x.test", "type": "work"},
            {"value": "p@x.test", "type": "other", "primary": true}]}));
        assert_eq!(u.profile().email.as_deref(), Some("p@x.test"));
        let u = user(json!({"userName": "u@x.test", "emails": [
            {"value": "home@x.test", "type": "home"}, {"value": "work@x.test", "type": "work"}]}));
        assert_eq!(u.profile().email.as_deref(), Some("work@x.test"));
        let u = user(json!({"userName": "u@x.test"}));
        assert_eq!(u.profile().email.as_deref(), Some("u@x.test"));
        let u = user(json!({"userName": "jdoe"}));
        assert_eq!(u.profile().email, None);
    }

    #[test]
    fn display_name_falls_back_to_name_then_username() {
        assert_eq!(
            user(json!({"userName": "j", "displayName": "Jo"}))
                .profile()
                .display_name,
            "Jo"
        );
        assert_eq!(
            user(json!({"userName": "j", "name": {"givenName": "Jo", "familyName": "Doe"}}))
                .profile()
                .display_name,
            "Jo Doe"
        );
        assert_eq!(user(json!({"userName": "j"})).profile().display_name, "j");
        assert!(
            !user(json!({"userName": "j", "active": false}))
                .profile()
                .active
        );
        assert!(user(json!({"userName": "j"})).profile().active);
    }

    #[test]
    fn attrs_store_inline_and_round_trip() {
        let u = user(json!({"userName": "j", "name": {"givenName": "Jo"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}}));
        let stored = serde_json::to_value(&u).unwrap();
        assert_eq!(
            stored["attrs"]["name"]["givenName"], "Jo",
            "an object, not a string"
        );
        let back: UserRecord = serde_json::from_value(stored).unwrap();
        assert_eq!(back, u);
        assert_eq!(back.user_name(), "j");
        assert!(back.extensions().enterprise);
        assert!(!back.extensions().membership);
        let plain = user(json!({"userName": "j"})).extensions();
        assert!(!plain.enterprise && !plain.membership);
        let view = user(json!({"userName": "j", MEMBERSHIP_SCHEMA_ID: {}})).extensions();
        assert!(!view.enterprise && view.membership);
        // The URNs as text inside values (quoted, followed by a colon) are not keys.
        let hostile = format!("\"{ENTERPRISE_USER_SCHEMA_ID}\":{{\"{MEMBERSHIP_SCHEMA_ID}\":");
        let u = user(json!({"userName": hostile, "title": hostile, "nickName": "\\"}));
        assert!(u.attrs.as_json().contains(ENTERPRISE_USER_SCHEMA_ID));
        let ext = u.extensions();
        assert!(!ext.enterprise && !ext.membership);
    }
}
