//! One acceptor hands the HTTP connections to the event loops in turn, as upstream's HTTP
//! thread pool does. Loops that each accepted from the shared socket themselves got whatever
//! the kernel's wake-up race gave them: with 16 connections, often twice as many on one loop
//! as on the other, which capped throughput at the busier loop and lengthened its
//! connections' tail latency.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A connection on its way to an event loop (a std socket: each loop registers it with its own
/// reactor).
pub type Handoff = (std::net::TcpStream, SocketAddr);

/// The listener an event loop serves (`axum::serve`): the connections the acceptor hands it.
pub struct LoopListener {
    rx: mpsc::UnboundedReceiver<Handoff>,
    local: SocketAddr,
}

impl LoopListener {
    pub fn new(rx: mpsc::UnboundedReceiver<Handoff>, local: SocketAddr) -> LoopListener {
        LoopListener { rx, local }
    }
}

impl axum::serve::Listener for LoopListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((std, addr)) = self.rx.recv().await else {
                // The acceptor stopped (the server is shutting down): nothing more comes.
                return std::future::pending().await;
            };
            match TcpStream::from_std(std) {
                Ok(s) => return (s, addr),
                Err(e) => crate::log_warn!("dropping an HTTP connection from {addr}: {e}"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Whether an accept error concerns only that one connection (the next accept may succeed at
/// once), as opposed to a resource shortage worth backing off from.
fn connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted
    )
}

/// Accept connections until the task is dropped, handing them to `loops` in turn (with
/// TCP_NODELAY set). A loop that went away is skipped.
pub async fn run(listener: TcpListener, loops: Vec<mpsc::UnboundedSender<Handoff>>) {
    let mut next = 0usize;
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) if connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: give the server a moment.
                crate::log_error!("accepting an HTTP connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let std = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                crate::log_warn!("dropping an HTTP connection from {addr}: {e}");
                continue;
            }
        };
        let mut handoff = (std, addr);
        for _ in 0..loops.len() {
            let tx = &loops[next % loops.len()];
            next = next.wrapping_add(1);
            match tx.send(handoff) {
                Ok(()) => break,
                Err(mpsc::error::SendError(back)) => handoff = back,
            }
        }
    }
}
