//! Discovery documents (RFC 7644 §4): `/ServiceProviderConfig` (RFC 7643 §5),
//! `/ResourceTypes` (RFC 7643 §6) and `/Schemas` (RFC 7643 §7), all generated from the
//! definitions in `schema.rs` so what we advertise is what we enforce.
//!
//! `base_url` is the SCIM base without a trailing slash, e.g. `https://host/scim/v2`.

use crate::scim::list::list_response;
use crate::scim::schema::{
    AttrDef, AttrType, ResourceTypeDef, SchemaDef, RESOURCE_TYPES, RESOURCE_TYPE_SCHEMA, SCHEMAS,
    SCHEMA_SCHEMA, SPC_SCHEMA,
};
use serde_json::{json, Map, Value};

/// The limits `/ServiceProviderConfig` advertises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryOptions {
    /// `filter.maxResults`: most resources a list or search returns.
    pub max_results: usize,
    /// `bulk.maxOperations`.
    pub bulk_max_operations: usize,
    /// `bulk.maxPayloadSize`, in bytes.
    pub bulk_max_payload_size: usize,
}

/// The service provider configuration (RFC 7643 §5). `changePassword` is not supported:
/// scimd never stores passwords (sign-in goes through the organization's SSO).
pub fn service_provider_config(base_url: &str, o: &DiscoveryOptions) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": o.bulk_max_operations,
            "maxPayloadSize": o.bulk_max_payload_size,
        },
        "filter": {"supported": true, "maxResults": o.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token in the Authorization header (RFC 6750), issued per organization.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/ServiceProviderConfig"),
        },
    })
}

/// One attribute definition with all of its characteristics (RFC 7643 §7):
/// `canonicalValues` only when there are some, `referenceTypes` only for references,
/// `subAttributes` only for complex attributes, each with the same characteristics.
fn attribute_document(a: &AttrDef) -> Value {
    let mut doc = Map::new();
    doc.insert("name".into(), a.name.into());
    doc.insert("type".into(), a.ty.as_str().into());
    doc.insert("multiValued".into(), a.multi_valued.into());
    doc.insert("description".into(), a.description.into());
    doc.insert("required".into(), a.required.into());
    doc.insert("caseExact".into(), a.case_exact.into());
    doc.insert("mutability".into(), a.mutability.as_str().into());
    doc.insert("returned".into(), a.returned.as_str().into());
    doc.insert("uniqueness".into(), a.uniqueness.as_str().into());
    if !a.canonical_values.is_empty() {
        doc.insert("canonicalValues".into(), a.canonical_values.into());
    }
    if a.ty == AttrType::Reference {
        doc.insert("referenceTypes".into(), a.reference_types.into());
    }
    if a.ty == AttrType::Complex {
        let subs: Vec<Value> = a.sub_attributes.iter().map(attribute_document).collect();
        doc.insert("subAttributes".into(), subs.into());
    }
    Value::Object(doc)
}

/// A schema's representation (RFC 7643 §7). Like the RFC's own §8.7.1 representations it
/// lists only the schema's attributes, not the common `id`, `externalId` and `meta`
/// (RFC 7643 §3.1), which belong to every resource rather than to a schema.
pub fn schema_document(s: &SchemaDef, base_url: &str) -> Value {
    let attributes: Vec<Value> = s.attributes.iter().map(attribute_document).collect();
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base_url}/Schemas/{}", s.id),
        },
    })
}

/// `GET /Schemas`: every schema, as one unpaged `ListResponse` (RFC 7644 §4).
pub fn schemas_list(base_url: &str) -> Value {
    let docs: Vec<Value> = SCHEMAS
        .iter()
        .map(|s| schema_document(s, base_url))
        .collect();
    list_response(docs.len(), 1, docs)
}

/// The schema with this id; schema URNs compare case-insensitively (RFC 7643 §2.1: URNs
/// in attribute names are case-insensitive, and clients do vary the case).
pub fn find_schema(id: &str) -> Option<&'static SchemaDef> {
    SCHEMAS
        .iter()
        .copied()
        .find(|s| s.id.eq_ignore_ascii_case(id))
}

