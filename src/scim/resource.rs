//! Resource normalization (RFC 7643 §2, §7; RFC 7644 §3.3, §3.5.1) and response projection
//! (RFC 7644 §3.4.2.5, §3.9).
//!
//! Normalization turns what an IdP sends into the *stored attribute map*: canonical
//! attribute names as [`schema`](super::schema) spells them, extension data under its schema
//! URN, and nothing the server owns or refuses to keep (`id`, `meta`, `schemas`, readOnly
//! attributes, `password`, undeclared attributes). Every value written by POST, PUT or PATCH
//! goes through [`normalize_attr_value`] / [`normalize_sub_value`], so stored data has one
//! shape regardless of which IdP or which operation produced it.
//!
//! Error details name the offending attribute but never echo a value: values are personal
//! data (e-mail addresses, names) and error bodies end up in IdP logs.

use super::error::{ScimError, ScimResult};
use super::filter::AttrPath;
use super::schema::{
    AttrDef, AttrType, Mutability, Resolved, ResourceTypeDef, Returned, SchemaDef,
};
use serde_json::{Map, Value};
use std::fmt;

// ---------------------------------------------------------------------------------------
// Attribute-name resolution shared with the PATCH engine
// ---------------------------------------------------------------------------------------

/// What a JSON key or an attribute path names in a resource type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Named {
    /// The `schemas` attribute: protocol framing, never stored.
    Schemas,
    /// A whole extension, by its schema URN.
    Extension(&'static SchemaDef),
    /// A declared attribute, optionally one of its sub-attributes.
    Attr(Resolved, Option<&'static AttrDef>),
    /// Nothing this resource type declares (unknown attribute, unknown sub-attribute, or a
    /// sub-attribute of a simple attribute).
    Unknown,
}

/// Resolve a possibly URN-qualified, possibly dotted name (`userName`, `name.givenName`,
/// `urn:...:enterprise:2.0:User:manager.value`, `urn:...:enterprise:2.0:User`),
/// case-insensitively (RFC 7643 §2.1).
pub(crate) fn resolve_name(rt: &ResourceTypeDef, name: &str) -> Named {
    if name.eq_ignore_ascii_case("schemas") {
        return Named::Schemas;
    }
    if let Some(ext) = rt.extension(name) {
        return Named::Extension(ext);
    }
    let (urn, rest) = rt.split_urn(name);
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    let Some(r) = rt.resolve(urn, attr) else {
        return Named::Unknown;
    };
    match sub {
        None => Named::Attr(r, None),
        Some(s) => match r.attr.sub(s) {
            Some(sub) => Named::Attr(r, Some(sub)),
            None => Named::Unknown,
        },
    }
}

/// Resolve a parsed [`AttrPath`].
///
/// The filter grammar (RFC 7644 §3.10) cannot tell, without the schema, whether
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User` is an extension URN or the
/// URN `...:enterprise:2.0` qualifying an attribute `User`, and the URN itself contains a
/// dot. So the path is re-joined and split again against the URNs this resource type
/// actually knows ([`ResourceTypeDef::split_urn`]), whatever way the parser cut it.
pub(crate) fn resolve_path(rt: &ResourceTypeDef, p: &AttrPath) -> Named {
    resolve_name(rt, &join_path(p))
}

fn join_path(p: &AttrPath) -> String {
    let mut s = String::new();
    if let Some(urn) = &p.urn {
        s.push_str(urn);
        s.push(':');
    }
    s.push_str(&p.attr);
    if let Some(sub) = &p.sub {
        s.push('.');
        s.push_str(sub);
    }
    s
}

/// Whether scimd keeps client-supplied data for this attribute at all: readOnly data is
/// the server's (RFC 7643 §7), and writeOnly data (`password`) is never stored because
/// sign-in goes through the organization's SSO.
pub fn is_stored(attr: &AttrDef) -> bool {
    !matches!(
        attr.mutability,
        Mutability::ReadOnly | Mutability::WriteOnly
    )
}

/// Whether an extension holds only server data (scimd's membership view): no client
/// value of it is ever stored. A client may still attach such an extension to a resource
/// and detach it again. Writing its object (POST, PUT, PATCH `add`/`replace`) keeps an
/// empty object under its URN, which says the resource carries the extension (RFC 7643 §3:
/// a resource's `schemas` names the extensions it has). PATCH `remove` on its URN, or a
/// `null`, takes it away. The values are the server's, filled in when the resource is
/// rendered, and a resource the server has values for carries it either way.
pub fn is_server_view(ext: &SchemaDef) -> bool {
    !ext.attributes.iter().any(is_stored)
}

/// The stored object that holds an attribute: the resource map itself for core attributes,
/// the object under the extension URN for extension attributes (RFC 7643 §3.3).
pub(crate) fn container<'a>(
    attrs: &'a Map<String, Value>,
    r: &Resolved,
) -> Option<&'a Map<String, Value>> {
    if r.in_extension {
        attrs.get(r.schema.id).and_then(Value::as_object)
    } else {
        Some(attrs)
    }
}

pub(crate) fn container_mut<'a>(
    attrs: &'a mut Map<String, Value>,
    r: &Resolved,
) -> &'a mut Map<String, Value> {
    if !r.in_extension {
        return attrs;
    }
    let slot = attrs
        .entry(r.schema.id)
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("just made an object")
}

/// Drop an extension object that no longer holds anything: an empty extension is the same
/// state as an absent one (RFC 7643 §2.5) and must not be stored or rendered.
pub(crate) fn prune_extension(attrs: &mut Map<String, Value>, r: &Resolved) {
    if r.in_extension
        && attrs
            .get(r.schema.id)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        attrs.remove(r.schema.id);
    }
}

// ---------------------------------------------------------------------------------------
// Value normalization
// ---------------------------------------------------------------------------------------

/// `name` or `parent.name`, for error details.
struct Label<'a>(Option<&'a AttrDef>, &'a AttrDef);

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, "{}.{}", p.name, self.1.name),
            None => f.write_str(self.1.name),
        }
    }
}

/// RFC 7643 §2.5: "Unassigned attributes, the null value, or empty array (in the case of a
/// multi-valued attribute) SHALL be considered to be equivalent in 'state'."
pub(crate) fn is_unassigned(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Normalize one attribute's whole value into its stored form. `None` means there is
/// nothing to store: the value is unassigned (`null`, `[]`, an object with no settable
/// sub-attribute), or the attribute is one scimd never stores (see [`is_stored`]).
///
/// - multi-valued attributes given a single value are wrapped in an array: IdPs do send
///   `"emails": {...}`, and the intent is unambiguous;
/// - for complex multi-valued attributes at most one element may be `primary`
///   (RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no more than once").
///   A body breaking that MUST is rejected with `invalidValue` rather than silently
///   resolved: keeping "the first" would depend on the IdP's array order, and the primary
///   e-mail decides which address the organization uses.
pub fn normalize_attr_value(attr: &AttrDef, value: &Value) -> ScimResult<Option<Value>> {
    if !is_stored(attr) {
        return Ok(None);
    }
    if !attr.multi_valued {
        if let Value::Array(items) = value {
            if items.is_empty() {
                return Ok(None);
            }
            return Err(ScimError::invalid_value(format!(
                "attribute '{}' is single-valued: an array is not allowed",
                attr.name
            )));
        }
        return normalize_element(attr, value);
    }
    let items = match value {
        Value::Array(items) => items.as_slice(),
        Value::Null => return Ok(None),
        single => std::slice::from_ref(single),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Value::Array(_) = item {
            return Err(ScimError::invalid_value(format!(
                "attribute '{}' does not allow nested arrays",
                attr.name
            )));
        }
        if let Some(v) = normalize_element(attr, item)? {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    if out.iter().filter(|e| is_primary(e)).count() > 1 {
        return Err(ScimError::invalid_value(format!(
            "at most one '{}' value may be primary (RFC 7643 §2.4)",
            attr.name
        )));
    }
    Ok(Some(Value::Array(out)))
}

/// Normalize one element of `attr` (the value itself for a singular attribute).
pub(crate) fn normalize_element(attr: &AttrDef, value: &Value) -> ScimResult<Option<Value>> {
    if attr.ty != AttrType::Complex {
        return normalize_simple(None, attr, value);
    }
    match value {
        Value::Null => Ok(None),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                let Some(sub) = attr.sub(k) else { continue };
                if let Some(v) = normalize_sub_value(attr, sub, v)? {
                    out.insert(sub.name.to_owned(), v);
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        // A bare value for a complex attribute that has a `value` sub-attribute is that
        // sub-attribute (RFC 7643 §2.4 makes `value` the element's primary content). Entra
        // sends the enterprise `manager` as a bare id this way.
        Value::String(_) | Value::Bool(_) | Value::Number(_) => match attr.sub("value") {
            Some(sub) if is_stored(sub) => Ok(normalize_sub_value(attr, sub, value)?
                .map(|v| Value::Object(Map::from_iter([(sub.name.to_owned(), v)])))),
            _ => Err(ScimError::invalid_value(format!(
                "attribute '{}' is complex: expected an object",
                attr.name
            ))),
        },
        Value::Array(_) => Err(ScimError::invalid_value(format!(
            "attribute '{}' is complex: expected an object",
            attr.name
        ))),
    }
}

/// Normalize one sub-attribute value of a complex attribute. readOnly and writeOnly
/// sub-attributes (`display` of a member, `displayName` of a manager) yield `None`.
pub fn normalize_sub_value(
    parent: &AttrDef,
    sub: &AttrDef,
    value: &Value,
) -> ScimResult<Option<Value>> {
    if !is_stored(sub) {
        return Ok(None);
    }
    if sub.ty == AttrType::Complex {
        // RFC 7643 §2.3.8: "A complex attribute MUST NOT contain sub-attributes that have
        // sub-attributes". Our schemas never declare one; refuse rather than guess.
        return Err(ScimError::invalid_value(format!(
            "attribute '{}' is not settable",
            Label(Some(parent), sub)
        )));
    }
    if sub.multi_valued {
        let items = match value {
            Value::Array(items) => items.as_slice(),
            Value::Null => return Ok(None),
            single => std::slice::from_ref(single),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = normalize_simple(Some(parent), sub, item)? {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    normalize_simple(Some(parent), sub, value)
}

/// Type-check and coerce a simple (non-complex) value (RFC 7643 §2.3).
fn normalize_simple(
    parent: Option<&AttrDef>,
    attr: &AttrDef,
    value: &Value,
) -> ScimResult<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    let wrong = |expected: &str| {
        ScimError::invalid_value(format!(
            "attribute '{}' must be {expected}",
            Label(parent, attr)
        ))
    };
    let v = match attr.ty {
        // A number where a string is declared is a client bug (or a mapping error in the
        // IdP) that silently stringifying would hide: RFC 7643 §2.3.1 strings are JSON
        // strings.
        AttrType::String => {
            let s = value.as_str().ok_or_else(|| wrong("a string"))?;
            Value::String(canonical_spelling(attr, s).unwrap_or(s).to_owned())
        }
        AttrType::Reference | AttrType::Binary => {
            Value::String(value.as_str().ok_or_else(|| wrong("a string"))?.to_owned())
        }
        // Microsoft Entra sends booleans as the strings "True"/"False" (a documented
        // deviation from RFC 7643 §2.3.2); accept exactly those, in any case.
        AttrType::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(wrong("a boolean")),
        },
        // RFC 7643 §2.3.4: an integer has no fractional part or exponent.
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value.clone(),
            _ => return Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => value.clone(),
            _ => return Err(wrong("a number")),
        },
        // RFC 7643 §2.3.5 dateTime values are xsd:dateTime with a time zone, i.e. RFC 3339
        // timestamps. Kept as sent once validated.
        AttrType::DateTime => {
            let s = value
                .as_str()
                .ok_or_else(|| wrong("an RFC 3339 date-time string"))?;
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| wrong("an RFC 3339 date-time string"))?;
            Value::String(s.to_owned())
        }
        AttrType::Complex => return Err(wrong("an object")),
    };
    Ok(Some(v))
}

/// Canonical values (RFC 7643 §7 `canonicalValues`) are suggestions, not a closed set, so
/// other values are kept; but a case variant of a canonical value ("Work") is stored in its
/// canonical spelling, since these attributes are case-insensitive anyway.
fn canonical_spelling(attr: &AttrDef, s: &str) -> Option<&'static str> {
    if attr.case_exact {
        return None;
    }
    attr.canonical_values
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(s))
}

pub(crate) fn is_primary(element: &Value) -> bool {
    element.get("primary").and_then(Value::as_bool) == Some(true)
}

// ---------------------------------------------------------------------------------------
// POST / PUT bodies
// ---------------------------------------------------------------------------------------

/// Normalize a POST or PUT body (RFC 7644 §3.3, §3.5.1) into the stored attribute map.
///
/// - The body must be a JSON object (`invalidSyntax`).
/// - `schemas` is not stored. When present it must be an array of strings that includes
///   the resource type's core schema; otherwise the body "did not conform to the request
///   schema" and the answer is `invalidSyntax` (RFC 7644 §3.12, Table 9). Unknown extra
///   URNs in it are tolerated. Its absence is tolerated too (RFC 7643 §3 makes it REQUIRED
///   but the resource type is already known from the endpoint).
/// - Keys are resolved case-insensitively; extension data is accepted both as
///   `"<urn>": {...}` and as URN-qualified keys `"<urn>:<attr>"`, and a dotted key
///   (`"name.givenName"`) sets one sub-attribute of a singular complex attribute.
/// - readOnly attributes (`id`, `meta`, `groups`, the membership extension's values) and
///   unknown attributes are ignored: IdPs echo server data and send extras, and neither may break
///   a sync (RFC 7644 §3.5.1: readOnly values "SHALL be ignored"). `password` is accepted
///   and dropped. The membership extension's object attaches it (see [`is_server_view`]).
/// - A PUT replaces everything, so the caller must not merge the result with the old map.
/// - Required attributes (`userName`, Group `displayName`) must be present and not blank
///   (`invalidValue`).
/// - Group `members` come back as `[{"value": id, "type"?: "User"|"Group"}]`: `display` is
///   readOnly and `$ref` is derived by the server when rendering. Duplicates collapse.
pub fn normalize_resource(body: &Value, rt: &ResourceTypeDef) -> ScimResult<Map<String, Value>> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
    let mut out = Map::new();
    for (key, value) in obj {
        match resolve_name(rt, key) {
            Named::Schemas => check_schemas(value, rt)?,
            Named::Extension(ext) => match value {
                Value::Object(_) if is_server_view(ext) => {
                    out.insert(ext.id.into(), Value::Object(Map::new()));
                }
                Value::Object(inner) => {
                    for (k, v) in inner {
                        if let Some(attr) = ext.attr(k) {
                            let r = Resolved {
                                schema: ext,
                                in_extension: true,
                                attr,
                            };
                            put(&mut out, rt, &r, None, v)?;
                        }
                    }
                }
                Value::Null => {}
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "extension '{}' must be an object",
                        ext.id
                    )))
                }
            },
            Named::Attr(r, sub) => put(&mut out, rt, &r, sub, value)?,
            Named::Unknown => {}
        }
    }
    if let Some(err) = missing_required(&out, rt) {
        return Err(err.into_error(false));
    }
    Ok(out)
}

fn check_schemas(value: &Value, rt: &ResourceTypeDef) -> ScimResult<()> {
    let list = value
        .as_array()
        .filter(|l| l.iter().all(Value::is_string))
        .ok_or_else(|| ScimError::invalid_syntax("'schemas' must be an array of URN strings"))?;
    if !list
        .iter()
        .filter_map(Value::as_str)
        .any(|s| s.eq_ignore_ascii_case(rt.schema.id))
    {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' must include '{}'",
            rt.schema.id
        )));
    }
    Ok(())
}

/// Write one body entry into the map being built. Several keys may contribute to the same
/// singular complex attribute (`name` and `name.givenName`): sub-attributes are merged, so
/// the result does not depend on key order.
fn put(
    out: &mut Map<String, Value>,
    rt: &ResourceTypeDef,
    r: &Resolved,
    sub: Option<&'static AttrDef>,
    value: &Value,
) -> ScimResult<()> {
    let attr = r.attr;
    if !is_stored(attr) {
        return Ok(());
    }
    let normalized = match sub {
        // A dotted key addresses one sub-attribute of a singular complex attribute; for a
        // multi-valued one it would not say which element, so it is ignored like any other
        // key that names nothing settable.
        Some(_) if attr.multi_valued => return Ok(()),
        Some(sub) => normalize_sub_value(attr, sub, value)?
            .map(|v| Value::Object(Map::from_iter([(sub.name.to_owned(), v)]))),
        None if is_group_members(rt, attr) => normalize_members(value)?,
        None => normalize_attr_value(attr, value)?,
    };
    let Some(v) = normalized else { return Ok(()) };
    let slot = container_mut(out, r);
    match (slot.get_mut(attr.name), v) {
        (Some(Value::Object(existing)), Value::Object(new)) if !attr.multi_valued => {
            existing.extend(new);
        }
        (_, v) => {
            slot.insert(attr.name.to_owned(), v);
        }
    }
    Ok(())
}

fn is_group_members(rt: &ResourceTypeDef, attr: &AttrDef) -> bool {
    rt.schema.id == super::schema::GROUP_SCHEMA_ID && attr.name == "members"
}

fn normalize_members(value: &Value) -> ScimResult<Option<Value>> {
    let refs = super::patch::parse_members(value)?;
    let mut seen = std::collections::HashSet::new();
    let list: Vec<Value> = refs
        .into_iter()
        .filter(|m| seen.insert(m.value.clone()))
        .map(|m| m.to_value())
        .collect();
    Ok((!list.is_empty()).then_some(Value::Array(list)))
}

/// A required attribute that is absent or blank.
pub(crate) struct MissingRequired {
    attr: &'static AttrDef,
    blank: bool,
}

impl MissingRequired {
    /// `in_patch`: RFC 7644 §3.5.2.2 answers a PATCH that leaves a required attribute
    /// unassigned with `mutability`; a POST/PUT body lacking it is an `invalidValue`
    /// ("A required value was missing", RFC 7644 §3.12 Table 9). A blank string is a value,
    /// just not an acceptable one: `invalidValue` either way.
    pub(crate) fn into_error(self, in_patch: bool) -> ScimError {
        if in_patch && !self.blank {
            ScimError::mutability(format!(
                "required attribute '{}' cannot be removed",
                self.attr.name
            ))
        } else {
            ScimError::invalid_value(format!(
                "required attribute '{}' is missing or empty",
                self.attr.name
            ))
        }
    }
}

/// RFC 7643 §7 `required`: checked on the core schema (our extensions declare no required
/// attribute). A string of only whitespace counts as missing: a blank `userName` or group
/// `displayName` cannot identify anything.
pub(crate) fn missing_required(
    attrs: &Map<String, Value>,
    rt: &ResourceTypeDef,
) -> Option<MissingRequired> {
    rt.schema
        .attributes
        .iter()
        .filter(|a| a.required && is_stored(a))
        .find_map(|attr| match attrs.get(attr.name) {
            None => Some(MissingRequired { attr, blank: false }),
            Some(v) if is_unassigned(v) => Some(MissingRequired { attr, blank: false }),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Some(MissingRequired { attr, blank: true })
            }
            Some(_) => None,
        })
}

// ---------------------------------------------------------------------------------------
// Projection
// ---------------------------------------------------------------------------------------

/// A projection selector resolved against the resource type.
#[derive(Debug, Clone, Copy)]
enum Sel {
    Extension(&'static str),
    /// (extension URN or `None` for core, attribute, optional sub-attribute)
    Attr(
        Option<&'static str>,
        &'static AttrDef,
        Option<&'static AttrDef>,
    ),
}

fn selector(rt: &ResourceTypeDef, p: &AttrPath) -> Option<Sel> {
    match resolve_path(rt, p) {
        Named::Extension(ext) => Some(Sel::Extension(ext.id)),
        Named::Attr(r, sub) => Some(Sel::Attr(
            r.in_extension.then_some(r.schema.id),
            r.attr,
            sub,
        )),
        Named::Schemas | Named::Unknown => None,
    }
}

/// How one selector list applies to one attribute.
enum Hit {
    None,
    Whole,
    Subs(Vec<&'static AttrDef>),
}

fn hit(sels: &[Sel], ext: Option<&'static str>, attr: &AttrDef) -> Hit {
    let mut subs = Vec::new();
    for s in sels {
        match *s {
            Sel::Extension(id) if ext == Some(id) => return Hit::Whole,
            Sel::Attr(e, a, sub) if e == ext && a.name == attr.name => match sub {
                None => return Hit::Whole,
                Some(sub) => subs.push(sub),
            },
            _ => {}
        }
    }
    if subs.is_empty() {
        Hit::None
    } else {
        Hit::Subs(subs)
    }
}

/// Apply `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) and the `returned`
/// characteristic (RFC 7643 §7) to a full output representation, in place.
///
/// - `attributes` non-empty: only the named attributes (or sub-attributes, or a whole
///   extension by its URN) survive, plus `returned: always` ones (`id`) and `schemas`.
/// - `excludedAttributes` removes the named ones, except `returned: always`.
/// - Without `attributes`, `returned: request` attributes are omitted; `returned: never`
///   ones never appear.
/// - Extension objects left empty are dropped. `schemas` is left as rendered: listing an
///   extension the resource conforms to is correct even if none of its data was selected.
///
/// Names are compared case-insensitively; names this resource type does not declare select
/// nothing (RFC 7644 leaves them undefined; an error would break clients asking a generic
/// attribute list of every resource type).
pub fn project(
    resource: &mut Value,
    rt: &ResourceTypeDef,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    let include: Vec<Sel> = attributes.iter().filter_map(|p| selector(rt, p)).collect();
    let exclude: Vec<Sel> = excluded.iter().filter_map(|p| selector(rt, p)).collect();
    // A non-empty `attributes` that resolves to nothing still restricts the output to the
    // `always` attributes: the client asked for a subset.
    let restrict = !attributes.is_empty();
    let ctx = Projection {
        include: &include,
        exclude: &exclude,
        restrict,
    };
    obj.retain(|key, value| {
        if key.eq_ignore_ascii_case("schemas") {
            return true;
        }
        if let Some(ext) = rt.extension(key) {
            let Value::Object(inner) = value else {
                return !restrict;
            };
            inner.retain(|k, v| match ext.attr(k) {
                Some(attr) => ctx.keep(Some(ext.id), attr, v),
                None => !restrict,
            });
            return !inner.is_empty();
        }
        match rt.resolve(None, key) {
            Some(r) => ctx.keep(None, r.attr, value),
            None => !restrict,
        }
    });
}

