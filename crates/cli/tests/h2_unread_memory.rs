//! A peer that never reads cannot grow the server's memory: HTTP/2 connections that grant
//! the largest windows, open every stream they may on a streaming response and then never
//! read their socket, against the real `nethttp serve`. The response data the server holds
//! for them is bounded by its per-connection send budget; the growth of its resident set is
//! held under 32 MB for ten such connections, and the write timeout still ends them.
//! The side-by-side figures against hyper are `bench/h2_unread.sh`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::h2raw;
use common::Served;

/// Connections that never read.
const CONNS: usize = 10;
/// Streams each opens: the server's default limit.
const STREAMS: u32 = 250;
/// Most resident memory the ten connections may add together.
const MAX_GROWTH: u64 = 32 << 20;
/// The server's write timeout in this test.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the attack runs before memory is judged: long enough for every stream to fill
/// whatever the server lets it queue (the fill takes well under a second without bounds).
const SETTLE: Duration = Duration::from_millis(2500);
/// Bound on the time the server takes to fill two connections' kernel buffers (a debug
/// build pushing 13-byte chunks), after which their writes block.
const BLOCK_BOUND: Duration = Duration::from_secs(10);

/// The server's resident set (VmRSS), in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status");
    kb * 1024
}

/// Opens a connection that asks for `STREAMS` streamed responses and will never read. Its
/// receive buffer is small, so the server's writes block within milliseconds (on loopback
/// the kernel would otherwise take megabytes first, which is kernel memory, not the
/// server's, and only delays the test).
fn attacker(server: &Served) -> TcpStream {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
    sock.connect(&server.addr.into()).expect("connect");
    let mut s: TcpStream = sock.into();
    let mut out = h2raw::preface_granting(h2raw::MAX_WINDOW);
    let authority = server.addr.to_string();
    for i in 0..STREAMS {
        out.extend(h2raw::get(2 * i + 1, &authority, "/stream/1000000"));
    }
    s.write_all(&out).expect("send the requests");
    s
}

#[test]
fn connections_that_never_read_hold_bounded_memory_and_are_cut_by_the_write_timeout() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--threads", "1"])
        .args(["--write-timeout", "3s", "--idle-timeout", "60s"]);
    let server = Served::spawn(cmd);
    let pid = server.child.id();
    // One ordinary HTTP/2 exchange first, so runtime and h2 start-up costs are in the baseline.
    {
        let mut warm = warm_up(&server);
        let mut buf = [0u8; 4096];
        let _ = warm.read(&mut buf);
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = rss(pid);

    let conns: Vec<TcpStream> = (0..CONNS).map(|_| attacker(&server)).collect();
    let started = Instant::now();
    let mut peak = before;
    while started.elapsed() < SETTLE {
        peak = peak.max(rss(pid));
        // Stop at once if the bound is crossed: an unbounded server would keep growing.
        assert!(
            peak - before < MAX_GROWTH,
            "{CONNS} unread HTTP/2 connections grew the server by {} MB within {:?} (bound {} MB)",
            (peak - before) >> 20,
            started.elapsed(),
            MAX_GROWTH >> 20
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "{CONNS} connections x {STREAMS} streams never read: server grew {} KB (peak)",
        (peak - before) >> 10
    );

    // The write timeout ends them: the server closes a connection once its writes have been
    // blocked that long. Two stay; the rest leave, so the server has the CPU to fill the
    // two sockets' kernel buffers (megabytes on loopback) before their writes block. The
    // server's side of each is watched in the kernel's table, since reading would unblock
    // the writes the timeout waits on.
    let mut conns = conns;
    let kept: Vec<TcpStream> = conns.drain(..2).collect();
    drop(conns);
    let ports: Vec<u16> = kept
        .iter()
        .map(|c| c.local_addr().expect("local addr").port())
        .collect();
    let deadline = Instant::now() + BLOCK_BOUND + WRITE_TIMEOUT + Duration::from_secs(2);
    loop {
        let open: Vec<u16> = ports
            .iter()
            .copied()
            .filter(|&p| server_side_established(server.addr.port(), p))
            .collect();
        if open.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server still holds connections from ports {open:?} {:?} after the attack began",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(kept);
}

/// Whether the server's end of the loopback connection between `server_port` and
/// `client_port` is still ESTABLISHED (`/proc/net/tcp`, state 01). A closed one moves on
/// to FIN-WAIT or disappears.
fn server_side_established(server_port: u16, client_port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let local = format!(":{server_port:04X}");
    let remote = format!(":{client_port:04X}");
    table.lines().skip(1).any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        cols.len() > 3 && cols[1].ends_with(&local) && cols[2].ends_with(&remote) && cols[3] == "01"
    })
}

/// A connection that sends one GET for `/` with the same preface, to warm the server up.
fn warm_up(server: &Served) -> TcpStream {
    let mut s = TcpStream::connect(server.addr).expect("connect");
    let mut out = h2raw::preface_granting(h2raw::MAX_WINDOW);
    out.extend(h2raw::get(1, &server.addr.to_string(), "/"));
    s.write_all(&out).expect("send");
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}
