//! The SCIM PATCH engine (RFC 7644 §3.5.2) over the stored attribute map of
//! [`resource`](super::resource), plus the split of Group `members` operations out of a
//! request so the caller can apply them to its indexed member set.
//!
//! Every value written goes through the same normalization as POST/PUT
//! ([`normalize_attr_value`], [`normalize_sub_value`]), so a PATCHed resource has exactly
//! the shape a PUT of the same data would have produced.

use super::error::{ScimError, ScimResult};
use super::filter::{matches, validate, AttrPath, CompValue, CompareOp, Filter};
use super::path::{parse_path, PatchPath};
use super::resource::{
    container, container_mut, is_primary, is_server_view, is_stored, is_unassigned,
    missing_required, normalize_attr_value, normalize_element, normalize_sub_value,
    prune_extension, resolve_name, resolve_path, Named,
};
use super::schema::{
    AttrDef, AttrType, Mutability, Resolved, ResourceTypeDef, SchemaDef, GROUP_RESOURCE,
    GROUP_SCHEMA_ID, PATCH_OP_SCHEMA,
};
use serde_json::{Map, Value};

/// RFC 7644 §3.5.2: "MAY be one of 'add', 'remove', or 'replace'".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Remove,
    Replace,
}

impl PatchOpKind {
    fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Remove => "remove",
            PatchOpKind::Replace => "replace",
        }
    }
}

/// One PATCH operation. `value` is `Some` for every `add`/`replace` that [`parse_patch`]
/// accepted (possibly `Some(Value::Null)`); for `remove` it is whatever the client sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: PatchOpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A member of a Group as a PATCH or a POST/PUT body names it (RFC 7643 §4.2): the member's
/// `id`, and its `type` when given, canonicalized to `"User"` or `"Group"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub value: String,
    pub kind: Option<String>,
}

impl MemberRef {
    /// The stored/rendered element `{"value": ..., "type"?: ...}`.
    pub fn to_value(&self) -> Value {
        let mut o = Map::new();
        o.insert("value".into(), Value::String(self.value.clone()));
        if let Some(k) = &self.kind {
            o.insert("type".into(), Value::String(k.clone()));
        }
        Value::Object(o)
    }
}

/// A change to a Group's member set, in request order. The caller keeps members in an
/// indexed set, so adding a member already present and removing one that is absent are
/// no-ops there (RFC 7644 §3.5.2.1: "If the target location already contains the value
/// specified, no changes SHOULD be made").
#[derive(Debug, Clone, PartialEq)]
pub enum MemberOp {
    Add(Vec<MemberRef>),
    /// Remove these member ids.
    Remove(Vec<String>),
    /// Remove every member the filter (relative to a member element: `value`, `type`,
    /// `display`) matches.
    RemoveWhere(Filter),
    RemoveAll,
    /// Replace the whole set (`[]` empties the group).
    Replace(Vec<MemberRef>),
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Look a member up by name, case-insensitively; an exact match wins.
fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Parse a PATCH request body (RFC 7644 §3.5.2).
///
/// - `schemas` must list `urn:ietf:params:scim:api:messages:2.0:PatchOp` and `Operations`
///   must be a non-empty array ("one or more PATCH operations"); otherwise `invalidSyntax`.
///   Member names are matched case-insensitively (some clients send `operations`).
/// - `op` is matched case-insensitively: Microsoft Entra sends `Add`, `Replace`, `Remove`.
/// - `path` goes through [`parse_path`] (`invalidPath`).
/// - `add`/`replace` without a `value` member: `invalidValue`, Table 9's "A required value
///   was missing" (§3.5.2.1 and §3.5.2.3: the operation "MUST contain a 'value' member").
/// - `remove` without `path`: `noTarget`, as §3.5.2.2 prescribes.
pub fn parse_patch(body: &Value) -> ScimResult<Vec<PatchOp>> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the PATCH body must be a JSON object"))?;
    let is_patch = get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .any(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
        });
    if !is_patch {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' must include '{PATCH_OP_SCHEMA}'"
        )));
    }
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ScimError::invalid_syntax("'Operations' must be an array of one or more operations")
        })?;
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_op(i, op))
        .collect()
}

fn parse_op(i: usize, op: &Value) -> ScimResult<PatchOp> {
    let obj = op
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{i}] must be an object")))?;
    let kind = match get_ci(obj, "op").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("add") => PatchOpKind::Add,
        Some(s) if s.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
        Some(s) if s.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].op must be 'add', 'remove' or 'replace'"
            )))
        }
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_path(s)?),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{i}].path must be a string"
            )))
        }
    };
    let value = get_ci(obj, "value").cloned();
    match kind {
        PatchOpKind::Remove if path.is_none() => Err(ScimError::no_target(format!(
            "Operations[{i}]: 'remove' requires a 'path' (RFC 7644 §3.5.2.2)"
        ))),
        PatchOpKind::Add | PatchOpKind::Replace if value.is_none() => {
            Err(ScimError::invalid_value(format!(
                "Operations[{i}]: '{}' requires a 'value'",
                kind.as_str()
            )))
        }
        _ => Ok(PatchOp {
            op: kind,
            path,
            value,
        }),
    }
}

// ---------------------------------------------------------------------------------------
// Applying
// ---------------------------------------------------------------------------------------

/// Apply `ops` in order to a stored attribute map (RFC 7644 §3.5.2: "Each operation ...
/// SHALL be applied in sequence"; "If any operation fails, the entire request SHALL NOT be
/// applied"). On error `attrs` is left untouched: the operations run on a private copy.
///
/// For Groups, run [`split_member_ops`] first: this engine treats `members` as an ordinary
/// multi-valued attribute of the map, and the stored layout keeps members elsewhere.
///
/// Semantics beyond the RFC text, chosen for real IdPs:
/// - path-less `add`/`replace`: each key of the value object is applied as if it were the
///   path of its own operation (`name.givenName` and URN-qualified keys included), except
///   that readOnly and unknown keys are ignored instead of failing (Okta echoes `id`);
/// - a value-filtered path that matches nothing creates the element when the filter is a
///   conjunction of `eq` comparisons (Entra: `emails[type eq "work"].value` on a user with
///   no work e-mail); otherwise `add`/`replace` fail with `noTarget` (§3.5.2.3);
/// - a filtered `remove` matching nothing succeeds: §3.5.2.2 defines no failure for it and
///   the intended state already holds, so a retried request stays harmless;
/// - `remove` with a multi-valued path and a `value` removes only the listed values (Entra);
/// - `password` is accepted and ignored: scimd never stores it.
pub fn apply_patch(
    attrs: &mut Map<String, Value>,
    ops: &[PatchOp],
    rt: &ResourceTypeDef,
) -> ScimResult<()> {
    let mut work = attrs.clone();
    for op in ops {
        apply_op(&mut work, op, rt)?;
    }
    // RFC 7644 §3.5.2.2/§3.5.2.3: a required attribute that "is removed or becomes
    // unassigned" is a `mutability` error, however the operations got there.
    if let Some(missing) = missing_required(&work, rt) {
        return Err(missing.into_error(true));
    }
    *attrs = work;
    Ok(())
}

/// Where a PATCH path points, after resolution and mutability checks.
enum PathTarget<'p> {
    Extension(&'static SchemaDef),
    Attr(Target<'p>),
    /// A writeOnly attribute scimd accepts but never stores (`password`).
    Ignored,
}

#[derive(Clone, Copy)]
struct Target<'p> {
    r: Resolved,
    sub: Option<&'static AttrDef>,
    filter: Option<&'p Filter>,
}

impl Target<'_> {
    /// The whole attribute at `r`: no sub-attribute, no value filter.
    fn whole(r: Resolved) -> Self {
        Target {
            r,
            sub: None,
            filter: None,
        }
    }
}

fn apply_op(attrs: &mut Map<String, Value>, op: &PatchOp, rt: &ResourceTypeDef) -> ScimResult<()> {
    let replace = op.op == PatchOpKind::Replace;
    let needs_value = || {
        op.value.as_ref().ok_or_else(|| {
            ScimError::invalid_value(format!("'{}' requires a 'value'", op.op.as_str()))
        })
    };
    let Some(path) = &op.path else {
        return match op.op {
            PatchOpKind::Remove => Err(ScimError::no_target(
                "'remove' requires a 'path' (RFC 7644 §3.5.2.2)",
            )),
            _ => apply_pathless(attrs, rt, replace, needs_value()?),
        };
    };
    match resolve_patch_path(rt, path)? {
        PathTarget::Ignored => Ok(()),
        PathTarget::Extension(ext) => match op.op {
            // The extension is "unassigned" once its object is gone (RFC 7643 §2.5).
            PatchOpKind::Remove => {
                if rt
                    .extensions
                    .iter()
                    .any(|(s, required)| *required && s.id == ext.id)
                {
                    return Err(ScimError::mutability(format!(
                        "required extension '{}' cannot be removed",
                        ext.id
                    )));
                }
                attrs.remove(ext.id);
                Ok(())
            }
            _ => write_extension(attrs, rt, ext, replace, needs_value()?),
        },
        PathTarget::Attr(t) => {
            match op.op {
                PatchOpKind::Remove => remove(attrs, rt, &t, op.value.as_ref())?,
                _ => write(attrs, rt, &t, replace, needs_value()?)?,
            }
            prune_extension(attrs, &t.r);
            Ok(())
        }
    }
}

