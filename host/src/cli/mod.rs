//! Command-line interface: one file per subcommand.

mod bench;
mod demo;
mod gen_cmd;
mod plot;
mod run;
mod summary;
mod verilog;

use clap::{Parser, Subcommand};

/// riskpipe: a liquidation risk check for a leveraged derivatives venue.
///
/// It holds a book of accounts and positions, follows mark-price updates, and raises a flag
/// whenever an account's state changes between HEALTHY, MARGIN_CALL (maintenance margin at or
/// above warn-bps of equity) and LIQUIDATE (maintenance margin at or above equity).
///
/// Start with `riskpipe demo`. A typical session:
///   riskpipe gen --accounts 10000 --scenario crash --out book/
///   riskpipe run --backend cpu --book book/ --prices book/prices.csv --out flags.csv
#[derive(Parser, Debug)]
#[command(name = "riskpipe", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a synthetic book and price tape.
    Gen(gen_cmd::GenArgs),
    /// Run a price tape against a book and write the flags.
    Run(run::RunArgs),
    /// Measure an engine on a generated workload.
    Bench(bench::BenchArgs),
    /// Generate a crash scenario, run it and check it: the quickest tour.
    Demo(demo::DemoArgs),
    /// Write the generated Verilog of the default hardware configuration.
    Verilog(verilog::VerilogArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Gen(args) => gen_cmd::write_generated(args),
        Command::Run(args) => run::run(args),
        Command::Bench(args) => bench::bench(args),
        Command::Demo(args) => demo::demo(args),
        Command::Verilog(args) => verilog::write_verilog(args),
    }
}

/// Threads the machine offers, the default shard count.
fn default_threads() -> u16 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(256) as u16)
}
