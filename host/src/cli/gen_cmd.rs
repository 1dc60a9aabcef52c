//! `riskpipe gen`: write a synthetic book folder and price tape.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use riskpipe::book::write_book;
use riskpipe::generator::{GenParams, Scenario};
use riskpipe::tape::write_tape;
use riskpipe::workload::Workload;

use super::summary::spinner;

/// Market scenario of a generated tape.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScenarioArg {
    /// Small correlated moves: few flags.
    Calm,
    /// A fast drawdown that sets off a liquidation cascade.
    Crash,
}

impl From<ScenarioArg> for Scenario {
    fn from(s: ScenarioArg) -> Scenario {
        match s {
            ScenarioArg::Calm => Scenario::Calm,
            ScenarioArg::Crash => Scenario::Crash,
        }
    }
}

/// What to generate.
#[derive(Args, Debug, Clone)]
pub struct WorkloadArgs {
    /// Number of accounts.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub accounts: u32,
    /// Number of instruments (perpetuals); BTC, ETH and the majors first.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub instruments: u32,
    /// Random seed: the same seed and sizes give the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Market scenario of the tape.
    #[arg(long, value_enum, default_value_t = ScenarioArg::Crash)]
    pub scenario: ScenarioArg,
    /// Number of price updates in the tape.
    #[arg(long, default_value_t = 2_000)]
    pub updates: u64,
}

impl WorkloadArgs {
    /// Generates and validates the workload, with a spinner on a terminal.
    pub fn generate(&self) -> anyhow::Result<Workload> {
        let progress = spinner(format!(
            "generating {} accounts, {} instruments, {} updates",
            self.accounts, self.instruments, self.updates
        ));
        let workload = Workload::generate(&GenParams {
            accounts: self.accounts,
            instruments: self.instruments,
            seed: self.seed,
            scenario: self.scenario.into(),
            updates: self.updates,
        })?;
        progress.finish_and_clear();
        Ok(workload)
    }
}

/// Arguments of `riskpipe gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Folder to write instruments.csv, brackets.csv, accounts.csv, positions.csv and
    /// prices.csv into (created if missing).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `riskpipe gen`.
pub fn write_generated(args: GenArgs) -> anyhow::Result<()> {
    let w = args.workload.generate()?;
    let dir = &args.out;
    write_book(dir, &w.rows)
        .with_context(|| format!("cannot write the book into {}", dir.display()))?;
    let prices = dir.join("prices.csv");
    write_tape(&prices, &w.tape_rows)
        .with_context(|| format!("cannot write {}", prices.display()))?;
    println!(
        "wrote {} instruments, {} accounts, {} positions and {} price updates to {}",
        w.book.instruments.len(),
        w.book.accounts.len(),
        w.book.positions.len(),
        w.tape.len(),
        dir.display()
    );
    Ok(())
}
