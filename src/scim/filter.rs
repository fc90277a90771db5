//! SCIM filter grammar (RFC 7644 §3.4.2.2): AST, parser, printer and evaluator.
//!
//! * [`parse_filter`] turns a `filter=` string into a [`Filter`]; it is a hand-written
//!   recursive-descent parser with hard limits on input length ([`MAX_FILTER_LEN`]) and on
//!   nesting / tree height ([`MAX_FILTER_DEPTH`]), so no input can exhaust the stack, here or
//!   in the recursive walks (`Display`, [`validate`], [`matches`], `Drop`) over the tree.
//! * `Display` prints a canonical form that parses back to the same tree.
//! * [`validate`] checks a tree against a resource type's schema (unknown attributes,
//!   operators that RFC 7644 forbids for a type).
//! * [`matches`] evaluates a validated tree against a stored resource in canonical layout.
//!
//! Filters routinely carry e-mail addresses and names, so no error produced here ever
//! contains text from the filter: parse errors say what was expected and at which byte
//! offset, schema errors name only canonical attribute names from the schema.

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::schema::{AttrDef, AttrType, ResourceTypeDef};
use serde_json::{Number, Value};
use std::cmp::Ordering;
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Longest filter (in bytes) we parse. Real IdP filters are well under 1 KiB.
pub const MAX_FILTER_LEN: usize = 4096;

/// Deepest nesting of groups we accept while parsing (`( … )`, `not ( … )`, `attr[ … ]`).
pub const MAX_FILTER_DEPTH: usize = 24;

/// Tallest filter tree we build. A left-associative chain of `n` terms
/// (`id eq "1" or id eq "2" or …`, as some IdPs batch lookups) is a tree of height `n`;
/// [`MAX_FILTER_LEN`] already bounds it to a few hundred, and the evaluator, printer and
/// drop, which recurse over the tree, stay far within a thread's stack at this height.
pub const MAX_FILTER_HEIGHT: usize = 512;

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

impl AttrPath {
    /// An unqualified path without sub-attribute.
    pub fn name(attr: impl Into<String>) -> AttrPath {
        AttrPath {
            urn: None,
            attr: attr.into(),
            sub: None,
        }
    }
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

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Operators are case-insensitive (RFC 7644 §3.4.2.2: "Attribute names and attribute
    /// operators used in filters are case insensitive").
    fn from_word(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
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

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Parse a `filter` (RFC 7644 §3.4.2.2).
///
/// Beyond the ABNF this accepts, for interoperability:
/// * any run of spaces, tabs, CR or LF wherever the grammar has `SP`, and around parentheses
///   and brackets;
/// * Microsoft Entra ID's `emails[type eq "work"].value eq "x@y"`, which is read as
///   `emails[type eq "work" and value eq "x@y"]`, its only sensible meaning (and the
///   standard form the printer emits for it).
///
/// Every failure is `400 invalidFilter`; see the module docs for what the detail may contain.
pub fn parse_filter(input: &str) -> ScimResult<Filter> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "filter is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    let mut p = Parser::new(input);
    let parsed = p.filter().and_then(|(f, _)| {
        p.skip_ws();
        if p.at_end() {
            Ok(f)
        } else {
            Err(p.error("expected 'and', 'or' or the end of the filter"))
        }
    });
    parsed.map_err(|e| ScimError::invalid_filter(e.detail()))
}

/// Parse a bare attribute path in standard attribute notation (RFC 7644 §3.10), as used by
/// `sortBy`, `attributes` and `excludedAttributes`. Surrounding whitespace is ignored.
///
/// Failures are `400 invalidValue`: RFC 7644 assigns no `scimType` to a malformed
/// query-parameter value, and invalidValue ("the value specified was not compatible with
/// the operation", §3.12) describes it; invalidFilter/invalidPath would point the IdP admin
/// at the wrong parameter.
///
/// A whole-extension URN (`urn:…:enterprise:2.0:User`) parses as `urn = "urn:…:2.0"`,
/// `attr = "User"`: telling it apart from an attribute is the caller's job (compare
/// `"{urn}:{attr}"` with the resource type's extension ids).
pub fn parse_attr_path(s: &str) -> ScimResult<AttrPath> {
    let invalid =
        |what: String| ScimError::invalid_value(format!("invalid attribute path: {what}"));
    if s.len() > MAX_FILTER_LEN {
        return Err(invalid(format!("longer than {MAX_FILTER_LEN} bytes")));
    }
    let mut p = Parser::new(s);
    p.skip_ws();
    let path = p.attr_path().map_err(|e| invalid(e.detail()))?;
    p.skip_ws();
    if !p.at_end() {
        return Err(invalid(
            p.error("expected the end of the attribute path").detail(),
        ));
    }
    Ok(path)
}

/// A syntax error: what was expected and where. `what` is a `&'static str` so that no text
/// from the input can end up in an error message by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) offset: usize,
    pub(crate) what: &'static str,
}

impl SyntaxError {
    pub(crate) fn detail(&self) -> String {
        format!("{} (at byte {})", self.what, self.offset)
    }
}

type PResult<T> = Result<T, SyntaxError>;

/// Filter and path parser over the input's bytes.
///
/// Every token the grammar knows is ASCII, so the parser only ever stops (and slices) at an
/// ASCII byte or at the ends of the input: all slices fall on `char` boundaries. Non-ASCII
/// text can only appear inside string literals, which are scanned byte-wise for `"` and
/// `\` (neither can occur inside a multi-byte UTF-8 sequence) and decoded by serde_json.
pub(crate) struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Groups currently open: `(`, `not (`, `[`.
    nesting: usize,
}

/// Characters of an attribute path token: name characters plus the `:` and `.` of URNs
/// and sub-attributes (RFC 7644 §3.10; `$` for `$ref`, RFC 7643 §2.3.7).
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'-' | b':' | b'.')
}

/// `nameChar = "-" / "_" / DIGIT / ALPHA` (RFC 7643 §2.1), plus `$` for `$ref`.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'-')
}

/// `ATTRNAME = ALPHA *(nameChar)`; `$ref` is the one name that starts with `$`.
fn is_attr_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'$')
        && b.iter().all(|&c| is_name_byte(c))
}

