//! Bulk requests (RFC 7644 §3.7): parsing, limits and `bulkId` references.

use super::error::{ScimError, ScimResult};
use super::schema::{BULK_REQUEST_SCHEMA, BULK_RESPONSE_SCHEMA};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct BulkOp {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    /// `/Users`, `/Groups/{id}`, possibly with `bulkId:` references still in it.
    pub path: String,
    pub data: Option<Value>,
    /// `version`: the ETag the client expects (RFC 7644 §3.7: like `If-Match`).
    pub version: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BulkRequest {
    pub fail_on_errors: Option<usize>,
    pub operations: Vec<BulkOp>,
}

/// Parse a `/Bulk` body. More than `max_operations` operations is 413 (RFC 7644 §3.7.4).
pub fn parse_bulk(body: &Value, max_operations: usize) -> ScimResult<BulkRequest> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the Bulk body must be a JSON object"))?;
    let schemas_ok = obj
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(BULK_REQUEST_SCHEMA))
            })
        });
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must contain {BULK_REQUEST_SCHEMA}"
        )));
    }
    let fail_on_errors =
        match obj.get("failOnErrors") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                ScimError::invalid_value("failOnErrors must be a positive integer")
            })? as usize),
        };
    let ops = obj
        .get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be an array"))?;
    if ops.len() > max_operations {
        return Err(ScimError::payload_too_large(format!(
            "the request has {} operations; maxOperations is {max_operations}",
            ops.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let operations = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let o = op.as_object().ok_or_else(|| {
                ScimError::invalid_syntax(format!("operation {i} is not an object"))
            })?;
            let method = match o
                .get("method")
                .and_then(Value::as_str)
                .map(str::to_ascii_uppercase)
                .as_deref()
            {
                Some("POST") => BulkMethod::Post,
                Some("PUT") => BulkMethod::Put,
                Some("PATCH") => BulkMethod::Patch,
                Some("DELETE") => BulkMethod::Delete,
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "operation {i}: method must be POST, PUT, PATCH or DELETE"
                    )))
                }
            };
            let path = o
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ScimError::invalid_syntax(format!("operation {i}: path is required"))
                })?
                .to_owned();
            let bulk_id = o.get("bulkId").and_then(Value::as_str).map(str::to_owned);
            if method == BulkMethod::Post && bulk_id.is_none() {
                // RFC 7644 §3.7: "bulkId ... REQUIRED when "method" is "POST"".
                return Err(ScimError::invalid_syntax(format!(
                    "operation {i}: bulkId is required for POST"
                )));
            }
            if let Some(b) = &bulk_id {
                if !seen.insert(b.clone()) {
                    return Err(ScimError::invalid_syntax(format!(
                        "operation {i}: bulkId is not unique"
                    )));
                }
            }
            let data = o.get("data").cloned();
            if matches!(
                method,
                BulkMethod::Post | BulkMethod::Put | BulkMethod::Patch
            ) && data.is_none()
            {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {i}: data is required"
                )));
            }
            let version = o.get("version").and_then(Value::as_str).map(str::to_owned);
            Ok(BulkOp {
                method,
                bulk_id,
                path,
                data,
                version,
            })
        })
        .collect::<ScimResult<Vec<_>>>()?;
    Ok(BulkRequest {
        fail_on_errors,
        operations,
    })
}