/// RFC 7644 §3.5.2.1/§3.5.2.3 without `path`: "the target location is assumed to be the
/// resource itself", and the value "contains a set of attributes".
fn apply_pathless(
    attrs: &mut Map<String, Value>,
    rt: &ResourceTypeDef,
    replace: bool,
    value: &Value,
) -> ScimResult<()> {
    let obj = value.as_object().ok_or_else(|| {
        ScimError::invalid_value("without a 'path', the 'value' must be an object of attributes")
    })?;
    for (key, v) in obj {
        match resolve_name(rt, key) {
            Named::Schemas | Named::Unknown => {}
            Named::Extension(ext) => write_extension(attrs, rt, ext, replace, v)?,
            Named::Attr(r, sub) => {
                if is_stored(r.attr) && sub.is_none_or(is_stored) {
                    let t = Target {
                        r,
                        sub,
                        filter: None,
                    };
                    write(attrs, rt, &t, replace, v)?;
                    prune_extension(attrs, &r);
                }
            }
        }
    }
    Ok(())
}

/// `add`/`replace` whose target is a whole extension: the extension object behaves like a
/// complex attribute, each key applied on its own (sub-attributes "not specified in the
/// 'value' parameter are left unchanged", RFC 7644 §3.5.2.3). `null` unassigns it on
/// `replace`.
fn write_extension(
    attrs: &mut Map<String, Value>,
    rt: &ResourceTypeDef,
    ext: &'static SchemaDef,
    replace: bool,
    value: &Value,
) -> ScimResult<()> {
    match value {
        Value::Null => {
            if replace {
                attrs.remove(ext.id);
            }
            Ok(())
        }
        Value::Object(_) if is_server_view(ext) => {
            // Attaches the extension; its values are the server's (see `is_server_view`).
            attrs
                .entry(ext.id)
                .or_insert_with(|| Value::Object(Map::new()));
            Ok(())
        }
        Value::Object(o) => {
            for (k, v) in o {
                let Some(attr) = ext.attr(k).filter(|a| is_stored(a)) else {
                    continue;
                };
                let r = Resolved {
                    schema: ext,
                    in_extension: true,
                    attr,
                };
                write(attrs, rt, &Target::whole(r), replace, v)?;
                prune_extension(attrs, &r);
            }
            Ok(())
        }
        _ => Err(ScimError::invalid_value(format!(
            "extension '{}' must be an object",
            ext.id
        ))),
    }
}

/// Resolve a PATCH path and apply the checks that depend on the path alone.
fn resolve_patch_path<'p>(rt: &ResourceTypeDef, path: &'p PatchPath) -> ScimResult<PathTarget<'p>> {
    let unknown = || {
        ScimError::invalid_path(format!(
            "'{}' is not an attribute of {}",
            path.attr.attr, rt.name
        ))
    };
    let (r, sub) = match resolve_path(rt, &path.attr) {
        Named::Unknown => return Err(unknown()),
        Named::Schemas => return Err(ScimError::mutability("'schemas' cannot be modified")),
        Named::Extension(ext) => {
            if path.filter.is_some() || path.value_sub.is_some() {
                return Err(ScimError::invalid_path(format!(
                    "extension '{}' takes no filter",
                    ext.id
                )));
            }
            // An extension whose attributes are all read-only (scimd's membership view)
            // holds nothing a client can set, but the client may attach or detach it
            // (see `is_server_view`); its read-only values in the request are ignored
            // like any read-only data in a value object (RFC 7643 §7), not refused.
            return Ok(PathTarget::Extension(ext));
        }
        Named::Attr(r, sub) => (r, sub),
    };
    let attr = r.attr;
    let sub = match (&path.filter, &path.value_sub) {
        (None, None) => sub,
        (Some(f), value_sub) => {
            // RFC 7644 §3.5.2: "The 'valuePath' rule allows specific values of a complex
            // multi-valued attribute to be selected."
            if sub.is_some() || !(attr.multi_valued && attr.ty == AttrType::Complex) {
                return Err(ScimError::invalid_path(format!(
                    "a value filter needs a complex multi-valued attribute; '{}' is not one",
                    attr.name
                )));
            }
            validate_value_filter(rt, &r, f)?;
            match value_sub {
                None => None,
                Some(s) => Some(attr.sub(s).ok_or_else(|| {
                    ScimError::invalid_path(format!("'{}' has no sub-attribute '{s}'", attr.name))
                })?),
            }
        }
        (None, Some(_)) => return Err(unknown()),
    };
    for def in std::iter::once(attr).chain(sub) {
        match def.mutability {
            Mutability::ReadOnly => {
                return Err(ScimError::mutability(format!(
                    "'{}' is read-only",
                    def.name
                )))
            }
            // RFC 7643 §7: immutable values "SHALL NOT be updated" after creation.
            Mutability::Immutable => {
                return Err(ScimError::mutability(format!(
                    "'{}' is immutable",
                    def.name
                )))
            }
            Mutability::WriteOnly => return Ok(PathTarget::Ignored),
            Mutability::ReadWrite => {}
        }
    }
    Ok(PathTarget::Attr(Target {
        r,
        sub,
        filter: path.filter.as_ref(),
    }))
}

/// The filter `attr[f]` as the filter module sees it, on a resource holding `elements` as
/// the values of the attribute at `r`.
fn as_value_path(r: &Resolved, f: &Filter) -> Filter {
    let path = AttrPath {
        urn: r.in_extension.then(|| r.schema.id.to_owned()),
        attr: r.attr.name.to_owned(),
        sub: None,
    };
    Filter::ValuePath(path, Box::new(f.clone()))
}

fn holding(r: &Resolved, element: &Value) -> Value {
    let holder = Map::from_iter([(r.attr.name.to_owned(), Value::Array(vec![element.clone()]))]);
    if r.in_extension {
        Value::Object(Map::from_iter([(
            r.schema.id.to_owned(),
            Value::Object(holder),
        )]))
    } else {
        Value::Object(holder)
    }
}

/// Check a value filter against the schema with the filter module's own rules (paths are
/// sub-attributes of the filtered attribute, RFC 7644 §3.4.2.2 operator/type rules). In a
/// PATCH the filter is part of the `path`, so a bad one is `invalidPath` (RFC 7644 §3.12:
/// "The 'path' attribute was invalid or malformed").
fn validate_value_filter(rt: &ResourceTypeDef, r: &Resolved, f: &Filter) -> ScimResult<()> {
    validate(&as_value_path(r, f), rt).map_err(|e| ScimError::invalid_path(e.detail))
}

/// Does `element` of the attribute at `r` match the value filter `f`?
///
/// Evaluated through the filter module's own `attr[filter]` semantics on a one-element
/// resource, so a PATCH path selects exactly what the same `valuePath` selects in a
/// `GET ?filter=` (case-exactness, comparison rules), with no second evaluator to drift.
fn element_matches(rt: &ResourceTypeDef, r: &Resolved, f: &Filter, element: &Value) -> bool {
    matches(&as_value_path(r, f), &holding(r, element), rt)
}

fn matching_indices(rt: &ResourceTypeDef, r: &Resolved, f: &Filter, list: &[Value]) -> Vec<usize> {
    (0..list.len())
        .filter(|&i| element_matches(rt, r, f, &list[i]))
        .collect()
}

/// The element a value filter describes when it is a conjunction of `eq` comparisons
/// (`type eq "work"`, `type eq "work" and primary eq true`), normalized; `None` when the
/// filter does not pin down an element that way.
fn seed_from_filter(attr: &AttrDef, f: &Filter) -> Option<Map<String, Value>> {
    fn collect(attr: &AttrDef, f: &Filter, out: &mut Map<String, Value>) -> Option<()> {
        match f {
            Filter::And(a, b) => {
                collect(attr, a, out)?;
                collect(attr, b, out)
            }
            Filter::Compare(p, CompareOp::Eq, v) => {
                let sub = attr.sub(&p.attr)?;
                let raw = match v {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return None,
                };
                let v = normalize_sub_value(attr, sub, &raw).ok()??;
                match out.get(sub.name) {
                    Some(prev) if *prev != v => None, // `type eq "a" and type eq "b"`
                    _ => {
                        out.insert(sub.name.to_owned(), v);
                        Some(())
                    }
                }
            }
            _ => None,
        }
    }
    let mut out = Map::new();
    collect(attr, f, &mut out)?;
    Some(out)
}

/// `add` (`replace == false`) or `replace` at a resolved target.
fn write(
    attrs: &mut Map<String, Value>,
    rt: &ResourceTypeDef,
    t: &Target,
    replace: bool,
    value: &Value,
) -> ScimResult<()> {
    match (t.filter, t.sub) {
        (None, None) => write_attr(attrs, &t.r, replace, value),
        (None, Some(sub)) => write_sub(attrs, &t.r, sub, replace, value),
        (Some(f), sub) => write_filtered(attrs, rt, &t.r, f, sub, replace, value),
    }
}

