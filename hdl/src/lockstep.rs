//! Lockstep check of the generated Verilog against the rust-hdl simulation.
//!
//! The rust-hdl testbench records, cycle by cycle, the values it drives into the top-level
//! input ports of module `top` and the values it reads from the output ports. [`run_verilator`]
//! compiles the generated Verilog with Verilator together with a small C++ harness, replays the
//! input trace on it and returns what the Verilog produced; [`first_mismatch`] names the first
//! cycle and signal where the two disagree. Only a Verilog-level simulation catches places where
//! rust-hdl's simulation and its emitted Verilog mean different things.
//!
//! Cycle semantics, the same on both sides, for cycle k (the clock port is named `clock`):
//! 1. with the clock low, apply input row k and settle;
//! 2. sample every output (outputs may depend combinationally on inputs);
//! 3. raise the clock and settle;
//! 4. lower the clock and settle.
//!
//! Power-on state comes from the Verilog `initial` blocks: there is no reset port.
//!
//! Trace files are text: line 1 lists the ports as space-separated `name:width`, each later line
//! is one cycle of space-separated lowercase hex values (no `0x`, leading zeros optional). Port
//! names are the Verilog names, so a member of a top-level interface is `bus$field`. The clock is
//! never a column.

use rust_hdl::prelude::{Bit, Bits, Signed};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Name of the clock input of `top`: toggled by the harness, never a trace column.
pub const CLOCK: &str = "clock";

/// Widest port a trace may carry.
pub const MAX_WIDTH: usize = 512;

/// Options given to `verilator` when building the lockstep binary. `-O2` is Verilator's own
/// optimisation; the C++ is compiled at `-O1` instead of Verilator's default `-Os`, which built a
/// test design with four RAMs and a FIFO a little faster (2.1 s against 2.3 s on 2 cores); the
/// traces are short, so the run time hardly matters.
const VERILATOR_BUILD_FLAGS: &[&str] = &[
    "--cc",
    "--exe",
    "--build",
    "-O2",
    "-j",
    "2",
    "-Wno-fatal",
    "--top-module",
    "top",
    "-MAKEFLAGS",
    "OPT_FAST=-O1 OPT_SLOW=-O1 OPT_GLOBAL=-O1",
];

/// A recorded run: the ports (name, width in bits) and, per cycle, one hex value per port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub ports: Vec<(String, usize)>,
    pub rows: Vec<Vec<String>>,
}

impl Trace {
    /// An empty trace over `ports`.
    pub fn new(ports: Vec<(String, usize)>) -> Self {
        Trace {
            ports,
            rows: Vec::new(),
        }
    }

