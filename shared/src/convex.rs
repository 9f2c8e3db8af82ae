//! The Convex function protocol, served over the same route tables as the HTTP routes, so that an
//! app using Convex's client library (`ConvexHttpClient`, `fetchQuery`, `fetchMutation`) switches
//! to this service by changing only its base URL.
//!
//! What the client library (npm `convex`, read in its `browser/http_client.js`) sends and reads:
//!
//! - `POST <base>/api/query` or `POST <base>/api/mutation`, `Content-Type: application/json`,
//!   `Authorization: Convex <admin key>` (after `setAdminAuth`) or `Bearer <token>` (after
//!   `setAuth`), body `{ "path": "<module>:<function>", "format": "convex_encoded_json",
//!   "args": [ { ...arguments... } ] }`.
//! - Arguments are JSON, except numbers JSON cannot carry (`NaN`, `±Infinity`, `-0`), sent as
//!   `{ "$float": "<base64 of the little-endian float64>" }`; `BigInt`s (`$integer`) and
//!   `ArrayBuffer`s (`$bytes`) are refused here, as no function of this service takes them.
//! - It throws the response's text as the error unless the status is `200` or `560`; on those it
//!   reads `{ "status": "success", "value": ... }` or `{ "status": "error", "errorMessage": ... }`.
//!
//! How this service answers:
//!
//! | case | status | body | log line |
//! |---|---|---|---|
//! | success | `200` | `{"status":"success","value":<the route's return value>,"logLines":[]}` | success |
//! | bad arguments, an item over 400 KB | `560` | `{"status":"error","errorMessage":"<message naming the field>"}` | invalid request |
//! | unknown function | `560` | errorMessage `Could not find public function for '<path>'` | invalid request |
//! | a query sent to `/api/mutation` or the reverse | `560` | errorMessage `Trying to execute <name> as <Kind>, but it is defined as <Kind>.` | invalid request |
//! | store outage, a bug | `560` | errorMessage as the HTTP route's error message | failure |
//! | envelope not as above (not JSON, unknown field, other format, not one argument object) | `400` | CONTRACT.md §3 body | invalid request |
//! | body over 1 MiB | `413` | CONTRACT.md §3 body | invalid request |
//! | not POST | `405` (`Allow: POST`) | CONTRACT.md §3 body | invalid request |
//! | auth failed | `401` | CONTRACT.md §3 body (the client shows it as the error) | unauthorized |
//! | no admin token configured | `500` | CONTRACT.md §3 body | missing admin token |
//!
//! So a function's own errors are `560`s, which the client raises as `Error(errorMessage)`, and
//! everything the function never ran for keeps its HTTP status, which the client raises with the
//! body's text. Log lines are those of CONTRACT.md §4 with `path` the HTTP path (`/api/query`),
//! `status` the status answered, and a `function` field with the function name; whether a `560`
//! is an invalid request or a failure follows its cause, so the failure alarms of the two paths
//! count store outages and bugs only.

use crate::error::ApiError;
use crate::parse::{parse_args, MAX_KEY_BYTES};
use crate::service::{Request, Response, Service, MAX_BODY_BYTES};
use serde::de::{self, IntoDeserializer, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The status of a function's own error.
pub const STATUS_FUNCTION_ERROR: u16 = 560;

/// The `format` every request names.
pub const FORMAT: &str = "convex_encoded_json";

/// Whether a function reads (a query) or may write (a mutation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Called through `/api/query`.
    Query,
    /// Called through `/api/mutation`.
    Mutation,
}

impl Kind {
    /// Both kinds.
    pub const ALL: [Kind; 2] = [Kind::Query, Kind::Mutation];

    /// The HTTP path functions of this kind are called through.
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::Query => "/api/query",
            Kind::Mutation => "/api/mutation",
        }
    }

    /// The kind whose endpoint is `path`.
    pub fn of_endpoint(path: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.endpoint() == path)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Query => "Query",
            Kind::Mutation => "Mutation",
        }
    }
}

/// One public function: its name, its kind and the HTTP route whose handler serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// `module:function`, as the client sends it.
    pub name: &'static str,
    /// Query or mutation.
    pub kind: Kind,
    /// The HTTP path of the route that runs it (its handler, arguments and return value).
    pub path: &'static str,
}

const fn query(name: &'static str, path: &'static str) -> Function {
    Function {
        name,
        kind: Kind::Query,
        path,
    }
}

