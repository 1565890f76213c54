//! Command-line flags, named and defaulted as upstream `tritonserver`'s.

use clap::{ArgAction, Parser, ValueEnum};

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got '{s}'")),
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ControlMode {
    /// Load every model of the repositories at startup; no loads or unloads later.
    None,
    /// Like none, then watch the repositories and apply changes every --repository-poll-secs.
    Poll,
    /// Load only --load-model models at startup; load and unload through the repository API.
    Explicit,
}

/// One --backend-config: `<backend>,<setting>=<value>`, or `<setting>=<value>` for all backends.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    pub backend: String,
    pub setting: String,
    pub value: String,
}

fn parse_backend_config(s: &str) -> Result<BackendConfig, String> {
    let (backend, rest) = match s.split_once(',') {
        Some((b, r)) => (b.to_string(), r),
        None => (String::new(), s),
    };
    let (setting, value) = rest.split_once('=').ok_or_else(|| {
        format!("expected '<backend>,<setting>=<value>' or '<setting>=<value>', got '{s}'")
    })?;
    if setting.is_empty() {
        return Err(format!("empty setting name in '{s}'"));
    }
    Ok(BackendConfig {
        backend,
        setting: setting.to_string(),
        value: value.to_string(),
    })
}

/// tritonserver-rs: a KServe v2 / Triton HTTP inference server on the triton-core library.
///
/// Serves the models of one or more model repositories over HTTP (KServe v2 protocol with
/// Triton's extensions) and Prometheus metrics on a second port. Boolean flags take an optional
/// value: `--strict-readiness` is `--strict-readiness=true`.
#[derive(Parser, Debug)]
#[command(
    name = "tritonserver-rs",
    version,
    about,
    long_about,
    max_term_width = 100
)]
pub struct Args {
    /// Path to a model repository. Repeat for several repositories.
    #[arg(
        long = "model-repository",
        alias = "model-store",
        value_name = "PATH",
        required = true,
        help_heading = "Models"
    )]
    pub model_repository: Vec<String>,

    /// How models are loaded and unloaded.
    #[arg(long, value_enum, default_value_t = ControlMode::None, value_name = "MODE", help_heading = "Models")]
    pub model_control_mode: ControlMode,

    /// With --model-control-mode=explicit: a model to load at startup. Repeat for several;
    /// '*' loads every model.
    #[arg(long = "load-model", value_name = "NAME", help_heading = "Models")]
    pub load_model: Vec<String>,

    /// With --model-control-mode=poll: seconds between repository scans.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Models"
    )]
    pub repository_poll_secs: u64,

    /// Require a complete config.pbtxt for every model (false: the core auto-completes
    /// configurations where the backend can).
    #[arg(long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool, value_name = "BOOL", help_heading = "Models")]
    pub strict_model_config: bool,

    /// Exit at startup when a model fails to load (false: keep serving the others).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool, value_name = "BOOL", help_heading = "Models")]
    pub exit_on_error: bool,

    /// Directory holding backends, one sub-directory per backend
    /// (<dir>/<name>/libtriton_<name>.so).
    #[arg(
        long,
        default_value = "/opt/tritonserver/backends",
        value_name = "DIR",
        help_heading = "Backends"
    )]
    pub backend_directory: String,

    /// A backend setting: '<backend>,<setting>=<value>', or '<setting>=<value>' for every
    /// backend. Repeatable.
    #[arg(long = "backend-config", value_parser = parse_backend_config, value_name = "SPEC", help_heading = "Backends")]
    pub backend_config: Vec<BackendConfig>,

    /// Directory holding repository agents.
    #[arg(
        long,
        default_value = "/opt/tritonserver/repoagents",
        value_name = "DIR",
        help_heading = "Backends"
    )]
    pub repoagent_directory: String,

    /// /v2/health/ready is 200 only when every loaded model version is READY and every
    /// instance passes its backend's readiness check; otherwise 503 with a JSON body naming the
    /// model versions that are not ready (false: ready as soon as the server has started).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool, value_name = "BOOL", help_heading = "Health")]
    pub strict_readiness: bool,

    /// triton-core extension: how long (ms) one call of a backend's readiness hook may take
    /// before the instance counts as not ready; a hung hook never holds a probe longer
    /// (default: the core's, 2000).
    #[arg(long, value_name = "MS", help_heading = "Health")]
    pub readiness_timeout_ms: Option<u64>,

    /// triton-core extension: check every instance's readiness in the background every MS
    /// milliseconds, so readiness, its metrics and restarts do not depend on probes (0: off).
    #[arg(long, value_name = "MS", help_heading = "Health")]
    pub readiness_monitor_ms: Option<u64>,

    /// triton-core extension: restart (finalize and initialize again) an instance that fails
    /// --instance-restart-after-failures readiness checks in a row, with exponential backoff;
    /// a model's parameter triton_core.instance_restart overrides it.
    #[arg(long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool, value_name = "BOOL", help_heading = "Health")]
    pub instance_restart: bool,

    /// Consecutive failed readiness checks that start a restart.
    #[arg(long, default_value_t = 3, value_name = "N", help_heading = "Health")]
    pub instance_restart_after_failures: u32,

    /// Failed restart attempts after which the instance stays failed.
    #[arg(long, default_value_t = 5, value_name = "N", help_heading = "Health")]
    pub instance_restart_max_attempts: u32,

    /// Wait before the second restart attempt (doubled for each further one).
    #[arg(
        long,
        default_value_t = 500,
        value_name = "MS",
        help_heading = "Health"
    )]
    pub instance_restart_backoff_ms: u64,

    /// Longest wait between restart attempts.
    #[arg(
        long,
        default_value_t = 30_000,
        value_name = "MS",
        help_heading = "Health"
    )]
    pub instance_restart_backoff_cap_ms: u64,

    /// triton-core extension: the deadline (µs) of requests that set none; at its deadline a
    /// request is answered with an error even while its backend still holds it (0: none).
    #[arg(long, default_value_t = 0, value_name = "US", help_heading = "Models")]
    pub default_request_timeout_us: u64,

    /// Seconds to wait on SIGINT/SIGTERM for in-flight requests to finish before models are
    /// unloaded and the server exits.
    #[arg(
        long,
        default_value_t = 30,
        value_name = "SECONDS",
        help_heading = "Health"
    )]
    pub exit_timeout_secs: u32,

    /// Address the HTTP and metrics services listen on.
    #[arg(
        long,
        default_value = "0.0.0.0",
        value_name = "ADDR",
        help_heading = "Network"
    )]
    pub http_address: String,

    /// Port of the HTTP (KServe v2) service.
    #[arg(
        long,
        default_value_t = 8000,
        value_name = "PORT",
        help_heading = "Network"
    )]
    pub http_port: u16,

    /// HTTP event-loop threads (default: the number of CPUs). Each is a single-threaded loop
    /// that accepts connections from the shared socket and serves them, as upstream's HTTP
    /// thread pool; slow C API calls (model loads, large JSON tensors) run on a separate
    /// blocking pool.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..), value_name = "N", help_heading = "Network")]
    pub http_thread_count: Option<u16>,

    /// How long (µs) an idle model-instance thread keeps polling its queue before it sleeps,
    /// while the machine has a CPU to spare (through the core's extension
    /// TRITONRS_ServerOptionsSetInstanceSpin, unless TRITON_CORE_SPIN_US is set). Saves the
    /// wake-up of a sleeping thread per request at light load; 0 turns it off.
    #[arg(
        long,
        default_value_t = 100,
        value_name = "US",
        help_heading = "Network"
    )]
    pub instance_spin_us: u32,

    /// Largest accepted HTTP request body, in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_name = "BYTES", help_heading = "Network")]
    pub http_max_input_size: usize,

    /// Serve Prometheus metrics on --metrics-port.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool, value_name = "BOOL", help_heading = "Network")]
    pub allow_metrics: bool,

    /// Port of the metrics service (GET /metrics).
    #[arg(
        long,
        default_value_t = 8002,
        value_name = "PORT",
        help_heading = "Network"
    )]
    pub metrics_port: u16,

    /// Address of the metrics service (default: --http-address).
    #[arg(long, value_name = "ADDR", help_heading = "Network")]
    pub metrics_address: Option<String>,

    /// Identifier of this server in /v2 metadata.
    #[arg(
        long = "id",
        default_value = "triton",
        value_name = "ID",
        help_heading = "Logging"
    )]
    pub server_id: String,

    /// Verbose logging level (0: off, 1: verbose, higher: more).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "LEVEL",
        help_heading = "Logging"
    )]
    pub log_verbose: i32,

    /// Log info messages.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool, value_name = "BOOL", help_heading = "Logging")]
    pub log_info: bool,

    /// Write the log to this file instead of the console.
    #[arg(long, value_name = "PATH", help_heading = "Logging")]
    pub log_file: Option<String>,
}