fn write_attr(
    attrs: &mut Map<String, Value>,
    r: &Resolved,
    replace: bool,
    value: &Value,
) -> ScimResult<()> {
    let attr = r.attr;
    let new = normalize_attr_value(attr, value)?;
    let slot = container_mut(attrs, r);
    if attr.multi_valued {
        // §3.5.2.3: "the attribute and all values are replaced"; §3.5.2.1: "a new value is
        // added to the attribute".
        if replace {
            match new {
                Some(v) => slot.insert(attr.name.to_owned(), v),
                None => slot.remove(attr.name),
            };
            return Ok(());
        }
        let Some(Value::Array(new)) = new else {
            return Ok(());
        };
        let list = array_slot(slot, attr);
        let touched: Vec<usize> = new
            .into_iter()
            .map(|e| add_element(attr, list, e))
            .collect();
        return enforce_primary(attr, list, &touched);
    }
    if attr.ty == AttrType::Complex {
        // Both operations merge into a singular complex attribute: §3.5.2.1 "If the target
        // location specifies a complex attribute, a set of sub-attributes SHALL be
        // specified", §3.5.2.3 "Sub-attributes that are not specified in the 'value'
        // parameter are left unchanged."
        if value.is_null() {
            if replace {
                slot.remove(attr.name);
            }
            return Ok(());
        }
        let existing = object_slot(slot, attr);
        if let Some(Value::Object(new)) = new {
            existing.extend(new);
        }
        // A sub-attribute given as `null` is specified, with the unassigned value
        // (RFC 7643 §2.5): `replace` clears it.
        if let (true, Value::Object(raw)) = (replace, value) {
            for (k, v) in raw {
                if let Some(sub) = attr.sub(k).filter(|_| is_unassigned(v)) {
                    existing.remove(sub.name);
                }
            }
        }
        if existing.is_empty() {
            slot.remove(attr.name);
        }
        return Ok(());
    }
    match new {
        Some(v) => {
            slot.insert(attr.name.to_owned(), v);
        }
        None if replace => {
            slot.remove(attr.name);
        }
        None => {}
    }
    Ok(())
}

/// The stored array of a multi-valued attribute, created empty when absent.
fn array_slot<'a>(slot: &'a mut Map<String, Value>, attr: &AttrDef) -> &'a mut Vec<Value> {
    let v = slot
        .entry(attr.name)
        .or_insert_with(|| Value::Array(Vec::new()));
    if !v.is_array() {
        *v = Value::Array(Vec::new());
    }
    v.as_array_mut().expect("just made an array")
}

fn object_slot<'a>(slot: &'a mut Map<String, Value>, attr: &AttrDef) -> &'a mut Map<String, Value> {
    let v = slot
        .entry(attr.name)
        .or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("just made an object")
}

/// Add one normalized element to a multi-valued attribute and return its index.
///
/// An element that is already there is not added twice (§3.5.2.1: "If the target location
/// already contains the value specified, no changes SHOULD be made"). For complex values
/// with a `value` sub-attribute, "already there" means the same `value` and `type`; the
/// other sub-attributes (`primary`, `display`) are properties of that element and are
/// merged into it, so re-adding an e-mail as primary marks the existing one primary
/// instead of duplicating it.
fn add_element(attr: &AttrDef, list: &mut Vec<Value>, new: Value) -> usize {
    if let Some(i) = list.iter().position(|e| same_element(attr, e, &new)) {
        if let (Value::Object(existing), Value::Object(new)) = (&mut list[i], new) {
            existing.extend(new);
        }
        return i;
    }
    list.push(new);
    list.len() - 1
}

fn same_element(attr: &AttrDef, a: &Value, b: &Value) -> bool {
    if attr.ty != AttrType::Complex {
        return json_eq(attr, a, b);
    }
    match attr.sub("value") {
        Some(value_def) if b.get("value").is_some() => {
            let same_value = match (a.get("value"), b.get("value")) {
                (Some(x), Some(y)) => json_eq(value_def, x, y),
                _ => false,
            };
            let same_type = match (a.get("type"), b.get("type")) {
                (None, None) => true,
                (Some(x), Some(y)) => attr.sub("type").is_some_and(|t| json_eq(t, x, y)),
                _ => false,
            };
            same_value && same_type
        }
        _ => a == b,
    }
}

/// Equality of two simple values of `def`, honouring `caseExact` (RFC 7643 §2.2).
fn json_eq(def: &AttrDef, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if !def.case_exact => {
            x.eq_ignore_ascii_case(y) || (!x.is_ascii() && x.to_lowercase() == y.to_lowercase())
        }
        _ => a == b,
    }
}

/// Does the stored element `e` contain everything `listed` states? Used by `remove` with a
/// value list, where Entra names elements by their `value` alone.
fn element_contains(attr: &AttrDef, e: &Value, listed: &Value) -> bool {
    match (e, listed) {
        (Value::Object(e), Value::Object(l)) => l.iter().all(|(k, lv)| {
            let def = attr.sub(k).unwrap_or(attr);
            e.get(k).is_some_and(|ev| json_eq(def, ev, lv))
        }),
        _ => json_eq(attr, e, listed),
    }
}

/// RFC 7644 §3.5.2: "a PATCH operation that sets a value's 'primary' sub-attribute to
/// 'true' SHALL cause the server to automatically set 'primary' to 'false' for any other
/// values in the array." `touched` are the elements this operation wrote.
fn enforce_primary(attr: &AttrDef, list: &mut [Value], touched: &[usize]) -> ScimResult<()> {
    if attr.sub("primary").is_none() {
        return Ok(());
    }
    let mut winners: Vec<usize> = touched
        .iter()
        .copied()
        .filter(|&i| is_primary(&list[i]))
        .collect();
    winners.sort_unstable();
    winners.dedup();
    match winners.as_slice() {
        [] => Ok(()),
        [w] => {
            for (i, e) in list.iter_mut().enumerate() {
                if i != *w && is_primary(e) {
                    e["primary"] = Value::Bool(false);
                }
            }
            Ok(())
        }
        // One operation making several values primary cannot be honoured (RFC 7643 §2.4).
        _ => Err(ScimError::invalid_value(format!(
            "at most one '{}' value may be primary (RFC 7643 §2.4)",
            attr.name
        ))),
    }
}

/// Set (or, for `replace` with an unassigned value, clear) `sub` on elements `at`.
fn set_sub(list: &mut [Value], at: &[usize], sub: &AttrDef, new: &Option<Value>, replace: bool) {
    for &i in at {
        let Value::Object(e) = &mut list[i] else {
            continue;
        };
        match new {
            Some(v) => {
                e.insert(sub.name.to_owned(), v.clone());
            }
            None if replace => {
                e.remove(sub.name);
            }
            None => {}
        }
    }
}

/// `add`/`replace` of `attr.sub` without a value filter.
fn write_sub(
    attrs: &mut Map<String, Value>,
    r: &Resolved,
    sub: &'static AttrDef,
    replace: bool,
    value: &Value,
) -> ScimResult<()> {
    let attr = r.attr;
    let new = normalize_sub_value(attr, sub, value)?;
    let slot = container_mut(attrs, r);
    if !attr.multi_valued {
        match new {
            Some(v) => {
                object_slot(slot, attr).insert(sub.name.to_owned(), v);
            }
            None if replace => {
                if let Some(Value::Object(o)) = slot.get_mut(attr.name) {
                    o.remove(sub.name);
                    if o.is_empty() {
                        slot.remove(attr.name);
                    }
                }
            }
            None => {}
        }
        return Ok(());
    }
    // `emails.type` with no filter addresses the sub-attribute of every value; with no
    // value there is nothing to set it on, and inventing an element holding only that
    // sub-attribute would be a guess.
    let list = match slot.get_mut(attr.name) {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => {
            return Err(ScimError::no_target(format!(
                "'{}' has no values to set '{}' on",
                attr.name, sub.name
            )))
        }
    };
    let all: Vec<usize> = (0..list.len()).collect();
    set_sub(list, &all, sub, &new, replace);
    enforce_primary(attr, list, &all)?;
    list.retain(|e| !is_empty_object(e));
    if list.is_empty() {
        slot.remove(attr.name);
    }
    Ok(())
}