const fn mutation(name: &'static str, path: &'static str) -> Function {
    Function {
        name,
        kind: Kind::Mutation,
        path,
    }
}

/// Every public function, mapped to the route that serves it. This table is the whole dispatch:
/// the handlers are the route tables' own.
pub const FUNCTIONS: [Function; 33] = [
    mutation("account:getOrCreate", "/account/getOrCreate"),
    mutation("account:updateAccount", "/account/updateAccount"),
    mutation("account:recordUsage", "/account/recordUsage"),
    mutation("account:reserveUsage", "/account/reserveUsage"),
    mutation("account:releaseUsage", "/account/releaseUsage"),
    query("history:list", "/history/list"),
    mutation("history:record", "/history/record"),
    mutation("history:remove", "/history/remove"),
    mutation("history:clear", "/history/clear"),
    mutation("provisioning:saveCredential", "/provisioning/save"),
    query(
        "provisioning:findActiveCredential",
        "/provisioning/findActive",
    ),
    mutation(
        "provisioning:markCredentialRevoked",
        "/provisioning/markRevoked",
    ),
    query("provisioning:listCredentials", "/provisioning/list"),
    mutation("provisioning:recordUsage", "/provisioning/recordUsage"),
    query("provisioning:listUsage", "/provisioning/listUsage"),
    mutation("session:save", "/session/save"),
    query("session:get", "/session/get"),
    mutation("session:deleteSession", "/session/delete"),
    mutation("session:prune", "/session/prune"),
    mutation("users:ensureUser", "/users/ensure"),
    query("users:getUser", "/users/get"),
    query("pipelines:list", "/pipelines/list"),
    query("pipelines:get", "/pipelines/get"),
    query(
        "pipelines:findByWebhookSecret",
        "/pipelines/findByWebhookSecret",
    ),
    mutation("pipelines:create", "/pipelines/create"),
    mutation("pipelines:update", "/pipelines/update"),
    mutation("pipelines:remove", "/pipelines/delete"),
    mutation("pipelines:recordRun", "/pipelines/recordRun"),
    query("translations:list", "/translations/list"),
    mutation("translations:create", "/translations/create"),
    mutation("translations:promote", "/translations/promote"),
    mutation("translations:clear", "/translations/clear"),
    mutation("translations:markAdopted", "/translations/markAdopted"),
];

/// The function a client's `path` names. Convex accepts the module with or without its `.js`
/// extension (`history.js:list` is `history:list`), and so does this.
pub fn function(path: &str) -> Option<&'static Function> {
    let (module, name) = path.split_once(':')?;
    let module = module.strip_suffix(".js").unwrap_or(module);
    FUNCTIONS.iter().find(|f| {
        f.name
            .split_once(':')
            .is_some_and(|(m, n)| m == module && n == name)
    })
}

/// The answer to a path no function has, word for word as Convex gives it (the app recognises it).
pub fn not_found_message(path: &str) -> String {
    format!("Could not find public function for '{path}'")
}

/// An argument value after decoding: JSON, plus the float64 values JSON cannot carry.
///
/// It is a serde [`Deserializer`](de::Deserializer) with serde_json's errors, so a route's argument
/// struct is parsed from it exactly as from a request body, with the same messages (see
/// [`crate::parse::parse_with`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A JSON number.
    Number(serde_json::Number),
    /// A `$float`: `NaN`, `±Infinity` or `-0`.
    Float(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Arg>),
    /// An object.
    Object(BTreeMap<String, Arg>),
}

impl Arg {
    /// Decodes one argument value of the protocol: `{"$float": "<base64>"}` becomes its float64;
    /// the other encoded values (`$integer`, `$bytes`, `$set`, `$map`) and any other field name
    /// starting with `$` are refused with a `400` naming the field.
    pub fn decode(value: serde_json::Value) -> Result<Arg, ApiError> {
        decode_at(value, &mut String::new())
    }
}

