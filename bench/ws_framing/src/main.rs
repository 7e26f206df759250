//! WebSocket framing benchmark: tokio-tungstenite against fastwebsockets on loopback TCP, timed (`suite`) and counted in instructions under callgrind (`instructions`); the other subcommands are the processes those two start.
//!
//! ```text
//! ws-framing-bench suite [--repeat 3] [--scale 1] [--pin CPU|none] [--roles ..] [--modes ..]
//!                                                           wall clock, medians, markdown table
//! ws-framing-bench instructions [--repeat 3] [--scale 1] [--raw] [--roles server,client] [--modes seq,pipe]
//!                                                           callgrind instructions per message
//! ws-framing-bench serve <crate> [--conns N]                     the crate's echo server
//! ws-framing-bench fixed-serve [--conns N]                       the fixed echo server
//! ws-framing-bench client <crate> <addr> <case> <mode> <count>   the crate's client, one run
//! ws-framing-bench fixed-client <addr> <case> <mode> <count>     the fixed client, one run
//! ```
//!
//! `<crate>` is tokio-tungstenite (tt), tokio-tungstenite-rb16k (tt16: a 16 KiB read buffer)
//! or fastwebsockets (fws); `<case>` is bin16, bin1024, text1024, bin65536 or bin1048576;
//! `<mode>` is seq or pipe.
//!
//! Each measured side runs on a `current_thread` runtime. In the server role the crate's echo
//! server is driven by the fixed client; in the client role the crate's client drives the
//! fixed echo server. The fixed peers are the same for both crates, so differences between
//! the crates are differences in their framing (and their use of the socket).

mod cases;
#[cfg(test)]
mod facts;
mod fixed;
mod fws;
mod tung;

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use cases::{Case, Impl, Mode, Role, CASES};

/// No single timed run may take longer than this; a stuck run fails instead of hanging.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// A server process exits by itself after this long without a connection.
const IDLE_LIMIT: Duration = Duration::from_secs(300);

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("suite") => suite(&args[1..]),
        Some("instructions") => instructions(&args[1..]),
        Some("serve") => serve(&args[1..]),
        Some("fixed-serve") => fixed_serve(&args[1..]),
        Some("client") => client(&args[1..]),
        Some("fixed-client") => fixed_client(&args[1..]),
        _ => Err("usage: ws-framing-bench suite|instructions|serve|fixed-serve|client|fixed-client (see src/main.rs)".into()),
    };
    if let Err(e) = result {
        eprintln!("ws-framing-bench: {e}");
        std::process::exit(1);
    }
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The value after `--name`, if given.
fn opt<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn parse_impl(s: &str) -> Res<Impl> {
    Impl::parse(s).ok_or_else(|| format!("unknown crate {s:?}").into())
}

fn parse_case(s: &str) -> Res<Case> {
    let ids: Vec<String> = CASES.iter().map(|c| c.id()).collect();
    Case::parse(s).ok_or_else(|| format!("unknown case {s:?} (one of {ids:?})").into())
}

fn parse_mode(s: &str) -> Res<Mode> {
    Mode::parse(s).ok_or_else(|| format!("unknown mode {s:?}").into())
}

fn conns(args: &[String]) -> Res<Option<usize>> {
    Ok(match opt(args, "--conns") {
        Some(n) => Some(n.parse()?),
        None => None,
    })
}

async fn bind() -> io::Result<TcpListener> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    // Read by the parent process to find the port.
    println!("listening on {}", listener.local_addr()?);
    Ok(listener)
}

fn serve(args: &[String]) -> Res<()> {
    let imp = parse_impl(args.first().ok_or("serve <crate>")?)?;
    let conns = conns(args)?;
    runtime()?.block_on(async {
        let listener = bind().await?;
        let mut served = 0;
        while conns.is_none_or(|c| served < c) {
            let (stream, _) = tokio::time::timeout(IDLE_LIMIT, listener.accept())
                .await
                .map_err(|_| "no connection came")??;
            stream.set_nodelay(true)?;
            let done = match imp {
                Impl::Tungstenite => tung::serve(stream, tung::READ_BUFFER_DEFAULT).await,
                Impl::TungsteniteSmallRead => tung::serve(stream, tung::READ_BUFFER_SMALL).await,
                Impl::Fastws => fws::serve(stream).await,
            };
            if let Err(e) = done {
                eprintln!("{} server: connection failed: {e}", imp.name());
            }
            served += 1;
        }
        Ok(())
    })
}

fn fixed_serve(args: &[String]) -> Res<()> {
    let conns = conns(args)?;
    runtime()?.block_on(async {
        let listener = bind().await?;
        fixed::server(listener, conns, IDLE_LIMIT).await?;
        Ok(())
    })
}