/// Replace every `bulkId:x` reference (in the path and in any string of `data`) with the
/// id the POST carrying `bulkId` x created (RFC 7644 §3.7.2). A reference to a bulkId that
/// has not been created (yet, or at all) is an error of this operation.
pub fn resolve_refs(op: &mut BulkOp, ids: &HashMap<String, String>) -> ScimResult<()> {
    fn fix(s: &mut String, ids: &HashMap<String, String>) -> ScimResult<()> {
        while let Some(pos) = s.find("bulkId:") {
            let rest = &s[pos + 7..];
            let end = rest
                .find(|c: char| c == '/' || c == '"' || c.is_whitespace())
                .unwrap_or(rest.len());
            let key = &rest[..end];
            let id = ids.get(key).ok_or_else(|| {
                ScimError::invalid_value(
                    "bulkId reference to an operation that did not create a resource",
                )
            })?;
            s.replace_range(pos..pos + 7 + end, id);
        }
        Ok(())
    }
    fn walk(v: &mut Value, ids: &HashMap<String, String>) -> ScimResult<()> {
        match v {
            Value::String(s) if s.contains("bulkId:") => fix(s, ids),
            Value::Array(a) => a.iter_mut().try_for_each(|x| walk(x, ids)),
            Value::Object(o) => o.values_mut().try_for_each(|x| walk(x, ids)),
            _ => Ok(()),
        }
    }
    fix(&mut op.path, ids)?;
    if let Some(d) = &mut op.data {
        walk(d, ids)?;
    }
    Ok(())
}

/// One entry of the BulkResponse (RFC 7644 §3.7.3).
pub fn op_response(
    op: &BulkOp,
    status: u16,
    location: Option<&str>,
    version: Option<&str>,
    error: Option<&ScimError>,
) -> Value {
    let mut o = Map::new();
    o.insert("method".into(), op.method.as_str().into());
    if let Some(b) = &op.bulk_id {
        o.insert("bulkId".into(), b.clone().into());
    }
    if let Some(l) = location {
        o.insert("location".into(), l.into());
    }
    if let Some(v) = version {
        o.insert("version".into(), v.into());
    }
    o.insert("status".into(), status.to_string().into());
    if let Some(e) = error {
        o.insert("response".into(), e.body());
    }
    Value::Object(o)
}

pub fn bulk_response(ops: Vec<Value>) -> Value {
    json!({"schemas": [BULK_RESPONSE_SCHEMA], "Operations": ops})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ops: Value) -> Value {
        json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": ops})
    }

    #[test]
    fn parses_and_enforces_limits() {
        let body = req(json!([
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "x"}},
            {"method": "delete", "path": "/Users/1"}
        ]));
        let r = parse_bulk(&body, 10).unwrap();
        assert_eq!(r.operations.len(), 2);
        assert_eq!(r.operations[1].method, BulkMethod::Delete);
        // RFC 7644 §3.7.4: over maxOperations is 413.
        assert_eq!(parse_bulk(&body, 1).unwrap_err().status, 413);
        // POST without bulkId.
        let bad = req(json!([{"method": "POST", "path": "/Users", "data": {}}]));
        assert_eq!(
            parse_bulk(&bad, 10).unwrap_err().scim_type,
            Some(crate::scim::ScimType::InvalidSyntax)
        );
        assert!(parse_bulk(&json!({"Operations": []}), 10).is_err());
    }

    #[test]
    fn resolves_bulk_id_references_in_path_and_data() {
        let mut ids = HashMap::new();
        ids.insert("u1".to_string(), "1234".to_string());
        let mut op = BulkOp {
            method: BulkMethod::Post,
            bulk_id: Some("g".into()),
            path: "/Groups".into(),
            data: Some(json!({"members": [{"value": "bulkId:u1"}]})),
            version: None,
        };
        resolve_refs(&mut op, &ids).unwrap();
        assert_eq!(op.data.unwrap()["members"][0]["value"], "1234");
        let mut op = BulkOp {
            method: BulkMethod::Delete,
            bulk_id: None,
            path: "/Users/bulkId:u1".into(),
            data: None,
            version: None,
        };
        resolve_refs(&mut op, &ids).unwrap();
        assert_eq!(op.path, "/Users/1234");
        let mut op = BulkOp {
            method: BulkMethod::Delete,
            bulk_id: None,
            path: "/Users/bulkId:nope".into(),
            data: None,
            version: None,
        };
        assert!(resolve_refs(&mut op, &ids).is_err());
    }
}