    /// Appends one cycle; `row` holds one hex value per port, in port order.
    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(
            row.len(),
            self.ports.len(),
            "trace row has {} values for {} ports",
            row.len(),
            self.ports.len()
        );
        self.rows.push(row);
    }

    /// Checks the port list and every value: widths in 1..=MAX_WIDTH, names distinct and free of
    /// whitespace and `:`, every row as long as the port list, every value hex that fits its port.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (name, width) in &self.ports {
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ':') {
                return Err(format!("bad port name {name:?}"));
            }
            if !(1..=MAX_WIDTH).contains(width) {
                return Err(format!("port {name}: width {width} not in 1..={MAX_WIDTH}"));
            }
            if !seen.insert(name.as_str()) {
                return Err(format!("port {name} listed twice"));
            }
        }
        for (cycle, row) in self.rows.iter().enumerate() {
            if row.len() != self.ports.len() {
                return Err(format!(
                    "cycle {cycle}: {} values for {} ports",
                    row.len(),
                    self.ports.len()
                ));
            }
            for ((name, width), value) in self.ports.iter().zip(row) {
                let bits =
                    hex_bit_len(value).map_err(|e| format!("cycle {cycle}, signal {name}: {e}"))?;
                if bits > *width {
                    return Err(format!(
                        "cycle {cycle}, signal {name}: value {value} has {bits} bits, port has {width}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Writes the trace in the text format described in the module documentation.
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<(), String> {
        let path = path.as_ref();
        self.validate()?;
        let file = fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut out = BufWriter::new(file);
        let header: Vec<String> = self.ports.iter().map(|(n, w)| format!("{n}:{w}")).collect();
        let mut write = || -> std::io::Result<()> {
            writeln!(out, "{}", header.join(" "))?;
            for row in &self.rows {
                writeln!(out, "{}", row.join(" "))?;
            }
            out.flush()
        };
        write().map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads and validates a trace written by [`Trace::write_to`] or by the Verilator harness.
    pub fn read_from(path: impl AsRef<Path>) -> Result<Trace, String> {
        let path = path.as_ref();
        let file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut lines = BufReader::new(file).lines();
        let header = match lines.next() {
            Some(line) => line.map_err(|e| format!("{}: {e}", path.display()))?,
            None => return Err(format!("{}: empty trace file", path.display())),
        };
        let mut ports = Vec::new();
        for item in header.split_whitespace() {
            let (name, width) = item.rsplit_once(':').ok_or_else(|| {
                format!("{}: header item {item:?} is not name:width", path.display())
            })?;
            let width = width
                .parse::<usize>()
                .map_err(|_| format!("{}: header item {item:?} has a bad width", path.display()))?;
            ports.push((name.to_string(), width));
        }
        let mut rows = Vec::new();
        for (index, line) in lines.enumerate() {
            let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let row: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            if row.len() != ports.len() {
                return Err(format!(
                    "{} line {}: {} values for {} ports",
                    path.display(),
                    index + 2,
                    row.len(),
                    ports.len()
                ));
            }
            rows.push(row);
        }
        let trace = Trace { ports, rows };
        trace
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(trace)
    }
}

/// Number of significant bits of a hex string (0 for zero); an error if it is not hex.
fn hex_bit_len(value: &str) -> Result<usize, String> {
    if value.is_empty() {
        return Err("empty value".to_string());
    }
    let mut bits = 0;
    for (i, c) in value.chars().rev().enumerate() {
        let digit = c
            .to_digit(16)
            .ok_or_else(|| format!("{value:?} is not a hex number"))?;
        if digit != 0 {
            bits = 4 * i + (32 - digit.leading_zeros()) as usize;
        }
    }
    Ok(bits)
}

/// A hex value without leading zeros, in lowercase: two values are equal iff these are.
fn canonical_hex(value: &str) -> String {
    let trimmed = value.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_ascii_lowercase()
    }
}

/// A signal value as it is written in a trace. `Signed` values are written as their
/// two's-complement bits (rust-hdl's own `{:x}` of a `Signed` prints a minus sign).
pub trait TraceHex {
    fn trace_hex(&self) -> String;
}

impl<const N: usize> TraceHex for Bits<N> {
    fn trace_hex(&self) -> String {
        format!("{self:x}")
    }
}

impl<const N: usize> TraceHex for Signed<N> {
    fn trace_hex(&self) -> String {
        format!("{:x}", self.inner())
    }
}

impl TraceHex for Bit {
    fn trace_hex(&self) -> String {
        if *self { "1" } else { "0" }.to_string()
    }
}

/// Parses a trace value into `Bits<N>` (to drive a rust-hdl input from a recorded trace).
pub fn parse_bits<const N: usize>(value: &str) -> Result<Bits<N>, String> {
    let bits = hex_bit_len(value)?;
    if bits > N {
        return Err(format!("{value} has {bits} bits, more than {N}"));
    }
    let mut result = Bits::<N>::default();
    for c in value.chars() {
        let digit = u64::from(c.to_digit(16).unwrap_or(0));
        // Nothing is shifted out: the value has at most N significant bits.
        result = (result << 4) | Bits::<N>::from(digit);
    }
    Ok(result)
}

/// The first difference between the rust-hdl trace (`expected`) and the Verilog one
/// (`actual`), as "cycle N, signal NAME: rust-hdl X, verilog Y". Values are compared as numbers.
/// Every port of `expected` must be in `actual` with the same width; extra ports of `actual`
/// are ignored. A difference in the number of cycles is reported after the common cycles.
pub fn first_mismatch(expected: &Trace, actual: &Trace) -> Option<String> {
    let mut columns = Vec::with_capacity(expected.ports.len());
    for (name, width) in &expected.ports {
        match actual.ports.iter().position(|(n, _)| n == name) {
            None => return Some(format!("signal {name}: missing from the verilog trace")),
            Some(j) if actual.ports[j].1 != *width => {
                return Some(format!(
                    "signal {name}: width {width} in rust-hdl, {} in verilog",
                    actual.ports[j].1
                ));
            }
            Some(j) => columns.push(j),
        }
    }
    for (cycle, (want, got)) in expected.rows.iter().zip(&actual.rows).enumerate() {
        for (i, &j) in columns.iter().enumerate() {
            let (Some(w), Some(g)) = (want.get(i), got.get(j)) else {
                return Some(format!("cycle {cycle}: short row"));
            };
            let (w, g) = (canonical_hex(w), canonical_hex(g));
            if w != g {
                let name = &expected.ports[i].0;
                return Some(format!(
                    "cycle {cycle}, signal {name}: rust-hdl {w}, verilog {g}"
                ));
            }
        }
    }
    if expected.rows.len() != actual.rows.len() {
        return Some(format!(
            "cycle {}: rust-hdl trace has {} cycles, verilog {}",
            expected.rows.len().min(actual.rows.len()),
            expected.rows.len(),
            actual.rows.len()
        ));
    }
    None
}

/// The ports of module `top` in rust-hdl's Verilog, in declaration order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopPorts {
    /// Inputs other than [`CLOCK`].
    pub inputs: Vec<(String, usize)>,
    pub outputs: Vec<(String, usize)>,
    /// Whether `top` has an input named [`CLOCK`].
    pub has_clock: bool,
}

/// Reads the port declarations of `module top` from Verilog as rust-hdl writes it: one
/// `input wire [signed] [[H:L]] name;` or `output reg|wire ...` line per port.
pub fn top_ports(verilog: &str) -> Result<TopPorts, String> {
    let mut lines = verilog.lines();
    lines
        .by_ref()
        .find(|l| l.trim_start().starts_with("module top(") || l.trim_start() == "module top (")
        .ok_or("no `module top(` line in the Verilog")?;
    let mut ports = TopPorts::default();
    for line in lines {
        let line = line.trim();
        if line.starts_with("endmodule") {
            break;
        }
        let Some(decl) = line.strip_suffix(';') else {
            continue;
        };
        let mut words = decl.split_whitespace().peekable();
        let direction = match words.peek() {
            Some(&"input") => true,
            Some(&"output") => false,
            Some(&"inout") => return Err(format!("inout port not supported: {line}")),
            _ => continue,
        };
        words.next();
        let mut width = 1;
        let mut name = None;
        for word in words {
            match word {
                "wire" | "reg" | "logic" | "signed" => {}
                w if w.starts_with('[') => width = range_width(w)?,
                w => name = Some(w.to_string()),
            }
        }
        let name = name.ok_or_else(|| format!("port declaration without a name: {line}"))?;
        if direction && name == CLOCK {
            ports.has_clock = true;
        } else if direction {
            ports.inputs.push((name, width));
        } else {
            ports.outputs.push((name, width));
        }
    }
    if ports.inputs.is_empty() && ports.outputs.is_empty() && !ports.has_clock {
        return Err("module top declares no ports".to_string());
    }
    Ok(ports)
}

/// Width of a `[H:L]` range.
fn range_width(range: &str) -> Result<usize, String> {
    let inner = range
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("bad range {range}"))?;
    let (hi, lo) = inner
        .split_once(':')
        .ok_or_else(|| format!("bad range {range}"))?;
    let hi: usize = hi
        .trim()
        .parse()
        .map_err(|_| format!("bad range {range}"))?;
    let lo: usize = lo
        .trim()
        .parse()
        .map_err(|_| format!("bad range {range}"))?;
    Ok(hi.abs_diff(lo) + 1)
}

/// The C++ member name Verilator gives a port: letters and digits stay, `__` becomes
/// `___05F`, any other character `c` becomes `__0` followed by its hex code (`$` is `__024`).
fn verilator_member(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()) {
            out.push(c);
        } else if c == '_' {
            out.push('_');
            if chars.get(i + 1) == Some(&'_') {
                out.push_str("__05F");
                i += 1;
            }
        } else {
            let _ = write!(out, "__0{:x}", c as u32);
        }
        i += 1;
    }
    out
}