async fn crate_client(
    imp: Impl,
    addr: SocketAddr,
    case: Case,
    mode: Mode,
    count: usize,
) -> io::Result<Duration> {
    let stream = TcpStream::connect(addr).await?;
    let run = async {
        match imp {
            Impl::Tungstenite => {
                tung::client(stream, tung::READ_BUFFER_DEFAULT, case, mode, count).await
            }
            Impl::TungsteniteSmallRead => {
                tung::client(stream, tung::READ_BUFFER_SMALL, case, mode, count).await
            }
            Impl::Fastws => fws::client(stream, case, mode, count).await,
        }
    };
    tokio::time::timeout(RUN_LIMIT, run)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "run took too long"))?
}

async fn fixed_client_run(
    addr: SocketAddr,
    case: Case,
    mode: Mode,
    count: usize,
) -> io::Result<Duration> {
    tokio::time::timeout(RUN_LIMIT, fixed::client(addr, case, mode, count))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "run took too long"))?
}

/// `client <crate> <addr> <case> <mode> <count>` and `fixed-client <addr> <case> <mode> <count>`.
fn client(args: &[String]) -> Res<()> {
    let [imp, addr, case, mode, count] = args else {
        return Err("client <crate> <addr> <case> <mode> <count>".into());
    };
    let (imp, case, mode) = (parse_impl(imp)?, parse_case(case)?, parse_mode(mode)?);
    let took = runtime()?.block_on(crate_client(imp, addr.parse()?, case, mode, count.parse()?))?;
    println!("{:.6}", took.as_secs_f64());
    Ok(())
}

fn fixed_client(args: &[String]) -> Res<()> {
    let [addr, case, mode, count] = args else {
        return Err("fixed-client <addr> <case> <mode> <count>".into());
    };
    let (case, mode) = (parse_case(case)?, parse_mode(mode)?);
    let took = runtime()?.block_on(fixed_client_run(addr.parse()?, case, mode, count.parse()?))?;
    println!("{:.6}", took.as_secs_f64());
    Ok(())
}

/// A server process started by the suite; killed when dropped unless it has exited.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `prefix... <this binary> args...` and waits for its "listening on" line.
    fn start(prefix: &[String], env: &[(&str, &str)], args: &[&str]) -> Res<ServerProcess> {
        let exe = std::env::current_exe()?;
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.envs(env.iter().copied());
        let mut child = cmd
            .args(args)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        let addr = match line.trim().strip_prefix("listening on ") {
            Some(a) => a.parse()?,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("server {args:?} did not start: {line:?}").into());
            }
        };
        Ok(ServerProcess { child, addr })
    }

    /// Waits for a server started with `--conns` to finish by itself.
    fn wait(mut self) -> Res<()> {
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("server exited with {status}").into());
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// (max − min) / median of each implementation's repetitions, as "a% / b% / c%".
fn spreads(runs: &[Vec<f64>]) -> String {
    let one = |v: &Vec<f64>| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        format!("{:.0}%", 100.0 * (hi - lo) / median(v))
    };
    runs.iter().map(one).collect::<Vec<_>>().join(" / ")
}

fn scaled(count: usize, scale: f64) -> usize {
    ((count as f64 * scale).round() as usize).max(1)
}

fn roles(args: &[String]) -> Res<Vec<Role>> {
    match opt(args, "--roles") {
        None => Ok(Role::ALL.to_vec()),
        Some(s) => s
            .split(',')
            .map(|r| Role::parse(r).ok_or_else(|| format!("unknown role {r:?}").into()))
            .collect(),
    }
}

fn modes(args: &[String]) -> Res<Vec<Mode>> {
    match opt(args, "--modes") {
        None => Ok(Mode::ALL.to_vec()),
        Some(s) => s.split(',').map(parse_mode).collect(),
    }
}

