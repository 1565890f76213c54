//! `tritonserver-rs`: a KServe v2 / Triton HTTP server on top of `libtritonserver.so`.
//!
//! The core is used only through its C API (`tritonserver.h`), linked dynamically like
//! upstream's `tritonserver` executable (see build.rs). triton-core's own extensions are looked
//! up at startup (`ext`), so the binary also runs on a core without them.
//!
//! This file: startup (server options from the flags, the server), the event loops, shutdown.

mod accept;
mod cli;
mod core;
mod ext;
mod ffi;
mod http;
mod infer;
mod ready;

use std::ffi::CString;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::cli::{Args, ControlMode};

/// jemalloc for the whole process. With `unprefixed_malloc_on_supported_platforms` the binary
/// also exports `malloc`/`free`/..., which the dynamic linker binds the core, the backends and
/// libc to as well (upstream recommends preloading jemalloc or tcmalloc for the same reason).
/// A request's buffers are allocated on one thread (HTTP loop, model instance) and freed on the
/// other; with glibc's malloc that contended on arena locks (futex wake-ups, consolidation): it
/// cost about 15 µs of CPU per small inference request (issue 7 profile).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use crate::core::{check, Core, CoreError};

fn c(s: &str) -> Result<CString, CoreError> {
    crate::core::cstring(s, "argument")
}

/// Builds the server options from the flags and creates the server (loads the models).
fn create_server(args: &Args) -> Result<*mut ffi::TRITONSERVER_Server, CoreError> {
    let mut opts = std::ptr::null_mut();
    // SAFETY: local out-param.
    check(unsafe { ffi::TRITONSERVER_ServerOptionsNew(&mut opts) })?;
    let r = (|| -> Result<*mut ffi::TRITONSERVER_Server, CoreError> {
        // SAFETY: (whole block) `opts` is the live options object created above; every string
        // is NUL-terminated and outlives its call (the core copies it).
        unsafe {
            check(ffi::TRITONSERVER_ServerOptionsSetServerId(
                opts,
                c(&args.server_id)?.as_ptr(),
            ))?;
            for repo in &args.model_repository {
                check(ffi::TRITONSERVER_ServerOptionsSetModelRepositoryPath(
                    opts,
                    c(repo)?.as_ptr(),
                ))?;
            }
            let mode = match args.model_control_mode {
                ControlMode::None => ffi::MODEL_CONTROL_NONE,
                ControlMode::Poll => ffi::MODEL_CONTROL_POLL,
                ControlMode::Explicit => ffi::MODEL_CONTROL_EXPLICIT,
            };
            check(ffi::TRITONSERVER_ServerOptionsSetModelControlMode(
                opts, mode,
            ))?;
            for m in &args.load_model {
                check(ffi::TRITONSERVER_ServerOptionsSetStartupModel(
                    opts,
                    c(m)?.as_ptr(),
                ))?;
            }
            check(ffi::TRITONSERVER_ServerOptionsSetStrictModelConfig(
                opts,
                args.strict_model_config,
            ))?;
            check(ffi::TRITONSERVER_ServerOptionsSetStrictReadiness(
                opts,
                args.strict_readiness,
            ))?;
            check(ffi::TRITONSERVER_ServerOptionsSetExitTimeout(
                opts,
                args.exit_timeout_secs,
            ))?;
            check(ffi::TRITONSERVER_ServerOptionsSetExitOnError(
                opts,
                args.exit_on_error,
            ))?;
            check(ffi::TRITONSERVER_ServerOptionsSetBackendDirectory(
                opts,
                c(&args.backend_directory)?.as_ptr(),
            ))?;
            check(ffi::TRITONSERVER_ServerOptionsSetRepoAgentDirectory(
                opts,
                c(&args.repoagent_directory)?.as_ptr(),
            ))?;
            for bc in &args.backend_config {
                check(ffi::TRITONSERVER_ServerOptionsSetBackendConfig(
                    opts,
                    c(&bc.backend)?.as_ptr(),
                    c(&bc.setting)?.as_ptr(),
                    c(&bc.value)?.as_ptr(),
                ))?;
            }
            check(ffi::TRITONSERVER_ServerOptionsSetLogVerbose(
                opts,
                args.log_verbose,
            ))?;
            check(ffi::TRITONSERVER_ServerOptionsSetLogInfo(
                opts,
                args.log_info,
            ))?;
            if let Some(f) = &args.log_file {
                check(ffi::TRITONSERVER_ServerOptionsSetLogFile(
                    opts,
                    c(f)?.as_ptr(),
                ))?;
            }
            check(ffi::TRITONSERVER_ServerOptionsSetMetrics(
                opts,
                args.allow_metrics,
            ))?;
            crate::ext::Extensions::resolve().apply_options(opts, &args.extension_options())?;
            let mut server = std::ptr::null_mut();
            check(ffi::TRITONSERVER_ServerNew(&mut server, opts))?;
            Ok(server)
        }
    })();
    // SAFETY: the options are ours and no longer needed (ServerNew copies them).
    let _ = check(unsafe { ffi::TRITONSERVER_ServerOptionsDelete(opts) });
    r
}

