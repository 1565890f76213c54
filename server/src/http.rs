//! The HTTP services: KServe v2 endpoints (paths, methods, status codes and error bodies as
//! upstream's server:src/http_server.cc) and the Prometheus metrics endpoint.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::core::{Core, CoreError, LoadParam, Readiness};
use crate::infer::{self, Allocator};
use crate::ready::Probes;

pub struct AppState {
    pub core: Arc<Core>,
    pub probes: Probes,
    pub allocator: Allocator,
    pub max_input_size: usize,
}

type St = State<Arc<AppState>>;

const JSON: &str = "application/json";
const INFER_HEADER: &str = "inference-header-content-length";
/// Request bodies and response tensors up to this size are parsed, submitted and rendered on
/// the async worker; larger ones on the blocking pool.
const INLINE_BYTES: usize = 64 * 1024;

fn json_response(status: u16, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    r
}

/// `{"error": "<message>"}` with the given status.
fn error(status: u16, msg: &str) -> Response {
    json_response(status, json!({ "error": msg }).to_string())
}

fn core_error(e: &CoreError) -> Response {
    error(e.http_status(), &e.message)
}

fn empty(status: StatusCode) -> Response {
    status.into_response()
}

fn result_json(r: Result<String, CoreError>) -> Response {
    match r {
        Ok(s) => json_response(200, s),
        Err(e) => core_error(&e),
    }
}

/// Runs a (possibly slow) C API call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| error(500, &format!("internal task failed: {e}")))
}

