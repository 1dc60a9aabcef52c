//! The planner's files through `riskpipe run` on a generated crash: the documented columns,
//! one plan per LIQUIDATE flag, orders that add up to their plan, totals in the summary that
//! match the files, the same plans from the cpu engine and the oracle, CSV and JSON lines
//! saying the same, and a plan too finely split refused before anything is written.

mod feed_support;

use std::collections::HashMap;
use std::path::Path;

use feed_support::{csv_records, gen_crash, json_object, ok, riskpipe, uint};

const PLANS_HEADER: &str = "seq,account_id,outcome,equity,margin_e6,orders,lots,penalty_e6,\
                            insurance_fund_e6,equity_after_e6,margin_after_e6";
const ORDERS_HEADER: &str = "seq,account_id,instrument_id,symbol,side,qty,child,children,\
                             mark_price,limit_price,bankruptcy_price,tif,penalty_e6,\
                             position_qty,remaining_qty";

/// `run --backend BACKEND` with flags, plans and orders into DIR/NAME.*, plus `extra`;
/// returns the summary.
fn run(dir: &Path, backend: &str, name: &str, extra: &[&str]) -> serde_json::Value {
    let path = |kind: &str| dir.join(format!("{name}.{kind}")).display().to_string();
    let mut args = vec![
        "run".to_string(),
        "--backend".into(),
        backend.into(),
        "--book".into(),
        dir.display().to_string(),
        "--prices".into(),
        dir.join("prices.csv").display().to_string(),
        "--json".into(),
        "--out".into(),
        path("flags"),
        "--plans".into(),
        path("plans"),
        "--orders".into(),
        path("orders"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    json_object(&ok(
        &riskpipe(&args, None),
        &format!("run {backend} {extra:?}"),
    ))
}

fn int(field: &str) -> i128 {
    field
        .parse()
        .unwrap_or_else(|_| panic!("`{field}` is not an integer"))
}

#[test]
fn plans_and_orders_add_up_and_match_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path();
    gen_crash(book, 3_000, 8, 600, 21);
    let extra = [
        "--max-order-notional",
        "50000000000",
        "--penalty-ppm",
        "3000",
    ];
    let summary = run(book, "cpu", "cpu", &extra);
    let plans = csv_records(&book.join("cpu.plans"), PLANS_HEADER);
    let orders = csv_records(&book.join("cpu.orders"), ORDERS_HEADER);
    let flags = csv_records(
        &book.join("cpu.flags"),
        "seq,account_id,state,equity,margin_e6",
    );

    // One plan per LIQUIDATE flag, with the flag's figures.
    let liquidations: Vec<&Vec<String>> = flags.iter().filter(|f| f[2] == "LIQUIDATE").collect();
    assert!(
        liquidations.len() > 20,
        "too few liquidations: {}",
        liquidations.len()
    );
    assert_eq!(plans.len(), liquidations.len());
    for (p, f) in plans.iter().zip(&liquidations) {
        assert_eq!((&p[0], &p[1], &p[3], &p[4]), (&f[0], &f[1], &f[3], &f[4]));
        assert!(p[2] == "TARGET" || p[2] == "CLOSED", "{p:?}");
    }

    // Orders add up to their plan.
    let mut per_plan: HashMap<(String, String), (i128, i128, i128)> = HashMap::new();
    for o in &orders {
        let qty = int(&o[5]);
        assert!(qty >= 1);
        assert_eq!(o[11], "IOC");
        assert!(o[4] == "SELL" || o[4] == "BUY");
        let (child, children) = (int(&o[6]), int(&o[7]));
        assert!(1 <= child && child <= children, "{o:?}");
        // Notional cap (50,000 USD) unless a single lot is larger.
        assert!(
            qty == 1 || qty * int(&o[8]) <= 50_000_000_000 * 1_000,
            "{o:?}"
        );
        let sum = per_plan.entry((o[0].clone(), o[1].clone())).or_default();
        sum.0 += 1;
        sum.1 += qty;
        sum.2 += int(&o[12]);
    }
    for p in &plans {
        let sum = per_plan[&(p[0].clone(), p[1].clone())];
        assert_eq!(
            (sum.0, sum.1, sum.2),
            (int(&p[5]), int(&p[6]), int(&p[7])),
            "{p:?}"
        );
    }

    // The summary's totals are the files'.
    let total = |column: usize| plans.iter().map(|p| int(&p[column])).sum::<i128>();
    let l = &summary["liquidation"];
    assert_eq!(uint(l, &["plans"]) as usize, plans.len());
    assert_eq!(uint(l, &["orders"]) as usize, orders.len());
    assert_eq!(i128::from(uint(l, &["lots"])), total(6));
    // Amounts in millionths are integers in the JSON (below 2^64 here, so serde_json keeps
    // them exact).
    assert_eq!(int(&l["penalties_e6"].to_string()), total(7));
    assert_eq!(int(&l["insurance_fund_e6"].to_string()), total(8));
    let closed = plans.iter().filter(|p| p[2] == "CLOSED").count();
    assert_eq!(uint(l, &["closed"]) as usize, closed);
    assert!(
        closed > 0 && closed < plans.len(),
        "both outcomes expected: {closed} of {}",
        plans.len()
    );
    assert_eq!(
        (uint(l, &["target_bps"]), uint(l, &["penalty_ppm"])),
        (4_000, 3_000)
    );

    // The oracle plans the same, and JSON lines say the same as CSV.
    run(book, "oracle", "oracle", &extra);
    for kind in ["plans", "orders"] {
        let read =
            |name: &str| std::fs::read_to_string(book.join(format!("{name}.{kind}"))).unwrap();
        assert!(
            read("cpu") == read("oracle"),
            "{kind} differ between cpu and oracle"
        );
    }
    run(
        book,
        "cpu",
        "json",
        &[&extra[..], &["--format", "jsonl"]].concat(),
    );
    for (kind, header) in [("plans", PLANS_HEADER), ("orders", ORDERS_HEADER)] {
        let csv = csv_records(&book.join(format!("cpu.{kind}")), header);
        let text = std::fs::read_to_string(book.join(format!("json.{kind}"))).unwrap();
        let columns: Vec<&str> = header.split(',').collect();
        let json: Vec<Vec<String>> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["type"], kind.trim_end_matches('s'));
                columns
                    .iter()
                    .map(|c| match &v[*c] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(csv, json, "{kind}: CSV and JSON lines differ");
    }
}

#[test]
fn a_plan_split_too_finely_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path();
    gen_crash(book, 3_000, 8, 600, 21);
    let out = riskpipe(
        &[
            "run",
            "--book",
            &book.display().to_string(),
            "--prices",
            &book.join("prices.csv").display().to_string(),
            "--out",
            &book.join("flags.csv").display().to_string(),
            "--orders",
            &book.join("orders.csv").display().to_string(),
            "--max-order-lots",
            "1",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("child orders, more than 100000; raise --max-order-lots"),
        "{stderr}"
    );
    assert!(!book.join("flags.csv").exists() && !book.join("orders.csv").exists());
}