struct Projection<'a> {
    include: &'a [Sel],
    exclude: &'a [Sel],
    restrict: bool,
}

impl Projection<'_> {
    /// Whether to keep `attr` (possibly after trimming its sub-attributes in `value`).
    fn keep(&self, ext: Option<&'static str>, attr: &AttrDef, value: &mut Value) -> bool {
        match attr.returned {
            Returned::Never => return false,
            Returned::Always => return true,
            Returned::Default | Returned::Request => {}
        }
        match hit(self.include, ext, attr) {
            Hit::Whole => {}
            Hit::Subs(subs) => retain_subs(value, attr, |s| {
                s.is_some_and(|s| {
                    s.returned == Returned::Always || subs.iter().any(|x| x.name == s.name)
                })
            }),
            Hit::None if self.restrict || attr.returned == Returned::Request => return false,
            Hit::None => {}
        }
        match hit(self.exclude, ext, attr) {
            Hit::Whole => return false,
            Hit::Subs(subs) => retain_subs(value, attr, |s| {
                s.is_none_or(|s| {
                    s.returned == Returned::Always || !subs.iter().any(|x| x.name == s.name)
                })
            }),
            Hit::None => {}
        }
        if attr.ty == AttrType::Complex {
            retain_subs(value, attr, |s| {
                s.is_none_or(|s| s.returned != Returned::Never)
            });
        }
        !is_empty_value(value)
    }
}