/// The fixed part of the C++ harness; it includes the generated `lockstep_ports.h`.
const HARNESS_MAIN: &str = include_str!("../verilator/lockstep.cpp");

/// C++ for `lockstep_ports.h`: the port-specific part of the harness for `Vtop` with exactly
/// these input and output ports (see `hdl/verilator/lockstep.cpp`).
fn harness_ports(inputs: &[(String, usize)], outputs: &[(String, usize)]) -> String {
    let header: Vec<String> = outputs.iter().map(|(n, w)| format!("{n}:{w}")).collect();
    let mut code = String::new();
    let _ = writeln!(
        code,
        "// Generated by riskpipe-hdl's lockstep.rs for hdl/verilator/lockstep.cpp.\n\
         static const size_t INPUT_COUNT = {};\n\
         static const char* const OUTPUT_HEADER = \"{}\";\n\n\
         static void set_inputs(Vtop& top, const std::vector<std::string>& tok, long cycle) {{",
        inputs.len(),
        header.join(" ")
    );
    for (i, (name, width)) in inputs.iter().enumerate() {
        let member = verilator_member(name);
        let parse = if *width > 64 {
            let words = width.div_ceil(32);
            format!("parse_hex(tok[{i}], {width}, top.{member}.data(), {words})")
        } else {
            format!("parse_narrow(tok[{i}], {width}, top.{member})")
        };
        let _ = writeln!(code, "    if (!{parse}) bad(cycle, \"{name}\");");
    }
    let _ = writeln!(
        code,
        "}}\n\nstatic void get_outputs(Vtop& top, std::string& row) {{"
    );
    for (i, (name, width)) in outputs.iter().enumerate() {
        let member = verilator_member(name);
        if i > 0 {
            let _ = writeln!(code, "    row += ' ';");
        }
        if *width > 64 {
            let words = width.div_ceil(32);
            let _ = writeln!(code, "    put_hex(row, top.{member}.data(), {words});");
        } else {
            let _ = writeln!(code, "    put_narrow(row, top.{member});");
        }
    }
    let _ = writeln!(code, "}}");
    code
}

