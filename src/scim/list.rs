//! List and search queries (RFC 7644 §3.4.2 and §3.4.3): query parameters or a
//! `SearchRequest` body, sorting, paging and the `ListResponse` message.

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::{self, parse_attr_path, parse_filter, AttrPath, Filter};
use crate::scim::schema::{AttrType, ResourceTypeDef, LIST_RESPONSE_SCHEMA, SEARCH_REQUEST_SCHEMA};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::ops::Range;

/// `sortOrder` (RFC 7644 §3.4.2.3). "If a value for "sortBy" is provided and no
/// "sortOrder" is specified, "sortOrder" SHALL default to ascending."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

impl SortOrder {
    /// Turn an ascending comparison into one in this order. Reversing the whole ascending
    /// order is what RFC 7644 §3.4.2.3 asks for resources without a value: "they are
    /// ordered last if ascending and first if descending".
    pub fn apply(self, ascending: Ordering) -> Ordering {
        match self {
            SortOrder::Ascending => ascending,
            SortOrder::Descending => ascending.reverse(),
        }
    }

    fn parse(s: &str) -> ScimResult<SortOrder> {
        if s.eq_ignore_ascii_case("ascending") {
            Ok(SortOrder::Ascending)
        } else if s.eq_ignore_ascii_case("descending") {
            Ok(SortOrder::Descending)
        } else {
            Err(ScimError::invalid_value(
                "'sortOrder' must be \"ascending\" or \"descending\"",
            ))
        }
    }
}

/// Server limits on paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimits {
    /// Most resources one page returns (advertised as `filter.maxResults`).
    pub max_results: usize,
    /// Page size when the client sends no `count`.
    pub default_count: usize,
}

/// A list or search request, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    /// 1-based index of the first result (RFC 7644 §3.4.2.4); at least 1.
    pub start_index: usize,
    /// Page size, already capped at `max_results`; 0 asks for `totalResults` only.
    pub count: usize,
    /// `attributes`: return only these (plus `returned: always`), RFC 7644 §3.9.
    pub attributes: Vec<AttrPath>,
    /// `excludedAttributes`: return the defaults minus these, RFC 7644 §3.9.
    pub excluded_attributes: Vec<AttrPath>,
}

/// Request parameters before normalization; shared by both request forms.
#[derive(Default)]
struct Params<'a> {
    filter: Option<&'a str>,
    sort_by: Option<&'a str>,
    sort_order: Option<&'a str>,
    start_index: Option<i64>,
    count: Option<i64>,
    attributes: Vec<AttrPath>,
    excluded_attributes: Vec<AttrPath>,
}

const FILTER: &str = "filter";
const SORT_BY: &str = "sortBy";
const SORT_ORDER: &str = "sortOrder";
const START_INDEX: &str = "startIndex";
const COUNT: &str = "count";
const ATTRIBUTES: &str = "attributes";
const EXCLUDED_ATTRIBUTES: &str = "excludedAttributes";
const PARAM_NAMES: [&str; 7] = [
    FILTER,
    SORT_BY,
    SORT_ORDER,
    START_INDEX,
    COUNT,
    ATTRIBUTES,
    EXCLUDED_ATTRIBUTES,
];

