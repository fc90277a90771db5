//! Schema definitions (RFC 7643 §2, §4, §7, §8.7) and the resource types scimd serves.
//!
//! The definitions are data: normalization of request bodies, the PATCH engine, filters,
//! projection and the `/Schemas` discovery document are all driven by them, so an
//! attribute's characteristics are declared once, here.

/// RFC 7643 §2.3 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

/// RFC 7643 §7 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// RFC 7643 §7 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7). Built with the `const` helpers below so the
/// whole schema is a `static` with no allocation.
#[derive(Debug, Clone, Copy)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub description: &'static str,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttrDef],
}

impl AttrDef {
    pub const fn new(name: &'static str, ty: AttrType, description: &'static str) -> AttrDef {
        AttrDef {
            name,
            ty,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            description,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
        }
    }
    pub const fn string(name: &'static str, description: &'static str) -> AttrDef {
        AttrDef::new(name, AttrType::String, description)
    }
    pub const fn boolean(name: &'static str, description: &'static str) -> AttrDef {
        AttrDef::new(name, AttrType::Boolean, description)
    }
    pub const fn datetime(name: &'static str, description: &'static str) -> AttrDef {
        AttrDef::new(name, AttrType::DateTime, description)
    }
    pub const fn reference(
        name: &'static str,
        types: &'static [&'static str],
        description: &'static str,
    ) -> AttrDef {
        let mut a = AttrDef::new(name, AttrType::Reference, description);
        a.reference_types = types;
        a
    }
    pub const fn complex(
        name: &'static str,
        subs: &'static [AttrDef],
        description: &'static str,
    ) -> AttrDef {
        let mut a = AttrDef::new(name, AttrType::Complex, description);
        a.sub_attributes = subs;
        a
    }
    pub const fn multi(mut self) -> AttrDef {
        self.multi_valued = true;
        self
    }
    pub const fn required(mut self) -> AttrDef {
        self.required = true;
        self
    }
    pub const fn case_exact(mut self) -> AttrDef {
        self.case_exact = true;
        self
    }
    pub const fn read_only(mut self) -> AttrDef {
        self.mutability = Mutability::ReadOnly;
        self
    }
    pub const fn immutable(mut self) -> AttrDef {
        self.mutability = Mutability::Immutable;
        self
    }
    pub const fn write_only(mut self) -> AttrDef {
        self.mutability = Mutability::WriteOnly;
        self.returned = Returned::Never;
        self
    }
    pub const fn always(mut self) -> AttrDef {
        self.returned = Returned::Always;
        self
    }
    pub const fn unique(mut self) -> AttrDef {
        self.uniqueness = Uniqueness::Server;
        self
    }
    pub const fn canonical(mut self, values: &'static [&'static str]) -> AttrDef {
        self.canonical_values = values;
        self
    }

    /// Sub-attribute by name, case-insensitively (RFC 7643 §2.1: attribute names are
    /// case-insensitive).
    pub fn sub(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// A client may not set this attribute.
    pub fn is_read_only(&self) -> bool {
        self.mutability == Mutability::ReadOnly
    }
}

/// A schema (RFC 7643 §7): an id URN and its top-level attributes.
#[derive(Debug)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

impl SchemaDef {
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A resource type (RFC 7643 §6) with its core schema and extensions.
#[derive(Debug)]
pub struct ResourceTypeDef {
    pub id: &'static str,
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static SchemaDef,
    /// Extension schemas and whether each is required.
    pub extensions: &'static [(&'static SchemaDef, bool)],
}

/// Where an attribute name resolved to.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// The schema that declares the attribute.
    pub schema: &'static SchemaDef,
    /// True when the attribute lives under its extension URN key in the resource JSON.
    pub in_extension: bool,
    pub attr: &'static AttrDef,
}

