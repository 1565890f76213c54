//! End-to-end tests of `tritonserver-rs`: start the binary on loopback ports (port 0, the bound
//! port read back from the log) over a copy of examples/model_repository, with the example
//! backends built from examples/CMakeLists.txt, and talk raw HTTP/1.1 to it.
//!
//! Every server is killed when its guard drops; every request has a socket timeout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_tritonserver-rs");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where the tests build things: `<target>/<profile>/http-test`.
fn work_dir() -> PathBuf {
    Path::new(BIN).parent().unwrap().join("http-test")
}

/// An install prefix staged from the library next to the binary, once per test run.
fn stage() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let bin_dir = Path::new(BIN).parent().unwrap().to_path_buf();
        let lib_dir = if bin_dir.join("libtritonserver.so").exists() {
            bin_dir.clone()
        } else {
            bin_dir.join("deps")
        };
        let stage = work_dir().join("stage");
        run(Command::new(repo_root().join("scripts/stage-prefix.sh"))
            .arg(&lib_dir)
            .arg(&stage));
        stage
    })
}

/// Configures and builds the CMake project `src` into `build` against the staged prefix.
fn cmake_build(src: &Path, build: &Path) {
    run(Command::new("cmake")
        .arg("-S")
        .arg(src)
        .arg("-B")
        .arg(build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", stage().display())));
    run(Command::new("cmake").arg("--build").arg(build).arg("-j2"));
}

/// The example backends, built once per test run against the library next to the binary.
fn backends() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let build = work_dir().join("examples");
        cmake_build(&repo_root().join("examples"), &build);
        build.join("backends")
    })
}

/// The build directory of this package's own test backends (tests/backends), built once.
fn test_backends() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let build = work_dir().join("test-backends");
        cmake_build(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/backends"),
            &build,
        );
        build
    })
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else if !e.file_name().to_string_lossy().ends_with(".pid") {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

struct Server {
    child: Child,
    port: u16,
    metrics_port: u16,
    dir: PathBuf,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!(
        "tritonserver-rs-test-{}-{tag}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts a server on a fresh copy of the example repository; waits for both services.
fn start(tag: &str, extra: &[&str]) -> Server {
    start_with(tag, extra, |_| {})
}

/// As `start`, with `setup` adding to the model repository before the server starts.
fn start_with(tag: &str, extra: &[&str], setup: impl FnOnce(&Path)) -> Server {
    let dir = tmpdir(tag);
    let models = dir.join("models");
    copy_dir(&repo_root().join("examples/model_repository"), &models);
    setup(&models);
    let log = dir.join("server.log");
    let child = Command::new(BIN)
        .arg("--model-repository")
        .arg(&models)
        .arg("--backend-directory")
        .arg(backends())
        .args([
            "--http-address",
            "127.0.0.1",
            "--http-port",
            "0",
            "--metrics-port",
            "0",
        ])
        .args(["--strict-model-config", "--exit-timeout-secs", "5"])
        .arg("--log-file")
        .arg(&log)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tritonserver-rs");
    let mut s = Server {
        child,
        port: 0,
        metrics_port: 0,
        dir,
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&s.log).unwrap_or_default();
        let port_of = |key: &str| {
            text.lines()
                .find_map(|l| {
                    l.split_once(key)
                        .map(|(_, a)| a.trim().trim_end_matches('"').to_string())
                })
                .and_then(|a| a.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()))
        };
        if let (Some(p), Some(m)) = (
            port_of("Started HTTPService at"),
            port_of("Started Metrics Service at"),
        ) {
            s.port = p;
            s.metrics_port = m;
            return s;
        }
        if let Ok(Some(st)) = s.child.try_wait() {
            panic!("server exited early ({st}):\n{text}");
        }
        assert!(Instant::now() < deadline, "server did not start:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn request(port: u16, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Resp {
    request_within(Duration::from_secs(30), port, method, path, headers, body)
}

/// `request`, failing when the answer takes longer than `timeout`.
fn request_within(
    timeout: Duration,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading everything: ignore write errors then.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP response to {method} {path} within {timeout:?}: {:?}",
                String::from_utf8_lossy(&raw)
            )
        });
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
}

fn get(port: u16, path: &str) -> Resp {
    request(port, "GET", path, &[], b"")
}