/// `add`/`replace` through a value filter: `emails[type eq "work"]` or
/// `emails[type eq "work"].value`.
fn write_filtered(
    attrs: &mut Map<String, Value>,
    rt: &ResourceTypeDef,
    r: &Resolved,
    f: &Filter,
    sub: Option<&'static AttrDef>,
    replace: bool,
    value: &Value,
) -> ScimResult<()> {
    let attr = r.attr;
    let slot = container_mut(attrs, r);
    let mut list = match slot.remove(attr.name) {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    let hits = matching_indices(rt, r, f, &list);
    let touched = if hits.is_empty() {
        // §3.5.2.3 answers `noTarget` here; Entra instead expects `add`/`replace` of
        // `emails[type eq "work"].value` to create the work e-mail, and the `eq` terms say
        // exactly what that element is.
        let Some(mut element) = seed_from_filter(attr, f) else {
            return Err(ScimError::no_target(format!(
                "no '{}' value matches the filter",
                attr.name
            )));
        };
        let content = match sub {
            Some(sub) => normalize_sub_value(attr, sub, value)?
                .map(|v| Map::from_iter([(sub.name.to_owned(), v)])),
            None => match normalize_element(attr, value)? {
                Some(Value::Object(o)) => Some(o),
                _ => None,
            },
        };
        match content {
            Some(content) => {
                element.extend(content);
                list.push(Value::Object(element));
                vec![list.len() - 1]
            }
            None => Vec::new(), // nothing to create
        }
    } else {
        match sub {
            // §3.5.2.3: "the matching sub-attribute of all matching records is replaced".
            Some(sub) => {
                let new = normalize_sub_value(attr, sub, value)?;
                set_sub(&mut list, &hits, sub, &new, replace);
            }
            None => match normalize_element(attr, value)? {
                // §3.5.2.3: "all matching record values SHALL be replaced".
                Some(new) if replace => {
                    for &i in &hits {
                        list[i] = new.clone();
                    }
                }
                // `add` merges the given sub-attributes into each matching value.
                Some(Value::Object(new)) => {
                    for &i in &hits {
                        if let Value::Object(e) = &mut list[i] {
                            e.extend(new.clone());
                        }
                    }
                }
                Some(_) => {}
                None if replace => {
                    for &i in &hits {
                        list[i] = Value::Null;
                    }
                }
                None => {}
            },
        }
        hits
    };
    enforce_primary(attr, &mut list, &touched)?;
    list.retain(|e| !e.is_null() && !is_empty_object(e));
    if !list.is_empty() {
        slot.insert(attr.name.to_owned(), Value::Array(list));
    }
    Ok(())
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

/// RFC 7644 §3.5.2.2 `remove`.
fn remove(
    attrs: &mut Map<String, Value>,
    rt: &ResourceTypeDef,
    t: &Target,
    value: Option<&Value>,
) -> ScimResult<()> {
    let attr = t.r.attr;
    // Nothing stored, nothing to remove: the attribute is already unassigned.
    if container(attrs, &t.r)
        .and_then(|c| c.get(attr.name))
        .is_none()
    {
        return Ok(());
    }
    // A `value` on a whole multi-valued attribute lists the values to remove (Entra). An
    // empty list removes nothing rather than everything: never wipe an attribute on an
    // ambiguous request. `null` is no value at all. Normalized before touching anything so
    // a bad list fails cleanly.
    let listed = match value {
        Some(v) if attr.multi_valued && t.filter.is_none() && t.sub.is_none() && !v.is_null() => {
            match normalize_attr_value(attr, v)? {
                Some(Value::Array(listed)) => Some(listed),
                _ => Some(Vec::new()),
            }
        }
        _ => None,
    };
    let slot = container_mut(attrs, &t.r);
    match (t.filter, t.sub) {
        (None, None) => match listed {
            // Entra removes single values this way:
            // `{"op":"Remove","path":"emails","value":[{"value":"a@b.c"}]}`.
            Some(listed) => {
                if let Some(Value::Array(list)) = slot.get_mut(attr.name) {
                    list.retain(|e| !listed.iter().any(|l| element_contains(attr, e, l)));
                }
            }
            // "the attribute and all values are removed".
            None => {
                slot.remove(attr.name);
            }
        },
        (None, Some(sub)) => match slot.get_mut(attr.name) {
            Some(Value::Object(o)) => {
                o.remove(sub.name);
            }
            Some(Value::Array(list)) => {
                for e in list.iter_mut() {
                    if let Value::Object(o) = e {
                        o.remove(sub.name);
                    }
                }
            }
            _ => {}
        },
        (Some(f), sub) => {
            if let Some(Value::Array(list)) = slot.get(attr.name) {
                let hits = matching_indices(rt, &t.r, f, list);
                let Some(Value::Array(list)) = slot.get_mut(attr.name) else {
                    unreachable!()
                };
                for &i in hits.iter().rev() {
                    match sub {
                        // "Sub-attributes whose values have been removed SHALL be
                        // considered unassigned."
                        Some(sub) => {
                            if let Value::Object(o) = &mut list[i] {
                                o.remove(sub.name);
                            }
                        }
                        // "the matching records are removed".
                        None => {
                            list.remove(i);
                        }
                    }
                }
            }
        }
    }
    // "If the complex multi-valued attribute has no remaining records, the attribute SHALL
    // be considered unassigned."
    let now_empty = match slot.get_mut(attr.name) {
        Some(Value::Array(list)) => {
            list.retain(|e| !is_empty_object(e));
            list.is_empty()
        }
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    };
    if now_empty {
        slot.remove(attr.name);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Group members
// ---------------------------------------------------------------------------------------

fn members_resolved() -> Resolved {
    GROUP_RESOURCE
        .resolve(None, "members")
        .expect("the Group schema declares members")
}

fn members_def() -> &'static AttrDef {
    members_resolved().attr
}

/// Does the member element `member` (`{"value", "type"?, "display"?}`) match the filter of a
/// [`MemberOp::RemoveWhere`]? Same semantics as `members[filter]` in a Group `filter=`.
pub fn member_matches(filter: &Filter, member: &Value) -> bool {
    let r = members_resolved();
    matches(
        &as_value_path(&r, filter),
        &holding(&r, member),
        &GROUP_RESOURCE,
    )
}

/// Parse one member element: an object with a non-empty string `value` and an optional
/// `type` of `User` or `Group` (RFC 7643 §4.2), canonicalized. `display` and `$ref` are the
/// server's to fill in and are ignored.
pub fn parse_member(v: &Value) -> ScimResult<MemberRef> {
    let o = v
        .as_object()
        .ok_or_else(|| ScimError::invalid_value("each 'members' value must be an object"))?;
    let value = match get_ci(o, "value") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => {
            return Err(ScimError::invalid_value(
                "'members.value' must be a non-empty string",
            ))
        }
    };
    let kind = match get_ci(o, "type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("user") => Some("User".to_owned()),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("group") => Some("Group".to_owned()),
        Some(_) => {
            return Err(ScimError::invalid_value(
                "'members.type' must be 'User' or 'Group'",
            ))
        }
    };
    Ok(MemberRef { value, kind })
}

/// A `members` value: an array of member objects, a single object (lenient), or
/// `null`/`[]` (no members).
pub fn parse_members(value: &Value) -> ScimResult<Vec<MemberRef>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(parse_member).collect(),
        single => Ok(vec![parse_member(single)?]),
    }
}

/// `members`, or `members.<sub>`, of a Group path or key, optionally qualified by the core
/// Group URN. `Some(sub)` when the name is a members path.
fn members_name(name: &str) -> Option<Option<&str>> {
    let rest = match name.get(..GROUP_SCHEMA_ID.len()) {
        Some(prefix)
            if prefix.eq_ignore_ascii_case(GROUP_SCHEMA_ID)
                && name.as_bytes().get(GROUP_SCHEMA_ID.len()) == Some(&b':') =>
        {
            &name[GROUP_SCHEMA_ID.len() + 1..]
        }
        _ => name,
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    attr.eq_ignore_ascii_case("members").then_some(sub)
}

/// `value eq "id"` or an `or` of such terms: the member ids it names.
fn member_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(id))
            if p.urn.is_none() && p.sub.is_none() && p.attr.eq_ignore_ascii_case("value") =>
        {
            Some(vec![id.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = member_ids(a)?;
            ids.extend(member_ids(b)?);
            Some(ids)
        }
        _ => None,
    }
}