impl ResourceTypeDef {
    /// Every schema URN this resource type knows: core first.
    pub fn schema_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.schema.id).chain(self.extensions.iter().map(|(s, _)| s.id))
    }

    /// The extension schema with this URN (case-insensitive), if any.
    pub fn extension(&self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions
            .iter()
            .map(|(s, _)| *s)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Resolve a top-level attribute name, optionally qualified by a schema URN
    /// (RFC 7644 §3.10: "urn:...:User:userName" names the core `userName`).
    /// Common attributes (`id`, `externalId`, `meta`, `schemas`) resolve against the core
    /// schema.
    pub fn resolve(&self, urn: Option<&str>, name: &str) -> Option<Resolved> {
        match urn {
            None => self.resolve_core(name),
            Some(u) if u.eq_ignore_ascii_case(self.schema.id) => self.resolve_core(name),
            Some(u) => {
                let ext = self.extension(u)?;
                ext.attr(name).map(|attr| Resolved {
                    schema: ext,
                    in_extension: true,
                    attr,
                })
            }
        }
    }

    fn resolve_core(&self, name: &str) -> Option<Resolved> {
        COMMON_ATTRIBUTES
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .or_else(|| self.schema.attr(name))
            .map(|attr| Resolved {
                schema: self.schema,
                in_extension: false,
                attr,
            })
    }

    /// Split a possibly URN-qualified attribute path ("urn:...:User:name.givenName") into
    /// the URN and the rest. Returns `(None, path)` when the path has no known URN prefix.
    pub fn split_urn<'a>(&self, path: &'a str) -> (Option<&'a str>, &'a str) {
        for id in self.schema_ids() {
            if path.len() > id.len()
                && path.as_bytes()[id.len()] == b':'
                && path[..id.len()].eq_ignore_ascii_case(id)
            {
                return (Some(&path[..id.len()]), &path[id.len() + 1..]);
            }
        }
        (None, path)
    }
}

pub const USER_SCHEMA_ID: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA_ID: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA_ID: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// scimd's read-only view of what a push did to the organization (the member's role and
/// status). Not an IETF URN: it is our own extension.
pub const MEMBERSHIP_SCHEMA_ID: &str =
    "urn:scimd:params:scim:schemas:extension:membership:1.0:User";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

const META_SUBS: &[AttrDef] = &[
    AttrDef::string(
        "resourceType",
        "The name of the resource type of the resource.",
    )
    .read_only()
    .case_exact(),
    AttrDef::datetime(
        "created",
        "When the resource was added to the service provider.",
    )
    .read_only(),
    AttrDef::datetime("lastModified", "When the resource was last modified.").read_only(),
    AttrDef::reference(
        "location",
        &["uri"],
        "The URI of the resource being returned.",
    )
    .read_only()
    .case_exact(),
    AttrDef::string(
        "version",
        "The version (ETag) of the resource being returned.",
    )
    .read_only()
    .case_exact(),
];

/// RFC 7643 §3.1 common attributes, part of every resource.
pub const COMMON_ATTRIBUTES: &[AttrDef] = &[
    AttrDef::string(
        "id",
        "Unique identifier for the SCIM resource as defined by the service provider.",
    )
    .read_only()
    .case_exact()
    .always()
    .unique(),
    AttrDef::string(
        "externalId",
        "Identifier for the resource as defined by the provisioning client.",
    )
    .case_exact(),
    AttrDef::complex("meta", META_SUBS, "Resource metadata.").read_only(),
];

const TYPE_VALUE_DISPLAY_PRIMARY_DESC: &str = "A label indicating the attribute's function.";

macro_rules! multi_subs {
    ($value:expr, $types:expr) => {
        &[
            $value,
            AttrDef::string(
                "display",
                "A human-readable name, primarily used for display purposes.",
            ),
            AttrDef::string("type", TYPE_VALUE_DISPLAY_PRIMARY_DESC).canonical($types),
            AttrDef::boolean(
                "primary",
                "Indicates the primary or preferred attribute value.",
            ),
        ]
    };
}

const NAME_SUBS: &[AttrDef] = &[
    AttrDef::string(
        "formatted",
        "The full name, including all middle names, titles, and suffixes.",
    ),
    AttrDef::string("familyName", "The family name of the User."),
    AttrDef::string("givenName", "The given name of the User."),
    AttrDef::string("middleName", "The middle name(s) of the User."),
    AttrDef::string("honorificPrefix", "The honorific prefix(es) of the User."),
    AttrDef::string("honorificSuffix", "The honorific suffix(es) of the User."),
];

const ADDRESS_SUBS: &[AttrDef] = &[
    AttrDef::string("formatted", "The full mailing address."),
    AttrDef::string("streetAddress", "The full street address component."),
    AttrDef::string("locality", "The city or locality component."),
    AttrDef::string("region", "The state or region component."),
    AttrDef::string("postalCode", "The zip code or postal code component."),
    AttrDef::string("country", "The country name component."),
    AttrDef::string("type", TYPE_VALUE_DISPLAY_PRIMARY_DESC).canonical(&["work", "home", "other"]),
    AttrDef::boolean("primary", "Indicates the primary or preferred address."),
];