fn post(port: u16, path: &str, body: &Value) -> Resp {
    request(port, "POST", path, &[], body.to_string().as_bytes())
}

fn error_of(r: &Resp) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn health_metadata_and_repository() {
    let s = start("meta", &[]);
    let p = s.port;
    assert_eq!(get(p, "/v2/health/live").status, 200);
    let r = get(p, "/v2/health/ready");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty(), "200 ready has an empty body");
    let r = get(p, "/v2");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "triton");
    assert!(r.json()["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "binary_tensor_data"));

    let r = get(p, "/v2/models/identity");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "identity");
    assert_eq!(r.json()["inputs"][0]["name"], "INPUT0");
    assert_eq!(get(p, "/v2/models/identity/versions/1").status, 200);
    assert_eq!(get(p, "/v2/models/identity/ready").status, 200);
    assert_eq!(get(p, "/v2/models/identity/versions/1/ready").status, 200);
    let r = get(p, "/v2/models/identity/config");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["max_batch_size"], 8);
    let r = get(p, "/v2/models/identity/stats");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["model_stats"][0]["name"], "identity");
    assert_eq!(get(p, "/v2/models/stats").status, 200);

    let r = post(p, "/v2/repository/index", &json!({}));
    assert_eq!(r.status, 200);
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["identity", "simple", "stub"]);
    let r = request(p, "POST", "/v2/repository/index", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        post(p, "/v2/repository/index", &json!({"ready": true})).status,
        200
    );
    assert_eq!(
        post(p, "/v2/repository/index", &json!({"ready": 3})).status,
        400
    );

    // Unknown models and versions, wrong methods and paths: clear errors, JSON bodies.
    let r = get(p, "/v2/models/nope");
    assert_eq!(r.status, 404);
    assert!(error_of(&r).contains("nope"), "{}", r.text());
    let r = get(p, "/v2/models/nope/ready");
    assert_eq!(r.status, 400);
    assert_eq!(error_of(&r), "Model version not ready");
    assert_eq!(get(p, "/v2/models/identity/versions/7/ready").status, 400);
    assert_eq!(get(p, "/v2/models/nope/config").status, 404);
    // As Triton 2.51: statistics of an unknown model are INVALID_ARG (400).
    assert_eq!(get(p, "/v2/models/nope/stats").status, 400);
    let r = request(p, "POST", "/v2/health/ready", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(error_of(&r), "Method Not Allowed");
    assert_eq!(get(p, "/v2/models/identity/infer").status, 405);
    assert_eq!(get(p, "/v2/repository/index").status, 405);
    let r = get(p, "/v2/nothing/here");
    assert_eq!(r.status, 400);
    assert!(error_of(&r).contains("/v2/nothing/here"));
    assert_eq!(
        post(p, "/v2/repository/r/models/identity/load", &json!({})).status,
        501
    );

    // Model control in mode NONE is refused by the core (UNAVAILABLE → 503), as upstream.
    let r = post(p, "/v2/repository/models/identity/unload", &json!({}));
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(error_of(&r).contains("polling is enabled") || !error_of(&r).is_empty());

    // Metrics: 200 with Prometheus text.
    let r = get(s.metrics_port, "/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(get(s.metrics_port, "/v2/health/live").status, 400);

    // One copy of the core in the process: the shared library, mapped once, by one path.
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", s.child.id())).unwrap();
    let paths: std::collections::BTreeSet<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.contains("libtritonserver"))
        .collect();
    assert_eq!(paths.len(), 1, "libtritonserver mapped from {paths:?}");
    assert_eq!(get(p, "/v2/health/live").status, 200);
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn inference() {
    let s = start("infer", &["--http-max-input-size", "65536"]);
    let p = s.port;
    let infer = "/v2/models/identity/infer";

    // JSON in, JSON out, request parameters echoed as response parameters.
    let r = post(
        p,
        infer,
        &json!({
            "id": "req-1",
            "parameters": {"s": "x", "i": 3, "b": true, "d": 1.5},
            "inputs": [
                {"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": [[1, 2, 3, 4.5]]},
                {"name": "INPUT1", "shape": [1, 2], "datatype": "BYTES", "data": ["hi", "there"]}
            ]
        }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["model_name"], "identity");
    assert_eq!(j["model_version"], "1");
    assert_eq!(j["id"], "req-1");
    assert_eq!(j["parameters"]["s"], "x");
    assert_eq!(j["parameters"]["i"], 3);
    assert_eq!(j["parameters"]["b"], true);
    assert_eq!(j["parameters"]["d"], 1.5);
    assert_eq!(
        j["outputs"][0],
        json!({"name": "OUTPUT0", "datatype": "FP32", "shape": [1, 4], "data": [1.0, 2.0, 3.0, 4.5]})
    );
    assert_eq!(j["outputs"][1]["data"], json!(["hi", "there"]));

    // Requested outputs: only OUTPUT1 comes back.
    let r = post(
        p,
        infer,
        &json!({
            "inputs": [
                {"name": "INPUT0", "shape": [1, 1], "datatype": "FP32", "data": [7]},
                {"name": "INPUT1", "shape": [1, 1], "datatype": "BYTES", "data": ["z"]}
            ],
            "outputs": [{"name": "OUTPUT1"}]
        }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(r.json()["outputs"][0]["name"], "OUTPUT1");

    // Binary tensor data extension, both ways.
    let header = json!({
        "inputs": [{"name": "INPUT0", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}}],
        "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": true}}]
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    for v in [1.0f32, -2.0, 3.25] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let hl = ("Inference-Header-Content-Length", header.len().to_string());
    let r = request(p, "POST", infer, std::slice::from_ref(&hl), &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let n: usize = r
        .header("inference-header-content-length")
        .unwrap()
        .parse()
        .unwrap();
    let j: Value = serde_json::from_slice(&r.body[..n]).unwrap();
    assert_eq!(j["outputs"][0]["parameters"]["binary_data_size"], 12);
    assert!(j["outputs"][0].get("data").is_none());
    assert_eq!(f32s(&r.body[n..]), [1.0, -2.0, 3.25]);

    // binary_data_output: every output binary.
    let r = post(
        p,
        infer,
        &json!({"parameters": {"binary_data_output": true},
                "inputs": [{"name": "INPUT0", "shape": [1, 2], "datatype": "FP32", "data": [5, 6]}]}),
    );
    assert_eq!(r.status, 200);
    let n: usize = r
        .header("inference-header-content-length")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(f32s(&r.body[n..]), [5.0, 6.0]);

    // Classification: top-2 "value:index:label" (labels.txt of the model).
    let r = post(
        p,
        infer,
        &json!({"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.9, 0.5, 0.2]}],
                "outputs": [{"name": "OUTPUT0", "parameters": {"classification": 2}}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let o = &r.json()["outputs"][0];
    assert_eq!(o["datatype"], "BYTES");
    assert_eq!(o["shape"], json!([1, 2]));
    assert_eq!(o["data"], json!(["0.900000:1:dog", "0.500000:2:bird"]));

    // Malformed and wrong requests: 400 with a message, 404 for unknown models.
    let bad = |body: &[u8], hdrs: &[(&str, String)], want: u16, needle: &str| {
        let r = request(p, "POST", infer, hdrs, body);
        assert_eq!(r.status, want, "{}", r.text());
        let e = error_of(&r);
        assert!(e.contains(needle), "error {e:?} lacks {needle:?}");
    };
    bad(b"{", &[], 400, "failed to parse the request JSON");
    bad(b"[1,2]", &[], 400, "must be an object");
    bad(b"{}", &[], 400, "inputs");
    bad(
        json!({"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]}).to_string().as_bytes(),
        &[],
        400,
        "Shape does not match",
    );
    bad(
        json!({"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).to_string().as_bytes(),
        &[],
        400,
        "shape",
    );
    bad(
        json!({"inputs": [{"name": "INPUT0", "shape": [1, 2], "datatype": "INT32", "data": [1, 2]}]}).to_string().as_bytes(),
        &[],
        400,
        "INT32",
    );
    bad(
        json!({"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "FLOAT", "data": [1]}]})
            .to_string()
            .as_bytes(),
        &[],
        400,
        "invalid datatype",
    );
    bad(
        json!({"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "FP32", "data": ["x"]}]})
            .to_string()
            .as_bytes(),
        &[],
        400,
        "not a number",
    );
    bad(
        json!({"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "INT8", "data": [300]}]})
            .to_string()
            .as_bytes(),
        &[],
        400,
        "out of range",
    );
    bad(
        json!({"inputs": [{"name": "INPUT0", "shape": [1, -1], "datatype": "FP32", "data": [1]}]})
            .to_string()
            .as_bytes(),
        &[],
        400,
        "shape",
    );
    bad(
        json!({"inputs": [{"name": "NOPE", "shape": [1, 1], "datatype": "FP32", "data": [1]}]})
            .to_string()
            .as_bytes(),
        &[],
        400,
        "NOPE",
    );
    // Binary data: header length past the body, too little data, unclaimed bytes.
    bad(
        header.as_bytes(),
        &[("Inference-Header-Content-Length", "100000".into())],
        400,
        "exceeds",
    );
    bad(
        header.as_bytes(),
        std::slice::from_ref(&hl),
        400,
        "expecting 12 bytes",
    );
    let mut extra = body.clone();
    extra.extend_from_slice(&[0; 8]);
    bad(&extra, std::slice::from_ref(&hl), 400, "no input claims");
    bad(
        &body,
        &[("Inference-Header-Content-Length", "x".into())],
        400,
        "Inference-Header-Content-Length",
    );
    // Oversized body (limit 64 KiB here): 413 with a JSON error.
    let big = vec![b' '; 100_000];
    bad(&big, &[], 413, "--http-max-input-size");
    // Unknown model.
    let r = post(p, "/v2/models/nope/infer", &json!({"inputs": []}));
    assert_eq!(r.status, 404, "{}", r.text());
    let r = post(
        p,
        "/v2/models/identity/versions/9/infer",
        &json!({"inputs": []}),
    );
    assert!(
        r.status == 404 || r.status == 503 || r.status == 400,
        "{}",
        r.text()
    );

    // Still serving.
    assert_eq!(get(p, "/v2/health/live").status, 200);
    assert_eq!(get(p, "/v2/health/ready").status, 200);
    let r = get(p, "/v2/models/identity/stats");
    assert!(
        r.json()["model_stats"][0]["inference_count"]
            .as_u64()
            .unwrap()
            >= 5,
        "{}",
        r.text()
    );
}

fn kill_stub(s: &Server) {
    let pidfile = s.dir.join("models/stub/stub_0_0.pid");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: sending a signal to the stub child the example backend started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
}

fn wait_status(port: u16, path: &str, want: u16) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(port, path);
        if r.status == want || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killed_stub_makes_ready_503_with_reasons() {
    let s = start("stub", &[]);
    let p = s.port;
    assert_eq!(get(p, "/v2/health/ready").status, 200);
    kill_stub(&s);
    let r = wait_status(p, "/v2/health/ready", 503);
    assert_eq!(r.status, 503, "{}", r.text());
    let j = r.json();
    assert_eq!(j["error"], "Server is not ready");
    let nr = j["not_ready"].as_array().unwrap();
    assert_eq!(nr.len(), 1, "{j}");
    assert_eq!(nr[0]["model"], "stub");
    assert_eq!(nr[0]["version"], "1");
    assert_eq!(nr[0]["state"], "READY");
    // The backend's own message, for the instance that failed its readiness check.
    assert_eq!(nr[0]["instance"], "stub_0_0", "{j}");
    assert_eq!(
        nr[0]["reason"], "Stub process 'stub_0_0' is not healthy.",
        "{j}"
    );
    // Live stays 200; the stub model is not ready; the others still serve.
    assert_eq!(get(p, "/v2/health/live").status, 200);
    assert_eq!(get(p, "/v2/models/stub/ready").status, 400);
    assert_eq!(get(p, "/v2/models/identity/ready").status, 200);
    let r = post(
        p,
        "/v2/models/identity/infer",
        &json!({"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "FP32", "data": [1]}]}),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn non_strict_readiness_ignores_models() {
    let s = start("nonstrict", &["--strict-readiness=false"]);
    kill_stub(&s);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(get(s.port, "/v2/health/ready").status, 200);
    assert_eq!(get(s.port, "/v2/models/stub/ready").status, 400);
}

/// Adds the model `slowready` (tests/backends/slowready.c, its library in the model directory)
/// to the repository: its readiness hook blocks while `slowready/BLOCK_READY` exists.
fn add_slowready_model(models: &Path) {
    let dir = models.join("slowready");
    std::fs::create_dir_all(dir.join("1")).unwrap();
    std::fs::write(
        dir.join("config.pbtxt"),
        r#"name: "slowready"
backend: "slowready"
max_batch_size: 0
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 1 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
"#,
    )
    .unwrap();
    std::fs::copy(
        test_backends().join("libtriton_slowready.so"),
        dir.join("libtriton_slowready.so"),
    )
    .unwrap();
}

/// A request on its own connection, timed.
fn timed(f: impl FnOnce() -> Resp) -> (Resp, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

#[test]
fn blocked_readiness_hook_delays_neither_live_nor_inference() {
    // One event loop: every connection below is served by the loop that takes the probes.
    let s = start_with(
        "slowready",
        &["--http-thread-count", "1"],
        add_slowready_model,
    );
    let p = s.port;
    let model_dir = s.dir.join("models/slowready");
    assert_eq!(get(p, "/v2/health/ready").status, 200);

    // From now on the hook blocks until the test removes BLOCK_READY. The core reuses a
    // completed "ready" answer for 1 ms (TRITONRS_ServerOptionsSetReadinessReuse): wait past
    // it, or the next probe answers 200 from the last check without calling the hook.
    std::fs::write(model_dir.join("BLOCK_READY"), b"").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let server_probe = std::thread::spawn(move || timed(|| get(p, "/v2/health/ready")));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !model_dir.join("IN_READY_HOOK").exists() {
        assert!(
            Instant::now() < deadline,
            "the readiness hook was never called"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // More probes of the blocked model, server-wide and per model, on other connections.
    let second_probe = std::thread::spawn(move || timed(|| get(p, "/v2/health/ready")));
    let model_probe = std::thread::spawn(move || timed(|| get(p, "/v2/models/slowready/ready")));
    std::thread::sleep(Duration::from_millis(200));

    let bound = Duration::from_secs(1);
    let quick = |method: &str, path: &str, body: &[u8]| {
        timed(|| request_within(Duration::from_secs(5), p, method, path, &[], body))
    };
    let infer_body =
        json!({"inputs": [{"name": "INPUT0", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]})
            .to_string();
    for _ in 0..3 {
        let (r, took) = quick("GET", "/v2/health/live", b"");
        assert_eq!(r.status, 200);
        assert!(
            took < bound,
            "/v2/health/live took {took:?} behind a blocked readiness hook"
        );
        let (r, took) = quick("POST", "/v2/models/identity/infer", infer_body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["outputs"][0]["data"], json!([1.0, 2.0]));
        assert!(
            took < bound,
            "inference took {took:?} behind a blocked readiness hook"
        );
        let (r, took) = quick("GET", "/v2/models/identity/ready", b"");
        assert_eq!(r.status, 200);
        assert!(took < bound, "another model's readiness took {took:?}");
    }
    // The checks above ran while the hook was still blocking.
    assert!(model_dir.join("IN_READY_HOOK").exists());
    assert!(!server_probe.is_finished());

    std::fs::remove_file(model_dir.join("BLOCK_READY")).unwrap();
    for probe in [server_probe, second_probe] {
        let (r, _) = probe.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (r, _) = model_probe.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(p, "/v2/health/ready").status, 200);
}

/// With `--readiness-timeout-ms 500` a hung readiness hook no longer holds the readiness probe:
/// `/v2/health/ready` answers 503 at about the deadline with the timeout as the reason, later
/// probes answer at once from that state, and live and inference on another model keep
/// answering quickly. Once the hook returns, ready is 200 again.
#[test]
fn readiness_timeout_bounds_a_blocked_hook() {
    let s = start_with(
        "slowready-timeout",
        &["--http-thread-count", "1", "--readiness-timeout-ms", "500"],
        add_slowready_model,
    );
    let p = s.port;
    let model_dir = s.dir.join("models/slowready");
    assert_eq!(get(p, "/v2/health/ready").status, 200);

    std::fs::write(model_dir.join("BLOCK_READY"), b"").unwrap();
    // Past the reuse of the last "ready" answer (1 ms by default).
    std::thread::sleep(Duration::from_millis(20));
    let probe = std::thread::spawn(move || timed(|| get(p, "/v2/health/ready")));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !model_dir.join("IN_READY_HOOK").exists() {
        assert!(
            Instant::now() < deadline,
            "the readiness hook was never called"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // While the probe waits for the hook: live and inference on another model are quick.
    let bound = Duration::from_secs(1);
    let infer_body =
        json!({"inputs": [{"name": "INPUT0", "shape": [1, 2], "datatype": "FP32", "data": [3, 4]}]})
            .to_string();
    let (r, took) = timed(|| request_within(bound * 5, p, "GET", "/v2/health/live", &[], b""));
    assert_eq!(r.status, 200);
    assert!(
        took < bound,
        "/v2/health/live took {took:?} behind a blocked hook"
    );
    let (r, took) = timed(|| {
        request_within(
            bound * 5,
            p,
            "POST",
            "/v2/models/identity/infer",
            &[],
            infer_body.as_bytes(),
        )
    });
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["outputs"][0]["data"], json!([3.0, 4.0]));
    assert!(
        took < bound,
        "inference took {took:?} behind a blocked hook"
    );

    let expected_reason = "readiness check of instance slowready_0_0 did not answer within 500 ms";
    let check_503 = |r: &Resp, took: Duration, what: &str| {
        assert_eq!(r.status, 503, "{what}: {}", r.text());
        assert!(
            took < Duration::from_secs(2),
            "{what}: /v2/health/ready took {took:?} with a 500 ms readiness timeout"
        );
        let j = r.json();
        assert_eq!(j["error"], "Server is not ready", "{j}");
        // The hung model's entry (that healthy models are not listed is
        // a_hung_hook_does_not_fail_other_models).
        let nr = j["not_ready"].as_array().unwrap();
        let e = nr
            .iter()
            .find(|e| e["model"] == "slowready")
            .unwrap_or_else(|| panic!("no entry for slowready: {j}"));
        assert_eq!(e["version"], "1", "{j}");
        assert_eq!(e["instance"], "slowready_0_0", "{j}");
        assert_eq!(e["reason"], expected_reason, "{j}");
        assert_eq!(e["state"], "READY", "{j}");
        assert!(
            nr.iter()
                .all(|e| e["model"] != "identity" && e["model"] != "simple"),
            "{j}"
        );
    };
    let (r, took) = probe.join().unwrap();
    check_503(&r, took, "the probe that started the hook call");
    // The hook still hangs: the next probes answer from the timed-out state.
    assert!(
        model_dir.join("IN_READY_HOOK").exists(),
        "the hook returned"
    );
    for i in 0..3 {
        let (r, took) = timed(|| request_within(bound * 5, p, "GET", "/v2/health/ready", &[], b""));
        check_503(&r, took, &format!("probe {i} while the hook hangs"));
        let (r, took) = timed(|| request_within(bound * 5, p, "GET", "/v2/health/live", &[], b""));
        assert_eq!(r.status, 200);
        assert!(took < bound, "/v2/health/live took {took:?}");
    }
    let (r, took) =
        timed(|| request_within(bound * 5, p, "GET", "/v2/models/slowready/ready", &[], b""));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(took < Duration::from_secs(2), "model ready took {took:?}");
    let (r, took) =
        timed(|| request_within(bound * 5, p, "GET", "/v2/models/identity/ready", &[], b""));
    assert_eq!(r.status, 200);
    assert!(took < bound, "another model's readiness took {took:?}");
    let m = get(s.metrics_port, "/metrics").text();
    assert!(
        m.contains(
            "nv_instance_ready_check_timeouts{instance=\"slowready_0_0\",model=\"slowready\",version=\"1\"} 1"
        ),
        "{m}"
    );

    std::fs::remove_file(model_dir.join("BLOCK_READY")).unwrap();
    let r = wait_status(p, "/v2/health/ready", 200);
    assert_eq!(r.status, 200, "{}", r.text());
    let log = std::fs::read_to_string(&s.log).unwrap();
    let lines = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        lines(&format!(
            "instance slowready_0_0 is not ready: {expected_reason}"
        )),
        1,
        "{log}"
    );
    assert_eq!(lines("instance slowready_0_0 is ready again"), 1, "{log}");
}

/// A hung readiness hook must not make other, healthy models not ready. Known bug at the time
/// of writing: the instances of one readiness check run as one job on the readiness pool, and
/// the caller only asks for help with the item it is waiting for, in order; an item queued
/// after the hung one (here model `stub`, after `slowready`) is never started and is reported
/// "could not start within N ms (every readiness thread is busy)" — with a warning, a counted
/// timeout and a transition — although the pool has idle capacity.
#[test]
fn a_hung_hook_does_not_fail_other_models() {
    let s = start_with(
        "slowready-neighbour",
        &["--readiness-timeout-ms", "300"],
        add_slowready_model,
    );
    let p = s.port;
    let model_dir = s.dir.join("models/slowready");
    assert_eq!(get(p, "/v2/health/ready").status, 200);
    std::fs::write(model_dir.join("BLOCK_READY"), b"").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let r = get(p, "/v2/health/ready");
    let j = r.json();
    std::fs::remove_file(model_dir.join("BLOCK_READY")).unwrap();
    let listed: Vec<&str> = j["not_ready"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["model"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["slowready"], "{j}");
    let m = get(s.metrics_port, "/metrics").text();
    assert!(
        m.contains("nv_instance_ready_check_timeouts{instance=\"stub_0_0\",model=\"stub\",version=\"1\"} 0"),
        "{m}"
    );
}

/// The self-healing flags are accepted, and with them a killed stub is restarted: ready goes
/// back to 200 with a new stub process, and the restart is counted in the metrics.
#[test]
fn instance_restart_flag_heals_a_killed_stub() {
    let s = start(
        "restart",
        &[
            "--instance-restart",
            "--instance-restart-after-failures",
            "1",
            "--instance-restart-max-attempts",
            "3",
            "--instance-restart-backoff-ms",
            "20",
            "--instance-restart-backoff-cap-ms",
            "100",
            "--readiness-monitor-ms",
            "50",
        ],
    );
    let p = s.port;
    assert_eq!(get(p, "/v2/health/ready").status, 200);
    let pidfile = s.dir.join("models/stub/stub_0_0.pid");
    let read_pid = || -> i32 {
        std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let old = read_pid();
    kill_stub(&s);
    // The monitor notices and restarts without any probe.
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_pid() == old {
        assert!(Instant::now() < deadline, "the stub was not restarted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = wait_status(p, "/v2/health/ready", 200);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(p, "/v2/models/stub/ready").status, 200);
    let m = get(s.metrics_port, "/metrics").text();
    for line in [
        "nv_instance_restarts{instance=\"stub_0_0\",model=\"stub\",version=\"1\"} 1",
        "nv_instance_ready{instance=\"stub_0_0\",model=\"stub\",version=\"1\"} 1",
        "nv_instance_restart_failures{instance=\"stub_0_0\",model=\"stub\",version=\"1\"} 0",
    ] {
        assert!(m.contains(line), "metrics lack {line}:\n{m}");
    }
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        log.contains("instance stub_0_0 restarted (attempt 1)"),
        "{log}"
    );

    // Off explicitly: accepted, and a killed stub stays dead (ready 503).
    let s = start(
        "restart-off",
        &["--instance-restart=false", "--readiness-monitor-ms", "50"],
    );
    let old = std::fs::read_to_string(s.dir.join("models/stub/stub_0_0.pid")).unwrap();
    kill_stub(&s);
    let r = wait_status(s.port, "/v2/health/ready", 503);
    assert_eq!(r.status, 503, "{}", r.text());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(s.port, "/v2/health/ready").status, 503);
    assert_eq!(
        std::fs::read_to_string(s.dir.join("models/stub/stub_0_0.pid")).unwrap(),
        old,
        "restarted although --instance-restart=false"
    );
}

#[test]
fn explicit_model_control() {
    let s = start(
        "explicit",
        &["--model-control-mode=explicit", "--load-model", "identity"],
    );
    let p = s.port;
    let index = |ready: bool| -> Vec<String> {
        post(p, "/v2/repository/index", &json!({"ready": ready}))
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(index(true), ["identity"]);
    assert_eq!(index(false), ["identity", "simple", "stub"]);
    assert_eq!(get(p, "/v2/health/ready").status, 200);

    let r = post(p, "/v2/repository/models/simple/load", &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(p, "/v2/models/simple/ready").status, 200);
    let r = request(p, "POST", "/v2/repository/models/simple/unload", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = wait_status(p, "/v2/models/simple/ready", 400);
    assert_eq!(r.status, 400);
    // UNLOADING counts as not ready; once unloaded, the version no longer counts.
    let r = wait_status(p, "/v2/health/ready", 200);
    assert_eq!(
        r.status,
        200,
        "an unloaded version does not count: {}",
        r.text()
    );

    let r = post(p, "/v2/repository/models/nope/load", &json!({}));
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(error_of(&r).contains("nope"));

    // Load with a configuration override (parameters.config).
    let cfg = json!({
        "backend": "identity", "max_batch_size": 2,
        "input": [{"name": "INPUT0", "data_type": "TYPE_INT32", "dims": [-1]}],
        "output": [{"name": "OUTPUT0", "data_type": "TYPE_INT32", "dims": [-1]}]
    });
    let r = post(
        p,
        "/v2/repository/models/identity/load",
        &json!({"parameters": {"config": cfg.to_string()}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(p, "/v2/models/identity/config");
    assert_eq!(r.json()["max_batch_size"], 2, "{}", r.text());
    let r = post(
        p,
        "/v2/models/identity/infer",
        &json!({"inputs": [{"name": "INPUT0", "shape": [1, 2], "datatype": "INT32", "data": [4, 5]}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["outputs"][0]["data"], json!([4, 5]));
    let r = post(
        p,
        "/v2/repository/models/identity/load",
        &json!({"parameters": {"other": "x"}}),
    );
    assert_eq!(r.status, 400);
    let r = post(
        p,
        "/v2/repository/models/identity/load",
        &json!({"parameters": {"file:1/x": "%%%"}}),
    );
    assert_eq!(r.status, 400);
    let r = request(
        p,
        "POST",
        "/v2/repository/models/identity/load",
        &[],
        b"{oops",
    );
    assert_eq!(r.status, 400);
    let r = post(
        p,
        "/v2/repository/models/identity/unload",
        &json!({"parameters": {"unload_dependents": "yes"}}),
    );
    assert_eq!(r.status, 400);
    let r = post(
        p,
        "/v2/repository/models/identity/unload",
        &json!({"parameters": {"unload_dependents": true}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(p, "/v2/health/live").status, 200);
}

#[test]
fn graceful_shutdown_drains_in_flight_requests() {
    let mut s = start("shutdown", &[]);
    let p = s.port;
    let slow = std::thread::spawn(move || {
        post(
            p,
            "/v2/models/identity/infer",
            &json!({"parameters": {"delay_ms": 1500},
                    "inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "FP32", "data": [9]}]}),
        )
    });
    std::thread::sleep(Duration::from_millis(400));
    // SAFETY: signalling the child process this test started.
    assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) }, 0);
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200, "in-flight request completes: {}", r.text());
    assert_eq!(r.json()["outputs"][0]["data"], json!([9.0]));
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    assert!(
        TcpStream::connect(("127.0.0.1", p)).is_err(),
        "no longer accepting"
    );
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(log.contains("Received SIGTERM"), "{log}");
    assert!(log.contains("Server stopped"), "{log}");
}

#[test]
fn startup_errors_exit_nonzero() {
    let out = Command::new(BIN)
        .args([
            "--model-repository",
            "/nonexistent/repo",
            "--http-port",
            "0",
            "--metrics-port",
            "0",
        ])
        .args(["--http-address", "127.0.0.1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: creating server"));
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--model-repository",
        "--backend-directory",
        "--backend-config",
        "--model-control-mode",
        "--load-model",
        "--strict-readiness",
        "--strict-model-config",
        "--exit-timeout-secs",
        "--http-port",
        "--metrics-port",
        "--log-verbose",
        "--log-file",
        "--repository-poll-secs",
        "--http-address",
        "--readiness-timeout-ms",
        "--readiness-monitor-ms",
        "--instance-restart",
        "--instance-restart-after-failures",
        "--instance-restart-max-attempts",
        "--instance-restart-backoff-ms",
        "--instance-restart-backoff-cap-ms",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
