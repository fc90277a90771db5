//! SCIM filter grammar (RFC 7644 §3.4.2.2): AST, parser, printer and evaluator.

use serde_json::Number;

/// `[URI ":"] ATTRNAME ["." subAttr]` (RFC 7644 §3.10 and the ABNF of §3.4.2.2).
/// Names are kept as written; resolution against a schema is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// Schema URN when the path was fully qualified, e.g.
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

/// Comparison operators of RFC 7644 §3.4.2.2, Table 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// `compValue = false / null / true / number / string` (RFC 7644 §3.4.2.2).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(Number),
    Str(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath pr`
    Present(AttrPath),
    /// `attrPath compareOp compValue`
    Compare(AttrPath, CompareOp, CompValue),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    /// `not ( valFilter )`
    Not(Box<Filter>),
    /// `attrPath [ valFilter ]`: the inner filter's paths are relative to the elements of the
    /// (complex, usually multi-valued) attribute. `attrPath` carries no `sub`.
    ValuePath(AttrPath, Box<Filter>),
}
