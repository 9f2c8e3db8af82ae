//! `bench-exec STAMP RUNTIME_API PROGRAM`: what the benchmark gives the Runtime Interface Emulator
//! as the bootstrap. It writes its pid, its own CPU time so far and the wall clock to STAMP, points
//! `AWS_LAMBDA_RUNTIME_API` at RUNTIME_API (the benchmark's pass-through to the emulator's runtime
//! API, which sees when the bootstrap asks for its next event), then becomes PROGRAM (`exec`: same
//! process, same thread). The benchmark subtracts the CPU time in STAMP, this wrapper's own, from
//! the bootstrap's, so what remains is PROGRAM's, from its `exec` on.

use std::os::unix::process::CommandExt;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [stamp, runtime_api, program, ..] = args.as_slice() else {
        eprintln!("usage: bench-exec STAMP RUNTIME_API PROGRAM");
        std::process::exit(2);
    };
    let mut command = std::process::Command::new(program);
    command.env("AWS_LAMBDA_RUNTIME_API", runtime_api);
    // The first field of schedstat: nanoseconds this thread (the only one) has run.
    let cpu_ns = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "0".to_owned());
    let wall_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    if let Err(err) = std::fs::write(
        stamp,
        format!("{} {cpu_ns} {wall_ns}\n", std::process::id()),
    ) {
        eprintln!("bench-exec: {stamp}: {err}");
        std::process::exit(1);
    }
    let err = command.exec();
    eprintln!("bench-exec: {program}: {err}");
    std::process::exit(1);
}