/// Parse a list request's query parameters (RFC 7644 §3.4.2), already URL-decoded.
///
/// * Parameter names match case-insensitively; unknown parameters are ignored.
/// * A parameter with an empty value counts as absent (`?filter=&count=`).
/// * `filter` errors are `invalidFilter`; anything else malformed is `invalidValue`.
/// * `startIndex` below 1 means 1, a negative `count` means 0 (RFC 7644 §3.4.2.4); an
///   absent `count` is `default_count`; `count` is capped at `max_results`. Integers too
///   large for `i64` saturate rather than fail.
/// * `attributes` / `excludedAttributes` are comma-separated attribute paths; repeating
///   them accumulates. Repeating any other parameter is `invalidValue`, since choosing one
///   of two filters silently would answer a question the client did not ask.
pub fn from_query_pairs(pairs: &[(String, String)], limits: &ListLimits) -> ScimResult<ListQuery> {
    let mut params = Params::default();
    let mut seen = [false; PARAM_NAMES.len()];
    for (key, value) in pairs {
        let Some(i) = PARAM_NAMES.iter().position(|n| n.eq_ignore_ascii_case(key)) else {
            continue;
        };
        let name = PARAM_NAMES[i];
        let value = value.trim();
        match name {
            ATTRIBUTES => params.attributes.extend(attr_list(value, name)?),
            EXCLUDED_ATTRIBUTES => params.excluded_attributes.extend(attr_list(value, name)?),
            _ => {
                if std::mem::replace(&mut seen[i], true) {
                    return Err(ScimError::invalid_value(format!(
                        "query parameter '{name}' is given more than once"
                    )));
                }
                if value.is_empty() {
                    continue;
                }
                match name {
                    FILTER => params.filter = Some(value),
                    SORT_BY => params.sort_by = Some(value),
                    SORT_ORDER => params.sort_order = Some(value),
                    START_INDEX => params.start_index = Some(parse_int(value, name)?),
                    _ => params.count = Some(parse_int(value, name)?),
                }
            }
        }
    }
    params.finish(limits)
}

/// Parse a `POST …/.search` body (RFC 7644 §3.4.3).
///
/// `schemas` must contain `urn:ietf:params:scim:api:messages:2.0:SearchRequest`. A body that
/// is not an object, lacks that URN or has a member of the wrong JSON type is
/// `invalidSyntax` ("The request body message structure was invalid or did not conform to
/// the request schema", RFC 7644 §3.12); well-formed but unacceptable values are treated as
/// in [`from_query_pairs`] (`invalidFilter`, `invalidValue`). Member names match
/// case-insensitively (RFC 7643 §2.1) and unknown members are ignored. Besides arrays of
/// strings, `attributes` / `excludedAttributes` accept one comma-separated string, and
/// `startIndex` / `count` accept integer strings, which some clients send.
pub fn from_search_body(body: &Value, limits: &ListLimits) -> ScimResult<ListQuery> {
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax(
            "a SearchRequest must be a JSON object",
        ));
    };
    let schemas_ok = match member(body, "schemas")? {
        Some(Value::Array(ids)) => ids.iter().any(|id| {
            id.as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
        }),
        _ => false,
    };
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' must contain \"{SEARCH_REQUEST_SCHEMA}\""
        )));
    }
    let mut params = Params {
        filter: string_member(body, FILTER)?,
        sort_by: string_member(body, SORT_BY)?,
        sort_order: string_member(body, SORT_ORDER)?,
        start_index: int_member(body, START_INDEX)?,
        count: int_member(body, COUNT)?,
        ..Params::default()
    };
    params.attributes = attr_member(body, ATTRIBUTES)?;
    params.excluded_attributes = attr_member(body, EXCLUDED_ATTRIBUTES)?;
    params.finish(limits)
}

impl<'a> Params<'a> {
    fn finish(self, limits: &ListLimits) -> ScimResult<ListQuery> {
        let clamp = |n: i64, min: i64| usize::try_from(n.max(min)).unwrap_or(usize::MAX);
        Ok(ListQuery {
            filter: self.filter.map(parse_filter).transpose()?,
            sort_by: self
                .sort_by
                .map(|s| parse_attr_path(s).map_err(|e| prefix(SORT_BY, e)))
                .transpose()?,
            sort_order: self
                .sort_order
                .map(SortOrder::parse)
                .transpose()?
                .unwrap_or_default(),
            start_index: self.start_index.map_or(1, |n| clamp(n, 1)),
            count: self
                .count
                .map_or(limits.default_count, |n| clamp(n, 0))
                .min(limits.max_results),
            attributes: self.attributes,
            excluded_attributes: self.excluded_attributes,
        })
    }
}

/// Name the parameter an attribute path error came from.
fn prefix(name: &str, mut e: ScimError) -> ScimError {
    e.detail = format!("'{name}': {}", e.detail);
    e
}

/// A comma-separated list of attribute paths; empty entries are skipped.
fn attr_list(s: &str, name: &str) -> ScimResult<Vec<AttrPath>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| parse_attr_path(p).map_err(|e| prefix(name, e)))
        .collect()
}