async fn bind(addr: &str, port: u16, what: &str) -> Result<tokio::net::TcpListener, String> {
    let sa: SocketAddr = format!("{addr}:{port}")
        .parse()
        .or_else(|_| format!("[{addr}]:{port}").parse())
        .map_err(|_| format!("invalid {what} address '{addr}'"))?;
    tokio::net::TcpListener::bind(sa)
        .await
        .map_err(|e| format!("Socket '{addr}:{port}' for the {what} cannot be bound: {e}"))
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

fn main() -> ExitCode {
    let args = Args::parse();

    let server = match create_server(&args) {
        Ok(s) => s,
        Err(e) => {
            log_error!("error: creating server: {}", e.message);
            eprintln!("error: creating server: {}", e.message);
            return ExitCode::from(1);
        }
    };
    let core = Arc::new(Core::new(server, args.strict_readiness));
    let allocator = match infer::Allocator::new() {
        Ok(a) => a,
        Err(e) => {
            log_error!("error: creating response allocator: {}", e.message);
            return ExitCode::from(1);
        }
    };

    // The main event loop (signals, polling, metrics, and its share of the HTTP connections);
    // serve() starts the other --http-thread-count - 1 loops.
    let built = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let rt = match built {
        Ok(rt) => rt,
        Err(e) => {
            log_error!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let exit_timeout = Duration::from_secs(args.exit_timeout_secs.into());
    let code = rt.block_on(serve(args, core.clone(), allocator));
    // Blocking C calls still running (a slow load) get the exit timeout to finish.
    rt.shutdown_timeout(exit_timeout);

    // Unload models (ServerStop waits up to the exit timeout for in-flight inferences), then
    // delete the server if nothing uses the handle any more.
    if let Err(e) = core.stop() {
        log_warn!("stopping the server: {}", e.message);
    }
    match Arc::try_unwrap(core) {
        Ok(core) => {
            if let Err(e) = core.delete() {
                log_warn!("deleting the server: {}", e.message);
            }
        }
        Err(_) => log_warn!("a server call is still running at exit; not deleting the server"),
    }
    log_info!("Server stopped");
    code
}

async fn serve(args: Args, core: Arc<Core>, allocator: infer::Allocator) -> ExitCode {
    let state = Arc::new(http::AppState {
        core: core.clone(),
        probes: ready::Probes::new(core.clone()),
        allocator,
        max_input_size: args.http_max_input_size,
    });
    let http_listener = match bind(&args.http_address, args.http_port, "HTTP service").await {
        Ok(l) => l,
        Err(e) => {
            log_error!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let metrics_addr = args
        .metrics_address
        .clone()
        .unwrap_or(args.http_address.clone());
    let metrics_listener = if args.allow_metrics {
        match bind(&metrics_addr, args.metrics_port, "metrics service").await {
            Ok(l) => Some(l),
            Err(e) => {
                log_error!("error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    // --http-thread-count single-threaded event loops, as upstream's HTTP thread pool: this
    // loop accepts and hands the connections to the loops in turn (itself included); each loop
    // serves its connections to the end. No work stealing (on 2 CPUs tokio's work-stealing pool
    // spent a fifth more CPU per request on cross-thread wake-ups than one loop), and a
    // connection's requests never change thread.
    let loops = args.http_thread_count.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(64) as u16)
    });
    let local = match http_listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            log_error!("error: the HTTP socket has no address: {e}");
            return ExitCode::from(1);
        }
    };
    let mut handoffs = Vec::with_capacity(usize::from(loops));
    let (tx0, rx0) = tokio::sync::mpsc::unbounded_channel();
    handoffs.push(tx0);
    for i in 1..loops {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        handoffs.push(tx);
        let router = http::router(state.clone());
        let stop = stopped(stop_rx.clone());
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<String>();
        let spawned = std::thread::Builder::new()
            .name(format!("http-loop-{i}"))
            .spawn(move || {
                let r = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|rt| {
                        rt.block_on(async move {
                            axum::serve(accept::LoopListener::new(rx, local), router)
                                .with_graceful_shutdown(stop)
                                .await
                                .map_err(|e| e.to_string())
                        })
                    });
                let _ = done_tx.send(r.err().unwrap_or_default());
            });
        if let Err(e) = spawned {
            log_error!("error: starting HTTP event loop {i}: {e}");
            let _ = stop_tx.send(true);
            return ExitCode::from(1);
        }
        tasks.spawn(async move {
            match done_rx.await {
                Ok(e) if e.is_empty() => Ok(()),
                Ok(e) => Err(std::io::Error::other(e)),
                Err(_) => Err(std::io::Error::other("the event loop thread panicked")),
            }
        });
    }
    tasks.spawn(
        axum::serve(
            accept::LoopListener::new(rx0, local),
            http::router(state.clone()),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future(),
    );
    // The acceptor stops with the first stop signal: no new connections during the drain.
    let acceptor = tokio::spawn(accept::run(http_listener, handoffs));
    let acceptor_stop = stopped(stop_rx.clone());
    tokio::spawn(async move {
        acceptor_stop.await;
        acceptor.abort();
    });
    log_info!("Started HTTPService at {local}");
    if let Some(l) = metrics_listener {
        let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tasks.spawn(
            axum::serve(l, http::metrics_router(state.clone()))
                .with_graceful_shutdown(stopped(stop_rx.clone()))
                .into_future(),
        );
        log_info!("Started Metrics Service at {addr}");
    }
    drop(state);

    if args.model_control_mode == ControlMode::Poll {
        let core = core.clone();
        let secs = args.repository_poll_secs.max(1);
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
                    _ = rx.wait_for(|v| *v) => return,
                }
                let c = core.clone();
                match tokio::task::spawn_blocking(move || c.poll_repository()).await {
                    Ok(Err(e)) if e.code == ffi::ERROR_UNSUPPORTED => {
                        log_warn!("repository polling disabled: {}", e.message);
                        return;
                    }
                    Ok(Err(e)) => log_warn!("failed to poll model repository: {}", e.message),
                    _ => {}
                }
            }
        });
    }

    let sig = tokio::select! {
        s = shutdown_signal() => s,
        r = tasks.join_next() => {
            log_error!("error: an HTTP service stopped unexpectedly: {r:?}");
            let _ = stop_tx.send(true);
            return ExitCode::from(1);
        }
    };
    log_info!(
        "Received {sig}: no longer accepting requests; waiting up to {} s for in-flight requests",
        args.exit_timeout_secs
    );
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(args.exit_timeout_secs.into()), drain)
        .await
        .is_err()
    {
        log_warn!("Exit timeout expired with requests still in flight; stopping anyway");
        tasks.abort_all();
    }
    ExitCode::SUCCESS
}