/// 64-bit FNV-1a: a hash that is the same in every process (the build cache key).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in *part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separator, so that moving bytes between parts changes the hash.
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The Verilator waiver file of the repository (`bitstreams/lint.vlt`), if present.
fn waiver_file() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bitstreams/lint.vlt");
    path.is_file().then_some(path)
}

/// Builds run one at a time in this process: two `-j 2` builds on two cores only thrash, and two
/// tests asking for the same design should share one build.
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Builds (or finds in `work_dir`) the lockstep binary for this Verilog and this port code.
fn build(verilog: &str, ports_code: &str, work_dir: &Path) -> Result<PathBuf, String> {
    let waiver = waiver_file();
    let waiver_text = match &waiver {
        Some(p) => fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => Vec::new(),
    };
    let flags = VERILATOR_BUILD_FLAGS.join(" ");
    let key = fnv1a(&[
        verilog.as_bytes(),
        HARNESS_MAIN.as_bytes(),
        ports_code.as_bytes(),
        &waiver_text,
        flags.as_bytes(),
    ]);
    let binary = work_dir.join(format!("lockstep-{key:016x}"));
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if binary.is_file() {
        return Ok(binary);
    }
    // Build in a private directory, then move the binary into place: another process building
    // the same key at the same time just replaces it with an identical file.
    let dir = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(work_dir)
        .map_err(|e| format!("{}: {e}", work_dir.display()))?;
    let source = dir.path().join("top.v");
    let main = dir.path().join("lockstep.cpp");
    fs::write(&source, verilog).map_err(|e| format!("{}: {e}", source.display()))?;
    fs::write(&main, HARNESS_MAIN).map_err(|e| format!("{}: {e}", main.display()))?;
    let header = dir.path().join("lockstep_ports.h");
    fs::write(&header, ports_code).map_err(|e| format!("{}: {e}", header.display()))?;
    let mdir = dir.path().join("obj");
    let mut command = Command::new("verilator");
    command
        .args(VERILATOR_BUILD_FLAGS)
        .arg("-Mdir")
        .arg(&mdir)
        .args(["-o", "lockstep"]);
    if let Some(w) = &waiver {
        command.arg(w);
    }
    command
        .arg(&source)
        .arg(&main)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL");
    let output = command
        .output()
        .map_err(|e| format!("cannot run verilator: {e}"))?;
    if !output.status.success() {
        let log = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "verilator build failed ({}):\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    fs::rename(mdir.join("lockstep"), &binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    Ok(binary)
}

/// Simulates `verilog` with Verilator on `inputs` and returns the trace of `outputs`.
///
/// `inputs` must name every input port of `top` except `clock`, with its Verilog width; each of
/// `outputs` must be an output port of `top` with its width. The binary is cached in `work_dir`
/// (created if missing) under a hash of the Verilog, the harness, the waiver file and the
/// Verilator options, so later calls for the same design and ports do not rebuild.
pub fn run_verilator(
    verilog: &Path,
    inputs: &Trace,
    outputs: &[(String, usize)],
    work_dir: &Path,
) -> Result<Trace, String> {
    let text = fs::read_to_string(verilog).map_err(|e| format!("{}: {e}", verilog.display()))?;
    inputs.validate().map_err(|e| format!("input trace: {e}"))?;
    let ports = top_ports(&text).map_err(|e| format!("{}: {e}", verilog.display()))?;
    if !ports.has_clock {
        return Err(format!(
            "{}: module top has no `{CLOCK}` input",
            verilog.display()
        ));
    }
    let mut missing: Vec<&str> = Vec::new();
    for (name, width) in &ports.inputs {
        match inputs.ports.iter().find(|(n, _)| n == name) {
            None => missing.push(name),
            Some((_, w)) if w != width => {
                return Err(format!(
                    "input {name}: width {w} in the trace, {width} in the Verilog"
                ));
            }
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "inputs of top missing from the input trace: {}",
            missing.join(", ")
        ));
    }
    for (name, _) in &inputs.ports {
        if !ports.inputs.iter().any(|(n, _)| n == name) {
            return Err(format!("input trace column {name} is not an input of top"));
        }
    }
    for (name, width) in outputs {
        match ports.outputs.iter().find(|(n, _)| n == name) {
            None => return Err(format!("{name} is not an output of top")),
            Some((_, w)) if w != width => {
                return Err(format!(
                    "output {name}: width {width} asked, {w} in the Verilog"
                ));
            }
            Some(_) => {}
        }
    }

    fs::create_dir_all(work_dir).map_err(|e| format!("{}: {e}", work_dir.display()))?;
    let ports_code = harness_ports(&inputs.ports, outputs);
    let binary = build(&text, &ports_code, work_dir)?;

    let run_dir = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(work_dir)
        .map_err(|e| format!("{}: {e}", work_dir.display()))?;
    let input_path = run_dir.path().join("inputs.trace");
    let output_path = run_dir.path().join("outputs.trace");
    inputs.write_to(&input_path)?;
    let output = Command::new(&binary)
        .arg(&input_path)
        .arg(&output_path)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let trace = Trace::read_from(&output_path)?;
    if trace.ports != outputs {
        return Err("verilator output trace has unexpected ports".to_string());
    }
    if trace.rows.len() != inputs.rows.len() {
        return Err(format!(
            "verilator output trace has {} cycles, the input {}",
            trace.rows.len(),
            inputs.rows.len()
        ));
    }
    Ok(trace)
}