/// An optionally signed decimal integer. Magnitudes beyond `i64` saturate: an absurd
/// `startIndex` is merely past the end and an absurd `count` is capped anyway.
fn parse_int(s: &str, name: &str) -> ScimResult<i64> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ScimError::invalid_value(format!(
            "'{name}' must be an integer"
        )));
    }
    Ok(match digits.parse::<i64>() {
        Ok(n) if negative => -n,
        Ok(n) => n,
        Err(_) if negative => i64::MIN,
        Err(_) => i64::MAX,
    })
}

/// A body member by case-insensitive name; `null` counts as absent.
fn member<'b>(body: &'b Map<String, Value>, name: &str) -> ScimResult<Option<&'b Value>> {
    let mut found = body
        .iter()
        .filter(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_null());
    let first = found.next().map(|(_, v)| v);
    if found.next().is_some() {
        return Err(ScimError::invalid_syntax(format!(
            "'{name}' is given more than once"
        )));
    }
    Ok(first)
}

fn wrong_type(name: &str, expected: &str) -> ScimError {
    ScimError::invalid_syntax(format!("'{name}' must be {expected}"))
}

/// A string member; an empty string counts as absent, as in the query form.
fn string_member<'b>(body: &'b Map<String, Value>, name: &str) -> ScimResult<Option<&'b str>> {
    match member(body, name)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
        Some(_) => Err(wrong_type(name, "a string")),
    }
}

fn int_member(body: &Map<String, Value>, name: &str) -> ScimResult<Option<i64>> {
    match member(body, name)? {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Ok(Some(i)),
            (None, Some(_), _) => Ok(Some(i64::MAX)),
            // `10.0` is an integer too; `as` saturates.
            (None, None, Some(f)) if f.fract() == 0.0 => Ok(Some(f as i64)),
            _ => Err(ScimError::invalid_value(format!(
                "'{name}' must be an integer"
            ))),
        },
        Some(Value::String(s)) if !s.trim().is_empty() => parse_int(s.trim(), name).map(Some),
        Some(Value::String(_)) => Ok(None),
        Some(_) => Err(wrong_type(name, "an integer")),
    }
}

fn attr_member(body: &Map<String, Value>, name: &str) -> ScimResult<Vec<AttrPath>> {
    match member(body, name)? {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => attr_list(s, name),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let s = item
                    .as_str()
                    .ok_or_else(|| wrong_type(name, "an array of strings"))?;
                out.extend(attr_list(s, name)?);
            }
            Ok(out)
        }
        Some(_) => Err(wrong_type(name, "an array of strings")),
    }
}

impl ListQuery {
    /// Check the query against the resource type: the filter as [`filter::validate`] does
    /// (`invalidFilter`), and `sortBy` must name an attribute of `rt` that has a value to
    /// sort by, i.e. not a complex attribute without a `value` sub-attribute (RFC 7644
    /// §3.4.2.3: "If the attribute is complex, the attribute name must be a path to a
    /// sub-attribute"; we also accept a complex attribute's implied `value`).
    /// A bad `sortBy` is `invalidValue`: RFC 7644 names no `scimType` for it, and it is a
    /// value "not compatible with … resource schema" (§3.12).
    ///
    /// `attributes` / `excludedAttributes` are not checked: naming an attribute the
    /// resource does not have just selects nothing, which is what clients that send a
    /// fixed list to several resource types expect.
    pub fn validate(&self, rt: &ResourceTypeDef) -> ScimResult<()> {
        if let Some(f) = &self.filter {
            filter::validate(f, rt)?;
        }
        if let Some(path) = &self.sort_by {
            let target = filter::locate_path(path, rt).map_err(|_| {
                ScimError::invalid_value(format!(
                    "'sortBy' names an attribute that {} resources do not have",
                    rt.name
                ))
            })?;
            let leaf = target.sort_leaf();
            if leaf.ty == AttrType::Complex {
                return Err(ScimError::invalid_value(format!(
                    "'sortBy' must name a sub-attribute of the complex attribute '{}'",
                    leaf.name
                )));
            }
        }
        Ok(())
    }
}