/// Split an attribute path token into URN, name and sub-attribute. The URN is everything
/// before the last `:`, since URNs contain both `:` and `.` ("…:2.0:User") but names
/// contain neither.
fn split_attr_token(tok: &str) -> Result<AttrPath, &'static str> {
    let (urn, rest) = match tok.rfind(':') {
        Some(0) => return Err("empty schema URN in attribute path"),
        Some(i) => (Some(&tok[..i]), &tok[i + 1..]),
        None => (None, tok),
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    if !is_attr_name(attr) {
        return Err("invalid attribute name");
    }
    if let Some(s) = sub {
        if s.contains('.') {
            return Err("attribute paths have at most one sub-attribute level");
        }
        if !is_attr_name(s) {
            return Err("invalid sub-attribute name");
        }
    }
    Ok(AttrPath {
        urn: urn.map(str::to_owned),
        attr: attr.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Parser {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            nesting: 0,
        }
    }

    pub(crate) fn error(&self, what: &'static str) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            what,
        }
    }

    /// Byte offset of the next unread byte.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Consume `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// Consume a case-insensitive keyword when it is followed by something that cannot
    /// continue a name (so `orange` is not `or` + `ange`).
    fn keyword(&mut self, kw: &str) -> bool {
        let end = self.pos + kw.len();
        let hit = end <= self.bytes.len()
            && self.bytes[self.pos..end].eq_ignore_ascii_case(kw.as_bytes())
            && !self.bytes.get(end).copied().is_some_and(is_path_byte);
        if hit {
            self.pos = end;
        }
        hit
    }

    fn enter(&mut self) -> PResult<()> {
        if self.nesting >= MAX_FILTER_DEPTH {
            return Err(self.error("filter is nested too deeply"));
        }
        self.nesting += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    /// Height of a new node over children of height `h`, within [`MAX_FILTER_HEIGHT`].
    fn grow(&self, h: usize) -> PResult<usize> {
        if h >= MAX_FILTER_HEIGHT {
            return Err(self.error("filter is nested too deeply"));
        }
        Ok(h + 1)
    }

    /// A whole filter; returns the tree and its height.
    pub(crate) fn filter(&mut self) -> PResult<(Filter, usize)> {
        self.or_expr(false)
    }

    /// `a or b or c`, left-associative, lowest precedence. Built iteratively so a long chain
    /// costs no stack while parsing; its height is still limited (see [`MAX_FILTER_DEPTH`]).
    fn or_expr(&mut self, in_value: bool) -> PResult<(Filter, usize)> {
        let (mut left, mut h) = self.and_expr(in_value)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if !self.keyword("or") {
                self.pos = save;
                return Ok((left, h));
            }
            let (right, rh) = self.and_expr(in_value)?;
            h = self.grow(h.max(rh))?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
    }

    /// `a and b and c`: binds tighter than `or`. RFC 7644 §3.4.2.2: grouping first, then
    /// logical operators "where "not" takes precedence over "and", which takes precedence
    /// over "or"".
    fn and_expr(&mut self, in_value: bool) -> PResult<(Filter, usize)> {
        let (mut left, mut h) = self.unary(in_value)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if !self.keyword("and") {
                self.pos = save;
                return Ok((left, h));
            }
            let (right, rh) = self.unary(in_value)?;
            h = self.grow(h.max(rh))?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    /// `( filter )`, `not ( filter )` or an attribute expression.
    fn unary(&mut self, in_value: bool) -> PResult<(Filter, usize)> {
        self.skip_ws();
        if self.eat(b'(') {
            let inner = self.group(in_value, b')', "expected ')'")?;
            return Ok(inner);
        }
        let save = self.pos;
        if self.keyword("not") {
            self.skip_ws();
            if self.eat(b'(') {
                let (inner, h) = self.group(in_value, b')', "expected ')' closing 'not ('")?;
                let h = self.grow(h)?;
                return Ok((Filter::Not(Box::new(inner)), h));
            }
            // `not` without `(` can only be an attribute that happens to be called "not".
            self.pos = save;
        }
        self.attr_expr(in_value)
    }

    /// The inside of a group whose opening byte was consumed, through `close`.
    fn group(
        &mut self,
        in_value: bool,
        close: u8,
        missing: &'static str,
    ) -> PResult<(Filter, usize)> {
        self.enter()?;
        let inner = self.or_expr(in_value)?;
        self.skip_ws();
        if !self.eat(close) {
            return Err(self.error(missing));
        }
        self.leave();
        Ok(inner)
    }

    /// `[ valFilter ]` of a value path (RFC 7644 §3.4.2.2) with the parser on the `[`.
    /// Value filters do not nest: the ABNF's `valFilter` has no `valuePath`.
    /// Returns the inner filter and the height of the value path node.
    pub(crate) fn value_filter(&mut self) -> PResult<(Filter, usize)> {
        if !self.eat(b'[') {
            return Err(self.error("expected '['"));
        }
        let (inner, h) = self.group(true, b']', "expected ']' closing the value filter")?;
        Ok((inner, self.grow(h)?))
    }

    /// An attribute path token (RFC 7644 §3.10).
    pub(crate) fn attr_path(&mut self) -> PResult<AttrPath> {
        let start = self.pos;
        while self.peek().is_some_and(is_path_byte) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.error("expected an attribute path"));
        }
        split_attr_token(&self.src[start..self.pos]).map_err(|what| SyntaxError {
            offset: start,
            what,
        })
    }

    /// A single attribute name (the `subAttr` after `]`).
    pub(crate) fn attr_name(&mut self) -> PResult<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_name_byte) {
            self.pos += 1;
        }
        let name = &self.src[start..self.pos];
        if !is_attr_name(name) {
            return Err(SyntaxError {
                offset: start,
                what: "expected a sub-attribute name",
            });
        }
        Ok(name.to_owned())
    }

    /// `attrPath SP "pr"`, `attrPath SP compareOp SP compValue` or `attrPath "[" valFilter "]"`.
    fn attr_expr(&mut self, in_value: bool) -> PResult<(Filter, usize)> {
        let start = self.pos;
        let path = self.attr_path()?;
        let after_path = self.pos;
        self.skip_ws();
        if self.peek() == Some(b'[') {
            if in_value {
                return Err(self.error("value filters cannot be nested"));
            }
            if path.sub.is_some() {
                return Err(SyntaxError {
                    offset: start,
                    what: "a value filter applies to an attribute, not a sub-attribute",
                });
            }
            let (mut inner, mut h) = self.value_filter()?;
            if self.eat(b'.') {
                // Entra ID: `emails[type eq "work"].value eq "x"` means "an email whose type is
                // work and whose value is x": fold the trailing comparison into the value filter.
                let sub = AttrPath::name(self.attr_name()?);
                let (cmp, _) = self.operator_and_value(sub)?;
                inner = Filter::And(Box::new(inner), Box::new(cmp));
                h = self.grow(h)?;
            }
            return Ok((Filter::ValuePath(path, Box::new(inner)), h));
        }
        if self.pos == after_path {
            return Err(self.error("expected whitespace and an operator after the attribute path"));
        }
        self.operator_and_value(path)
    }

    /// `pr`, or a comparison operator followed by a value.
    fn operator_and_value(&mut self, path: AttrPath) -> PResult<(Filter, usize)> {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let word = &self.src[start..self.pos];
        if word.eq_ignore_ascii_case("pr") {
            return Ok((Filter::Present(path), 1));
        }
        let Some(op) = CompareOp::from_word(word) else {
            return Err(SyntaxError {
                offset: start,
                what: "expected an operator: eq, ne, co, sw, ew, gt, ge, lt, le or pr",
            });
        };
        self.skip_ws();
        let value = self.comp_value()?;
        Ok((Filter::Compare(path, op, value), 1))
    }

    /// `compValue = false / null / true / number / string`, with JSON number and string
    /// syntax (RFC 7644 §3.4.2.2 refers to RFC 7159 for both).
    fn comp_value(&mut self) -> PResult<CompValue> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                loop {
                    match self.peek() {
                        None => {
                            return Err(SyntaxError {
                                offset: start,
                                what: "unterminated string",
                            })
                        }
                        // Skip the escaped byte; a bad escape is serde_json's to reject.
                        Some(b'\\') => self.pos += 2,
                        Some(b'"') => break,
                        Some(_) => self.pos += 1,
                    }
                }
                self.pos += 1;
                serde_json::from_str::<String>(&self.src[start..self.pos])
                    .map(CompValue::Str)
                    .map_err(|_| SyntaxError {
                        offset: start,
                        what: "invalid string literal",
                    })
            }
            Some(b'-' | b'0'..=b'9') => {
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                ) {
                    self.pos += 1;
                }
                parse_json_number(&self.src[start..self.pos])
                    .map(CompValue::Number)
                    .ok_or(SyntaxError {
                        offset: start,
                        what: "invalid number",
                    })
            }
            _ => {
                while self.peek().is_some_and(is_name_byte) {
                    self.pos += 1;
                }
                let word = &self.src[start..self.pos];
                if word.eq_ignore_ascii_case("true") {
                    Ok(CompValue::Bool(true))
                } else if word.eq_ignore_ascii_case("false") {
                    Ok(CompValue::Bool(false))
                } else if word.eq_ignore_ascii_case("null") {
                    Ok(CompValue::Null)
                } else {
                    Err(SyntaxError {
                        offset: start,
                        what: "expected a value: a string, a number, true, false or null",
                    })
                }
            }
        }
    }
}