/// Keep only the sub-attributes `keep` accepts, in a singular complex value or in every
/// element of a multi-valued one; elements left empty are dropped. `keep` sees `None` for a
/// sub-attribute the schema does not declare.
fn retain_subs(value: &mut Value, parent: &AttrDef, keep: impl Fn(Option<&AttrDef>) -> bool) {
    let keep_key = |k: &String| keep(parent.sub(k));
    match value {
        Value::Object(o) => o.retain(|k, _| keep_key(k)),
        Value::Array(items) => {
            for item in items.iter_mut() {
                if let Value::Object(o) = item {
                    o.retain(|k, _| keep_key(k));
                }
            }
            items.retain(|i| !is_empty_value(i));
        }
        _ => {}
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_attr_path;
    use crate::scim::schema::{
        ENTERPRISE_USER_SCHEMA_ID, GROUP_RESOURCE, GROUP_SCHEMA_ID, MEMBERSHIP_SCHEMA_ID,
        USER_RESOURCE, USER_SCHEMA, USER_SCHEMA_ID,
    };
    use crate::scim::ScimType;
    use serde_json::json;

    const ENT: &str = ENTERPRISE_USER_SCHEMA_ID;

    fn user(body: Value) -> ScimResult<Value> {
        normalize_resource(&body, &USER_RESOURCE).map(Value::Object)
    }

    fn err_type(r: ScimResult<Value>) -> ScimType {
        r.expect_err("expected an error")
            .scim_type
            .expect("a scimType")
    }

    #[test]
    fn body_must_be_an_object() {
        assert_eq!(err_type(user(json!([]))), ScimType::InvalidSyntax);
        assert_eq!(err_type(user(json!("userName"))), ScimType::InvalidSyntax);
    }

    #[test]
    fn keys_resolve_case_insensitively_to_canonical_names() {
        // RFC 7643 §2.1: attribute names are case-insensitive.
        let u = user(json!({"USERNAME": "jo", "Name": {"GIVENNAME": "Jo"}, "EMAILS": [{"Value": "j@x.test"}]}))
            .unwrap();
        assert_eq!(
            u,
            json!({"userName": "jo", "name": {"givenName": "Jo"}, "emails": [{"value": "j@x.test"}]})
        );
    }

    #[test]
    fn extension_data_accepted_as_object_and_as_urn_qualified_keys() {
        let u = user(json!({
            "userName": "jo",
            ENT: {"department": "R&D"},
            format!("{ENT}:employeeNumber"): "7",
            format!("{}:displayName", USER_SCHEMA_ID): "Jo",
        }))
        .unwrap();
        assert_eq!(u[ENT], json!({"department": "R&D", "employeeNumber": "7"}));
        assert_eq!(u["displayName"], "Jo");
        // An extension given as something other than an object is a type error.
        assert_eq!(
            err_type(user(json!({"userName": "jo", ENT: "x"}))),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn schemas_is_checked_but_not_stored() {
        let ok =
            user(json!({"schemas": [USER_SCHEMA_ID, ENT, "urn:example:custom"], "userName": "jo"}));
        assert_eq!(ok.unwrap(), json!({"userName": "jo"}));
        assert!(
            user(json!({"userName": "jo"})).is_ok(),
            "absent schemas is tolerated"
        );
        // RFC 7644 §3.12 Table 9 invalidSyntax: "did not conform to the request schema".
        assert_eq!(
            err_type(user(json!({"schemas": [ENT], "userName": "jo"}))),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            err_type(user(json!({"schemas": USER_SCHEMA_ID, "userName": "jo"}))),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            err_type(user(json!({"schemas": [1], "userName": "jo"}))),
            ScimType::InvalidSyntax
        );
        let g = normalize_resource(
            &json!({"schemas": [USER_SCHEMA_ID], "displayName": "g"}),
            &GROUP_RESOURCE,
        );
        assert_eq!(g.unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
        let g = normalize_resource(
            &json!({"schemas": [GROUP_SCHEMA_ID], "displayName": "g"}),
            &GROUP_RESOURCE,
        );
        assert!(g.is_ok());
    }

    #[test]
    fn server_owned_write_only_and_unknown_attributes_are_dropped() {
        // Okta echoes id/meta/groups on PUT; IdPs send attributes we do not declare.
        let u = user(json!({
            "id": "x", "meta": {"created": "2020-01-01T00:00:00Z"}, "userName": "jo",
            "groups": [{"value": "g"}], "password": "hunter2", "favoriteColor": "blue",
            MEMBERSHIP_SCHEMA_ID: {"role": "owner"},
            ENT: {"manager": {"value": "m", "displayName": "Boss"}, "shoeSize": 42},
            "name": {"givenName": "Jo", "nickname": "J"},
        }))
        .unwrap();
        assert_eq!(
            u,
            // The membership view is attached; the role in it is the server's and dropped.
            json!({"userName": "jo", "name": {"givenName": "Jo"}, ENT: {"manager": {"value": "m"}},
                MEMBERSHIP_SCHEMA_ID: {}})
        );
    }

    #[test]
    fn null_and_empty_array_mean_unassigned() {
        // RFC 7643 §2.5.
        let u = user(
            json!({"userName": "jo", "title": null, "emails": [], "name": {"givenName": null},
                            ENT: {"department": null}}),
        )
        .unwrap();
        assert_eq!(u, json!({"userName": "jo"}));
    }

    #[test]
    fn strings_must_be_json_strings_and_errors_never_echo_values() {
        let e = normalize_resource(&json!({"userName": "jo", "title": 12345}), &USER_RESOURCE)
            .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("title"));
        assert!(!e.detail.contains("12345"));
        let e = normalize_resource(&json!({"userName": true}), &USER_RESOURCE).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let e = normalize_resource(
            &json!({"userName": "jo", "emails": [{"value": "secret@x.test", "primary": "maybe"}]}),
            &USER_RESOURCE,
        )
        .unwrap_err();
        assert!(e.detail.contains("emails.primary"), "{}", e.detail);
        assert!(!e.detail.contains("secret") && !e.detail.contains("maybe"));
    }

    #[test]
    fn booleans_accept_entra_strings_in_any_case() {
        let u = user(json!({"userName": "jo", "active": "False", "emails": [{"value": "a", "primary": "TRUE"}]})).unwrap();
        assert_eq!(u["active"], false);
        assert_eq!(u["emails"][0]["primary"], true);
        assert_eq!(
            user(json!({"userName": "jo", "active": true})).unwrap()["active"],
            true
        );
        assert_eq!(
            err_type(user(json!({"userName": "jo", "active": "yes"}))),
            ScimType::InvalidValue
        );
        assert_eq!(
            err_type(user(json!({"userName": "jo", "active": 1}))),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn simple_types_are_checked() {
        const INT: AttrDef = AttrDef::new("n", AttrType::Integer, "");
        const DEC: AttrDef = AttrDef::new("d", AttrType::Decimal, "");
        const DT: AttrDef = AttrDef::datetime("t", "");
        const BIN: AttrDef = AttrDef::new("b", AttrType::Binary, "");
        assert_eq!(
            normalize_attr_value(&INT, &json!(7)).unwrap(),
            Some(json!(7))
        );
        assert!(normalize_attr_value(&INT, &json!(7.5)).is_err());
        assert!(normalize_attr_value(&INT, &json!("7")).is_err());
        assert_eq!(
            normalize_attr_value(&DEC, &json!(7.5)).unwrap(),
            Some(json!(7.5))
        );
        assert!(normalize_attr_value(&DEC, &json!("7.5")).is_err());
        let ts = json!("2024-02-29T12:00:00.5+01:00");
        assert_eq!(normalize_attr_value(&DT, &ts).unwrap(), Some(ts));
        assert!(normalize_attr_value(&DT, &json!("2024-02-30T12:00:00Z")).is_err());
        assert!(normalize_attr_value(&DT, &json!("yesterday")).is_err());
        assert!(normalize_attr_value(&DT, &json!(1700000000)).is_err());
        assert_eq!(
            normalize_attr_value(&BIN, &json!("TUlJ")).unwrap(),
            Some(json!("TUlJ"))
        );
        assert!(normalize_attr_value(&BIN, &json!([1, 2])).is_err());
        // References are strings.
        let profile = USER_SCHEMA.attr("profileUrl").unwrap();
        assert!(normalize_attr_value(profile, &json!({"href": "x"})).is_err());
    }

    #[test]
    fn complex_must_be_objects_and_singular_refuses_arrays() {
        assert_eq!(
            err_type(user(json!({"userName": "jo", "name": "Jo Doe"}))),
            ScimType::InvalidValue
        );
        assert_eq!(
            err_type(user(
                json!({"userName": "jo", "name": [{"givenName": "Jo"}]})
            )),
            ScimType::InvalidValue
        );
        assert_eq!(
            err_type(user(json!({"userName": "jo", "title": ["a"]}))),
            ScimType::InvalidValue
        );
        assert_eq!(
            err_type(user(json!({"userName": "jo", "emails": [["a"]]}))),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn multi_valued_given_one_value_is_wrapped() {
        let u = user(json!({"userName": "jo", "emails": {"value": "a@x.test", "type": "work"}}))
            .unwrap();
        assert_eq!(u["emails"], json!([{"value": "a@x.test", "type": "work"}]));
        // A bare value is the element's `value` sub-attribute.
        let u = user(json!({"userName": "jo", "emails": ["a@x.test"]})).unwrap();
        assert_eq!(u["emails"], json!([{"value": "a@x.test"}]));
    }

    #[test]
    fn canonical_values_keep_their_canonical_spelling() {
        let u = user(json!({"userName": "jo", "emails": [{"value": "a", "type": "Work"}, {"value": "b", "type": "corp"}]})).unwrap();
        assert_eq!(
            u["emails"],
            json!([{"value": "a", "type": "work"}, {"value": "b", "type": "corp"}])
        );
    }

    #[test]
    fn at_most_one_primary_value() {
        // RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no more than once."
        let two = json!({"userName": "jo", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": "True"}]});
        assert_eq!(err_type(user(two)), ScimType::InvalidValue);
        let one = json!({"userName": "jo", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": false}]});
        assert!(user(one).is_ok());
    }

    #[test]
    fn manager_given_as_bare_id_becomes_an_object() {
        // Microsoft Entra sends the enterprise manager as its id.
        let u = user(json!({"userName": "jo", ENT: {"manager": "id-123"}})).unwrap();
        assert_eq!(u[ENT]["manager"], json!({"value": "id-123"}));
        assert_eq!(
            err_type(user(json!({"userName": "jo", ENT: {"manager": 5}}))),
            ScimType::InvalidValue
        );
        // `name` has no `value` sub-attribute, so a bare string stays an error (above).
    }

    #[test]
    fn dotted_keys_merge_into_their_complex_attribute() {
        let u = user(json!({"userName": "jo", "name": {"familyName": "Doe"}, "name.givenName": "Jo", "emails.value": "x"}))
            .unwrap();
        assert_eq!(
            u,
            json!({"userName": "jo", "name": {"familyName": "Doe", "givenName": "Jo"}})
        );
    }

    #[test]
    fn required_attributes_must_be_present_and_not_blank() {
        assert_eq!(
            err_type(user(json!({"displayName": "Jo"}))),
            ScimType::InvalidValue
        );
        assert_eq!(
            err_type(user(json!({"userName": "  "}))),
            ScimType::InvalidValue
        );
        assert_eq!(
            err_type(user(json!({"userName": null}))),
            ScimType::InvalidValue
        );
        let g = normalize_resource(&json!({"members": []}), &GROUP_RESOURCE).unwrap_err();
        assert_eq!(g.scim_type, Some(ScimType::InvalidValue));
        assert!(g.detail.contains("displayName"));
    }

    #[test]
    fn group_members_are_canonical_value_and_type() {
        let g = normalize_resource(
            &json!({"displayName": "Eng", "members": [
                {"value": "u1", "display": "Jo", "$ref": "https://x/Users/u1", "type": "user"},
                {"value": "g2", "type": "Group"},
                {"value": "u3"},
                {"value": "u1"},
            ]}),
            &GROUP_RESOURCE,
        )
        .unwrap();
        assert_eq!(
            Value::Object(g),
            json!({"displayName": "Eng", "members": [{"value": "u1", "type": "User"}, {"value": "g2", "type": "Group"}, {"value": "u3"}]})
        );
        for bad in [
            json!([{"value": "u1", "type": "Robot"}]),
            json!([{"display": "Jo"}]),
            json!(["u1"]),
            json!([{"value": 5}]),
        ] {
            let e = normalize_resource(
                &json!({"displayName": "Eng", "members": bad}),
                &GROUP_RESOURCE,
            )
            .unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{bad}");
        }
        let g = normalize_resource(
            &json!({"displayName": "Eng", "members": []}),
            &GROUP_RESOURCE,
        )
        .unwrap();
        assert!(!g.contains_key("members"));
    }

    #[test]
    fn resolve_path_handles_every_way_a_urn_can_be_cut() {
        // parse_attr_path cuts a bare extension URN as urn "...:2.0" + attr "User".
        let p = parse_attr_path(ENT).unwrap();
        assert!(matches!(resolve_path(&USER_RESOURCE, &p), Named::Extension(s) if s.id == ENT));
        let p = AttrPath {
            urn: None,
            attr: ENT.to_owned(),
            sub: None,
        };
        assert!(matches!(resolve_path(&USER_RESOURCE, &p), Named::Extension(s) if s.id == ENT));
        let p = parse_attr_path(&format!("{ENT}:manager.value")).unwrap();
        assert!(matches!(resolve_path(&USER_RESOURCE, &p),
            Named::Attr(r, Some(s)) if r.in_extension && r.attr.name == "manager" && s.name == "value"));
        let p = parse_attr_path("urn:example:nope:thing").unwrap();
        assert!(matches!(resolve_path(&USER_RESOURCE, &p), Named::Unknown));
        assert!(matches!(
            resolve_name(&USER_RESOURCE, "title.x"),
            Named::Unknown
        ));
    }

    // ---- projection ----

    fn rendered() -> Value {
        json!({
            "schemas": [USER_SCHEMA_ID, ENT, MEMBERSHIP_SCHEMA_ID],
            "id": "u1",
            "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "location": "https://x/Users/u1"},
            "userName": "jo",
            "name": {"givenName": "Jo", "familyName": "Doe"},
            "emails": [{"value": "a@x.test", "type": "work", "primary": true}, {"value": "b@x.test", "type": "home"}],
            "groups": [{"value": "g1", "display": "Eng"}],
            "password": "must-never-leak",
            ENT: {"employeeNumber": "7", "department": "R&D"},
            MEMBERSHIP_SCHEMA_ID: {"role": "admin", "status": "active"},
        })
    }

    fn projected(attrs: &[&str], excluded: &[&str]) -> Value {
        let parse = |l: &[&str]| {
            l.iter()
                .map(|s| parse_attr_path(s).unwrap())
                .collect::<Vec<_>>()
        };
        let mut v = rendered();
        project(&mut v, &USER_RESOURCE, &parse(attrs), &parse(excluded));
        v
    }

    #[test]
    fn projection_without_parameters_only_hides_never_returned() {
        let mut want = rendered();
        want.as_object_mut().unwrap().remove("password");
        assert_eq!(projected(&[], &[]), want);
    }

    #[test]
    fn attributes_keep_only_named_plus_always_and_schemas() {
        let v = projected(&["USERNAME"], &[]);
        assert_eq!(
            v,
            json!({"schemas": [USER_SCHEMA_ID, ENT, MEMBERSHIP_SCHEMA_ID], "id": "u1", "userName": "jo"})
        );
        // A name that resolves to nothing still restricts to `always`.
        let v = projected(&["nosuch"], &[]);
        assert_eq!(
            v,
            json!({"schemas": [USER_SCHEMA_ID, ENT, MEMBERSHIP_SCHEMA_ID], "id": "u1"})
        );
    }

    #[test]
    fn attributes_select_sub_attributes() {
        let v = projected(&["name.givenName", "emails.value", "meta.location"], &[]);
        assert_eq!(v["name"], json!({"givenName": "Jo"}));
        assert_eq!(
            v["emails"],
            json!([{"value": "a@x.test"}, {"value": "b@x.test"}])
        );
        assert_eq!(v["meta"], json!({"location": "https://x/Users/u1"}));
        // Whole and sub selection together: the whole attribute wins.
        let v = projected(&["name.givenName", "name"], &[]);
        assert_eq!(v["name"], json!({"givenName": "Jo", "familyName": "Doe"}));
    }

    #[test]
    fn attributes_select_extension_attributes_and_whole_extensions() {
        let v = projected(&[&format!("{ENT}:employeeNumber")], &[]);
        assert_eq!(v[ENT], json!({"employeeNumber": "7"}));
        assert!(
            v.get(MEMBERSHIP_SCHEMA_ID).is_none(),
            "unselected extension object dropped"
        );
        let v = projected(&[ENT], &[]);
        assert_eq!(v[ENT], json!({"employeeNumber": "7", "department": "R&D"}));
        let v = projected(&[&format!("{USER_SCHEMA_ID}:userName")], &[]);
        assert_eq!(v["userName"], "jo");
    }

    #[test]
    fn excluded_attributes_remove_all_but_always() {
        let v = projected(
            &[],
            &[
                "emails",
                "name.familyName",
                "id",
                "meta",
                MEMBERSHIP_SCHEMA_ID,
                &format!("{ENT}:department"),
            ],
        );
        assert!(v.get("emails").is_none());
        assert_eq!(v["name"], json!({"givenName": "Jo"}));
        assert_eq!(v["id"], "u1", "id is returned always (RFC 7643 §3.1)");
        assert!(v.get("meta").is_none());
        assert!(v.get(MEMBERSHIP_SCHEMA_ID).is_none());
        assert_eq!(v[ENT], json!({"employeeNumber": "7"}));
        let v = projected(&[], &["emails.TYPE", "emails.primary"]);
        assert_eq!(
            v["emails"],
            json!([{"value": "a@x.test"}, {"value": "b@x.test"}])
        );
        let v = projected(
            &[],
            &[
                &format!("{ENT}:employeeNumber"),
                &format!("{ENT}:department"),
            ],
        );
        assert!(v.get(ENT).is_none(), "an extension left empty is dropped");
    }

    #[test]
    fn returned_never_is_never_returned_even_when_asked() {
        let v = projected(&["password", "userName"], &[]);
        assert!(v.get("password").is_none());
        assert_eq!(v["userName"], "jo");
    }

    #[test]
    fn group_projection() {
        let mut g = json!({"schemas": [GROUP_SCHEMA_ID], "id": "g1", "displayName": "Eng",
                           "members": [{"value": "u1", "display": "Jo", "$ref": "https://x/Users/u1"}]});
        project(
            &mut g,
            &GROUP_RESOURCE,
            &[],
            &[parse_attr_path("members").unwrap()],
        );
        assert_eq!(
            g,
            json!({"schemas": [GROUP_SCHEMA_ID], "id": "g1", "displayName": "Eng"})
        );
    }
}