/// Wall-clock medians. The measured process (the server child in the server role, this
/// process in the client role) and its peer should be on different cores: the server
/// child is started under `taskset -c <--pin>` (default 0) and run.sh starts this process
/// under `taskset -c 1`.
fn suite(args: &[String]) -> Res<()> {
    let repeat: usize = opt(args, "--repeat").unwrap_or("3").parse()?;
    let scale: f64 = opt(args, "--scale").unwrap_or("1").parse()?;
    let prefix: Vec<String> = match opt(args, "--pin") {
        Some("none") => vec![],
        cpu => vec!["taskset".into(), "-c".into(), cpu.unwrap_or("0").into()],
    };
    let (roles, modes) = (roles(args)?, modes(args)?);
    let rt = runtime()?;
    // (role, mode, case index, crate) -> msgs/s of each repetition.
    let mut rates: BTreeMap<(usize, usize, usize, usize), Vec<f64>> = BTreeMap::new();
    for rep in 0..repeat {
        for (ri, &role) in roles.iter().enumerate() {
            // Alternate which crate goes first, so slow drift in the machine's speed does not
            // always fall on the same one.
            let mut order = Impl::ALL.to_vec();
            if rep % 2 == 1 {
                order.reverse();
            }
            for imp in order {
                let server = match role {
                    Role::Server => ServerProcess::start(&prefix, &[], &["serve", imp.name()])?,
                    Role::Client => ServerProcess::start(&prefix, &[], &["fixed-serve"])?,
                };
                for (mi, &mode) in modes.iter().enumerate() {
                    for (ci, &case) in CASES.iter().enumerate() {
                        let n = scaled(case.wall_count(mode), scale);
                        let took = rt.block_on(async {
                            match role {
                                Role::Server => fixed_client_run(server.addr, case, mode, n).await,
                                Role::Client => crate_client(imp, server.addr, case, mode, n).await,
                            }
                        });
                        let took = took.map_err(|e| {
                            format!("{} {} {} {case}: {e}", imp.name(), role.name(), mode.name())
                        })?;
                        let rate = n as f64 / took.as_secs_f64();
                        eprintln!(
                            "run {}: {:<23} {} {:<10} {:<13} {n:>7} msgs {:>8.3} s {:>11.0} msg/s {:>9.1} MB/s",
                            rep + 1,
                            imp.name(),
                            role.name(),
                            mode.name(),
                            case.label,
                            took.as_secs_f64(),
                            rate,
                            rate * case.size as f64 / 1e6
                        );
                        let key = (ri, mi, ci, imp as usize);
                        rates.entry(key).or_default().push(rate);
                    }
                }
            }
        }
    }
    println!(
        "Wall clock, median of {repeat} runs: messages echoed per second, and MB/s of payload echoed (one direction). \
         tt = tokio-tungstenite with nethttp's default_config (128 KiB read buffer), tt-16k = the same with a 16 KiB read buffer, \
         fws = fastwebsockets; the ratio is fws / tt msg/s; spread is (max − min) / median of the runs.\n"
    );
    println!("| measured side | mode | message | tt msg/s | tt MB/s | tt-16k msg/s | tt-16k MB/s | fws msg/s | fws MB/s | fws / tt | spread tt / tt-16k / fws |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (ri, role) in roles.iter().enumerate() {
        for (mi, mode) in modes.iter().enumerate() {
            for (ci, case) in CASES.iter().enumerate() {
                let runs: Vec<Vec<f64>> = Impl::ALL
                    .iter()
                    .map(|&i| rates[&(ri, mi, ci, i as usize)].clone())
                    .collect();
                let m: Vec<f64> = runs.iter().map(|v| median(v)).collect();
                let mut row = format!("| {} | {} | {} |", role.name(), mode.name(), case.label);
                for r in &m {
                    row += &format!(" {:.0} | {:.1} |", r, r * case.size as f64 / 1e6);
                }
                row += &format!(" {:.2} | {} |", m[2] / m[0], spreads(&runs));
                println!("{row}");
            }
        }
    }
    Ok(())
}