fn percent_decode(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !s.contains('%') {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(std::borrow::Cow::Owned)
}

/// Upstream's `GetModelVersionFromString`: empty → -1 (latest ready).
fn version_of(v: Option<&str>) -> Result<i64, CoreError> {
    match v {
        None | Some("") => Ok(-1),
        Some(s) => s.parse::<i64>().map_err(|_| {
            CoreError::invalid_arg(format!(
                "failed to get model version from specified version string '{s}'"
            ))
        }),
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new().fallback(metrics).with_state(state)
}

async fn metrics(State(st): St, req: Request) -> Response {
    if req.method() != Method::GET {
        return error(405, "Method Not Allowed");
    }
    if req.uri().path() != "/metrics" {
        return error(400, "the metrics service serves GET /metrics only");
    }
    let core = st.core.clone();
    match blocking(move || core.metrics()).await {
        Ok(Ok(text)) => {
            let mut r = Response::new(Body::from(text));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        Ok(Err(e)) => core_error(&e),
        Err(r) => r,
    }
}

async fn read_body(
    st: &AppState,
    req: Request,
) -> Result<(axum::http::HeaderMap, Bytes), Response> {
    let limit = st.max_input_size;
    let too_big = || {
        error(
            413,
            &format!(
                "request body is larger than the limit of {limit} bytes (--http-max-input-size)"
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_big());
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_big())?;
    Ok((parts.headers, bytes))
}

#[allow(clippy::result_large_err)]
fn body_json(body: &Bytes) -> Result<Option<Value>, Response> {
    if body.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice::<Value>(body)
        .map(Some)
        .map_err(|e| {
            error(
                400,
                &format!("failed to parse the request JSON buffer: {e}"),
            )
        })
}

async fn dispatch(State(st): St, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let segs: Option<Vec<std::borrow::Cow<'_, str>>> = path
        .strip_prefix('/')
        .unwrap_or(&path)
        .split('/')
        .map(percent_decode)
        .collect();
    let Some(segs) = segs else {
        return error(400, "malformed percent-encoding in the request path");
    };
    let segs: Vec<&str> = segs.iter().map(|s| s.as_ref()).collect();
    let method = req.method().clone();
    let need =
        |m: Method| -> Option<Response> { (method != m).then(|| error(405, "Method Not Allowed")) };
    match segs.as_slice() {
        ["v2"] => need(Method::GET).unwrap_or_else(|| result_json(st.core.metadata())),
        ["v2", "health", kind @ ("live" | "ready")] => match need(Method::GET) {
            Some(r) => r,
            None => health(&st, kind == &"live").await,
        },
        ["v2", "models", "stats"] => match need(Method::GET) {
            Some(r) => r,
            None => model_call(&st, "", None, ModelOp::Stats).await,
        },
        ["v2", "models", name, rest @ ..] => {
            let (version, rest) = match rest {
                ["versions", v, rest @ ..]
                    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) =>
                {
                    (Some(*v), rest)
                }
                _ => (None, rest),
            };
            let op = match rest {
                [] => ModelOp::Metadata,
                ["ready"] => ModelOp::Ready,
                ["config"] => ModelOp::Config,
                ["stats"] => ModelOp::Stats,
                ["infer"] => ModelOp::Infer,
                _ => return error(400, &format!("unsupported request path '{path}'")),
            };
            if name.is_empty() {
                return error(400, "Missing model name in request");
            }
            let m = if op == ModelOp::Infer {
                Method::POST
            } else {
                Method::GET
            };
            if let Some(r) = need(m) {
                return r;
            }
            if op == ModelOp::Infer {
                return infer_handler(&st, name, version, req).await;
            }
            model_call(&st, name, version, op).await
        }
        ["v2", "repository", "index"] => match need(Method::POST) {
            Some(r) => r,
            None => repository_index(&st, req).await,
        },
        ["v2", "repository", "models", name, action @ ("load" | "unload")] => {
            match need(Method::POST) {
                Some(r) => r,
                None => repository_control(&st, name, action == &"load", req).await,
            }
        }
        ["v2", "repository", _repo, "index"]
        | ["v2", "repository", _repo, "models", _, "load" | "unload"] => {
            error(501, "'repository_name' specification is not supported")
        }
        _ => error(400, &format!("unsupported request path '{path}'")),
    }
}

/// A readiness call that did not finish (see `ready.rs`).
fn unfinished() -> Response {
    error(
        500,
        "internal task failed: the readiness check did not finish",
    )
}

async fn health(st: &AppState, live: bool) -> Response {
    if live {
        // A state read in the core: answered on the event loop.
        return match st.core.is_live() {
            Err(e) => core_error(&e),
            Ok(true) => empty(StatusCode::OK),
            Ok(false) => empty(StatusCode::BAD_REQUEST),
        };
    }
    // Readiness asks the backends' hooks: off the event loop (ready.rs).
    let Some(answer) = st.probes.server().await else {
        return unfinished();
    };
    match &*answer {
        Err(e) => core_error(e),
        Ok(Readiness::Ready) => empty(StatusCode::OK),
        Ok(Readiness::NotReady(_)) if !st.core.strict_readiness => empty(StatusCode::BAD_REQUEST),
        Ok(Readiness::NotReady(reasons)) => {
            // Beyond upstream: say why.
            let mut body = json!({ "error": "Server is not ready", "not_ready": reasons });
            if report_is_empty(&body) {
                body["error"] =
                    "Server is not ready (starting, or no model version is tracked yet)".into();
            }
            json_response(503, body.to_string())
        }
    }
}

fn report_is_empty(body: &Value) -> bool {
    body["not_ready"].as_array().is_none_or(|a| a.is_empty())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ModelOp {
    Metadata,
    Ready,
    Config,
    Stats,
    Infer,
}

async fn model_call(st: &AppState, name: &str, version: Option<&str>, op: ModelOp) -> Response {
    let version = match version_of(version) {
        Ok(v) => v,
        Err(e) => return core_error(&e),
    };
    if op == ModelOp::Ready {
        // Off the event loop, one call in flight per model version (ready.rs).
        let Some(answer) = st.probes.model(name, version).await else {
            return unfinished();
        };
        return match &*answer {
            Ok(true) => empty(StatusCode::OK),
            Ok(false) => error(400, "Model version not ready"),
            Err(e) => core_error(e),
        };
    }
    let core = st.core.clone();
    let name = name.to_string();
    let r = blocking(move || match op {
        ModelOp::Metadata => core.model_metadata(&name, version),
        ModelOp::Config => core.model_config(&name, version),
        ModelOp::Stats => core.model_statistics(&name, version),
        ModelOp::Ready | ModelOp::Infer => Err(CoreError::internal("unreachable")),
    })
    .await;
    match r {
        Err(r) => r,
        Ok(r) => result_json(r),
    }
}

async fn repository_index(st: &AppState, req: Request) -> Response {
    let (_, body) = match read_body(st, req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let ready = match body_json(&body) {
        Ok(None) => false,
        Ok(Some(v)) => match v.get("ready") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return error(400, "Unable to parse 'ready': expected a boolean"),
        },
        Err(r) => return r,
    };
    let core = st.core.clone();
    match blocking(move || core.model_index(ready)).await {
        Ok(r) => result_json(r),
        Err(r) => r,
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let clean: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let trimmed: &[u8] = {
        let mut end = clean.len();
        while end > 0 && clean[end - 1] == b'=' {
            end -= 1;
        }
        &clean[..end]
    };
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for chunk in trimmed.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8]),
            2 => out.push((acc >> 16) as u8),
            _ => return None,
        }
    }
    Some(out)
}

async fn repository_control(st: &AppState, name: &str, load: bool, req: Request) -> Response {
    let (_, body) = match read_body(st, req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let json = match body_json(&body) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let params = json.as_ref().and_then(|j| j.get("parameters"));
    if params.is_some_and(|p| !p.is_object()) {
        return error(400, "Unable to parse 'parameters': expected an object");
    }
    let core = st.core.clone();
    let name = name.to_string();
    let r = if load {
        let mut lp = Vec::new();
        for (k, v) in params.and_then(Value::as_object).into_iter().flatten() {
            let Some(s) = v.as_str() else {
                return error(
                    400,
                    &format!("Unable to parse parameter '{k}': expected a string"),
                );
            };
            if k == "config" {
                lp.push((k.clone(), LoadParam::Config(s.to_string())));
            } else if k.starts_with("file:") {
                match base64_decode(s) {
                    Some(b) => lp.push((k.clone(), LoadParam::File(b))),
                    None => {
                        return error(
                            400,
                            &format!("Unable to parse parameter '{k}': invalid base64"),
                        )
                    }
                }
            } else {
                return error(
                    400,
                    &format!(
                        "unsupported load parameter '{k}' (expected 'config' or 'file:<path>')"
                    ),
                );
            }
        }
        blocking(move || {
            core.load_model(&name, &lp).map_err(|e| {
                // The core answers INTERNAL (as upstream) for a name that is in no repository:
                // say so plainly, as NOT_FOUND.
                if e.code == crate::ffi::ERROR_INTERNAL && !model_in_index(&core, &name) {
                    CoreError::new(
                        crate::ffi::ERROR_NOT_FOUND,
                        format!(
                            "{}: no model directory named '{name}' in the model repositories",
                            e.message
                        ),
                    )
                } else {
                    e
                }
            })
        })
        .await
    } else {
        let dependents = match params.and_then(|p| p.get("unload_dependents")) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return error(
                    400,
                    "Unable to parse 'unload_dependents': expected a boolean",
                )
            }
        };
        blocking(move || core.unload_model(&name, dependents)).await
    };
    match r {
        Ok(Ok(())) => json_response(200, String::new()),
        Ok(Err(e)) => core_error(&e),
        Err(r) => r,
    }
}