const USER_GROUP_SUBS: &[AttrDef] = &[
    AttrDef::string("value", "The identifier of the User's group.").read_only(),
    AttrDef::reference(
        "$ref",
        &["User", "Group"],
        "The URI of the corresponding 'Group' resource.",
    )
    .read_only(),
    AttrDef::string(
        "display",
        "A human-readable name, primarily used for display purposes.",
    )
    .read_only(),
    AttrDef::string(
        "type",
        "A label indicating the membership: 'direct' or 'indirect'.",
    )
    .read_only()
    .canonical(&["direct", "indirect"]),
];

pub const USER_ATTRIBUTES: &[AttrDef] = &[
    AttrDef::string("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.")
        .required()
        .unique(),
    AttrDef::complex("name", NAME_SUBS, "The components of the user's real name."),
    AttrDef::string("displayName", "The name of the User, suitable for display to end-users."),
    AttrDef::string("nickName", "The casual way to address the user in real life."),
    AttrDef::reference("profileUrl", &["external"], "A fully qualified URL pointing to a page representing the User's online profile."),
    AttrDef::string("title", "The user's title, such as \"Vice President\"."),
    AttrDef::string("userType", "Used to identify the relationship between the organization and the user."),
    AttrDef::string("preferredLanguage", "Indicates the User's preferred written or spoken language."),
    AttrDef::string("locale", "Used to indicate the User's default location for purposes of localizing items."),
    AttrDef::string("timezone", "The User's time zone in the 'Olson' time zone database format."),
    AttrDef::boolean("active", "A Boolean value indicating the User's administrative status."),
    AttrDef::string("password", "The User's cleartext password. scimd never stores or returns it: sign-in goes through the organization's SSO.")
        .write_only(),
    AttrDef::complex(
        "emails",
        multi_subs!(AttrDef::string("value", "Email addresses for the user."), &["work", "home", "other"]),
        "Email addresses for the user.",
    )
    .multi(),
    AttrDef::complex(
        "phoneNumbers",
        multi_subs!(AttrDef::string("value", "Phone number of the User."), &["work", "home", "mobile", "fax", "pager", "other"]),
        "Phone numbers for the User.",
    )
    .multi(),
    AttrDef::complex(
        "ims",
        multi_subs!(AttrDef::string("value", "Instant messaging address for the User."), &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
        "Instant messaging addresses for the User.",
    )
    .multi(),
    AttrDef::complex(
        "photos",
        multi_subs!(AttrDef::reference("value", &["external"], "URL of a photo of the User."), &["photo", "thumbnail"]),
        "URLs of photos of the User.",
    )
    .multi(),
    AttrDef::complex("addresses", ADDRESS_SUBS, "A physical mailing address for this User.").multi(),
    AttrDef::complex("groups", USER_GROUP_SUBS, "A list of groups to which the user belongs. Read-only: change it through the Group resource.")
        .multi()
        .read_only(),
    AttrDef::complex(
        "entitlements",
        multi_subs!(AttrDef::string("value", "The value of an entitlement."), &[]),
        "A list of entitlements for the User.",
    )
    .multi(),
    AttrDef::complex(
        "roles",
        multi_subs!(AttrDef::string("value", "The value of a role."), &[]),
        "A list of roles for the User (directory data; the organization role comes from group mappings).",
    )
    .multi(),
    AttrDef::complex(
        "x509Certificates",
        multi_subs!(AttrDef::new("value", AttrType::Binary, "The value of an X.509 certificate."), &[]),
        "A list of certificates issued to the User.",
    )
    .multi(),
];

const MEMBER_SUBS: &[AttrDef] = &[
    AttrDef::string("value", "Identifier of the member of this Group.")
        .immutable()
        .case_exact(),
    AttrDef::reference(
        "$ref",
        &["User", "Group"],
        "The URI corresponding to a SCIM resource that is a member of this Group.",
    )
    .immutable(),
    AttrDef::string(
        "type",
        "A label indicating the type of resource, e.g., 'User' or 'Group'.",
    )
    .immutable()
    .canonical(&["User", "Group"]),
    AttrDef::string(
        "display",
        "A human-readable name for the member, filled in by the server.",
    )
    .read_only(),
];

pub const GROUP_ATTRIBUTES: &[AttrDef] = &[
    AttrDef::string("displayName", "A human-readable name for the Group. Unique per organization, compared case-insensitively: role mappings name groups by it.")
        .required()
        .unique(),
    AttrDef::complex("members", MEMBER_SUBS, "A list of members of the Group.").multi(),
];

const MANAGER_SUBS: &[AttrDef] = &[
    AttrDef::string(
        "value",
        "The id of the SCIM resource representing the User's manager.",
    )
    .case_exact(),
    AttrDef::reference(
        "$ref",
        &["User"],
        "The URI of the SCIM resource representing the User's manager.",
    ),
    AttrDef::string("displayName", "The displayName of the User's manager.").read_only(),
];

pub const ENTERPRISE_USER_ATTRIBUTES: &[AttrDef] = &[
    AttrDef::string(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person.",
    ),
    AttrDef::string("costCenter", "Identifies the name of a cost center."),
    AttrDef::string("organization", "Identifies the name of an organization."),
    AttrDef::string("division", "Identifies the name of a division."),
    AttrDef::string("department", "Identifies the name of a department."),
    AttrDef::complex("manager", MANAGER_SUBS, "The User's manager."),
];

pub const MEMBERSHIP_ATTRIBUTES: &[AttrDef] = &[
    AttrDef::string("role", "The member's role in the organization, from the group mappings: owner, admin, developer, viewer or operator. Absent when the user is no member.")
        .read_only()
        .canonical(&["owner", "admin", "developer", "viewer", "operator"]),
    AttrDef::string("status", "The membership: 'active', or 'banned' (active=false). The extension is absent while the user is in no mapped group.")
        .read_only()
        .canonical(&["active", "banned"]),
    AttrDef::string("memberId", "The id of the organization member this user is linked to.")
        .read_only()
        .case_exact(),
];

pub static USER_SCHEMA: SchemaDef = SchemaDef {
    id: USER_SCHEMA_ID,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRIBUTES,
};

pub static GROUP_SCHEMA: SchemaDef = SchemaDef {
    id: GROUP_SCHEMA_ID,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

pub static ENTERPRISE_USER_SCHEMA: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_SCHEMA_ID,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_USER_ATTRIBUTES,
};

pub static MEMBERSHIP_SCHEMA: SchemaDef = SchemaDef {
    id: MEMBERSHIP_SCHEMA_ID,
    name: "OrganizationMembership",
    description: "What scimd made of this user in the organization (read-only)",
    attributes: MEMBERSHIP_ATTRIBUTES,
};

pub static USER_RESOURCE: ResourceTypeDef = ResourceTypeDef {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER_SCHEMA,
    extensions: &[
        (&ENTERPRISE_USER_SCHEMA, false),
        (&MEMBERSHIP_SCHEMA, false),
    ],
};

pub static GROUP_RESOURCE: ResourceTypeDef = ResourceTypeDef {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP_SCHEMA,
    extensions: &[],
};

pub static RESOURCE_TYPES: [&ResourceTypeDef; 2] = [&USER_RESOURCE, &GROUP_RESOURCE];
pub static SCHEMAS: [&SchemaDef; 4] = [
    &USER_SCHEMA,
    &GROUP_SCHEMA,
    &ENTERPRISE_USER_SCHEMA,
    &MEMBERSHIP_SCHEMA,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_case_insensitively_and_by_urn() {
        // RFC 7643 §2.1: "Attribute names are case insensitive".
        let r = USER_RESOURCE.resolve(None, "USERNAME").unwrap();
        assert_eq!(r.attr.name, "userName");
        assert!(!r.in_extension);
        let r = USER_RESOURCE
            .resolve(Some(ENTERPRISE_USER_SCHEMA_ID), "employeenumber")
            .unwrap();
        assert_eq!(r.attr.name, "employeeNumber");
        assert!(r.in_extension);
        assert!(USER_RESOURCE.resolve(None, "employeeNumber").is_none());
        assert_eq!(
            USER_RESOURCE.resolve(None, "id").unwrap().attr.mutability,
            Mutability::ReadOnly
        );
        assert!(GROUP_RESOURCE.resolve(None, "userName").is_none());
    }

    #[test]
    fn splits_urn_prefix() {
        let p = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value";
        assert_eq!(
            USER_RESOURCE.split_urn(p),
            (Some(ENTERPRISE_USER_SCHEMA_ID), "manager.value")
        );
        let p = "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName";
        assert_eq!(
            USER_RESOURCE.split_urn(p),
            (Some(USER_SCHEMA_ID), "name.givenName")
        );
        assert_eq!(
            USER_RESOURCE.split_urn("name.givenName"),
            (None, "name.givenName")
        );
    }

    #[test]
    fn password_is_write_only_and_never_returned() {
        let p = USER_SCHEMA.attr("password").unwrap();
        assert_eq!(p.mutability, Mutability::WriteOnly);
        assert_eq!(p.returned, Returned::Never);
    }
}