impl Args {
    /// The triton-core extension options asked for.
    pub fn extension_options(&self) -> crate::ext::ExtensionOptions {
        crate::ext::ExtensionOptions {
            readiness_timeout_ms: self.readiness_timeout_ms,
            readiness_monitor_ms: self.readiness_monitor_ms,
            instance_restart: self.instance_restart.then_some((
                self.instance_restart_after_failures,
                self.instance_restart_max_attempts,
                self.instance_restart_backoff_ms,
                self.instance_restart_backoff_cap_ms,
            )),
            default_request_timeout_us: (self.default_request_timeout_us > 0)
                .then_some(self.default_request_timeout_us),
            // The core's own TRITON_CORE_SPIN_US, when set, wins (as before).
            instance_spin_us: std::env::var_os("TRITON_CORE_SPIN_US")
                .is_none()
                .then_some(u64::from(self.instance_spin_us)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream() {
        let a = Args::try_parse_from(["x", "--model-repository", "/m"]).unwrap();
        assert!(a.strict_readiness);
        assert!(!a.strict_model_config);
        assert_eq!(a.model_control_mode, ControlMode::None);
        assert_eq!(a.exit_timeout_secs, 30);
        assert_eq!(a.http_port, 8000);
        assert_eq!(a.metrics_port, 8002);
        assert_eq!(a.repository_poll_secs, 15);
        assert_eq!(a.http_address, "0.0.0.0");
    }

    #[test]
    fn booleans_and_backend_config() {
        let a = Args::try_parse_from([
            "x",
            "--model-repository=/a",
            "--model-repository",
            "/b",
            "--strict-readiness=false",
            "--strict-model-config",
            "--backend-config=python,shm-default-byte-size=1024",
            "--backend-config",
            "backend-directory-x=1",
            "--model-control-mode=explicit",
            "--load-model=a",
            "--load-model=b",
        ])
        .unwrap();
        assert_eq!(a.model_repository, ["/a", "/b"]);
        assert!(!a.strict_readiness);
        assert!(a.strict_model_config);
        assert_eq!(a.backend_config[0].backend, "python");
        assert_eq!(a.backend_config[0].setting, "shm-default-byte-size");
        assert_eq!(a.backend_config[0].value, "1024");
        assert_eq!(a.backend_config[1].backend, "");
        assert_eq!(a.load_model, ["a", "b"]);
        assert!(
            Args::try_parse_from(["x", "--model-repository=/a", "--backend-config=nope"]).is_err()
        );
        assert!(Args::try_parse_from(["x"]).is_err());
    }
}