/// Compare two resources by `path` in ascending order (RFC 7644 §3.4.2.3):
/// * strings by Unicode code points, case-folded unless the attribute is `caseExact`;
///   `dateTime`s chronologically; numbers numerically; `false` before `true`;
/// * a multi-valued attribute by its `primary` value if any, else its first value;
/// * resources without a value (absent, null, empty) after all others.
///
/// For descending order use [`SortOrder::apply`], which also puts resources without a
/// value first, as the RFC requires. Callers make the order total and stable by breaking
/// ties on `id`. A path that does not resolve (not validated) orders everything equal.
pub fn sort_cmp(a: &Value, b: &Value, path: &AttrPath, rt: &ResourceTypeDef) -> Ordering {
    let Ok(target) = filter::locate_path(path, rt) else {
        return Ordering::Equal;
    };
    let def = target.sort_leaf();
    match (
        filter::sort_value(a, &target),
        filter::sort_value(b, &target),
    ) {
        (Some(x), Some(y)) => filter::cmp_values(x, y, def),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The zero-based range of `total` sorted results that the page starting at the 1-based
/// `start_index` with `count` entries covers. A page past the end is empty, never an error
/// (RFC 7644 §3.4.2.4 leaves that case to the server; an empty page with the true
/// `totalResults` tells the client where the end is).
pub fn page_bounds(total: usize, start_index: usize, count: usize) -> Range<usize> {
    let start = start_index.saturating_sub(1).min(total);
    let end = start.saturating_add(count).min(total);
    start..end
}

/// The `ListResponse` message (RFC 7644 §3.4.2): `totalResults` counts every match,
/// `itemsPerPage` the resources actually returned in this page (not the requested
/// `count`), `startIndex` is the request's 1-based index. `Resources` is always present,
/// as an empty array when the page is empty, which clients handle more uniformly than an
/// absent member.
pub fn list_response(total_results: usize, start_index: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total_results,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

/// [`list_response`] from resources already serialized: a page of whole resources is
/// written as text once, not built as values and serialized again.
pub fn list_response_text(
    total_results: usize,
    start_index: usize,
    resources: &[String],
) -> String {
    let mut out = String::with_capacity(160 + resources.iter().map(|r| r.len() + 1).sum::<usize>());
    out.push_str("{\"schemas\":[\"");
    out.push_str(LIST_RESPONSE_SCHEMA);
    out.push_str(&format!(
        "\"],\"totalResults\":{total_results},\"itemsPerPage\":{},\"startIndex\":{start_index},\"Resources\":[",
        resources.len()
    ));
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;

    #[test]
    fn list_response_text_matches_the_value_form() {
        let items = vec![json!({"id": "a", "x": [1, 2]}), json!({"id": "b"})];
        let text = list_response_text(
            7,
            3,
            &items.iter().map(Value::to_string).collect::<Vec<_>>(),
        );
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            list_response(7, 3, items)
        );
        let empty = list_response_text(0, 1, &[]);
        assert_eq!(
            serde_json::from_str::<Value>(&empty).unwrap(),
            list_response(0, 1, vec![])
        );
    }
    use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};

    const LIMITS: ListLimits = ListLimits {
        max_results: 200,
        default_count: 100,
    };

    fn q(pairs: &[(&str, &str)]) -> ScimResult<ListQuery> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_query_pairs(&owned, &LIMITS)
    }

    fn scim_type(r: ScimResult<ListQuery>) -> Option<ScimType> {
        r.expect_err("should fail").scim_type
    }

    fn ap(s: &str) -> AttrPath {
        parse_attr_path(s).unwrap()
    }

    #[test]
    fn defaults() {
        let d = q(&[]).unwrap();
        assert_eq!(d.filter, None);
        assert_eq!(d.sort_by, None);
        assert_eq!(d.sort_order, SortOrder::Ascending);
        assert_eq!((d.start_index, d.count), (1, 100));
        assert!(d.attributes.is_empty() && d.excluded_attributes.is_empty());
        let small = ListLimits {
            max_results: 10,
            default_count: 100,
        };
        assert_eq!(from_query_pairs(&[], &small).unwrap().count, 10);
    }

    #[test]
    fn parameter_names_are_case_insensitive_and_unknown_ignored() {
        let r = q(&[
            ("FILTER", "userName eq \"a\""),
            ("SortBy", "name.familyName"),
            ("SORTORDER", "DESCENDING"),
            ("startindex", "3"),
            ("COUNT", "7"),
            ("Attributes", "userName, emails.value"),
            ("excludedattributes", "groups"),
            ("unrelated", "whatever"),
        ])
        .unwrap();
        assert_eq!(r.filter, Some(parse_filter("userName eq \"a\"").unwrap()));
        assert_eq!(r.sort_by, Some(ap("name.familyName")));
        assert_eq!(r.sort_order, SortOrder::Descending);
        assert_eq!((r.start_index, r.count), (3, 7));
        assert_eq!(r.attributes, vec![ap("userName"), ap("emails.value")]);
        assert_eq!(r.excluded_attributes, vec![ap("groups")]);
    }

    #[test]
    fn start_index_and_count_are_clamped_per_rfc() {
        // RFC 7644 §3.4.2.4: startIndex < 1 is 1; negative count is 0.
        assert_eq!(q(&[("startIndex", "0")]).unwrap().start_index, 1);
        assert_eq!(q(&[("startIndex", "-5")]).unwrap().start_index, 1);
        assert_eq!(q(&[("count", "-1")]).unwrap().count, 0);
        assert_eq!(q(&[("count", "0")]).unwrap().count, 0);
        assert_eq!(q(&[("count", "5000")]).unwrap().count, 200);
        assert_eq!(
            q(&[("count", "99999999999999999999999")]).unwrap().count,
            200
        );
        assert_eq!(
            q(&[("startIndex", "99999999999999999999999")])
                .unwrap()
                .start_index,
            i64::MAX as usize
        );
        assert_eq!(
            q(&[("startIndex", "-99999999999999999999999")])
                .unwrap()
                .start_index,
            1
        );
        assert_eq!(q(&[("count", " +5 ")]).unwrap().count, 5);
        assert_eq!(q(&[("count", "")]).unwrap().count, 100);
        for bad in ["ten", "1.5", "1e3", "0x10", "-", "+", "5 5", "٣"] {
            assert_eq!(
                scim_type(q(&[("count", bad)])),
                Some(ScimType::InvalidValue),
                "{bad:?}"
            );
            assert_eq!(
                scim_type(q(&[("startIndex", bad)])),
                Some(ScimType::InvalidValue),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn errors_have_the_right_scim_type_and_no_echo() {
        let e = q(&[("filter", "userName eq \"secret@corp.example")]).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(!e.detail.contains("secret"));
        assert_eq!(
            scim_type(q(&[("sortOrder", "sideways")])),
            Some(ScimType::InvalidValue)
        );
        let e = q(&[("sortBy", "emails[type eq \"secret\"]")]).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(!e.detail.contains("secret") && e.detail.contains("sortBy"));
        assert_eq!(
            scim_type(q(&[("attributes", "userName,a b")])),
            Some(ScimType::InvalidValue)
        );
        let e = q(&[("count", "secret")]).unwrap_err();
        assert!(!e.detail.contains("secret"));
    }

    #[test]
    fn repeated_parameters() {
        assert_eq!(
            scim_type(q(&[("filter", "a pr"), ("Filter", "b pr")])),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            scim_type(q(&[("count", "1"), ("count", "1")])),
            Some(ScimType::InvalidValue)
        );
        let r = q(&[("attributes", "userName"), ("attributes", "emails,,")]).unwrap();
        assert_eq!(r.attributes, vec![ap("userName"), ap("emails")]);
    }

    #[test]
    fn search_body() {
        let body = json!({
            "schemas": [SEARCH_REQUEST_SCHEMA],
            "attributes": ["displayName", "userName"],
            "excludedAttributes": "groups, emails",
            "Filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10,
            "sortBy": "userName",
            "sortOrder": "descending"
        });
        let r = from_search_body(&body, &LIMITS).unwrap();
        assert_eq!(
            r.filter,
            Some(parse_filter("displayName sw \"smith\"").unwrap())
        );
        assert_eq!(r.attributes, vec![ap("displayName"), ap("userName")]);
        assert_eq!(r.excluded_attributes, vec![ap("groups"), ap("emails")]);
        assert_eq!(
            (r.start_index, r.count, r.sort_order),
            (1, 10, SortOrder::Descending)
        );
        assert_eq!(r.sort_by, Some(ap("userName")));

        let minimal = from_search_body(
            &json!({"schemas": [SEARCH_REQUEST_SCHEMA.to_uppercase()]}),
            &LIMITS,
        )
        .unwrap();
        assert_eq!(minimal, q(&[]).unwrap());
        let lenient = json!({"schemas": [SEARCH_REQUEST_SCHEMA], "count": "-3", "startIndex": 2.0, "filter": null});
        let r = from_search_body(&lenient, &LIMITS).unwrap();
        assert_eq!((r.count, r.start_index, r.filter), (0, 2, None));
    }

    #[test]
    fn search_body_errors() {
        let with = |extra: Value| {
            let mut b = json!({"schemas": [SEARCH_REQUEST_SCHEMA]});
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            from_search_body(&b, &LIMITS)
                .map(|_| ())
                .unwrap_err()
                .scim_type
        };
        let syntax = Some(ScimType::InvalidSyntax);
        assert_eq!(
            from_search_body(&json!([]), &LIMITS).unwrap_err().scim_type,
            syntax
        );
        assert_eq!(
            from_search_body(&json!({}), &LIMITS).unwrap_err().scim_type,
            syntax
        );
        assert_eq!(
            from_search_body(&json!({"schemas": ["urn:other"]}), &LIMITS)
                .unwrap_err()
                .scim_type,
            syntax
        );
        assert_eq!(
            from_search_body(&json!({"schemas": SEARCH_REQUEST_SCHEMA}), &LIMITS)
                .unwrap_err()
                .scim_type,
            syntax
        );
        assert_eq!(with(json!({"filter": 5})), syntax);
        assert_eq!(with(json!({"count": true})), syntax);
        assert_eq!(with(json!({"attributes": [1]})), syntax);
        assert_eq!(with(json!({"attributes": {"a": 1}})), syntax);
        assert_eq!(with(json!({"count": 1, "COUNT": 2})), syntax);
        assert_eq!(with(json!({"count": 1.5})), Some(ScimType::InvalidValue));
        assert_eq!(with(json!({"count": "x"})), Some(ScimType::InvalidValue));
        assert_eq!(
            with(json!({"sortOrder": "up"})),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            with(json!({"filter": "a eq"})),
            Some(ScimType::InvalidFilter)
        );
    }

    #[test]
    fn validate_checks_filter_and_sort_by() {
        let v = |pairs: &[(&str, &str)], rt| q(pairs).unwrap().validate(rt);
        assert!(v(
            &[
                ("filter", "userName eq \"a\""),
                ("sortBy", "name.familyName")
            ],
            &USER_RESOURCE
        )
        .is_ok());
        assert!(v(&[("sortBy", "emails")], &USER_RESOURCE).is_ok()); // implied `value`
        assert!(v(&[("sortBy", "meta.lastModified")], &GROUP_RESOURCE).is_ok());
        assert!(v(
            &[(
                "sortBy",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
            )],
            &USER_RESOURCE
        )
        .is_ok());
        assert!(v(&[("attributes", "doesNotExist")], &USER_RESOURCE).is_ok());
        let e = |pairs: &[(&str, &str)], rt| q(pairs).unwrap().validate(rt).unwrap_err().scim_type;
        assert_eq!(
            e(&[("filter", "userName pr")], &GROUP_RESOURCE),
            Some(ScimType::InvalidFilter)
        );
        assert_eq!(
            e(&[("sortBy", "userName")], &GROUP_RESOURCE),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            e(&[("sortBy", "name")], &USER_RESOURCE),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            e(&[("sortBy", "name.nope")], &USER_RESOURCE),
            Some(ScimType::InvalidValue)
        );
    }

    fn sorted(mut rs: Vec<Value>, by: &str, order: SortOrder) -> Vec<String> {
        let path = ap(by);
        rs.sort_by(|a, b| {
            order
                .apply(sort_cmp(a, b, &path, &USER_RESOURCE))
                .then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
        });
        rs.iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn sorts_strings_case_insensitively_and_missing_last() {
        let rs = vec![
            json!({"id": "1", "userName": "bob"}),
            json!({"id": "2", "userName": "Alice"}),
            json!({"id": "3"}),
            json!({"id": "4", "userName": "carol"}),
            json!({"id": "5", "userName": null}),
            json!({"id": "6", "userName": "alice"}),
        ];
        assert_eq!(
            sorted(rs.clone(), "userName", SortOrder::Ascending),
            ["2", "6", "1", "4", "3", "5"]
        );
        // Descending reverses, so resources without a value come first (RFC 7644 §3.4.2.3).
        assert_eq!(
            sorted(rs, "userName", SortOrder::Descending),
            ["3", "5", "4", "1", "2", "6"]
        );
    }

    #[test]
    fn sorts_case_exact_attributes_exactly() {
        // externalId is caseExact: "B" < "a" by code point.
        let rs = vec![
            json!({"id": "1", "externalId": "a"}),
            json!({"id": "2", "externalId": "B"}),
        ];
        assert_eq!(
            sorted(rs.clone(), "externalId", SortOrder::Ascending),
            ["2", "1"]
        );
        let rs = vec![
            json!({"id": "1", "title": "a"}),
            json!({"id": "2", "title": "B"}),
        ];
        assert_eq!(sorted(rs, "title", SortOrder::Ascending), ["1", "2"]);
    }

    #[test]
    fn sorts_multi_valued_by_primary_else_first() {
        let rs = vec![
            json!({"id": "1", "emails": [{"value": "a@x"}, {"value": "z@x", "primary": true}]}),
            json!({"id": "2", "emails": [{"value": "m@x"}, {"value": "b@x"}]}),
            json!({"id": "3", "emails": []}),
        ];
        assert_eq!(
            sorted(rs.clone(), "emails.value", SortOrder::Ascending),
            ["2", "1", "3"]
        );
        assert_eq!(sorted(rs, "emails", SortOrder::Ascending), ["2", "1", "3"]);
    }

    #[test]
    fn sorts_date_times_chronologically() {
        let rs = vec![
            json!({"id": "1", "meta": {"lastModified": "2024-01-01T10:00:00+02:00"}}), // 08:00Z
            json!({"id": "2", "meta": {"lastModified": "2024-01-01T09:00:00Z"}}),
            json!({"id": "3", "meta": {"lastModified": "2024-01-01T08:30:00Z"}}),
        ];
        assert_eq!(
            sorted(rs, "meta.lastModified", SortOrder::Ascending),
            ["1", "3", "2"]
        );
    }

    #[test]
    fn page_bounds_never_fail() {
        assert_eq!(page_bounds(10, 1, 3), 0..3);
        assert_eq!(page_bounds(10, 9, 3), 8..10);
        assert_eq!(page_bounds(10, 10, 3), 9..10);
        assert_eq!(page_bounds(10, 11, 3), 10..10);
        assert_eq!(page_bounds(10, usize::MAX, usize::MAX), 10..10);
        assert_eq!(page_bounds(10, 0, 3), 0..3);
        assert_eq!(page_bounds(10, 2, 0), 1..1);
        assert_eq!(page_bounds(10, 2, usize::MAX), 1..10);
        assert_eq!(page_bounds(0, 1, 100), 0..0);
    }

    #[test]
    fn list_response_counts_returned_items() {
        let r = list_response(57, 11, vec![json!({"id": "a"}), json!({"id": "b"})]);
        assert_eq!(r["schemas"], json!([LIST_RESPONSE_SCHEMA]));
        assert_eq!(r["totalResults"], 57);
        assert_eq!(r["itemsPerPage"], 2);
        assert_eq!(r["startIndex"], 11);
        assert_eq!(r["Resources"][1]["id"], "b");
        let empty = list_response(3, 10, vec![]);
        assert_eq!(
            (empty["itemsPerPage"].clone(), empty["Resources"].clone()),
            (json!(0), json!([]))
        );
    }
}