fn decode_at(value: serde_json::Value, path: &mut String) -> Result<Arg, ApiError> {
    use serde_json::Value;
    let at = |path: &str, message: &str| {
        if path.is_empty() {
            ApiError::InvalidArgument(message.to_owned())
        } else {
            ApiError::InvalidArgument(format!("{path}: {message}"))
        }
    };
    Ok(match value {
        Value::Null => Arg::Null,
        Value::Bool(b) => Arg::Bool(b),
        Value::Number(n) => Arg::Number(n),
        Value::String(s) => Arg::String(s),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(decode_at(item, path)?);
                path.truncate(len);
            }
            Arg::Array(out)
        }
        Value::Object(map) => {
            if map.len() == 1 {
                let (key, inner) = map.iter().next().expect("one entry");
                let special = match key.as_str() {
                    "$float" => {
                        return inner
                            .as_str()
                            .and_then(decode_float)
                            .map(Arg::Float)
                            .ok_or_else(|| {
                                at(path, "malformed $float: expected the base64 of 8 bytes")
                            })
                    }
                    "$integer" => Some("a BigInt ($integer) is not accepted: send a number"),
                    "$bytes" => Some("an ArrayBuffer ($bytes) is not accepted"),
                    "$set" => Some("a Set ($set) is not a supported value"),
                    "$map" => Some("a Map ($map) is not a supported value"),
                    _ => None,
                };
                if let Some(message) = special {
                    return Err(at(path, message));
                }
            }
            let mut out = BTreeMap::new();
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                if key.starts_with('$') {
                    return Err(at(path, "field names starting with '$' are reserved"));
                }
                let item = decode_at(item, path)?;
                path.truncate(len);
                out.insert(key, item);
            }
            Arg::Object(out)
        }
    })
}

/// A float64 from the standard base64 (with padding) of its 8 little-endian bytes.
fn decode_float(text: &str) -> Option<f64> {
    let bytes: [u8; 8] = base64_decode(text)?.try_into().ok()?;
    Some(f64::from_le_bytes(bytes))
}

/// Standard base64 with padding, strictly (what the client's `Base64.fromByteArray` writes).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (n, chunk) in bytes.chunks(4).enumerate() {
        let last = n + 1 == bytes.len() / 4;
        let padding = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut bits = 0u32;
        for &c in &chunk[..4 - padding] {
            bits = (bits << 6) | sextet(c)?;
        }
        bits <<= 6 * padding as u32;
        let group = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        out.extend_from_slice(&group[..3 - padding]);
    }
    Some(out)
}

impl<'de> IntoDeserializer<'de, serde_json::Error> for Arg {
    type Deserializer = Arg;

    fn into_deserializer(self) -> Arg {
        self
    }
}

