//! Identity newtypes: an id of one kind can never be passed where another is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        // Byte order, the order of the store's keys, compared as one big-endian u128: the
        // ordered maps compare ids on every lookup, and the derived order compared the
        // 16 bytes through a `memcmp` call.
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.as_u128().cmp(&other.0.as_u128())
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl $name {
            /// A new id: a UUIDv7 (RFC 9562), 74 random bits after a millisecond
            /// timestamp. New records then sort after older ones, so the store appends
            /// them to the end of the org's key range instead of splicing them into
            /// random pages, which matters once an org outgrows the page cache.
            pub fn new_random() -> Self {
                $name(Uuid::now_v7())
            }
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
            pub fn from_bytes(b: [u8; 16]) -> Self {
                $name(Uuid::from_bytes(b))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

uuid_id!(
    /// An organization (tenant).
    OrgId
);
uuid_id!(
    /// The `id` of a SCIM User or Group, minted by scimd (RFC 7643 §3.1).
    ScimId
);
uuid_id!(
    /// A member of an organization.
    MemberId
);
uuid_id!(
    /// A team inside an organization.
    TeamId
);

/// A per-organization, strictly increasing commit counter. Every SCIM resource carries the
/// version of the commit that last changed it; it is the resource's ETag (RFC 7644 §3.14).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Version(pub u64);

impl Version {
    /// The weak ETag form used in `meta.version` and the `ETag` header.
    pub fn etag(self) -> String {
        format!("W/\"{}\"", self.0)
    }

    /// The version an `If-Match` header (or a Bulk operation's `version`) demands:
    /// `None` for `*` (any version); a tag we never issued demands a version no resource
    /// has, so it fails as 412 rather than being ignored (RFC 7232 §3.1).
    pub fn from_if_match(s: &str) -> Option<Version> {
        match s.trim() {
            "*" => None,
            s => Some(Version::parse_etag(s).unwrap_or(Version(u64::MAX))),
        }
    }

    /// Parse an ETag as sent in `If-Match` / `If-None-Match` (weak or strong form).
    pub fn parse_etag(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix("W/").unwrap_or(s);
        let s = s.strip_prefix('"')?.strip_suffix('"')?;
        s.parse().ok().map(Version)
    }
}

/// A resource's `meta.created` / `meta.lastModified`: 8 bytes in memory instead of a
/// 24-character string per field and user; stored and rendered as RFC 3339 with
/// milliseconds (RFC 7643 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let now = time::OffsetDateTime::now_utc();
        Timestamp((now.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn to_rfc3339(self) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
    }

    pub fn parse(s: &str) -> Option<Timestamp> {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        Some(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Timestamp::parse(&s)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_as_their_bytes() {
        // Lists page in id order and the store keys records by id bytes: the two orders
        // must agree, including where only a late byte or the top bit differs.
        let mut ids: Vec<[u8; 16]> = vec![[0; 16], [0xff; 16], [0x80; 16], [0x7f; 16]];
        for i in 0..16 {
            let mut b = [0x11; 16];
            b[i] = 0x12;
            ids.push(b);
            b[i] = 0x10;
            ids.push(b);
        }
        ids.extend((0..50).map(|_| *ScimId::new_random().as_bytes()));
        for a in &ids {
            for b in &ids {
                assert_eq!(
                    ScimId::from_bytes(*a).cmp(&ScimId::from_bytes(*b)),
                    a.cmp(b),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn timestamps_render_rfc3339_millis_and_round_trip() {
        let t = Timestamp::parse("2026-12-04T15:06:29.929Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-04T15:06:29.929Z");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        assert!(Timestamp::parse("yesterday").is_none());
        let now = Timestamp::now().to_rfc3339();
        assert!(Timestamp::parse(&now).is_some() && now.ends_with('Z'));
    }

    #[test]
    fn etag_round_trips_weak_and_strong() {
        assert_eq!(Version(42).etag(), "W/\"42\"");
        assert_eq!(Version::parse_etag("W/\"42\""), Some(Version(42)));
        assert_eq!(Version::parse_etag("\"42\""), Some(Version(42)));
        assert_eq!(Version::parse_etag("42"), None);
        assert_eq!(Version::parse_etag("W/\"x\""), None);
        assert_eq!(Version::from_if_match(" * "), None);
        assert_eq!(Version::from_if_match("W/\"7\""), Some(Version(7)));
        assert_eq!(Version::from_if_match("bogus"), Some(Version(u64::MAX)));
    }
}