/// Take every operation on Group `members` out of `ops`, in order, as [`MemberOp`]s; the
/// rest stays for [`apply_patch`]. Only meaningful for Group requests. The two lists touch
/// disjoint data, so applying the generic operations and then the member operations (each
/// list in order) has the effect of the request's order. Members are validated here
/// (`invalidValue`), but whether the ids exist is the caller's to check.
///
/// - `add` path `members` → `Add`; `replace` path `members` → `Replace` (`[]`/`null`
///   empties the group);
/// - path-less `add`/`replace` with a `members` key → `Add`/`Replace`, and the other keys
///   stay a generic operation (Okta renames a group with a path-less `replace` of
///   `{id, displayName}`: that must not touch members);
/// - `remove` path `members` → `RemoveAll`; with a `value` list (Entra) → `Remove(ids)`,
///   and an empty list removes nothing (never wipe a group on an ambiguous request);
/// - `remove` `members[value eq "id"]` (or an `or` of those) → `Remove(ids)`, any other
///   filter → `RemoveWhere`;
/// - member values are immutable (RFC 7643 §4.2 declares `value`, `type` and `$ref`
///   immutable; `display` is readOnly): `add`/`replace` through a filter or on a
///   sub-attribute → 400 `mutability`; a sub-attribute the schema does not declare →
///   `invalidPath`.
pub fn split_member_ops(ops: Vec<PatchOp>) -> ScimResult<(Vec<PatchOp>, Vec<MemberOp>)> {
    let mut generic = Vec::with_capacity(ops.len());
    let mut members = Vec::new();
    for op in ops {
        let replace = op.op == PatchOpKind::Replace;
        match &op.path {
            None => {
                let Some(Value::Object(obj)) =
                    op.value.as_ref().filter(|_| op.op != PatchOpKind::Remove)
                else {
                    generic.push(op);
                    continue;
                };
                if !obj.keys().any(|k| members_name(k) == Some(None)) {
                    generic.push(op);
                    continue;
                }
                let mut rest = Map::new();
                for (k, v) in obj {
                    if members_name(k) != Some(None) {
                        rest.insert(k.clone(), v.clone());
                        continue;
                    }
                    let refs = parse_members(v)?;
                    if replace {
                        members.push(MemberOp::Replace(refs));
                    } else if !refs.is_empty() {
                        members.push(MemberOp::Add(refs));
                    }
                }
                if !rest.is_empty() {
                    generic.push(PatchOp {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(rest)),
                    });
                }
            }
            Some(path) => {
                let name = match &path.attr.urn {
                    Some(u) => format!("{u}:{}", path.attr.attr),
                    None => path.attr.attr.clone(),
                };
                if members_name(&name) != Some(None) {
                    generic.push(op);
                    continue;
                }
                if let Some(sub) = path.attr.sub.as_deref().or(path.value_sub.as_deref()) {
                    return Err(match members_def().sub(sub) {
                        Some(def) => ScimError::mutability(format!(
                            "'members.{}' cannot be modified: add or remove members instead",
                            def.name
                        )),
                        None => ScimError::invalid_path(format!(
                            "'members' has no sub-attribute '{sub}'"
                        )),
                    });
                }
                let member_op = match (op.op, &path.filter) {
                    (PatchOpKind::Add, None) => {
                        let refs = parse_members(op.value.as_ref().unwrap_or(&Value::Null))?;
                        (!refs.is_empty()).then_some(MemberOp::Add(refs))
                    }
                    (PatchOpKind::Replace, None) => Some(MemberOp::Replace(parse_members(
                        op.value.as_ref().unwrap_or(&Value::Null),
                    )?)),
                    (PatchOpKind::Remove, None) => match op.value.as_ref() {
                        None | Some(Value::Null) => Some(MemberOp::RemoveAll),
                        Some(v) => {
                            let ids: Vec<String> =
                                parse_members(v)?.into_iter().map(|m| m.value).collect();
                            (!ids.is_empty()).then_some(MemberOp::Remove(ids))
                        }
                    },
                    (PatchOpKind::Remove, Some(f)) => {
                        validate_value_filter(&GROUP_RESOURCE, &members_resolved(), f)?;
                        Some(match member_ids(f) {
                            Some(ids) => MemberOp::Remove(ids),
                            None => MemberOp::RemoveWhere(f.clone()),
                        })
                    }
                    (PatchOpKind::Add | PatchOpKind::Replace, Some(_)) => {
                        return Err(ScimError::mutability(
                            "'members' values cannot be modified: add or remove members instead",
                        ))
                    }
                };
                members.extend(member_op);
            }
        }
    }
    Ok((generic, members))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;
    use crate::scim::resource::normalize_resource;
    use crate::scim::schema::{
        ENTERPRISE_USER_SCHEMA_ID, GROUP_RESOURCE, MEMBERSHIP_SCHEMA_ID, USER_RESOURCE,
    };
    use crate::scim::ScimType;
    use serde_json::json;

    const ENT: &str = ENTERPRISE_USER_SCHEMA_ID;

    fn body(ops: Value) -> Value {
        json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
    }

    fn base_user() -> Map<String, Value> {
        normalize_resource(
            &json!({"userName": "jo", "name": {"givenName": "Jo", "familyName": "Doe"},
                    "emails": [{"value": "jo@work.test", "type": "work", "primary": true},
                               {"value": "jo@home.test", "type": "home"}],
                    ENT: {"employeeNumber": "7", "manager": {"value": "m1"}}}),
            &USER_RESOURCE,
        )
        .unwrap()
    }

    /// Parse and apply to a copy of `attrs`.
    fn patched(attrs: &Map<String, Value>, ops: Value, rt: &ResourceTypeDef) -> ScimResult<Value> {
        let ops = parse_patch(&body(ops))?;
        let mut out = attrs.clone();
        apply_patch(&mut out, &ops, rt)?;
        Ok(Value::Object(out))
    }

    fn user_patch(ops: Value) -> ScimResult<Value> {
        patched(&base_user(), ops, &USER_RESOURCE)
    }

    fn err_type<T: std::fmt::Debug>(r: ScimResult<T>) -> ScimType {
        r.expect_err("expected an error")
            .scim_type
            .expect("a scimType")
    }

    // ---- parse_patch ----

    #[test]
    fn parse_requires_patch_op_schema_and_operations() {
        let op = json!([{"op": "add", "path": "title", "value": "x"}]);
        assert_eq!(
            err_type(parse_patch(&json!({"Operations": op}))),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            err_type(parse_patch(
                &json!({"schemas": ["urn:x"], "Operations": op})
            )),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            err_type(parse_patch(&body(json!([])))),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            err_type(parse_patch(&body(json!({"op": "add"})))),
            ScimType::InvalidSyntax
        );
        assert_eq!(err_type(parse_patch(&json!([1]))), ScimType::InvalidSyntax);
        // Member names are case-insensitive.
        let ops = parse_patch(&json!({"SCHEMAS": [PATCH_OP_SCHEMA], "operations": op})).unwrap();
        assert_eq!(ops.len(), 1);
    }

    #[test]
    fn parse_op_names_are_case_insensitive_and_closed() {
        let ops = parse_patch(&body(json!([
            {"op": "Add", "path": "title", "value": "x"},
            {"op": "REPLACE", "path": "title", "value": "y"},
            {"op": "Remove", "path": "title"},
        ])))
        .unwrap();
        let kinds: Vec<_> = ops.iter().map(|o| o.op).collect();
        assert_eq!(
            kinds,
            [PatchOpKind::Add, PatchOpKind::Replace, PatchOpKind::Remove]
        );
        for bad in [
            json!({"op": "move", "path": "title"}),
            json!({"op": 1}),
            json!({"path": "title"}),
            json!(3),
        ] {
            assert_eq!(
                err_type(parse_patch(&body(json!([bad])))),
                ScimType::InvalidSyntax
            );
        }
    }

    #[test]
    fn parse_path_errors_and_missing_values() {
        assert_eq!(
            err_type(parse_patch(&body(
                json!([{"op": "add", "path": "emails[type eq", "value": "x"}])
            ))),
            ScimType::InvalidPath
        );
        assert_eq!(
            err_type(parse_patch(&body(
                json!([{"op": "add", "path": 5, "value": "x"}])
            ))),
            ScimType::InvalidPath
        );
        // Table 9 invalidValue: "A required value was missing".
        assert_eq!(
            err_type(parse_patch(&body(json!([{"op": "add", "path": "title"}])))),
            ScimType::InvalidValue
        );
        assert_eq!(
            err_type(parse_patch(&body(
                json!([{"op": "replace", "path": "title"}])
            ))),
            ScimType::InvalidValue
        );
        // RFC 7644 §3.5.2.2: remove without path is noTarget.
        assert_eq!(
            err_type(parse_patch(&body(json!([{"op": "remove"}])))),
            ScimType::NoTarget
        );
        // An explicit null value is a value (it unassigns on replace).
        assert!(parse_patch(&body(
            json!([{"op": "replace", "path": "title", "value": null}])
        ))
        .is_ok());
    }

    // ---- real IdP payloads ----

    #[test]
    fn okta_deactivate() {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "replace", "value": {"active": false}}]});
        let mut u = base_user();
        apply_patch(&mut u, &parse_patch(&body).unwrap(), &USER_RESOURCE).unwrap();
        assert_eq!(u["active"], false);
    }

    #[test]
    fn okta_group_rename_does_not_touch_members() {
        let g = normalize_resource(&json!({"displayName": "Old"}), &GROUP_RESOURCE).unwrap();
        let ops = parse_patch(&body(
            json!([{"op": "replace", "value": {"id": "abc", "displayName": "New"}}]),
        ))
        .unwrap();
        let (generic, members) = split_member_ops(ops).unwrap();
        assert!(members.is_empty());
        let mut g2 = g.clone();
        apply_patch(&mut g2, &generic, &GROUP_RESOURCE).unwrap();
        assert_eq!(Value::Object(g2), json!({"displayName": "New"}));
    }

    #[test]
    fn okta_member_remove_and_add_in_one_request() {
        let ops = parse_patch(&body(json!([
            {"op": "remove", "path": "members[value eq \"00u1\"]"},
            {"op": "add", "path": "members", "value": [{"value": "00u2", "display": "jo@x.test"}]},
        ])))
        .unwrap();
        let (generic, members) = split_member_ops(ops).unwrap();
        assert!(generic.is_empty());
        assert_eq!(
            members,
            [
                MemberOp::Remove(vec!["00u1".into()]),
                MemberOp::Add(vec![MemberRef {
                    value: "00u2".into(),
                    kind: None
                }]),
            ]
        );
    }

    #[test]
    fn entra_boolean_string() {
        let u = user_patch(json!([{"op": "Replace", "path": "active", "value": "False"}])).unwrap();
        assert_eq!(u["active"], false);
    }

    #[test]
    fn entra_pathless_replace_with_dotted_and_urn_keys() {
        let u = user_patch(json!([{"op": "Replace", "value": {
            "name.givenName": "Joanna",
            format!("{ENT}:employeeNumber"): "8",
            "displayName": "Joanna Doe",
        }}]))
        .unwrap();
        assert_eq!(
            u["name"],
            json!({"givenName": "Joanna", "familyName": "Doe"})
        );
        assert_eq!(
            u[ENT],
            json!({"employeeNumber": "8", "manager": {"value": "m1"}})
        );
        assert_eq!(u["displayName"], "Joanna Doe");
    }

    #[test]
    fn entra_add_work_email_to_user_without_emails() {
        let attrs = normalize_resource(&json!({"userName": "jo"}), &USER_RESOURCE).unwrap();
        let u = patched(
            &attrs,
            json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@b.c"}]),
            &USER_RESOURCE,
        )
        .unwrap();
        assert_eq!(u["emails"], json!([{"type": "work", "value": "a@b.c"}]));
        // And `replace` the same way (Entra uses both).
        let u = patched(
            &attrs,
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@b.c"}]),
            &USER_RESOURCE,
        )
        .unwrap();
        assert_eq!(u["emails"], json!([{"type": "work", "value": "a@b.c"}]));
    }

    #[test]
    fn entra_manager_as_bare_id() {
        let attrs = normalize_resource(&json!({"userName": "jo"}), &USER_RESOURCE).unwrap();
        let u = patched(
            &attrs,
            json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": "id-123"}]),
            &USER_RESOURCE,
        )
        .unwrap();
        assert_eq!(u[ENT], json!({"manager": {"value": "id-123"}}));
    }

    #[test]
    fn entra_member_remove_with_value_list() {
        let ops = parse_patch(&body(
            json!([{"op": "Remove", "path": "members", "value": [{"value": "id"}]}]),
        ))
        .unwrap();
        let (generic, members) = split_member_ops(ops).unwrap();
        assert!(generic.is_empty());
        assert_eq!(members, [MemberOp::Remove(vec!["id".into()])]);
    }

    // ---- path-less add/replace ----

    #[test]
    fn pathless_value_must_be_an_object() {
        assert_eq!(
            err_type(user_patch(json!([{"op": "add", "value": "x"}]))),
            ScimType::InvalidValue
        );
        assert_eq!(
            err_type(user_patch(json!([{"op": "replace", "value": [1]}]))),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn pathless_ignores_read_only_and_unknown_keys() {
        let u = user_patch(json!([{"op": "replace", "value": {
            "id": "evil", "meta": {"version": "W/\"1\""}, "schemas": [], "groups": [{"value": "g"}],
            "shoeSize": 44, "manager.displayName": "x", MEMBERSHIP_SCHEMA_ID: {"role": "owner"},
            format!("{ENT}:manager.displayName"): "Boss", "title": "CTO",
        }}]))
        .unwrap();
        let mut want = Value::Object(base_user());
        want["title"] = json!("CTO");
        // The membership view is attached; the role in it is the server's and dropped.
        want[MEMBERSHIP_SCHEMA_ID] = json!({});
        assert_eq!(u, want);
    }

    #[test]
    fn pathless_add_appends_and_merges() {
        let u = user_patch(json!([{"op": "add", "value": {
            "emails": [{"value": "new@x.test", "type": "other"}, {"value": "JO@WORK.TEST", "type": "work"}],
            "name": {"middleName": "M"},
            ENT: {"department": "R&D"},
        }}]))
        .unwrap();
        assert_eq!(
            u["emails"],
            json!([{"value": "JO@WORK.TEST", "type": "work", "primary": true},
                   {"value": "jo@home.test", "type": "home"},
                   {"value": "new@x.test", "type": "other"}]),
            "an e-mail already present (case-insensitive value, same type) is not duplicated"
        );
        assert_eq!(
            u["name"],
            json!({"givenName": "Jo", "familyName": "Doe", "middleName": "M"})
        );
        assert_eq!(u[ENT]["department"], "R&D");
        assert_eq!(u[ENT]["employeeNumber"], "7");
    }

    #[test]
    fn pathless_replace_replaces_lists_and_merges_complex() {
        // §3.5.2.3: multi-valued "all values are replaced"; complex: "Sub-attributes that are
        // not specified in the 'value' parameter are left unchanged."
        let u = user_patch(json!([{"op": "replace", "value": {
            "emails": [{"value": "only@x.test"}],
            "name": {"givenName": "Joanna", "familyName": null},
        }}]))
        .unwrap();
        assert_eq!(u["emails"], json!([{"value": "only@x.test"}]));
        assert_eq!(u["name"], json!({"givenName": "Joanna"}));
    }

    #[test]
    fn replace_with_null_or_empty_unassigns() {
        let u = user_patch(
            json!([{"op": "replace", "value": {"emails": [], "name": null, ENT: null}}]),
        )
        .unwrap();
        assert_eq!(u, json!({"userName": "jo"}));
        let u = user_patch(json!([{"op": "replace", "path": "emails", "value": null}])).unwrap();
        assert!(u.get("emails").is_none());
        let u = user_patch(json!([{"op": "replace", "path": "name.familyName", "value": null}]))
            .unwrap();
        assert_eq!(u["name"], json!({"givenName": "Jo"}));
    }

    // ---- paths ----

    #[test]
    fn add_and_replace_with_paths() {
        let u = user_patch(json!([
            {"op": "add", "path": "title", "value": "CTO"},
            {"op": "replace", "path": "NAME.GIVENNAME", "value": "Joanna"},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:nickName", "value": "J"},
            {"op": "replace", "path": format!("{ENT}:manager.value"), "value": "m2"},
            {"op": "add", "path": "emails", "value": {"value": "x@x.test"}},
        ]))
        .unwrap();
        assert_eq!(u["title"], "CTO");
        assert_eq!(u["name"]["givenName"], "Joanna");
        assert_eq!(u["nickName"], "J");
        assert_eq!(u[ENT]["manager"], json!({"value": "m2"}));
        assert_eq!(u["emails"].as_array().unwrap().len(), 3);
        let u = user_patch(
            json!([{"op": "replace", "path": "emails", "value": [{"value": "x@x.test"}]}]),
        )
        .unwrap();
        assert_eq!(u["emails"], json!([{"value": "x@x.test"}]));
    }

    #[test]
    fn filtered_sub_attribute_is_set_on_every_match() {
        let u = user_patch(json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "new@home.test"}])).unwrap();
        assert_eq!(
            u["emails"][1],
            json!({"value": "new@home.test", "type": "home"})
        );
        assert_eq!(u["emails"][0]["value"], "jo@work.test");
        let attrs = normalize_resource(
            &json!({"userName": "jo", "addresses": [{"type": "work", "postalCode": "1"}, {"type": "work", "postalCode": "2"}, {"type": "home"}]}),
            &USER_RESOURCE,
        )
        .unwrap();
        let u = patched(
            &attrs,
            json!([{"op": "add", "path": "addresses[type eq \"work\"].postalCode", "value": "9"}]),
            &USER_RESOURCE,
        )
        .unwrap();
        assert_eq!(
            u["addresses"],
            json!([{"type": "work", "postalCode": "9"}, {"type": "work", "postalCode": "9"}, {"type": "home"}])
        );
    }

    #[test]
    fn filtered_without_sub_replaces_or_merges_matches() {
        let u = user_patch(json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@x.test"}}])).unwrap();
        assert_eq!(u["emails"][1], json!({"value": "h@x.test"}));
        let u = user_patch(json!([{"op": "add", "path": "emails[type eq \"home\"]", "value": {"display": "Home"}}])).unwrap();
        assert_eq!(
            u["emails"][1],
            json!({"value": "jo@home.test", "type": "home", "display": "Home"})
        );
    }

    #[test]
    fn filtered_without_match_creates_from_eq_terms_or_fails_no_target() {
        let u = user_patch(json!([{"op": "add", "path": "phoneNumbers[type eq \"Mobile\" and primary eq true].value", "value": "+1"}]))
            .unwrap();
        assert_eq!(
            u["phoneNumbers"],
            json!([{"type": "mobile", "primary": true, "value": "+1"}])
        );
        // Not a conjunction of `eq`: nothing says what to create (§3.5.2.3 noTarget).
        for path in [
            "emails[value co \"nomatch\"].type",
            "emails[type eq \"a\" or type eq \"b\"].value",
            "emails[not (value pr)].value",
        ] {
            let r = user_patch(json!([{"op": "replace", "path": path, "value": "other"}]));
            assert_eq!(err_type(r), ScimType::NoTarget, "{path}");
        }
        // Contradictory terms do not describe an element either.
        let r = user_patch(
            json!([{"op": "add", "path": "emails[type eq \"a\" and type eq \"b\"].value", "value": "x"}]),
        );
        assert_eq!(err_type(r), ScimType::NoTarget);
    }

    #[test]
    fn sub_attribute_of_multi_valued_without_filter_applies_to_all() {
        let u =
            user_patch(json!([{"op": "replace", "path": "emails.display", "value": "E"}])).unwrap();
        assert!(u["emails"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["display"] == "E"));
        let attrs = normalize_resource(&json!({"userName": "jo"}), &USER_RESOURCE).unwrap();
        let r = patched(
            &attrs,
            json!([{"op": "add", "path": "emails.type", "value": "work"}]),
            &USER_RESOURCE,
        );
        assert_eq!(err_type(r), ScimType::NoTarget);
        // Setting `primary` on several values at once cannot satisfy RFC 7643 §2.4.
        assert_eq!(
            err_type(user_patch(
                json!([{"op": "replace", "path": "emails.primary", "value": true}])
            )),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn primary_is_unique_after_any_write() {
        // RFC 7644 §3.5.2: setting primary=true on one value sets it false on the others.
        let u = user_patch(json!([{"op": "add", "path": "emails", "value": [{"value": "n@x.test", "primary": true}]}])).unwrap();
        assert_eq!(u["emails"][0]["primary"], false);
        assert_eq!(
            u["emails"][2],
            json!({"value": "n@x.test", "primary": true})
        );
        let u = user_patch(
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": "True"}]),
        )
        .unwrap();
        assert_eq!(u["emails"][0]["primary"], false);
        assert_eq!(u["emails"][1]["primary"], true);
        // A value list with two primaries is rejected outright.
        let r = user_patch(
            json!([{"op": "add", "path": "emails", "value": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}]),
        );
        assert_eq!(err_type(r), ScimType::InvalidValue);
    }

    #[test]
    fn the_read_only_extension_is_attached_and_detached_but_never_takes_values() {
        // Its attributes are all the server's: a write of its object attaches it (an empty
        // object under its URN) and drops the values, like read-only data in a value
        // object; `remove` detaches it. Nothing else changes.
        let before = Value::Object(base_user());
        let mut attached = base_user();
        attached.insert(MEMBERSHIP_SCHEMA_ID.into(), json!({}));
        let attached = Value::Object(attached);
        for op in ["add", "replace", "Replace"] {
            let r = user_patch(
                json!([{"op": op, "path": MEMBERSHIP_SCHEMA_ID, "value": {"role": "admin"}}]),
            );
            assert_eq!(r.unwrap(), attached, "{op}");
            let r =
                user_patch(json!([{"op": op, "value": {MEMBERSHIP_SCHEMA_ID: {"status": "x"}}}]));
            assert_eq!(r.unwrap(), attached, "path-less {op}");
        }
        let r = user_patch(json!([
            {"op": "add", "path": MEMBERSHIP_SCHEMA_ID, "value": {}},
            {"op": "remove", "path": MEMBERSHIP_SCHEMA_ID}
        ]));
        assert_eq!(r.unwrap(), before, "add then remove");
        let r = user_patch(json!([
            {"op": "add", "path": MEMBERSHIP_SCHEMA_ID, "value": {}},
            {"op": "replace", "path": MEMBERSHIP_SCHEMA_ID, "value": null}
        ]));
        assert_eq!(r.unwrap(), before, "replace with null");
        let r = user_patch(json!([{"op": "remove", "path": MEMBERSHIP_SCHEMA_ID}]));
        assert_eq!(r.unwrap(), before, "remove of a detached extension");
        let r = user_patch(json!([{"op": "add", "path": MEMBERSHIP_SCHEMA_ID, "value": "admin"}]));
        assert_eq!(err_type(r), ScimType::InvalidValue);
    }

    #[test]
    fn read_only_unknown_and_mistyped_targets() {
        for path in [
            "id",
            "meta",
            "meta.created",
            "groups",
            "groups[value eq \"g\"]",
            &format!("{ENT}:manager.displayName"),
            &format!("{MEMBERSHIP_SCHEMA_ID}:role"),
            "schemas",
        ] {
            for op in ["add", "replace", "remove"] {
                let r = user_patch(json!([{"op": op, "path": path, "value": "x"}]));
                assert_eq!(err_type(r), ScimType::Mutability, "{op} {path}");
            }
        }
        for path in [
            "shoeSize",
            "name.nickname",
            "title.x",
            "urn:example:x:title",
            "emails[shoe eq \"x\"]",
            "name[givenName eq \"Jo\"]",
            "emails[type eq \"work\"].nope",
            "emails[value pr].type",
        ] {
            let r = user_patch(json!([{"op": "replace", "path": path, "value": "x"}]));
            if path == "emails[value pr].type" {
                assert!(r.is_ok(), "a valid filter on a real sub-attribute");
                continue;
            }
            assert_eq!(err_type(r), ScimType::InvalidPath, "{path}");
        }
        let e = user_patch(json!([{"op": "replace", "path": "title", "value": 42}])).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("title") && !e.detail.contains("42"));
        assert_eq!(
            err_type(user_patch(
                json!([{"op": "add", "path": "active", "value": "nope"}])
            )),
            ScimType::InvalidValue
        );
        assert_eq!(
            err_type(user_patch(
                json!([{"op": "add", "path": "emails[type eq \"work\"].primary", "value": "x"}])
            )),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn value_filters_follow_the_filter_rules() {
        // Operators RFC 7644 §3.4.2.2 forbids for a type, nested value filters and
        // URN-qualified inner paths make the PATCH path invalid.
        for path in [
            "emails[primary gt true].value",
            "emails[type eq \"work\" and emails[type eq \"x\"]].value",
            "emails[urn:ietf:params:scim:schemas:core:2.0:User:type eq \"work\"]",
        ] {
            let r = user_patch(json!([{"op": "replace", "path": path, "value": "x"}]));
            assert_eq!(err_type(r), ScimType::InvalidPath, "{path}");
        }
        // Comparisons honour caseExact like a GET filter: `type` is case-insensitive.
        let u = user_patch(
            json!([{"op": "replace", "path": "emails[TYPE eq \"HOME\"].display", "value": "H"}]),
        )
        .unwrap();
        assert_eq!(u["emails"][1]["display"], "H");
    }

    #[test]
    fn member_filters_evaluate_like_group_filters() {
        let f = parse_filter("type eq \"user\" and value sw \"00u\"").unwrap();
        assert!(member_matches(
            &f,
            &json!({"value": "00u1", "type": "User"})
        ));
        assert!(!member_matches(
            &f,
            &json!({"value": "00g1", "type": "User"})
        ));
        // `value` is caseExact (RFC 7643 §4.2).
        let f = parse_filter("value eq \"ABC\"").unwrap();
        assert!(!member_matches(&f, &json!({"value": "abc"})));
    }

    #[test]
    fn password_is_accepted_and_never_stored() {
        let u = user_patch(json!([
            {"op": "replace", "path": "password", "value": "hunter2"},
            {"op": "add", "value": {"password": "hunter2"}},
        ]))
        .unwrap();
        assert_eq!(u, Value::Object(base_user()));
    }

    // ---- remove ----

    #[test]
    fn remove_attribute_sub_attribute_and_extension() {
        let u = user_patch(json!([{"op": "remove", "path": "name.familyName"}, {"op": "remove", "path": "emails"}])).unwrap();
        assert_eq!(u["name"], json!({"givenName": "Jo"}));
        assert!(u.get("emails").is_none());
        let u = user_patch(json!([{"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": "name.familyName"}])).unwrap();
        assert!(
            u.get("name").is_none(),
            "a complex attribute left empty is unassigned"
        );
        let u = user_patch(
            json!([{"op": "remove", "path": format!("{ENT}:employeeNumber")},
                                  {"op": "remove", "path": format!("{ENT}:manager")}]),
        )
        .unwrap();
        assert!(u.get(ENT).is_none(), "an empty extension is not stored");
        let u = user_patch(json!([{"op": "remove", "path": ENT}])).unwrap();
        assert!(u.get(ENT).is_none());
        let u = user_patch(json!([{"op": "remove", "path": "emails.type"}])).unwrap();
        assert_eq!(
            u["emails"],
            json!([{"value": "jo@work.test", "primary": true}, {"value": "jo@home.test"}])
        );
        // Removing what is not there is a no-op.
        assert_eq!(
            user_patch(json!([{"op": "remove", "path": "title"}])).unwrap(),
            Value::Object(base_user())
        );
    }

    #[test]
    fn remove_filtered_values() {
        let u = user_patch(json!([{"op": "remove", "path": "emails[type eq \"work\"]"}])).unwrap();
        assert_eq!(
            u["emails"],
            json!([{"value": "jo@home.test", "type": "home"}])
        );
        let u = user_patch(
            json!([{"op": "remove", "path": "emails[type eq \"work\" or type eq \"home\"]"}]),
        )
        .unwrap();
        assert!(
            u.get("emails").is_none(),
            "no remaining values: unassigned (§3.5.2.2)"
        );
        let u =
            user_patch(json!([{"op": "remove", "path": "emails[type eq \"home\"].type"}])).unwrap();
        assert_eq!(u["emails"][1], json!({"value": "jo@home.test"}));
        // Matching nothing: nothing to remove, and a retried request stays harmless.
        let u = user_patch(json!([{"op": "remove", "path": "emails[type eq \"other\"]"}])).unwrap();
        assert_eq!(u, Value::Object(base_user()));
    }

    #[test]
    fn remove_with_value_list_removes_only_listed_values() {
        let u = user_patch(
            json!([{"op": "Remove", "path": "emails", "value": [{"value": "JO@HOME.TEST"}]}]),
        )
        .unwrap();
        assert_eq!(
            u["emails"],
            json!([{"value": "jo@work.test", "type": "work", "primary": true}])
        );
        let u = user_patch(
            json!([{"op": "Remove", "path": "emails", "value": [{"value": "nobody@x.test"}]}]),
        )
        .unwrap();
        assert_eq!(u, Value::Object(base_user()));
        // An empty list names nothing to remove; `null` is no value: the whole attribute.
        let u = user_patch(json!([{"op": "remove", "path": "emails", "value": []}])).unwrap();
        assert_eq!(u, Value::Object(base_user()));
        let u = user_patch(json!([{"op": "remove", "path": "emails", "value": null}])).unwrap();
        assert!(u.get("emails").is_none());
        assert_eq!(
            err_type(user_patch(
                json!([{"op": "remove", "path": "emails", "value": [{"primary": "maybe"}]}])
            )),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn required_attributes_survive_the_patch() {
        // RFC 7644 §3.5.2.2: a required attribute that is removed or becomes unassigned is
        // a `mutability` error.
        assert_eq!(
            err_type(user_patch(json!([{"op": "remove", "path": "userName"}]))),
            ScimType::Mutability
        );
        assert_eq!(
            err_type(user_patch(
                json!([{"op": "replace", "path": "userName", "value": null}])
            )),
            ScimType::Mutability
        );
        assert_eq!(
            err_type(user_patch(
                json!([{"op": "replace", "value": {"userName": " "}}])
            )),
            ScimType::InvalidValue
        );
        // Removed then set again within the same request is fine.
        let u = user_patch(json!([{"op": "remove", "path": "userName"}, {"op": "add", "path": "userName", "value": "jo2"}])).unwrap();
        assert_eq!(u["userName"], "jo2");
    }

    #[test]
    fn a_failing_request_changes_nothing() {
        let mut u = base_user();
        let ops = parse_patch(&body(json!([
            {"op": "replace", "path": "title", "value": "CTO"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@x.test"},
            {"op": "replace", "path": "id", "value": "x"},
        ])))
        .unwrap();
        assert!(apply_patch(&mut u, &ops, &USER_RESOURCE).is_err());
        assert_eq!(u, base_user());
    }

    #[test]
    fn extension_urn_path_with_object_value() {
        let u = user_patch(json!([{"op": "replace", "path": ENT, "value": {"department": "Ops", "employeeNumber": null}}])).unwrap();
        assert_eq!(
            u[ENT],
            json!({"department": "Ops", "manager": {"value": "m1"}})
        );
        assert_eq!(
            err_type(user_patch(
                json!([{"op": "add", "path": ENT, "value": "x"}])
            )),
            ScimType::InvalidValue
        );
        let u = user_patch(json!([{"op": "replace", "path": ENT, "value": null}])).unwrap();
        assert!(u.get(ENT).is_none());
    }

    // ---- Group members ----

    fn split(ops: Value) -> ScimResult<(Vec<PatchOp>, Vec<MemberOp>)> {
        split_member_ops(parse_patch(&body(ops))?)
    }

    fn member(id: &str, kind: Option<&str>) -> MemberRef {
        MemberRef {
            value: id.into(),
            kind: kind.map(Into::into),
        }
    }

    #[test]
    fn member_ops_in_order() {
        let (generic, members) = split(json!([
            {"op": "add", "path": "members", "value": {"value": "u1", "type": "user"}},
            {"op": "replace", "path": "displayName", "value": "Eng"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members", "value": []},
            {"op": "remove", "path": "Members"},
            {"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"},
            {"op": "remove", "path": "members[type eq \"Group\"]"},
            {"op": "replace", "path": "members", "value": [{"value": "u9", "type": "GROUP"}]},
        ]))
        .unwrap();
        assert_eq!(generic.len(), 1);
        assert_eq!(
            members,
            [
                MemberOp::Add(vec![member("u1", Some("User"))]),
                MemberOp::Replace(vec![]),
                MemberOp::RemoveAll,
                MemberOp::Remove(vec!["a".into(), "b".into()]),
                MemberOp::RemoveWhere(parse_filter("type eq \"Group\"").unwrap()),
                MemberOp::Replace(vec![member("u9", Some("Group"))]),
            ]
        );
    }

    #[test]
    fn pathless_member_keys_are_split_from_the_rest() {
        let (generic, members) = split(json!([
            {"op": "add", "value": {"members": [{"value": "u1"}], "externalId": "e"}},
            {"op": "replace", "value": {"Members": []}},
            {"op": "add", "value": {"members": []}},
        ]))
        .unwrap();
        assert_eq!(
            members,
            [
                MemberOp::Add(vec![member("u1", None)]),
                MemberOp::Replace(vec![])
            ]
        );
        assert_eq!(generic.len(), 1);
        assert_eq!(generic[0].value, Some(json!({"externalId": "e"})));
        let mut g = normalize_resource(&json!({"displayName": "Eng"}), &GROUP_RESOURCE).unwrap();
        apply_patch(&mut g, &generic, &GROUP_RESOURCE).unwrap();
        assert_eq!(
            Value::Object(g),
            json!({"displayName": "Eng", "externalId": "e"})
        );
    }

    #[test]
    fn member_remove_with_empty_value_list_removes_nothing() {
        let (_, members) =
            split(json!([{"op": "remove", "path": "members", "value": []}])).unwrap();
        assert!(members.is_empty());
        let (_, members) =
            split(json!([{"op": "remove", "path": "members", "value": null}])).unwrap();
        assert_eq!(members, [MemberOp::RemoveAll]);
    }

    #[test]
    fn member_values_are_immutable_through_paths() {
        for (op, path) in [
            ("replace", "members[value eq \"u1\"].type"),
            ("add", "members[value eq \"u1\"]"),
            ("replace", "members[value eq \"u1\"]"),
            ("replace", "members.value"),
            ("remove", "members.display"),
            ("remove", "members[value eq \"u1\"].value"),
        ] {
            let r = split(json!([{"op": op, "path": path, "value": "x"}]));
            assert_eq!(err_type(r), ScimType::Mutability, "{op} {path}");
        }
        assert_eq!(
            err_type(split(json!([{"op": "remove", "path": "members.nope"}]))),
            ScimType::InvalidPath
        );
        assert_eq!(
            err_type(split(
                json!([{"op": "remove", "path": "members[nope eq \"x\"]"}])
            )),
            ScimType::InvalidPath
        );
        // The generic engine enforces the same on a Group that still carries members.
        let g = normalize_resource(
            &json!({"displayName": "Eng", "members": [{"value": "u1"}]}),
            &GROUP_RESOURCE,
        )
        .unwrap();
        let r = patched(
            &g,
            json!([{"op": "replace", "path": "members[value eq \"u1\"].type", "value": "Group"}]),
            &GROUP_RESOURCE,
        );
        assert_eq!(err_type(r), ScimType::Mutability);
    }

    #[test]
    fn member_elements_are_validated() {
        for bad in [
            json!(["u1"]),
            json!([{"display": "x"}]),
            json!([{"value": ""}]),
            json!([{"value": "u", "type": "Robot"}]),
            json!([{"value": "u", "type": 1}]),
        ] {
            let r = split(json!([{"op": "add", "path": "members", "value": bad}]));
            assert_eq!(err_type(r), ScimType::InvalidValue, "{bad}");
        }
        assert_eq!(
            parse_member(&json!({"VALUE": "u", "Type": "group", "display": "D", "$ref": "r"}))
                .unwrap(),
            member("u", Some("Group"))
        );
    }

    #[test]
    fn non_member_ops_pass_through_untouched() {
        let (generic, members) = split(json!([
            {"op": "replace", "path": "displayName", "value": "X"},
            {"op": "remove", "path": "externalId"},
        ]))
        .unwrap();
        assert!(members.is_empty());
        assert_eq!(generic.len(), 2);
        assert_eq!(generic[1].op, PatchOpKind::Remove);
    }

    // ---- invariants ----

    mod props {
        use super::*;
        use proptest::prelude::*;
        use proptest::test_runner::Config;

        fn config() -> Config {
            // Bounded (2-core CI) and never writes regression files into the source tree.
            Config {
                cases: 256,
                failure_persistence: None,
                ..Config::default()
            }
        }

        fn address() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "a@x.test", "b@x.test", "A@X.TEST", "c@y.test", "d@y.test",
            ])
            .prop_map(str::to_owned)
        }

        fn email_type() -> impl Strategy<Value = Option<&'static str>> {
            prop::option::of(prop::sample::select(vec!["work", "home", "Work", "other"]))
        }

        fn email() -> impl Strategy<Value = Value> {
            (address(), email_type(), prop::option::of(any::<bool>())).prop_map(|(v, t, p)| {
                let mut e = json!({"value": v});
                if let Some(t) = t {
                    e["type"] = json!(t);
                }
                if let Some(p) = p {
                    e["primary"] = json!(p);
                }
                e
            })
        }

        /// A valid stored user: random e-mails (at most one primary), maybe a name.
        fn user() -> impl Strategy<Value = Map<String, Value>> {
            (
                prop::collection::vec(email(), 0..4),
                prop::option::of("[A-Z][a-z]{0,4}"),
            )
                .prop_filter_map("needs a valid body", |(emails, given)| {
                    let mut b = json!({"userName": "jo", "emails": emails});
                    if let Some(g) = given {
                        b["name"] = json!({"givenName": g});
                    }
                    normalize_resource(&b, &USER_RESOURCE).ok()
                })
        }

        fn add_op() -> impl Strategy<Value = Value> {
            prop_oneof![
                prop::collection::vec(email(), 1..3)
                    .prop_map(|es| json!({"op": "add", "path": "emails", "value": es})),
                (email(), "[a-z]{1,4}").prop_map(|(e, g)| json!({"op": "add", "value": {
                    "emails": [e], "name": {"givenName": g}, "active": "False"}})),
                (email_type(), address())
                    .prop_filter_map("needs a type", |(t, v)| t.map(|t| json!({
                    "op": "Add", "path": format!("emails[type eq \"{t}\"].value"), "value": v}))),
                "[a-z]{1,4}"
                    .prop_map(|g| json!({"op": "add", "path": "name.givenName", "value": g})),
                "[a-z0-9-]{1,6}".prop_map(
                    |m| json!({"op": "Add", "path": format!("{ENT}:manager"), "value": m})
                ),
            ]
        }

        fn outcome(attrs: &Map<String, Value>, ops: Value) -> Result<Value, Option<ScimType>> {
            patched(attrs, ops, &USER_RESOURCE).map_err(|e| e.scim_type)
        }

        proptest! {
            #![proptest_config(config())]

            /// RFC 7644 §3.5.2.1: "If the target location already contains the value
            /// specified, no changes SHOULD be made": `add` is idempotent.
            #[test]
            fn add_twice_equals_add_once(u in user(), op in add_op()) {
                let once = outcome(&u, json!([op.clone()]));
                let twice = outcome(&u, json!([op.clone(), op]));
                prop_assert_eq!(once, twice);
            }

            /// Adding an e-mail the user does not have and removing it by value restores
            /// the stored map exactly (no leftover empty list, no primary flags touched).
            #[test]
            fn add_then_remove_email_restores(u in user(), v in "[e-h]{1,4}@z\\.test", t in email_type()) {
                let mut e = json!({"value": v});
                if let Some(t) = t {
                    e["type"] = json!(t);
                }
                let ops = json!([
                    {"op": "add", "path": "emails", "value": [e]},
                    {"op": "remove", "path": format!("emails[value eq \"{v}\"]")},
                ]);
                prop_assert_eq!(outcome(&u, ops), Ok(Value::Object(u.clone())));
            }
        }
    }
}