/// A resource type's representation (RFC 7643 §6). `schemaExtensions` is omitted when
/// there are none, as in the RFC's §8.6 `Group` example.
pub fn resource_type_document(rt: &ResourceTypeDef, base_url: &str) -> Value {
    let mut doc = json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": rt.id,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base_url}/ResourceTypes/{}", rt.id),
        },
    });
    if !rt.extensions.is_empty() {
        let exts: Vec<Value> = rt
            .extensions
            .iter()
            .map(|(s, required)| json!({"schema": s.id, "required": required}))
            .collect();
        doc["schemaExtensions"] = exts.into();
    }
    doc
}

/// `GET /ResourceTypes`: every resource type, as one unpaged `ListResponse`.
pub fn resource_types_list(base_url: &str) -> Value {
    let docs: Vec<Value> = RESOURCE_TYPES
        .iter()
        .map(|rt| resource_type_document(rt, base_url))
        .collect();
    list_response(docs.len(), 1, docs)
}

/// The resource type with this id (`User`, `Group`), case-insensitively.
pub fn find_resource_type(id: &str) -> Option<&'static ResourceTypeDef> {
    RESOURCE_TYPES
        .iter()
        .copied()
        .find(|rt| rt.id.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{
        ENTERPRISE_USER_SCHEMA_ID, GROUP_RESOURCE, GROUP_SCHEMA_ID, LIST_RESPONSE_SCHEMA,
        USER_RESOURCE, USER_SCHEMA_ID,
    };

    const BASE: &str = "https://scim.example.com/scim/v2";

    const CHARACTERISTICS: [&str; 9] = [
        "name",
        "type",
        "multiValued",
        "description",
        "required",
        "caseExact",
        "mutability",
        "returned",
        "uniqueness",
    ];

    fn check_attribute(a: &Value, def: &AttrDef) {
        for c in CHARACTERISTICS {
            assert!(a.get(c).is_some(), "{} lacks {c}", def.name);
        }
        assert_eq!(a["name"], def.name);
        assert_eq!(a["type"], def.ty.as_str());
        assert_eq!(a["multiValued"], def.multi_valued);
        assert_eq!(a["required"], def.required);
        assert_eq!(a["caseExact"], def.case_exact);
        assert_eq!(a["mutability"], def.mutability.as_str());
        assert_eq!(a["returned"], def.returned.as_str());
        assert_eq!(a["uniqueness"], def.uniqueness.as_str());
        assert!(
            !a["description"].as_str().unwrap().is_empty(),
            "{} has no description",
            def.name
        );
        assert_eq!(
            a.get("canonicalValues").is_some(),
            !def.canonical_values.is_empty(),
            "{}",
            def.name
        );
        assert_eq!(
            a.get("referenceTypes").is_some(),
            def.ty == AttrType::Reference,
            "{}",
            def.name
        );
        if def.ty == AttrType::Reference {
            assert!(
                !a["referenceTypes"].as_array().unwrap().is_empty(),
                "{}",
                def.name
            );
        }
        match a.get("subAttributes") {
            Some(subs) => {
                assert_eq!(def.ty, AttrType::Complex);
                let subs = subs.as_array().unwrap();
                assert_eq!(subs.len(), def.sub_attributes.len());
                for (doc, sub) in subs.iter().zip(def.sub_attributes) {
                    check_attribute(doc, sub);
                }
            }
            None => assert_ne!(
                def.ty,
                AttrType::Complex,
                "{} lacks subAttributes",
                def.name
            ),
        }
    }

    #[test]
    fn every_attribute_carries_every_characteristic() {
        for s in SCHEMAS {
            let doc = schema_document(s, BASE);
            assert_eq!(doc["schemas"], json!([SCHEMA_SCHEMA]));
            assert_eq!(doc["id"], s.id);
            assert_eq!(doc["name"], s.name);
            assert_eq!(doc["meta"]["resourceType"], "Schema");
            assert_eq!(doc["meta"]["location"], format!("{BASE}/Schemas/{}", s.id));
            let attrs = doc["attributes"].as_array().unwrap();
            assert_eq!(attrs.len(), s.attributes.len());
            for (a, def) in attrs.iter().zip(s.attributes) {
                check_attribute(a, def);
            }
            // RFC 7643 §8.7.1: common attributes are not part of a schema.
            assert!(attrs
                .iter()
                .all(|a| a["name"] != "id" && a["name"] != "meta"));
        }
    }

    #[test]
    fn schema_document_details() {
        let user = schema_document(find_schema(USER_SCHEMA_ID).unwrap(), BASE);
        let emails = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "emails")
            .unwrap();
        assert_eq!(emails["multiValued"], true);
        let ty = emails["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "type")
            .unwrap();
        assert_eq!(ty["canonicalValues"], json!(["work", "home", "other"]));
        let password = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "password")
            .unwrap();
        assert_eq!(
            (
                password["mutability"].as_str(),
                password["returned"].as_str()
            ),
            (Some("writeOnly"), Some("never"))
        );
    }

    #[test]
    fn service_provider_config_advertises_limits() {
        let o = DiscoveryOptions {
            max_results: 321,
            bulk_max_operations: 17,
            bulk_max_payload_size: 1_048_576,
        };
        let spc = service_provider_config(BASE, &o);
        assert_eq!(spc["schemas"], json!([SPC_SCHEMA]));
        assert_eq!(spc["filter"], json!({"supported": true, "maxResults": 321}));
        assert_eq!(
            spc["bulk"],
            json!({"supported": true, "maxOperations": 17, "maxPayloadSize": 1_048_576})
        );
        assert_eq!(spc["patch"]["supported"], true);
        assert_eq!(spc["sort"]["supported"], true);
        assert_eq!(spc["etag"]["supported"], true);
        assert_eq!(spc["changePassword"]["supported"], false);
        let schemes = spc["authenticationSchemes"].as_array().unwrap();
        assert_eq!(schemes.len(), 1);
        assert_eq!(schemes[0]["type"], "oauthbearertoken");
        assert_eq!(schemes[0]["name"], "OAuth Bearer Token");
        assert_eq!(schemes[0]["primary"], true);
        assert!(schemes[0]["description"].is_string());
        assert_eq!(
            spc["meta"],
            json!({"resourceType": "ServiceProviderConfig", "location": format!("{BASE}/ServiceProviderConfig")})
        );
    }

    #[test]
    fn resource_types() {
        let user = resource_type_document(&USER_RESOURCE, BASE);
        assert_eq!(user["schemas"], json!([RESOURCE_TYPE_SCHEMA]));
        assert_eq!(
            (user["id"].as_str(), user["endpoint"].as_str()),
            (Some("User"), Some("/Users"))
        );
        assert_eq!(user["schema"], USER_SCHEMA_ID);
        assert_eq!(
            user["schemaExtensions"][0],
            json!({"schema": ENTERPRISE_USER_SCHEMA_ID, "required": false})
        );
        assert_eq!(
            user["schemaExtensions"].as_array().unwrap().len(),
            USER_RESOURCE.extensions.len()
        );
        assert_eq!(
            user["meta"]["location"],
            format!("{BASE}/ResourceTypes/User")
        );
        let group = resource_type_document(&GROUP_RESOURCE, BASE);
        assert_eq!(group["schema"], GROUP_SCHEMA_ID);
        assert!(group.get("schemaExtensions").is_none());
    }

    #[test]
    fn lists_and_lookups() {
        let schemas = schemas_list(BASE);
        assert_eq!(schemas["schemas"], json!([LIST_RESPONSE_SCHEMA]));
        assert_eq!(schemas["totalResults"], SCHEMAS.len());
        assert_eq!(schemas["itemsPerPage"], SCHEMAS.len());
        assert_eq!(
            schemas["Resources"].as_array().unwrap().len(),
            SCHEMAS.len()
        );
        let rts = resource_types_list(BASE);
        assert_eq!(rts["totalResults"], RESOURCE_TYPES.len());
        assert_eq!(rts["Resources"][1]["id"], "Group");

        assert_eq!(
            find_schema(&ENTERPRISE_USER_SCHEMA_ID.to_uppercase()).map(|s| s.id),
            Some(ENTERPRISE_USER_SCHEMA_ID)
        );
        assert!(find_schema("urn:nope").is_none());
        assert_eq!(find_resource_type("group").map(|r| r.id), Some("Group"));
        assert!(find_resource_type("Groups").is_none());
    }
}