/// A JSON number (RFC 8259 §6): `-? (0 / [1-9] DIGIT*) [. DIGIT+] [(e/E) [+/-] DIGIT+]`.
///
/// Integers become `i64`/`u64` like serde_json's; fractions and exponents are parsed by
/// `str::parse::<f64>`, which rounds correctly, where serde_json without its
/// `float_roundtrip` feature may be off by one ulp and break print→parse round trips.
fn parse_json_number(s: &str) -> Option<Number> {
    let b = s.as_bytes();
    let digits = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let int = digits(i);
    if int == 0 || (int > 1 && b[i] == b'0') {
        return None;
    }
    i += int;
    let mut integral = true;
    if b.get(i) == Some(&b'.') {
        let frac = digits(i + 1);
        if frac == 0 {
            return None;
        }
        i += 1 + frac;
        integral = false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = digits(i);
        if exp == 0 {
            return None;
        }
        i += exp;
        integral = false;
    }
    if i != b.len() {
        return None;
    }
    if integral {
        if let Ok(n) = s.parse::<u64>() {
            return Some(n.into());
        }
        if let Ok(n) = s.parse::<i64>() {
            return Some(n.into());
        }
    }
    // Out-of-range magnitudes parse to infinity, which JSON cannot carry: rejected here.
    Number::from_f64(s.parse::<f64>().ok()?)
}

// ---------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            // serde_json prints floats so that they read back to the same value.
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::Str(s) => f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?),
        }
    }
}

/// The canonical form: lower-case keywords, single spaces, JSON literals, and parentheses
/// only where precedence needs them, so `parse_filter(&f.to_string()) == Ok(f)`.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn operand(f: &mut fmt::Formatter<'_>, x: &Filter, paren: bool) -> fmt::Result {
            if paren {
                write!(f, "({x})")
            } else {
                write!(f, "{x}")
            }
        }
        match self {
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::Compare(p, op, v) => write!(f, "{p} {op} {v}"),
            // Left-associative: a left child of the same operator needs no parentheses, a
            // right one does; `and` inside `or` never does.
            Filter::And(l, r) => {
                operand(f, l, matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                operand(f, r, matches!(**r, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(l, r) => {
                operand(f, l, false)?;
                f.write_str(" or ")?;
                operand(f, r, matches!(**r, Filter::Or(..)))
            }
            Filter::Not(x) => write!(f, "not ({x})"),
            Filter::ValuePath(p, x) => write!(f, "{p}[{x}]"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Resolution against the schema
// ---------------------------------------------------------------------------------------

/// RFC 7644 §3.4.2.2 filters on `schemas` (`schemas eq "urn:…:enterprise:2.0:User"`), but
/// RFC 7643 §3 does not define it as a schema attribute, so schema.rs does not list it.
static SCHEMAS_ATTR: AttrDef = AttrDef::reference(
    "schemas",
    &["uri"],
    "The schema URIs the resource conforms to.",
)
.multi();

/// Where a path is evaluated: against a whole resource, or (inside `attr[…]`) against
/// one element of the complex attribute `attr`.
#[derive(Clone, Copy)]
enum Scope<'r> {
    Resource(&'r ResourceTypeDef),
    Element(&'static AttrDef),
}

/// A path resolved against the schema: which JSON keys address it.
#[derive(Clone, Copy)]
pub(crate) struct Target {
    /// The extension URN key the attribute lives under, for extension attributes.
    ext_key: Option<&'static str>,
    pub(crate) attr: &'static AttrDef,
    pub(crate) sub: Option<&'static AttrDef>,
}

impl Target {
    /// The definition of what the path finally addresses.
    pub(crate) fn leaf(&self) -> &'static AttrDef {
        self.sub.unwrap_or(self.attr)
    }

    /// The definition [`sort_value`] returns a value of: the sub-attribute, else a complex
    /// attribute's `value`, else the attribute.
    pub(crate) fn sort_leaf(&self) -> &'static AttrDef {
        // Only complex attributes have sub-attributes, so this finds `value` only for them.
        self.sub
            .or_else(|| self.attr.sub("value"))
            .unwrap_or(self.attr)
    }
}

fn locate(scope: Scope<'_>, path: &AttrPath) -> ScimResult<Target> {
    let (ext_key, attr) = match scope {
        Scope::Resource(rt) => {
            let core = match path.urn.as_deref() {
                None => true,
                Some(u) => u.eq_ignore_ascii_case(rt.schema.id),
            };
            if core && path.attr.eq_ignore_ascii_case(SCHEMAS_ATTR.name) {
                (None, &SCHEMAS_ATTR)
            } else {
                let r = rt.resolve(path.urn.as_deref(), &path.attr).ok_or_else(|| {
                    ScimError::invalid_filter(format!(
                        "the filter names an attribute that {} resources do not have",
                        rt.name
                    ))
                })?;
                (r.in_extension.then_some(r.schema.id), r.attr)
            }
        }
        Scope::Element(parent) => {
            if path.urn.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "attributes inside a value filter are sub-attributes of '{}' and take no schema URN",
                    parent.name
                )));
            }
            let attr = parent.sub(&path.attr).ok_or_else(|| {
                ScimError::invalid_filter(format!(
                    "the filter names a sub-attribute that '{}' does not have",
                    parent.name
                ))
            })?;
            (None, attr)
        }
    };
    let sub = match &path.sub {
        None => None,
        Some(_) if attr.ty != AttrType::Complex => {
            return Err(ScimError::invalid_filter(format!(
                "'{}' is not complex and has no sub-attributes",
                attr.name
            )))
        }
        Some(s) => Some(attr.sub(s).ok_or_else(|| {
            ScimError::invalid_filter(format!(
                "the filter names a sub-attribute that '{}' does not have",
                attr.name
            ))
        })?),
    };
    Ok(Target { ext_key, attr, sub })
}

/// Resolve a top-level path of `rt` (errors are invalidFilter; callers that need another
/// `scimType` map them).
pub(crate) fn locate_path(path: &AttrPath, rt: &ResourceTypeDef) -> ScimResult<Target> {
    locate(Scope::Resource(rt), path)
}

/// The JSON values `t` addresses under `root`, multi-valued attributes flattened and
/// nulls skipped.
fn gather<'a>(root: &'a Value, t: &Target, out: &mut Vec<&'a Value>) {
    let container = match t.ext_key {
        Some(key) => match root.get(key) {
            Some(c) => c,
            None => return,
        },
        None => root,
    };
    let Some(v) = container.get(t.attr.name) else {
        return;
    };
    let mut push = |item: &'a Value| match t.sub {
        None => push_flat(item, out),
        Some(sub) => {
            if let Some(x) = item.get(sub.name) {
                push_flat(x, out)
            }
        }
    };
    match v {
        Value::Array(items) => items.iter().for_each(&mut push),
        v => push(v),
    }
}

fn push_flat<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|x| !x.is_null())),
        v => out.push(v),
    }
}