/// Whether an external tool can be run, for tests that need it. A missing tool fails the test
/// (panics) when the environment variable `CI` is `true`; elsewhere it prints a note and returns
/// `false` so the test can skip itself.
pub fn tool_available(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is not installed, and CI=true requires it (apt-get install {tool})");
        }
        eprintln!("note: {tool} is not installed; skipping this test (it fails when CI=true)");
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_hdl::prelude::*;

    fn sample() -> Trace {
        let mut t = Trace::new(vec![
            ("a".to_string(), 1),
            ("bus$data".to_string(), 16),
            ("wide".to_string(), 512),
        ]);
        t.push(vec!["0".into(), "ffff".into(), "0".into()]);
        t.push(vec![
            "1".into(),
            "00a0".into(),
            format!("8{}", "0".repeat(127)),
        ]);
        t
    }

    #[test]
    fn trace_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace");
        let t = sample();
        t.write_to(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("a:1 bus$data:16 wide:512\n0 ffff 0\n1 00a0 8000"));
        assert_eq!(Trace::read_from(&path).unwrap(), t);
    }

    #[test]
    fn read_rejects_bad_traces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace");
        let cases = [
            ("a:1 b:4\n0 f\n1\n", "1 values for 2 ports"),
            ("a:1 b:4\n2 0\n", "has 2 bits, port has 1"),
            ("a:1 b:4\n0 1f\n", "has 5 bits, port has 4"),
            ("a:1 b:4\n0 g\n", "not a hex number"),
            ("a:1 b\n", "not name:width"),
            ("a:1 a:4\n", "listed twice"),
            ("a:0\n", "width 0"),
            ("", "empty trace file"),
        ];
        for (text, message) in cases {
            fs::write(&path, text).unwrap();
            let err = Trace::read_from(&path).unwrap_err();
            assert!(err.contains(message), "{text:?}: {err}");
        }
        // Leading zeros beyond the width are fine, as are blank lines.
        fs::write(&path, "a:1 b:4\n0001 000f\n\n").unwrap();
        assert_eq!(Trace::read_from(&path).unwrap().rows.len(), 1);
    }

    #[test]
    fn mismatch_reports_first_difference_numerically() {
        let expected = sample();
        let mut actual = sample();
        // Leading zeros and case do not matter.
        actual.rows[1][1] = "A0".into();
        actual.rows[0][2] = "0000".into();
        assert_eq!(first_mismatch(&expected, &actual), None);

        actual.rows[1][2] = "1".into();
        actual.rows[1][0] = "0".into();
        assert_eq!(
            first_mismatch(&expected, &actual).unwrap(),
            "cycle 1, signal a: rust-hdl 1, verilog 0"
        );

        let mut shorter = sample();
        shorter.rows.pop();
        assert_eq!(
            first_mismatch(&expected, &shorter).unwrap(),
            "cycle 1: rust-hdl trace has 2 cycles, verilog 1"
        );

        // Columns are matched by name, so the Verilog trace may order them differently.
        let mut reordered = Trace::new(vec![
            ("wide".to_string(), 512),
            ("a".to_string(), 1),
            ("bus$data".to_string(), 16),
        ]);
        for row in &expected.rows {
            reordered.push(vec![row[2].clone(), row[0].clone(), row[1].clone()]);
        }
        assert_eq!(first_mismatch(&expected, &reordered), None);
        reordered.ports[2].1 = 17;
        assert!(
            first_mismatch(&expected, &reordered)
                .unwrap()
                .contains("width 16")
        );
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(hex_bit_len("0").unwrap(), 0);
        assert_eq!(hex_bit_len("1").unwrap(), 1);
        assert_eq!(hex_bit_len("00f").unwrap(), 4);
        assert_eq!(hex_bit_len("10").unwrap(), 5);
        assert_eq!(hex_bit_len(&format!("8{}", "0".repeat(127))).unwrap(), 512);
        assert_eq!(
            parse_bits::<16>("00cafe").unwrap(),
            Bits::<16>::from(0xcafe)
        );
        assert_eq!(parse_bits::<1>("1").unwrap(), Bits::<1>::from(1));
        assert!(parse_bits::<8>("100").is_err());
        let wide: Bits<256> = parse_bits(&format!("1{}", "0".repeat(63))).unwrap();
        assert!(wide.get_bit(252));
        assert_eq!(wide.trace_hex(), format!("1{}", "0".repeat(63)));
        assert_eq!(Signed::<16>::from(-1i64).trace_hex(), "ffff");
        assert_eq!(true.trace_hex(), "1");
    }

    #[test]
    fn verilator_names() {
        assert_eq!(verilator_member("clock"), "clock");
        assert_eq!(verilator_member("bus$addr"), "bus__024addr");
        assert_eq!(verilator_member("a__b"), "a___05Fb");
        assert_eq!(verilator_member("e___f"), "e___05F_f");
        assert_eq!(verilator_member("g.h"), "g__02eh");
        assert_eq!(verilator_member("_c9"), "_c9");
    }

    /// Test design: a registered 16x16 multiplier, a comparator and a sum that are
    /// combinational in the inputs, a 40-bit counter, and 256-bit in / 512-bit out paths.
    #[derive(LogicBlock, Default)]
    struct Toy {
        clock: Signal<In, Clock>,
        a: Signal<In, Bits<16>>,
        b: Signal<In, Bits<16>>,
        enable: Signal<In, Bit>,
        wide_in: Signal<In, Bits<256>>,
        product: Signal<Out, Bits<32>>,
        sum: Signal<Out, Bits<16>>,
        less: Signal<Out, Bit>,
        count: Signal<Out, Bits<40>>,
        mixed: Signal<Out, Bits<96>>,
        wide_out: Signal<Out, Bits<512>>,
        product_reg: DFF<Bits<32>>,
        counter: DFF<Bits<40>>,
        wide_reg: DFF<Bits<512>>,
    }

    impl Logic for Toy {
        #[hdl_gen]
        fn update(&mut self) {
            dff_setup!(self, clock, product_reg, counter, wide_reg);
            self.product_reg.d.next = self.a.val() * self.b.val();
            self.product.next = self.product_reg.q.val();
            self.sum.next = self.a.val() + self.b.val();
            self.less.next = self.a.val() < self.b.val();
            if self.enable.val() {
                self.counter.d.next = self.counter.q.val() + 1;
            }
            self.count.next = self.counter.q.val();
            self.mixed.next = (bit_cast::<96, 32>(self.product_reg.q.val()) << 56)
                ^ bit_cast::<96, 40>(self.counter.q.val());
            self.wide_reg.d.next = (bit_cast::<512, 256>(self.wide_in.val()) << 250)
                + bit_cast::<512, 256>(self.wide_in.val())
                + bit_cast::<512, 40>(self.counter.q.val());
            self.wide_out.next = self.wide_reg.q.val();
        }
    }

    const TOY_INPUTS: [(&str, usize); 4] = [("a", 16), ("b", 16), ("enable", 1), ("wide_in", 256)];
    const TOY_OUTPUTS: [(&str, usize); 6] = [
        ("product", 32),
        ("sum", 16),
        ("less", 1),
        ("count", 40),
        ("mixed", 96),
        ("wide_out", 512),
    ];

    fn ports(list: &[(&str, usize)]) -> Vec<(String, usize)> {
        list.iter().map(|(n, w)| (n.to_string(), *w)).collect()
    }

    /// Drives the toy in rust-hdl with the lockstep cycle semantics; returns both traces.
    fn simulate_toy(uut: &mut Toy, cycles: usize) -> (Trace, Trace) {
        let mut inputs = Trace::new(ports(&TOY_INPUTS));
        let mut outputs = Trace::new(ports(&TOY_OUTPUTS));
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64*: deterministic pseudo-random inputs.
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for cycle in 0..cycles {
            let r = next();
            let a = Bits::<16>::from(r & 0xffff);
            let b = Bits::<16>::from((r >> 16) & 0xffff);
            let enable = (r >> 40) & 3 != 0;
            let mut wide = Bits::<256>::default();
            for _ in 0..4 {
                wide = (wide << 64) | Bits::<256>::from(next());
            }
            if cycle % 7 == 0 {
                wide = !Bits::<256>::default(); // all ones: carries through the 512-bit add
            }
            uut.a.next = a;
            uut.b.next = b;
            uut.enable.next = enable;
            uut.wide_in.next = wide;
            assert!(simulate(uut, 1000));
            inputs.push(vec![
                a.trace_hex(),
                b.trace_hex(),
                enable.trace_hex(),
                wide.trace_hex(),
            ]);
            outputs.push(vec![
                uut.product.val().trace_hex(),
                uut.sum.val().trace_hex(),
                uut.less.val().trace_hex(),
                uut.count.val().trace_hex(),
                uut.mixed.val().trace_hex(),
                uut.wide_out.val().trace_hex(),
            ]);
            uut.clock.next = Clock { clk: true };
            assert!(simulate(uut, 1000));
            uut.clock.next = Clock { clk: false };
            assert!(simulate(uut, 1000));
        }
        (inputs, outputs)
    }

    fn work_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/verilator-lockstep")
    }

    #[test]
    fn toy_design_matches_verilator() {
        if !tool_available("verilator") {
            return;
        }
        let mut uut = Toy::default();
        uut.clock.connect();
        uut.a.connect();
        uut.b.connect();
        uut.enable.connect();
        uut.wide_in.connect();
        uut.connect_all();
        let verilog = generate_verilog(&uut);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("toy.v");
        fs::write(&path, &verilog).unwrap();

        let parsed = top_ports(&verilog).unwrap();
        assert!(parsed.has_clock);
        assert_eq!(parsed.inputs, ports(&TOY_INPUTS));
        assert_eq!(parsed.outputs, ports(&TOY_OUTPUTS));

        let (inputs, expected) = simulate_toy(&mut uut, 300);
        let actual = run_verilator(&path, &inputs, &expected.ports, &work_dir()).unwrap();
        assert_eq!(first_mismatch(&expected, &actual), None);
        // The counter really counted and the wide path really carries data.
        assert_ne!(canonical_hex(&actual.rows[299][3]), "0");
        assert!(actual.rows[299][5].len() > 100);

        // The check can fail: corrupt one value deep inside the 512-bit output.
        let mut corrupted = expected.clone();
        let value = &mut corrupted.rows[123][5];
        let flipped = if value.ends_with('0') { '1' } else { '0' };
        value.pop();
        value.push(flipped);
        let report = first_mismatch(&corrupted, &actual).unwrap();
        assert!(
            report.starts_with("cycle 123, signal wide_out: rust-hdl "),
            "{report}"
        );

        // A subset of the outputs, in another order, is a different harness; and the Verilog's
        // ports are checked before anything is built.
        let some = vec![("count".to_string(), 40), ("less".to_string(), 1)];
        let partial = run_verilator(&path, &inputs, &some, &work_dir()).unwrap();
        assert_eq!(first_mismatch(&partial, &actual), None);
        let err = run_verilator(&path, &inputs, &[("nope".to_string(), 1)], &work_dir());
        assert_eq!(err.unwrap_err(), "nope is not an output of top");
        let mut short = inputs.clone();
        short.ports.pop();
        for row in &mut short.rows {
            row.pop();
        }
        let err = run_verilator(&path, &short, &expected.ports, &work_dir()).unwrap_err();
        assert!(
            err.contains("missing from the input trace: wide_in"),
            "{err}"
        );
    }

    /// rust-hdl simulates `signed < 0` as a signed comparison but emits `x < 32'h0`, which is
    /// unsigned in Verilog and always false: the lockstep check must catch it.
    #[derive(LogicBlock, Default)]
    struct SignedCompare {
        clock: Signal<In, Clock>,
        x: Signal<In, Signed<16>>,
        negative: Signal<Out, Bit>,
    }

    impl Logic for SignedCompare {
        #[hdl_gen]
        fn update(&mut self) {
            self.negative.next = self.x.val() < 0.into();
        }
    }

    #[test]
    fn lockstep_catches_signed_compare() {
        if !tool_available("verilator") {
            return;
        }
        let mut uut = SignedCompare::default();
        uut.clock.connect();
        uut.x.connect();
        uut.connect_all();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signed_compare.v");
        fs::write(&path, generate_verilog(&uut)).unwrap();
        let mut inputs = Trace::new(vec![("x".to_string(), 16)]);
        let mut expected = Trace::new(vec![("negative".to_string(), 1)]);
        for value in [5i64, 0, -3] {
            uut.x.next = Signed::<16>::from(value);
            assert!(simulate(&mut uut, 1000));
            inputs.push(vec![uut.x.val().trace_hex()]);
            expected.push(vec![uut.negative.val().trace_hex()]);
            uut.clock.next = Clock { clk: true };
            assert!(simulate(&mut uut, 1000));
            uut.clock.next = Clock { clk: false };
            assert!(simulate(&mut uut, 1000));
        }
        assert_eq!(inputs.rows[2], ["fffd"]);
        let actual = run_verilator(&path, &inputs, &expected.ports, &work_dir()).unwrap();
        assert_eq!(
            first_mismatch(&expected, &actual).as_deref(),
            Some("cycle 2, signal negative: rust-hdl 1, verilog 0")
        );
    }
}