impl<'de> de::Deserializer<'de> for Arg {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Arg::Null => visitor.visit_unit(),
            Arg::Bool(b) => visitor.visit_bool(b),
            Arg::Number(n) => de::Deserializer::deserialize_any(n, visitor),
            Arg::Float(f) => visitor.visit_f64(f),
            Arg::String(s) => visitor.visit_string(s),
            Arg::Array(items) => {
                let mut seq = de::value::SeqDeserializer::new(items.into_iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Arg::Object(map) => {
                let mut map = de::value::MapDeserializer::new(map.into_iter());
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Arg::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self {
            Arg::String(variant) => visitor.visit_enum(
                IntoDeserializer::<serde_json::Error>::into_deserializer(variant),
            ),
            Arg::Object(map) if map.len() == 1 => {
                let (variant, value) = map.into_iter().next().expect("one entry");
                visitor.visit_enum(Variant { variant, value })
            }
            other => Err(de::Error::invalid_type(other.unexpected(), &"an enum")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier
    }
}

impl Arg {
    fn unexpected(&self) -> de::Unexpected<'_> {
        match self {
            Arg::Null => de::Unexpected::Unit,
            Arg::Bool(b) => de::Unexpected::Bool(*b),
            Arg::Number(_) | Arg::Float(_) => de::Unexpected::Other("number"),
            Arg::String(s) => de::Unexpected::Str(s),
            Arg::Array(_) => de::Unexpected::Seq,
            Arg::Object(_) => de::Unexpected::Map,
        }
    }
}

/// An externally tagged enum variant with content: `{ "<variant>": <value> }`.
struct Variant {
    variant: String,
    value: Arg,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = serde_json::Error;
    type Variant = Arg;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Arg), Self::Error> {
        let variant = seed.deserialize(
            IntoDeserializer::<serde_json::Error>::into_deserializer(self.variant),
        )?;
        Ok((variant, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for Arg {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        match self {
            Arg::Null => Ok(()),
            other => Err(de::Error::invalid_type(other.unexpected(), &"unit variant")),
        }
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

/// The request body of both endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    path: String,
    format: String,
    args: Vec<serde_json::Value>,
}

/// Why a call was not a success.
enum Failure {
    /// The function never ran: answered with the error's own status and contract body.
    Http(ApiError),
    /// The function failed: `560` with the error's message.
    Function(ApiError),
}

/// The function protocol in front of a [`Service`]: `/api/query` and `/api/mutation` dispatch by
/// function name to the service's route table, behind its auth guard, logging to its sink; every
/// other path goes to the service itself. So one server serves both surfaces when its table is
/// built for both (the dev server); the `api` Lambda function's table has the function protocol only
/// ([`crate::routes::Functions`]: API Gateway sends it `/api/query` and `/api/mutation` alone), so
/// other paths find no route there.
pub struct ConvexService {
    service: Arc<Service>,
}

impl ConvexService {
    /// The protocol over `service`'s routes, guard and log sink.
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }

    /// The service behind it.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Answers one request (of either surface) and writes its log line.
    pub async fn handle(&self, mut req: Request) -> Response {
        let Some(kind) = Kind::of_endpoint(&req.path) else {
            return self.service.handle(req).await;
        };
        let started = Instant::now();
        let body = std::mem::take(&mut req.body);
        let mut called = None;
        let outcome = self.answer(kind, &req, body, &mut called).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let function = called.as_deref();
        match outcome {
            Ok(value) => {
                self.service.log(&req, function, 200, None, latency_ms);
                Response {
                    status: 200,
                    body: success_body(&value),
                    allow: None,
                }
            }
            Err(Failure::Http(err)) => {
                self.service
                    .log(&req, function, err.status(), Some(&err), latency_ms);
                Response::error(&err)
            }
            Err(Failure::Function(err)) => {
                self.service.log(
                    &req,
                    function,
                    STATUS_FUNCTION_ERROR,
                    Some(&err),
                    latency_ms,
                );
                Response {
                    status: STATUS_FUNCTION_ERROR,
                    body: error_body(&err.to_string()),
                    allow: None,
                }
            }
        }
    }

    async fn answer(
        &self,
        kind: Kind,
        req: &Request,
        body: Vec<u8>,
        called: &mut Option<String>,
    ) -> Result<Vec<u8>, Failure> {
        self.service.authorize(req).map_err(Failure::Http)?;
        if req.method != "POST" {
            return Err(Failure::Http(ApiError::MethodNotAllowed(req.path.clone())));
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(Failure::Http(ApiError::PayloadTooLarge(format!(
                "request body is {} bytes, over the {MAX_BODY_BYTES} byte limit",
                body.len()
            ))));
        }
        let envelope: Envelope = parse_args(&body).map_err(Failure::Http)?;
        let invalid = |message: &str| Failure::Http(ApiError::InvalidArgument(message.into()));
        if envelope.path.is_empty() || envelope.path.len() > MAX_KEY_BYTES {
            return Err(invalid("path: must be a function name of 1 to 1024 bytes"));
        }
        if envelope.format != FORMAT {
            return Err(invalid(&format!("format: must be \"{FORMAT}\"")));
        }
        let [args] = <[serde_json::Value; 1]>::try_from(envelope.args)
            .map_err(|_| invalid("args: must hold exactly one argument object"))?;
        if !args.is_object() {
            return Err(invalid("args[0]: must be an object"));
        }

        let Some(found) = function(&envelope.path) else {
            *called = Some(envelope.path.clone());
            return Err(Failure::Function(ApiError::InvalidArgument(
                not_found_message(&envelope.path),
            )));
        };
        *called = Some(found.name.to_owned());
        if found.kind != kind {
            return Err(Failure::Function(ApiError::InvalidArgument(format!(
                "Trying to execute {} as {}, but it is defined as {}.",
                found.name,
                kind.name(),
                found.kind.name()
            ))));
        }
        let Some(handler) = self.service.routes().get_args(found.path) else {
            return Err(Failure::Function(ApiError::InvalidArgument(
                not_found_message(&envelope.path),
            )));
        };
        let args = Arg::decode(args).map_err(Failure::Function)?;
        handler(args).await.map_err(Failure::Function)
    }
}

/// `{"status":"success","value":<value>,"logLines":[]}`, around the route's own JSON body.
fn success_body(value: &[u8]) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"status":"success","value":"#;
    const TAIL: &[u8] = br#","logLines":[]}"#;
    let mut body = Vec::with_capacity(HEAD.len() + value.len() + TAIL.len());
    body.extend_from_slice(HEAD);
    body.extend_from_slice(value);
    body.extend_from_slice(TAIL);
    body
}

/// `{"status":"error","errorMessage":<message>}`.
fn error_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "status": "error", "errorMessage": message }))
        .expect("an error body always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    #[test]
    fn the_table_has_33_unique_names_ten_of_them_queries() {
        let names: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), 33);
        let paths: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.path).collect();
        assert_eq!(paths.len(), 33, "one route per function");
        let queries: BTreeSet<&str> = FUNCTIONS
            .iter()
            .filter(|f| f.kind == Kind::Query)
            .map(|f| f.name)
            .collect();
        assert_eq!(
            queries,
            BTreeSet::from([
                "history:list",
                "provisioning:findActiveCredential",
                "provisioning:listCredentials",
                "provisioning:listUsage",
                "session:get",
                "users:getUser",
                "pipelines:list",
                "pipelines:get",
                "pipelines:findByWebhookSecret",
                "translations:list",
            ])
        );
        for f in FUNCTIONS {
            let module = f.name.split(':').next().unwrap();
            assert!(f.path.starts_with(&format!("/{module}/")), "{f:?}");
        }
    }

    #[test]
    fn names_are_found_with_or_without_the_js_extension_and_nothing_else_is() {
        assert_eq!(function("users:getUser").unwrap().path, "/users/get");
        assert_eq!(function("users.js:getUser").unwrap().path, "/users/get");
        for unknown in [
            "translations:listAll",
            "users",
            "users:get",
            "users/getUser",
            ":getUser",
            "users:getUser:x",
        ] {
            assert_eq!(function(unknown), None, "{unknown}");
        }
        assert_eq!(
            not_found_message("translations:listAll"),
            "Could not find public function for 'translations:listAll'"
        );
    }

    #[test]
    fn floats_decode_from_the_base64_of_their_little_endian_bytes() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1.5] {
            let text = base64(&value.to_le_bytes());
            let decoded = decode_float(&text).unwrap();
            assert_eq!(decoded.to_bits(), value.to_bits(), "{text}");
        }
        assert_eq!(base64(&(-0.0f64).to_le_bytes()), "AAAAAAAAAIA=");
        assert_eq!(base64(&f64::NAN.to_le_bytes()), "AAAAAAAA+H8=");
        for bad in [
            "",
            "AAAA",
            "AAAAAAAAAIA",
            "AAAAAAAAAI==",
            "AAAAAAAA-H8=",
            "AA=AAAAAAIA=",
        ] {
            assert_eq!(decode_float(bad), None, "{bad}");
        }
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode("aGV5").unwrap(), b"hey");
        assert_eq!(base64_decode("aA==").unwrap(), b"h");
    }

    /// The client's encoder, for the tests.
    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let bits = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(bits >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn decoding_turns_floats_into_numbers_anywhere_and_refuses_other_encoded_values() {
        let decoded = Arg::decode(json!({
            "a": { "$float": "AAAAAAAAAIA=" },
            "b": [1, { "c": { "$float": "AAAAAAAA+H8=" } }],
        }))
        .unwrap();
        let Arg::Object(map) = decoded else { panic!() };
        assert!(matches!(map["a"], Arg::Float(f) if f == 0.0 && f.is_sign_negative()));
        let Arg::Array(items) = &map["b"] else {
            panic!()
        };
        assert_eq!(items[0], Arg::Number(1.into()));
        let Arg::Object(inner) = &items[1] else {
            panic!()
        };
        assert!(matches!(inner["c"], Arg::Float(f) if f.is_nan()));

        let refused = |value: serde_json::Value| match Arg::decode(value) {
            Err(ApiError::InvalidArgument(message)) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(json!({ "entry": { "tokensUsed": { "$integer": "AQAAAAAAAAA=" } } })),
            "entry.tokensUsed: a BigInt ($integer) is not accepted: send a number"
        );
        assert_eq!(
            refused(json!({ "x": [0, { "$bytes": "" }] })),
            "x[1]: an ArrayBuffer ($bytes) is not accepted"
        );
        assert_eq!(
            refused(json!({ "s": { "$set": [] } })),
            "s: a Set ($set) is not a supported value"
        );
        assert_eq!(
            refused(json!({ "m": { "$map": [] } })),
            "m: a Map ($map) is not a supported value"
        );
        assert_eq!(
            refused(json!({ "n": { "$float": "AAAA" } })),
            "n: malformed $float: expected the base64 of 8 bytes"
        );
        assert_eq!(
            refused(json!({ "n": { "$float": 1 } })),
            "n: malformed $float: expected the base64 of 8 bytes"
        );
        assert_eq!(
            refused(json!({ "o": { "$other": 1, "b": 2 } })),
            "o.$other: field names starting with '$' are reserved"
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Entry {
        id: crate::Key,
        duration_ms: crate::Num,
        #[serde(default, deserialize_with = "crate::parse::not_null")]
        label: Option<String>,
        #[serde(default)]
        kind: Option<Shape>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    enum Shape {
        Round,
        Square,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Args {
        entry: Entry,
        limit: Option<f64>,
    }

    fn parse(value: serde_json::Value) -> Result<Args, ApiError> {
        crate::parse::parse_with(Arg::decode(value)?)
    }

    #[test]
    fn decoded_arguments_parse_as_strictly_and_with_the_same_messages_as_a_body() {
        let valid = json!({ "entry": { "id": "a", "durationMs": 2.5, "label": "x", "kind": "square", "tags": ["t"] }, "limit": 3 });
        let from_body: Args = parse_args(valid.to_string().as_bytes()).unwrap();
        assert_eq!(parse(valid).unwrap(), from_body);
        for bad in [
            json!({ "entry": { "id": "a" } }),
            json!({ "entry": { "id": "a", "durationMs": "1" } }),
            json!({ "entry": { "id": "a", "durationMs": 1, "extra": true } }),
            json!({ "entry": { "id": "a", "durationMs": 1, "label": null } }),
            json!({ "entry": { "id": "", "durationMs": 1 } }),
            json!({ "entry": { "id": "a", "durationMs": 1, "kind": "oval" } }),
            json!({ "entry": { "id": "a", "durationMs": 1, "tags": [1] } }),
            json!({ "entry": { "id": "a", "durationMs": 1e39 } }),
            json!({ "entry": [] }),
            json!({}),
        ] {
            let from_body = parse_args::<Args>(bad.to_string().as_bytes()).unwrap_err();
            assert_eq!(parse(bad.clone()).unwrap_err(), from_body, "{bad}");
        }
    }

    #[test]
    fn special_floats_reach_the_arguments_and_only_numbers_the_store_takes_pass() {
        let nan = json!({ "$float": "AAAAAAAA+H8=" });
        let minus_zero = json!({ "$float": "AAAAAAAAAIA=" });
        let parsed =
            parse(json!({ "entry": { "id": "a", "durationMs": minus_zero }, "limit": nan }))
                .unwrap();
        assert!(parsed.entry.duration_ms.get().is_sign_negative());
        assert!(parsed.limit.unwrap().is_nan(), "a plain f64 takes NaN");
        assert_eq!(
            parse(json!({ "entry": { "id": "a", "durationMs": nan } })).unwrap_err(),
            ApiError::InvalidArgument(
                "entry.durationMs: must be a number between -1e38 and 1e38 (the range the database stores)"
                    .into()
            )
        );
        assert_eq!(
            parse(json!({ "entry": { "id": nan, "durationMs": 1 } })).unwrap_err(),
            ApiError::InvalidArgument("entry.id: expected a string, got a number".into())
        );
    }

    #[test]
    fn the_bodies_are_the_clients_envelopes() {
        let body: serde_json::Value = serde_json::from_slice(&success_body(br#"{"a":1}"#)).unwrap();
        assert_eq!(
            body,
            json!({ "status": "success", "value": { "a": 1 }, "logLines": [] })
        );
        let body: serde_json::Value = serde_json::from_slice(&success_body(b"null")).unwrap();
        assert_eq!(
            body,
            json!({ "status": "success", "value": null, "logLines": [] })
        );
        let body: serde_json::Value = serde_json::from_slice(&error_body("bad \"x\"")).unwrap();
        assert_eq!(
            body,
            json!({ "status": "error", "errorMessage": "bad \"x\"" })
        );
        assert_eq!(Kind::of_endpoint("/api/query"), Some(Kind::Query));
        assert_eq!(Kind::of_endpoint("/api/mutation"), Some(Kind::Mutation));
        assert_eq!(Kind::of_endpoint("/api/action"), None);
    }
}