/// The value to sort a resource by (RFC 7644 §3.4.2.3): of a multi-valued attribute the
/// element marked `primary`, else the first; then its sub-attribute where the path names
/// one or the attribute is complex (its `value`, see [`Target::sort_leaf`]). `None` when
/// there is no data: absent, null, or empty as for `pr`.
pub(crate) fn sort_value<'a>(root: &'a Value, t: &Target) -> Option<&'a Value> {
    let container = match t.ext_key {
        Some(key) => root.get(key)?,
        None => root,
    };
    let v = container.get(t.attr.name)?;
    let item = match v {
        Value::Array(items) => items
            .iter()
            .find(|x| x.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| items.first())?,
        v => v,
    };
    let leaf = match t.sub.or_else(|| t.attr.sub("value")) {
        Some(sub) => item.get(sub.name)?,
        None => item,
    };
    has_content(leaf).then_some(leaf)
}

/// All values a path addresses in a resource: every element of a multi-valued attribute,
/// the named sub-attribute of each element, nulls skipped. Empty when the path does not
/// resolve against `rt`.
pub fn values_at<'a>(resource: &'a Value, path: &AttrPath, rt: &ResourceTypeDef) -> Vec<&'a Value> {
    let mut out = Vec::new();
    if let Ok(t) = locate(Scope::Resource(rt), path) {
        gather(resource, &t, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

/// Check a filter against a resource type (RFC 7644 §3.4.2.2): every attribute must exist,
/// sub-attributes only on complex attributes, value filters only on complex attributes,
/// ordering operators not on boolean or binary attributes ("Boolean and Binary attributes
/// SHALL cause a failed response (HTTP status code 400) with "scimType" of
/// "invalidFilter""), and substring operators not on booleans. Inside `attr[…]` the paths
/// are sub-attributes of `attr`.
pub fn validate(filter: &Filter, rt: &ResourceTypeDef) -> ScimResult<()> {
    check(filter, Scope::Resource(rt))
}

fn check(filter: &Filter, scope: Scope<'_>) -> ScimResult<()> {
    match filter {
        Filter::And(l, r) | Filter::Or(l, r) => {
            check(l, scope)?;
            check(r, scope)
        }
        Filter::Not(x) => check(x, scope),
        Filter::Present(p) => locate(scope, p).map(|_| ()),
        Filter::Compare(p, op, v) => {
            let t = locate(scope, p)?;
            let mut def = t.leaf();
            // `eq null` asks about presence, which is meaningful for any attribute.
            if def.ty == AttrType::Complex && *v != CompValue::Null {
                def = def.sub("value").ok_or_else(|| {
                    ScimError::invalid_filter(format!(
                        "'{}' is complex: compare one of its sub-attributes",
                        def.name
                    ))
                })?;
            }
            let forbidden = match def.ty {
                AttrType::Boolean => op.is_ordering() || op.is_substring(),
                AttrType::Binary => op.is_ordering(),
                _ => false,
            };
            if forbidden {
                return Err(ScimError::invalid_filter(format!(
                    "operator '{op}' is not defined for the {} attribute '{}'",
                    def.ty.as_str(),
                    def.name
                )));
            }
            Ok(())
        }
        Filter::ValuePath(p, inner) => {
            if let Scope::Element(parent) = scope {
                return Err(ScimError::invalid_filter(format!(
                    "value filters cannot be nested inside the value filter on '{}'",
                    parent.name
                )));
            }
            let t = locate(scope, p)?;
            if t.sub.is_some() || t.attr.ty != AttrType::Complex {
                return Err(ScimError::invalid_filter(format!(
                    "a value filter needs a complex attribute, and '{}' is not one",
                    t.leaf().name
                )));
            }
            check(inner, Scope::Element(t.attr))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

/// Does `resource` (canonical layout, see the crate docs) match `filter`? The filter must
/// have passed [`validate`] for `rt`; a path that does not resolve simply matches nothing.
///
/// Semantics (RFC 7644 §3.4.2.2):
/// * a multi-valued attribute matches when any of its values does;
/// * a complex attribute compared without a sub-attribute compares its `value`
///   sub-attribute (the RFC's own example is `emails co "example.com"`);
/// * strings compare case-insensitively unless the attribute is `caseExact` (binary data
///   is always compared exactly: base64 is case-significant); `gt`/`ge`/`lt`/`le` order
///   strings lexicographically, numbers numerically and `dateTime`s chronologically
///   (falling back to string order when a side is not RFC 3339);
/// * booleans only `eq`/`ne`; a value of another JSON type than the literal never matches;
/// * `pr` is "present and not null, empty string, empty array or empty object";
/// * `ne` is exactly `not eq`: an absent attribute is `ne` anything; `eq null` matches an
///   attribute that is not present.
pub fn matches(filter: &Filter, resource: &Value, rt: &ResourceTypeDef) -> bool {
    eval(filter, resource, Scope::Resource(rt))
}

fn eval(filter: &Filter, root: &Value, scope: Scope<'_>) -> bool {
    match filter {
        Filter::And(l, r) => eval(l, root, scope) && eval(r, root, scope),
        Filter::Or(l, r) => eval(l, root, scope) || eval(r, root, scope),
        Filter::Not(x) => !eval(x, root, scope),
        Filter::Present(p) => present(root, scope, p),
        Filter::Compare(p, CompareOp::Ne, v) => !compare(root, scope, p, CompareOp::Eq, v),
        Filter::Compare(p, op, v) => compare(root, scope, p, *op, v),
        Filter::ValuePath(p, inner) => {
            let Ok(t) = locate(scope, p) else {
                return false;
            };
            if t.attr.ty != AttrType::Complex || t.sub.is_some() {
                return false;
            }
            let mut elements = Vec::new();
            gather(root, &t, &mut elements);
            elements
                .into_iter()
                .any(|el| eval(inner, el, Scope::Element(t.attr)))
        }
    }
}

fn present(root: &Value, scope: Scope<'_>, p: &AttrPath) -> bool {
    let Ok(t) = locate(scope, p) else {
        return false;
    };
    let mut values = Vec::new();
    gather(root, &t, &mut values);
    values.into_iter().any(has_content)
}

/// RFC 7644 §3.4.2.2 `pr`: "If the attribute has a non-empty value, or if it contains a
/// non-empty node for complex attributes, there is a match."
fn has_content(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(has_content),
        Value::Object(members) => members.values().any(has_content),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare(root: &Value, scope: Scope<'_>, p: &AttrPath, op: CompareOp, want: &CompValue) -> bool {
    if *want == CompValue::Null {
        // `eq null` asks whether the attribute is unassigned; no other operator means
        // anything with null.
        return op == CompareOp::Eq && !present(root, scope, p);
    }
    let Ok(mut t) = locate(scope, p) else {
        return false;
    };
    if t.sub.is_none() && t.attr.ty == AttrType::Complex {
        match t.attr.sub("value") {
            Some(v) => t.sub = Some(v),
            None => return false,
        }
    }
    let def = t.leaf();
    let mut values = Vec::new();
    gather(root, &t, &mut values);
    values
        .into_iter()
        .any(|have| compare_one(have, op, want, def))
}

fn compare_one(have: &Value, op: CompareOp, want: &CompValue, def: &AttrDef) -> bool {
    match (have, want) {
        (Value::String(have), CompValue::Str(want)) => compare_str(have, op, want, def),
        (Value::Number(have), CompValue::Number(want)) => {
            !op.is_substring() && op_holds(op, cmp_numbers(have, want))
        }
        (Value::Bool(have), CompValue::Bool(want)) => op == CompareOp::Eq && have == want,
        _ => false,
    }
}

fn op_holds(op: CompareOp, ord: Option<Ordering>) -> bool {
    let Some(ord) = ord else { return false };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn is_case_exact(def: &AttrDef) -> bool {
    def.case_exact || def.ty == AttrType::Binary
}

fn compare_str(have: &str, op: CompareOp, want: &str, def: &AttrDef) -> bool {
    let exact = is_case_exact(def);
    if op.is_substring() {
        let (have, want) = if exact {
            (have.into(), want.into())
        } else {
            (fold(have), fold(want))
        };
        return match op {
            CompareOp::Co => have.contains(&*want),
            CompareOp::Sw => have.starts_with(&*want),
            _ => have.ends_with(&*want),
        };
    }
    op_holds(op, Some(cmp_strings(have, want, def)))
}

fn fold(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        s.to_lowercase().into()
    } else {
        s.into()
    }
}

/// Order two strings as values of `def`: chronologically for `dateTime` when both parse
/// as RFC 3339, else by Unicode scalar values, case-folded unless the attribute is
/// case-exact (RFC 7644 §3.4.2.3: "case-insensitive Unicode alphabetic sort order with
/// no specific locale implied").
fn cmp_strings(a: &str, b: &str, def: &AttrDef) -> Ordering {
    if def.ty == AttrType::DateTime {
        let parse = |s: &str| OffsetDateTime::parse(s, &Rfc3339).ok();
        if let (Some(a), Some(b)) = (parse(a), parse(b)) {
            return a.cmp(&b);
        }
    }
    if is_case_exact(def) {
        a.cmp(b)
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .cmp(b.chars().flat_map(char::to_lowercase))
    }
}

/// Numbers compare exactly as integers when both are integers, else as `f64`.
fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Order two attribute values of `def` for sorting (RFC 7644 §3.4.2.3). Values of
/// different JSON types order by type (booleans, numbers, strings, others) so that the
/// order is total even over inconsistent data.
pub(crate) fn cmp_values(a: &Value, b: &Value, def: &AttrDef) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::String(a), Value::String(b)) => cmp_strings(a, b, def),
        (Value::Number(a), Value::Number(b)) => cmp_numbers(a, b).unwrap_or(Ordering::Equal),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
    use proptest::prelude::*;
    use serde_json::json;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn p(s: &str) -> Filter {
        parse_filter(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn path(attr: &str) -> AttrPath {
        AttrPath::name(attr)
    }

    fn sub(attr: &str, s: &str) -> AttrPath {
        AttrPath {
            urn: None,
            attr: attr.into(),
            sub: Some(s.into()),
        }
    }

    fn cmp(a: AttrPath, op: CompareOp, v: CompValue) -> Filter {
        Filter::Compare(a, op, v)
    }

    fn s(v: &str) -> CompValue {
        CompValue::Str(v.into())
    }

    fn and(l: Filter, r: Filter) -> Filter {
        Filter::And(Box::new(l), Box::new(r))
    }

    fn or(l: Filter, r: Filter) -> Filter {
        Filter::Or(Box::new(l), Box::new(r))
    }

    fn bjensen() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "Bjensen",
            "userName": "bjensen@example.com",
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "displayName": "",
            "title": "Tour Guide",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "phoneNumbers": [],
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"3694e05e9dff591\""
            },
            ENT: {"employeeNumber": "701984", "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}}
        })
    }

    fn m(filter: &str) -> bool {
        let f = p(filter);
        validate(&f, &USER_RESOURCE).unwrap_or_else(|e| panic!("{filter:?} should validate: {e}"));
        matches(&f, &bjensen(), &USER_RESOURCE)
    }

    fn err(s: &str) -> ScimError {
        parse_filter(s).expect_err(s)
    }

    // ---- parsing --------------------------------------------------------------------

    #[test]
    fn parses_every_operator() {
        for (w, op) in [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            assert_eq!(
                p(&format!("title {w} \"x\"")),
                cmp(path("title"), op, s("x"))
            );
            assert_eq!(
                p(&format!("title {} \"x\"", w.to_uppercase())),
                cmp(path("title"), op, s("x"))
            );
        }
        assert_eq!(p("title pr"), Filter::Present(path("title")));
        assert_eq!(p("title PR"), Filter::Present(path("title")));
    }

    #[test]
    fn parses_json_numbers_exactly() {
        let n = |s: &str| parse_json_number(s);
        assert_eq!(n("0"), Some(0.into()));
        assert_eq!(n("-7"), Some((-7).into()));
        assert_eq!(n("18446744073709551615"), Some(u64::MAX.into()));
        assert_eq!(n("1e2"), Number::from_f64(100.0));
        assert_eq!(
            n("7.740143561470507e155"),
            Number::from_f64(7.740143561470507e155)
        );
        assert_eq!(n("-0.5E-2"), Number::from_f64(-0.005));
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "--1", "1-2", "1e999", "+1", "1.2.3",
        ] {
            assert_eq!(n(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_literals_case_insensitively() {
        assert_eq!(
            p("active eq TRUE"),
            cmp(path("active"), CompareOp::Eq, CompValue::Bool(true))
        );
        assert_eq!(
            p("active eq False"),
            cmp(path("active"), CompareOp::Eq, CompValue::Bool(false))
        );
        assert_eq!(
            p("title eq nUlL"),
            cmp(path("title"), CompareOp::Eq, CompValue::Null)
        );
        assert_eq!(
            p("x gt -1.5e3"),
            cmp(
                path("x"),
                CompareOp::Gt,
                CompValue::Number(Number::from_f64(-1500.0).unwrap())
            )
        );
        assert_eq!(
            p("x lt 42"),
            cmp(path("x"), CompareOp::Lt, CompValue::Number(42.into()))
        );
        // JSON escapes, decoded.
        assert_eq!(
            p(r#"name.familyName co "O'Mal\"ley\u00e9\\""#),
            cmp(sub("name", "familyName"), CompareOp::Co, s("O'Mal\"leyé\\"))
        );
    }

    #[test]
    fn precedence_is_not_then_and_then_or_left_associative() {
        let a = || Filter::Present(path("a"));
        let b = || Filter::Present(path("b"));
        let c = || Filter::Present(path("c"));
        assert_eq!(p("a pr or b pr and c pr"), or(a(), and(b(), c())));
        assert_eq!(p("a pr and b pr or c pr"), or(and(a(), b()), c()));
        assert_eq!(p("a pr or b pr or c pr"), or(or(a(), b()), c()));
        assert_eq!(p("a pr and b pr and c pr"), and(and(a(), b()), c()));
        assert_eq!(p("(a pr or b pr) and c pr"), and(or(a(), b()), c()));
        assert_eq!(
            p("a pr AND NOT (b pr Or c pr)"),
            and(a(), Filter::Not(Box::new(or(b(), c()))))
        );
        assert_eq!(p("not(a pr)"), Filter::Not(Box::new(a())));
    }

    #[test]
    fn tolerates_whitespace_runs() {
        assert_eq!(
            p("  ( userName\t eq   \"a\" )\tand\t\ttitle pr  "),
            and(
                cmp(path("userName"), CompareOp::Eq, s("a")),
                Filter::Present(path("title"))
            )
        );
        assert_eq!(
            p("emails [ type eq \"work\" ]"),
            p("emails[type eq \"work\"]")
        );
    }

    #[test]
    fn parses_urn_qualified_paths() {
        let f = p("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"");
        let Filter::Compare(a, _, _) = f else {
            panic!()
        };
        assert_eq!(
            a.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:core:2.0:User")
        );
        assert_eq!((a.attr.as_str(), a.sub), ("userName", None));
        let f = p(&format!("{ENT}:manager.value eq \"x\""));
        assert_eq!(
            f,
            cmp(
                AttrPath {
                    urn: Some(ENT.into()),
                    attr: "manager".into(),
                    sub: Some("value".into())
                },
                CompareOp::Eq,
                s("x")
            )
        );
        assert_eq!(
            p("members[$ref pr]"),
            Filter::ValuePath(path("members"), Box::new(Filter::Present(path("$ref"))))
        );
    }

    #[test]
    fn parses_value_paths_and_entra_form() {
        let work = || cmp(path("type"), CompareOp::Eq, s("work"));
        assert_eq!(
            p(r#"emails[type eq "work" and value co "@acme"]"#),
            Filter::ValuePath(
                path("emails"),
                Box::new(and(work(), cmp(path("value"), CompareOp::Co, s("@acme"))))
            )
        );
        let entra = p(r#"emails[type eq "work"].value eq "x@y""#);
        assert_eq!(
            entra,
            Filter::ValuePath(
                path("emails"),
                Box::new(and(work(), cmp(path("value"), CompareOp::Eq, s("x@y"))))
            )
        );
        // It prints in standard form, which reads back to the same tree.
        assert_eq!(
            entra.to_string(),
            r#"emails[type eq "work" and value eq "x@y"]"#
        );
        assert_eq!(p(&entra.to_string()), entra);
        // `]` and `:` inside a literal do not end the value filter.
        assert_eq!(
            p(r#"emails[value eq "a]b:c"] and title pr"#),
            and(
                Filter::ValuePath(
                    path("emails"),
                    Box::new(cmp(path("value"), CompareOp::Eq, s("a]b:c")))
                ),
                Filter::Present(path("title"))
            )
        );
    }

    #[test]
    fn keywords_are_only_keywords_in_keyword_position() {
        // An attribute may be called `not`, `and` or `or`; `orange` is not `or`.
        assert_eq!(p("not pr"), Filter::Present(path("not")));
        assert_eq!(
            p("a pr and or pr"),
            and(Filter::Present(path("a")), Filter::Present(path("or")))
        );
        assert!(parse_filter("a pr orange pr").is_err());
    }

    #[test]
    fn rejects_malformed_filters() {
        for bad in [
            "",
            "   ",
            "userName",
            "userName eq",
            "userName eq \"x",
            "userName eq \"x\" and",
            "userName xx \"x\"",
            "userName eq bogus",
            "userName eq 01",
            "userName eq \"\\q\"",
            "(userName pr",
            "userName pr)",
            "not userName pr",
            "emails[type eq \"w\"",
            "emails[type eq \"w\"].value",
            "emails[addresses[type pr]]",
            "name.givenName[value pr]",
            "a.b.c pr",
            ":a pr",
            "1abc pr",
            "userNameeq \"x\"",
            "userName eq \"x\"\"y\"",
        ] {
            let e = err(bad);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{bad:?}");
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn error_details_never_echo_the_filter() {
        for bad in [
            r#"userName eq "secret@corp.example" and"#,
            r#"userName eq "secret@corp.example" secret"#,
            r#"emails[value eq "secret@corp.example""#,
            r#"secret eq "secret@corp.example" xx"#,
            r#"userName zz "secret@corp.example""#,
        ] {
            let e = err(bad);
            assert!(!e.detail.contains("secret"), "{bad:?} -> {}", e.detail);
            assert!(
                e.detail.contains("byte"),
                "detail should locate the error: {}",
                e.detail
            );
        }
        let e = validate(&p(r#"secretAttr eq "secret@corp.example""#), &USER_RESOURCE).unwrap_err();
        assert!(!e.detail.contains("secret"), "{}", e.detail);
    }

    #[test]
    fn enforces_length_and_depth_limits() {
        let long = format!("userName eq \"{}\"", "a".repeat(5000));
        assert_eq!(err(&long).scim_type, Some(ScimType::InvalidFilter));

        // 10,000 nested parentheses: rejected, and without recursing 10,000 deep.
        let deep = format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(err(&deep).scim_type, Some(ScimType::InvalidFilter));
        // Under the length limit the nesting limit is what stops it.
        let deep = format!("{}a pr{}", "(".repeat(2000), ")".repeat(2000));
        assert!(deep.len() <= MAX_FILTER_LEN);
        assert!(err(&deep).detail.contains("nested too deeply"));
        let nots = format!("{}a pr{}", "not (".repeat(600), ")".repeat(600));
        assert!(err(&nots).detail.contains("nested too deeply"));
        let unclosed = "(".repeat(4000);
        assert!(err(&unclosed).detail.contains("nested too deeply"));

        // Exactly at the limit is fine.
        let ok = format!(
            "{}a pr{}",
            "(".repeat(MAX_FILTER_DEPTH),
            ")".repeat(MAX_FILTER_DEPTH)
        );
        assert_eq!(p(&ok), Filter::Present(path("a")));
        // A flat chain is not nesting: batches of `id eq` lookups parse and evaluate,
        // up to the length limit.
        let chain = |n: usize| {
            (0..n)
                .map(|i| format!("userName eq \"u{i}\""))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let f = parse_filter(&chain(150)).unwrap();
        let rt = &crate::scim::schema::USER_RESOURCE;
        assert!(validate(&f, rt).is_ok());
        assert!(matches(&f, &serde_json::json!({"userName": "U149"}), rt));
        assert!(!matches(&f, &serde_json::json!({"userName": "u150"}), rt));
        assert_eq!(parse_filter(&f.to_string()).unwrap(), f);
        assert!(
            err(&chain(300)).detail.contains("longer than"),
            "{}",
            err(&chain(300)).detail
        );
    }

    #[test]
    fn never_slices_inside_a_character() {
        for s in [
            "é",
            "userName eq \"é",
            "userNameé eq 1",
            "a pr é",
            "emails[é]",
            "a eq \"\\é\"",
            "x eq 1é",
            "nö",
            "a eq tru€",
        ] {
            assert!(parse_filter(s).is_err(), "{s:?}");
        }
        assert_eq!(p("a eq \"é€😀\""), cmp(path("a"), CompareOp::Eq, s("é€😀")));
    }

    #[test]
    fn parses_bare_attr_paths() {
        assert_eq!(
            parse_attr_path(" name.givenName ").unwrap(),
            sub("name", "givenName")
        );
        let whole = parse_attr_path(ENT).unwrap();
        assert_eq!(format!("{}:{}", whole.urn.unwrap(), whole.attr), ENT);
        for bad in ["", "a b", "emails[type pr]", "a.", ".a", "a..b", "ä"] {
            assert_eq!(
                parse_attr_path(bad).unwrap_err().scim_type,
                Some(ScimType::InvalidValue),
                "{bad:?}"
            );
        }
    }

    // ---- validation -----------------------------------------------------------------

    #[test]
    fn validates_against_the_schema() {
        let ok = |s: &str| validate(&p(s), &USER_RESOURCE).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let bad = |s: &str| {
            let e = validate(&p(s), &USER_RESOURCE).expect_err(s);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{s:?}");
        };
        ok("USERNAME eq \"x\" and Name.FamilyName co \"j\"");
        ok("emails[TYPE eq \"work\"] and meta.lastModified gt \"2011-05-13T04:42:34Z\"");
        ok(&format!(
            "{ENT}:manager.value eq \"x\" and {ENT}:employeeNumber pr"
        ));
        ok("urn:ietf:params:scim:schemas:core:2.0:User:userName pr");
        ok("schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"");
        ok("emails co \"@example.com\"");
        ok("name eq null");
        bad("nope pr");
        bad("employeeNumber pr"); // extension attribute without its URN
        bad("urn:example:unknown:1.0:User:userName pr");
        bad("userName.x pr"); // sub-attribute of a simple attribute
        bad("name.nope pr");
        bad("active gt true"); // RFC 7644 §3.4.2.2
        bad("active co \"t\"");
        bad("x509Certificates.value lt \"x\"");
        bad("userName[value pr]"); // value filter on a simple attribute
        bad("emails[nope pr]");
        bad("emails[value.x pr]");
        bad(&format!("emails[{ENT}:value pr]"));
        bad("name eq \"x\""); // complex without `value`
        assert!(validate(&p("members[value eq \"x\"]"), &GROUP_RESOURCE).is_ok());
        assert!(validate(&p("userName pr"), &GROUP_RESOURCE).is_err());
        // Nested value paths cannot be parsed, but a hand-built tree is refused too.
        let nested = Filter::ValuePath(
            path("emails"),
            Box::new(Filter::ValuePath(
                path("value"),
                Box::new(Filter::Present(path("x"))),
            )),
        );
        assert!(validate(&nested, &USER_RESOURCE).is_err());
    }

    // ---- evaluation -----------------------------------------------------------------

    #[test]
    fn string_operators_fold_case_unless_case_exact() {
        assert!(m("userName eq \"BJensen@Example.com\""));
        assert!(m("USERNAME Eq \"bjensen@example.com\""));
        assert!(!m("userName eq \"bjensen\""));
        assert!(m("name.familyName co \"ENS\""));
        assert!(m("userName sw \"BJ\""));
        assert!(m("userName ew \"COM\""));
        assert!(!m("userName sw \"example\""));
        assert!(!m("userName ew \"bjensen\""));
        // id and externalId are caseExact.
        assert!(m("externalId eq \"Bjensen\""));
        assert!(!m("externalId eq \"bjensen\""));
        assert!(!m("externalId co \"bj\""));
        assert!(m("externalId sw \"Bj\""));
        assert!(m(&format!(
            "{ENT}:manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\""
        )));
        assert!(!m(&format!(
            "{ENT}:manager.value eq \"26118915-6090-4610-87E4-49d8ca9f808d\""
        )));
    }

    #[test]
    fn ordering_operators() {
        assert!(m("name.familyName gt \"jansen\""));
        assert!(m("name.familyName ge \"JENSEN\""));
        assert!(m("name.familyName le \"jensen\""));
        assert!(!m("name.familyName lt \"jensen\""));
        assert!(m("name.familyName lt \"Karl\""));
        // dateTime: chronological, not lexical ("+01:00" is an hour earlier in UTC).
        assert!(m("meta.lastModified gt \"2011-05-13T04:42:33Z\""));
        assert!(m("meta.lastModified eq \"2011-05-13T05:42:34+01:00\""));
        assert!(m("meta.lastModified gt \"2011-05-13T05:42:33+01:00\"")); // lexically "lt"
        assert!(!m("meta.lastModified ge \"2011-05-13T05:42:35+01:00\""));
        assert!(m("meta.created lt \"2011\"")); // unparsable: string order
    }

    #[test]
    fn numbers_compare_numerically() {
        // Our schemas declare no numeric attribute, so exercise the comparator directly.
        let n = |x: f64| Number::from_f64(x).unwrap();
        assert_eq!(cmp_numbers(&10.into(), &9.into()), Some(Ordering::Greater));
        assert_eq!(cmp_numbers(&n(2.5), &2.into()), Some(Ordering::Greater));
        assert_eq!(
            cmp_numbers(&(-1).into(), &u64::MAX.into()),
            Some(Ordering::Less)
        );
        assert_eq!(
            cmp_numbers(&i64::MAX.into(), &(i64::MAX as u64 + 1).into()),
            Some(Ordering::Less)
        );
        assert!(compare_one(
            &json!(10),
            CompareOp::Gt,
            &CompValue::Number(9.into()),
            &AttrDef::new("n", AttrType::Integer, "")
        ));
        assert!(!compare_one(
            &json!(10),
            CompareOp::Co,
            &CompValue::Number(1.into()),
            &AttrDef::new("n", AttrType::Integer, "")
        ));
        assert!(!compare_one(
            &json!("10"),
            CompareOp::Eq,
            &CompValue::Number(10.into()),
            &AttrDef::string("n", "")
        ));
    }

    #[test]
    fn booleans_only_equal() {
        assert!(m("active eq true"));
        assert!(!m("active eq false"));
        assert!(m("active ne false"));
        assert!(!m("active eq \"true\""));
        let d = AttrDef::boolean("b", "");
        assert!(!compare_one(
            &json!(true),
            CompareOp::Gt,
            &CompValue::Bool(false),
            &d
        ));
    }

    #[test]
    fn multi_valued_match_any_value_and_complex_compares_value() {
        assert!(m("emails.type eq \"home\""));
        assert!(m("emails.value co \"jensen.org\""));
        assert!(m("emails co \"JENSEN.ORG\"")); // implicit `.value`
        assert!(!m("emails co \"nowhere\""));
        assert!(m("emails[type eq \"work\" and value co \"@example.com\"]"));
        // Both conditions must hold for the same element.
        assert!(!m("emails[type eq \"home\" and value co \"@example.com\"]"));
        assert!(m(
            "emails.type eq \"home\" and emails.value co \"@example.com\""
        ));
        assert!(m(
            "emails[type eq \"work\"].value eq \"bjensen@example.com\""
        ));
        assert!(!m(
            "emails[type eq \"home\"].value eq \"bjensen@example.com\""
        ));
        assert!(m("emails[not (primary eq true)]"));
        assert!(m(
            "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\""
        ));
        assert!(m(&format!("{ENT}:employeeNumber eq \"701984\"")));
    }

    #[test]
    fn presence_and_null() {
        assert!(m("title pr"));
        assert!(!m("displayName pr")); // ""
        assert!(!m("phoneNumbers pr")); // []
        assert!(!m("nickName pr")); // absent
        assert!(m("name pr"));
        assert!(m("emails.primary pr"));
        assert!(!matches(
            &p("name pr"),
            &json!({"name": {}}),
            &USER_RESOURCE
        ));
        assert!(!matches(
            &p("name pr"),
            &json!({"name": {"givenName": null}}),
            &USER_RESOURCE
        ));
        assert!(!matches(
            &p("title pr"),
            &json!({"title": null}),
            &USER_RESOURCE
        ));
        assert!(m("nickName eq null"));
        assert!(!m("nickName ne null"));
        assert!(!m("title eq null"));
        assert!(m("title ne null"));
        assert!(!m("name eq null"));
    }

    #[test]
    fn ne_is_not_eq_and_absent_is_ne_anything() {
        assert!(m("nickName ne \"x\""));
        assert!(!m("nickName eq \"x\""));
        assert!(m("title ne \"x\""));
        assert!(!m("title ne \"TOUR GUIDE\""));
        // Any email is "home", so `emails.type ne "home"` is false even though another isn't.
        assert!(!m("emails.type ne \"home\""));
        assert!(m("not (emails.type eq \"other\")"));
    }

    #[test]
    fn wrong_types_never_match_and_never_panic() {
        let odd = json!({
            "userName": 42, "name": "flat", "emails": {"value": 7}, "title": ["a", null, {"x": 1}],
            "active": "yes", "meta": [1, 2], ENT: "not an object"
        });
        for f in [
            "userName eq \"42\"",
            "userName gt 1",
            "name.givenName pr",
            "emails co \"7\"",
            "emails.value eq 7",
            "title eq \"a\"",
            "active eq true",
            "meta.created gt \"2000\"",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr",
        ] {
            let f = p(f);
            validate(&f, &USER_RESOURCE).unwrap();
            let _ = matches(&f, &odd, &USER_RESOURCE);
        }
        assert!(matches(&p("title eq \"A\""), &odd, &USER_RESOURCE));
        assert!(matches(&p("emails.value eq 7"), &odd, &USER_RESOURCE));
        assert!(!matches(&p("userName eq \"42\""), &odd, &USER_RESOURCE));
        assert!(!matches(&p("active eq true"), &odd, &USER_RESOURCE));
        assert!(!matches(
            &p("userName pr"),
            &json!("not an object"),
            &USER_RESOURCE
        ));
    }

    #[test]
    fn values_at_flattens() {
        let r = bjensen();
        let emails = values_at(&r, &path("emails"), &USER_RESOURCE);
        assert_eq!(emails.len(), 2);
        let types: Vec<_> = values_at(&r, &sub("EMAILS", "type"), &USER_RESOURCE);
        assert_eq!(types, [&json!("work"), &json!("home")]);
        let mgr = AttrPath {
            urn: Some(ENT.to_lowercase()),
            attr: "manager".into(),
            sub: Some("value".into()),
        };
        assert_eq!(
            values_at(&r, &mgr, &USER_RESOURCE),
            [&json!("26118915-6090-4610-87e4-49d8ca9f808d")]
        );
        assert!(values_at(&r, &path("nope"), &USER_RESOURCE).is_empty());
        assert!(values_at(&r, &path("nickName"), &USER_RESOURCE).is_empty());
    }

    #[test]
    fn sort_value_prefers_primary() {
        let r = json!({"emails": [{"value": "b"}, {"value": "a", "primary": true}], "phoneNumbers": [{"value": "1"}, {"value": "2"}]});
        let t = locate_path(&path("emails"), &USER_RESOURCE).unwrap();
        assert_eq!(sort_value(&r, &t), Some(&json!("a")));
        let t = locate_path(&sub("phoneNumbers", "value"), &USER_RESOURCE).unwrap();
        assert_eq!(sort_value(&r, &t), Some(&json!("1")));
        let t = locate_path(&path("title"), &USER_RESOURCE).unwrap();
        assert_eq!(sort_value(&r, &t), None);
    }

    // ---- printing -------------------------------------------------------------------

    #[test]
    fn prints_canonically() {
        let f = p(r#"  A PR  OR (b pr or c eq "x\u0041") AND NOT ( d Gt 2.5 ) "#);
        assert_eq!(
            f.to_string(),
            r#"A pr or (b pr or c eq "xA") and not (d gt 2.5)"#
        );
        let f = p("(a pr or b pr) and (c pr and d pr)");
        assert_eq!(f.to_string(), "(a pr or b pr) and (c pr and d pr)");
        assert_eq!(
            p("a pr and b pr and c pr").to_string(),
            "a pr and b pr and c pr"
        );
        assert_eq!(
            p(&format!("{ENT}:manager.value eq null")).to_string(),
            format!("{ENT}:manager.value eq null")
        );
    }

    // ---- properties -----------------------------------------------------------------

    fn arb_name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z][A-Za-z0-9_-]{0,7}",
            Just("$ref".to_owned()),
            Just("not".to_owned()),
            Just("and".to_owned()),
            Just("or".to_owned()),
            Just("pr".to_owned()),
        ]
    }

    fn arb_path() -> impl Strategy<Value = AttrPath> {
        let urn = prop::option::of(prop_oneof![
            Just("urn:ietf:params:scim:schemas:core:2.0:User".to_owned()),
            Just(ENT.to_owned()),
            "urn:[a-z0-9.]{1,6}(:[A-Za-z0-9.-]{1,6}){0,2}",
        ]);
        (urn, arb_name(), prop::option::of(arb_name())).prop_map(|(urn, attr, sub)| AttrPath {
            urn,
            attr,
            sub,
        })
    }

    fn arb_value() -> impl Strategy<Value = CompValue> {
        prop_oneof![
            Just(CompValue::Null),
            any::<bool>().prop_map(CompValue::Bool),
            any::<i64>().prop_map(|n| CompValue::Number(n.into())),
            any::<u64>().prop_map(|n| CompValue::Number(n.into())),
            any::<f64>().prop_filter_map("finite", |x| Number::from_f64(x).map(CompValue::Number)),
            ".{0,12}".prop_map(CompValue::Str),
        ]
    }

    fn arb_op() -> impl Strategy<Value = CompareOp> {
        prop::sample::select(vec![
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ])
    }

    /// Filters without value paths (what may appear inside `[…]`).
    fn arb_val_filter() -> impl Strategy<Value = Filter> {
        let leaf = prop_oneof![
            arb_path().prop_map(Filter::Present),
            (arb_path(), arb_op(), arb_value()).prop_map(|(a, o, v)| Filter::Compare(a, o, v)),
        ];
        leaf.prop_recursive(4, 16, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(l, r)| and(l, r)),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| or(l, r)),
                inner.prop_map(|x| Filter::Not(Box::new(x))),
            ]
        })
    }

    fn arb_filter() -> impl Strategy<Value = Filter> {
        let value_path = (arb_path(), arb_val_filter())
            .prop_map(|(a, f)| Filter::ValuePath(AttrPath { sub: None, ..a }, Box::new(f)));
        let leaf = prop_oneof![arb_val_filter(), value_path];
        leaf.prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(l, r)| and(l, r)),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| or(l, r)),
                inner.prop_map(|x| Filter::Not(Box::new(x))),
            ]
        })
    }

    fn filterish() -> impl Strategy<Value = String> {
        let tokens = vec![
            "(",
            ")",
            "[",
            "]",
            " ",
            "\t",
            "not",
            "and",
            "or",
            "pr",
            "eq",
            "gt",
            "\"",
            "\\",
            "\"x\"",
            "\"a]b\"",
            "emails",
            "userName",
            "type",
            ".",
            ".value",
            ":",
            "urn:x:2.0:User:",
            "1",
            "-",
            "1e5",
            "true",
            "null",
            "é",
            "😀",
            "\\u00",
            "$ref",
        ];
        prop::collection::vec(prop::sample::select(tokens), 0..48).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parse_never_panics_on_arbitrary_text(s in "\\PC{0,64}|.{0,64}") {
            let _ = parse_filter(&s);
            let _ = parse_attr_path(&s);
        }

        #[test]
        fn parse_never_panics_on_filterish_text(s in filterish()) {
            if let Ok(f) = parse_filter(&s) {
                // Whatever parses also survives the other entry points.
                let _ = validate(&f, &USER_RESOURCE).map(|()| matches(&f, &bjensen(), &USER_RESOURCE));
                prop_assert_eq!(parse_filter(&f.to_string()), Ok(f));
            }
        }

        #[test]
        fn print_then_parse_round_trips(f in arb_filter()) {
            let printed = f.to_string();
            prop_assume!(printed.len() <= MAX_FILTER_LEN);
            prop_assert_eq!(parse_filter(&printed), Ok(f));
        }
    }
}