/// Runs one measured process under callgrind and returns its total instruction count.
/// `count` 0 gives the process's fixed cost (start, connect, close) to subtract.
fn callgrind_run(
    rt: &tokio::runtime::Runtime,
    raw: bool,
    role: Role,
    imp: Impl,
    case: Case,
    mode: Mode,
    count: usize,
) -> Res<u64> {
    let dir: PathBuf = std::env::temp_dir().join(format!("ws_framing_cg_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("callgrind.out");
    let log = dir.join("valgrind.log");
    let valgrind = std::env::var("VALGRIND").unwrap_or_else(|_| "valgrind".into());
    let prefix = vec![
        valgrind,
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}", out.display()),
        format!("--log-file={}", log.display()),
    ];
    // Under valgrind a `rep stosb`/`rep movsb` counts one instruction per byte, while a CPU
    // does 32 or more bytes a cycle. glibc picks those for memset/memcpy above a few KiB;
    // raising its thresholds keeps it on the vector loops, whose instruction counts scale
    // with their cost. `--raw` leaves glibc as it is.
    let env: Vec<(&str, &str)> = if raw {
        vec![]
    } else {
        vec![("GLIBC_TUNABLES", NO_REP_STRINGS)]
    };
    let failed = |what: &str| -> Box<dyn std::error::Error> {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        format!(
            "{} {} {} {case} x{count}: {what}\n{log}",
            imp.name(),
            role.name(),
            mode.name()
        )
        .into()
    };
    match role {
        Role::Server => {
            let server =
                ServerProcess::start(&prefix, &env, &["serve", imp.name(), "--conns", "1"])?;
            rt.block_on(fixed_client_run(server.addr, case, mode, count))
                .map_err(|e| failed(&e.to_string()))?;
            server.wait().map_err(|e| failed(&e.to_string()))?;
        }
        Role::Client => {
            let server = ServerProcess::start(&[], &[], &["fixed-serve", "--conns", "1"])?;
            let exe = std::env::current_exe()?;
            let status = Command::new(&prefix[0])
                .args(&prefix[1..])
                .envs(env.iter().copied())
                .arg(exe)
                .args([
                    "client",
                    imp.name(),
                    &server.addr.to_string(),
                    &case.id(),
                    mode.name(),
                    &count.to_string(),
                ])
                .stdout(Stdio::null())
                .status()?;
            if !status.success() {
                return Err(failed(&format!("client exited with {status}")));
            }
            server.wait()?;
        }
    }
    let text = std::fs::read_to_string(&out)?;
    let total = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .ok_or("no totals in the callgrind output")?
        .split_whitespace()
        .next()
        .ok_or("empty totals line")?
        .parse()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(total)
}

const NO_REP_STRINGS: &str =
    "glibc.cpu.x86_rep_stosb_threshold=0xffffffffffff:glibc.cpu.x86_rep_movsb_threshold=0xffffffffffff";

/// User-space instructions per message, from callgrind: (run of N messages − run of 0) / N,
/// each a whole process of the measured side. Repeatable for the same binary and inputs.
fn instructions(args: &[String]) -> Res<()> {
    let scale: f64 = opt(args, "--scale").unwrap_or("1").parse()?;
    let raw = args.iter().any(|a| a == "--raw");
    let repeat: usize = opt(args, "--repeat").unwrap_or("3").parse()?;
    let (roles, modes) = (roles(args)?, modes(args)?);
    let rt = runtime()?;
    let mut rows = Vec::new();
    for &role in &roles {
        for &mode in &modes {
            let mut per: BTreeMap<(usize, usize), Vec<f64>> = BTreeMap::new();
            for rep in 0..repeat {
                for imp in Impl::ALL {
                    for (ci, &case) in CASES.iter().enumerate() {
                        // The run of none has the same case, so what the process does once
                        // per case (making the payload, in the client role) cancels out too.
                        let base = callgrind_run(&rt, raw, role, imp, case, mode, 0)?;
                        let n = scaled(case.callgrind_count(), scale);
                        let total = callgrind_run(&rt, raw, role, imp, case, mode, n)?;
                        let p = total.saturating_sub(base) as f64 / n as f64;
                        eprintln!(
                            "callgrind {}: {:<23} {} {:<10} {:<13} {n:>5} msgs {total:>12} instructions, none {base:>10}: {p:.0} per message",
                            rep + 1,
                            imp.name(),
                            role.name(),
                            mode.name(),
                            case.label
                        );
                        per.entry((ci, imp as usize)).or_default().push(p);
                    }
                }
            }
            for (ci, case) in CASES.iter().enumerate() {
                let runs: Vec<Vec<f64>> = Impl::ALL
                    .iter()
                    .map(|&i| per[&(ci, i as usize)].clone())
                    .collect();
                let p: Vec<f64> = runs.iter().map(|v| median(v)).collect();
                rows.push(format!(
                    "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.2} | {} |",
                    role.name(),
                    mode.name(),
                    case.label,
                    p[0],
                    p[1],
                    p[2],
                    p[2] / p[0],
                    spreads(&runs)
                ));
            }
        }
    }
    let how = if raw {
        "glibc as installed (valgrind counts each byte of a `rep movsb`/`rep stosb` as an instruction)"
    } else {
        "glibc kept on its vector memcpy/memset loops (GLIBC_TUNABLES), so copies and fills count as the CPU does them"
    };
    println!(
        "User-space instructions per message, callgrind, median of {repeat} runs: the whole measured process for N messages minus the same for none, over N; {how}. \
         tt = tokio-tungstenite (nethttp's default_config), tt-16k = with a 16 KiB read buffer, fws = fastwebsockets; spread is (max − min) / median of the runs.\n"
    );
    println!("| measured side | mode | message | tt instr/msg | tt-16k instr/msg | fws instr/msg | fws / tt | spread tt / tt-16k / fws |");
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}