fn model_in_index(core: &Core, name: &str) -> bool {
    core.model_index(false)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v.as_array().map(|a| a.iter().any(|e| e["name"] == name)))
        .unwrap_or(true)
}

async fn infer_handler(
    st: &Arc<AppState>,
    name: &str,
    version: Option<&str>,
    req: Request,
) -> Response {
    let version = match version_of(version) {
        Ok(v) => v,
        Err(e) => return core_error(&e),
    };
    let (headers, body) = match read_body(st, req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let header_len = match headers.get(INFER_HEADER) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok()) {
            Some(n) => Some(n),
            None => return error(400, "Unable to parse Inference-Header-Content-Length"),
        },
    };
    // Parsing a small body and submitting it (ServerInferAsync only enqueues) take
    // microseconds: run them on this worker. A hand-off to the blocking pool costs two thread
    // wake-ups per request, which dominated the profile. Large bodies (JSON tensors take time to
    // parse) still go to the blocking pool so they do not stall other connections.
    let submitted = if body.len() <= INLINE_BYTES {
        infer::parse(&body, header_len).and_then(|mut parsed| {
            let rx = infer::submit(&st.core, &st.allocator, name, version, &mut parsed, body)?;
            Ok((parsed, rx))
        })
    } else {
        let st2 = st.clone();
        let name = name.to_string();
        match blocking(move || {
            let mut parsed = infer::parse(&body, header_len)?;
            let rx = infer::submit(&st2.core, &st2.allocator, &name, version, &mut parsed, body)?;
            Ok::<_, CoreError>((parsed, rx))
        })
        .await
        {
            Ok(r) => r,
            Err(r) => return r,
        }
    };
    let (parsed, rx) = match submitted {
        Ok(x) => x,
        Err(e) => return core_error(&e),
    };
    let Ok(responses) = rx.await else {
        return error(500, "the inference request completed without a response");
    };
    let rendered = if infer::output_bytes(&responses) <= INLINE_BYTES {
        infer::render(&parsed, responses)
    } else {
        match blocking(move || infer::render(&parsed, responses)).await {
            Ok(r) => r,
            Err(r) => return r,
        }
    };
    let rendered = match rendered {
        Ok(r) => r,
        Err(e) => return core_error(&e),
    };
    let mut r = Response::new(Body::from(rendered.body));
    match rendered.header_len {
        Some(n) => {
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            r.headers_mut().insert(INFER_HEADER, HeaderValue::from(n));
        }
        None => {
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("a$==").is_none());
    }

    #[test]
    fn paths() {
        assert_eq!(percent_decode("a%2Fb").unwrap(), "a/b");
        assert!(percent_decode("a%zz").is_none());
        assert_eq!(version_of(Some("3")).unwrap(), 3);
        assert_eq!(version_of(None).unwrap(), -1);
    }
}
