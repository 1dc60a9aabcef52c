"""Hand-computed cases for the reference risk model.

Run:  python3 -m pytest tools/model -q

Unless stated otherwise: warn_bps = 8000, so
    LIQUIDATE    iff margin_e6 >= equity * 1e6
    MARGIN_CALL  iff margin_e6 * 1e4 >= equity * 1e6 * 8000, i.e. margin >= 80% of equity
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import risk_model as rm  # noqa: E402

SCRIPT = os.path.join(HERE, "risk_model.py")

INSTRUMENTS_HEADER = ("instrument_id,symbol,tick_size,value_per_lot_tick,"
                      "max_price,mark_price")


def write(path, header, rows):
    with open(path, "w", newline="") as handle:
        handle.write(header + "\n")
        for row in rows:
            handle.write(row + "\n")


def make_book(tmp_path, instruments, brackets, accounts, positions, tape):
    """Write a book directory and a tape; return (book_dir, tape_path)."""
    book = tmp_path / "book"
    book.mkdir()
    write(book / "instruments.csv", INSTRUMENTS_HEADER, instruments)
    write(book / "brackets.csv", "instrument_id,notional_floor,mmr_ppm",
          brackets)
    write(book / "accounts.csv", "account_id,collateral", accounts)
    write(book / "positions.csv", "account_id,instrument_id,qty,entry_price",
          positions)
    tape_path = tmp_path / "tape.csv"
    write(tape_path, "seq,instrument_id,price", tape)
    return str(book), str(tape_path)


def flags_of(book_dir, tape_path, warn_bps=8000):
    book = rm.load_book(book_dir)
    tape = rm.load_tape(tape_path, book)
    return rm.flag_lines(rm.run_model(book, tape, warn_bps))[1:]


def run_cli(*args):
    return subprocess.run([sys.executable, SCRIPT] + [str(a) for a in args],
                          capture_output=True, text=True)


# ---------------------------------------------------------------------------
# Tiers
# ---------------------------------------------------------------------------

def test_maint_e6_three_tiers_and_tier_lookup(tmp_path):
    # floors 0, 1000, 5000; mmr 10000, 20000, 50000 ppm
    # maint_e6[0] = 0
    # maint_e6[1] = 0          + 1000 * (20000 - 10000) =  10_000_000
    # maint_e6[2] = 10_000_000 + 5000 * (50000 - 20000) = 160_000_000
    book_dir, tape = make_book(
        tmp_path,
        ["1,X,1,1,100000,100"],
        ["1,0,10000", "1,1000,20000", "1,5000,50000"],
        ["1,0"], [], [])
    book = rm.load_book(book_dir)
    ins = book.instruments[1]
    assert ins.floors == [0, 1000, 5000]
    assert ins.mmrs == [10000, 20000, 50000]
    assert ins.maint_e6 == [0, 10_000_000, 160_000_000]
    # v = 1, qty 5:
    # P=100 -> notional 500, tier 0:  500*10000 - 0                = 5_000_000
    assert rm.position_margin_e6(ins, 5, 100) == 5_000_000
    # P=199 -> notional 995, tier 0:  995*10000                    = 9_950_000
    assert rm.position_margin_e6(ins, 5, 199) == 9_950_000
    # P=200 -> notional 1000 == floor, tier 1: 1000*20000 - 10e6   = 10_000_000
    assert rm.position_margin_e6(ins, 5, 200) == 10_000_000
    # P=300, short -> notional 1500, tier 1: 1500*20000 - 10e6     = 20_000_000
    assert rm.position_margin_e6(ins, -5, 300) == 20_000_000
    # P=1000 -> notional 5000 == floor, tier 2: 5000*50000 - 160e6 = 90_000_000
    assert rm.position_margin_e6(ins, 5, 1000) == 90_000_000
    # P=1200 -> notional 6000, tier 2: 6000*50000 - 160e6          = 140_000_000
    assert rm.position_margin_e6(ins, 5, 1200) == 140_000_000


def test_two_tier_price_move_crosses_tier(tmp_path):
    # Instrument 1: v=1, mark 100. Tiers (0, 10000 ppm), (1000, 100000 ppm).
    # maint_e6[1] = 1000 * (100000 - 10000) = 90_000_000
    # Account 1: collateral 250, qty -10 at entry 100.
    # load  P=100: equity 250; notional 1000 -> tier 1 (floor <= notional):
    #              1000*100000 - 90e6 = 10_000_000; 10e6 < 0.8*250e6 -> HEALTHY
    # seq 1 P=99:  equity 250 + (-10)*(-1) = 260; notional 990 -> tier 0:
    #              990*10000 = 9_900_000 -> HEALTHY, no flag
    # seq 2 P=122: equity 250 + (-10)*22 = 30; notional 1220 -> tier 1:
    #              1220*100000 - 90e6 = 32_000_000 >= 30e6 -> LIQUIDATE
    #              (with tier 0 it would be 12_200_000 < 24e6 -> HEALTHY)
    # seq 3 P=120: equity 50; notional 1200 -> 120e6 - 90e6 = 30_000_000;
    #              30e6 < 50e6 and 30e6*1e4 = 3.0e11 < 50e6*8000 = 4.0e11
    #              -> HEALTHY
    book_dir, tape = make_book(
        tmp_path,
        ["1,BTC,1,1,1000,100"],
        ["1,0,10000", "1,1000,100000"],
        ["1,250"],
        ["1,1,-10,100"],
        ["1,1,99", "2,1,122", "3,1,120"])
    assert flags_of(book_dir, tape) == [
        "2,1,LIQUIDATE,30,32000000",
        "3,1,HEALTHY,50,30000000",
    ]


# ---------------------------------------------------------------------------
# Thresholds
# ---------------------------------------------------------------------------

def test_margin_equal_to_equity_is_liquidate(tmp_path):
    # Instrument 2: v=1, mark 100, single tier 100000 ppm (10%).
    # Each account: qty 1 at entry 100 -> notional 100, margin 100*100000 = 10_000_000
    # account 1: collateral 10 -> equity*1e6 = 10_000_000 == margin -> LIQUIDATE
    # account 2: collateral 11 -> 11e6 > 10e6; 10e6*1e4 = 1e11 >= 11e6*8000
    #            = 8.8e10 -> MARGIN_CALL
    book_dir, tape = make_book(
        tmp_path,
        ["2,ETH,1,1,1000,100"],
        ["2,0,100000"],
        ["1,10", "2,11"],
        ["1,2,1,100", "2,2,1,100"],
        [])
    assert flags_of(book_dir, tape) == [
        "0,1,LIQUIDATE,10,10000000",
        "0,2,MARGIN_CALL,11,10000000",
    ]


def test_ratio_exactly_80_percent_is_margin_call(tmp_path):
    # Instrument 2: v=1, mark 160, single tier 10%.
    # qty 1 at entry 160 -> notional 160, margin 160*100000 = 16_000_000
    # account 1: collateral 20: 16e6 < 20e6;
    #            16e6*1e4 = 1.6e11 >= 20e6*8000 = 1.6e11 (equal) -> MARGIN_CALL
    # account 2: collateral 21: 1.6e11 < 21e6*8000 = 1.68e11 -> HEALTHY
    book_dir, tape = make_book(
        tmp_path,
        ["2,ETH,1,1,1000,160"],
        ["2,0,100000"],
        ["1,20", "2,21"],
        ["1,2,1,160", "2,2,1,160"],
        [])
    assert flags_of(book_dir, tape) == ["0,1,MARGIN_CALL,20,16000000"]
    # warn_bps 9000: 1.6e11 < 20e6*9000 = 1.8e11 -> HEALTHY, no flags at all
    assert flags_of(book_dir, tape, warn_bps=9000) == []
    # warn_bps 7619: 21e6*7619 = 1.59999e11 <= 1.6e11 -> account 2 MARGIN_CALL too
    assert flags_of(book_dir, tape, warn_bps=7619) == [
        "0,1,MARGIN_CALL,20,16000000",
        "0,2,MARGIN_CALL,21,16000000",
    ]


def test_negative_collateral(tmp_path):
    # Instrument 2: v=1, mark 100, single tier 10%.
    # account 1: collateral -5, qty 1 at entry 100: equity -5,
    #            margin 10_000_000 >= -5e6 -> LIQUIDATE
    # account 2: collateral -5, only a qty 0 position -> HEALTHY (no flag)
    # account 3: collateral -5, no positions -> HEALTHY (no flag)
    # account 4: collateral 1000, qty -1 at entry 100:
    #            load: equity 1000, margin 10e6 -> HEALTHY
    # seq 7 P=600: acc 1: equity -5 + 1*500 = 495, notional 600 -> 60_000_000;
    #              60e6 < 495e6; 6e11 < 495e6*8000 = 3.96e12 -> HEALTHY (flag)
    #              acc 2: qty 0 -> HEALTHY, unchanged
    #              acc 4: equity 1000 - 500 = 500, margin 60e6 -> HEALTHY, unchanged
    # seq 8 P=1000: acc 1: equity 895, margin 100e6 -> HEALTHY, unchanged
    #               acc 4: equity 1000 - 900 = 100, margin 100_000_000 >= 100e6
    #               -> LIQUIDATE (flag)
    book_dir, tape = make_book(
        tmp_path,
        ["2,ETH,1,1,1000,100"],
        ["2,0,100000"],
        ["1,-5", "2,-5", "3,-5", "4,1000"],
        ["1,2,1,100", "2,2,0,100", "4,2,-1,100"],
        ["7,2,600", "8,2,1000"])
    assert flags_of(book_dir, tape) == [
        "0,1,LIQUIDATE,-5,10000000",
        "7,1,HEALTHY,495,60000000",
        "8,4,LIQUIDATE,100,100000000",
    ]


def test_zero_mmr_with_zero_equity_is_liquidate(tmp_path):
    # Instrument 3: single tier mmr 0 -> margin 0.
    # account 1: collateral 0, qty 1 at entry 50 (mark 50): equity 0,
    #            margin 0 >= 0 * 1e6 -> LIQUIDATE
    # account 2: collateral 1 -> 0 < 1e6; 0 >= 1e6*8000? no -> HEALTHY
    book_dir, tape = make_book(
        tmp_path,
        ["3,Z,1,1,100,50"],
        ["3,0,0"],
        ["1,0", "2,1"],
        ["1,3,1,50", "2,3,1,50"],
        [])
    assert flags_of(book_dir, tape) == ["0,1,LIQUIDATE,0,0"]


def test_qty_zero_position_counts_nothing(tmp_path):
    # Instrument 1: v=3, mark 100, tier 10%.  Instrument 2: v=1, mark 100, 10%.
    # account 5: collateral -100, only qty 0 positions (entry 50) -> always
    #            HEALTHY (no open position), never flagged.
    # account 6: collateral 100, qty 0 on instr 1 (entry 1), qty 1 on instr 2
    #            at entry 100.  The qty 0 position adds 0*(P-1)*3 = 0 to
    #            equity and no margin.
    #            load: equity 100, margin 100*100000 = 10e6 -> HEALTHY
    # seq 1 instr 1 P=900: nothing changes for either account.
    # seq 2 instr 2 P=20: acc 6: equity 100 + 1*(20-100) = 20,
    #            notional 20 -> 2_000_000; 2e6*1e4 = 2e10 < 20e6*8000 = 1.6e11
    #            -> HEALTHY, no flag
    # seq 3 instr 2 P=12: equity 12, margin 1_200_000; 1.2e10 < 9.6e10 -> HEALTHY
    # seq 4 instr 2 P=1: equity 1, margin 100_000; 1e9 < 8e9 -> HEALTHY
    book_dir, tape = make_book(
        tmp_path,
        ["1,A,1,3,1000,100", "2,B,1,1,1000,100"],
        ["1,0,100000", "2,0,100000"],
        ["5,-100", "6,100"],
        ["5,1,0,50", "5,2,0,50", "6,1,0,1", "6,2,1,100"],
        ["1,1,900", "2,2,20", "3,2,12", "4,2,1"])
    assert flags_of(book_dir, tape) == []
    book = rm.load_book(book_dir)
    model = rm.Model(book)
    assert model.load_flags() == []
    assert model.evaluate(5) == (-100, 0, "HEALTHY")
    assert model.update(1, 1, 900) == []
    assert model.evaluate(6) == (100, 10_000_000, "HEALTHY")


def test_account_without_positions_never_flagged(tmp_path):
    # account 9: collateral 0 and no positions -> HEALTHY forever.
    # account 1: collateral 0, qty -1 at entry 100, 10% tier:
    #            equity 0, margin 10e6 >= 0 -> LIQUIDATE at load.
    book_dir, tape = make_book(
        tmp_path,
        ["2,ETH,1,1,1000,100"],
        ["2,0,100000"],
        ["9,0", "1,0"],
        ["1,2,-1,100"],
        ["1,2,1", "2,2,1000"])
    # seq 1 P=1: acc 1 equity 0 + (-1)*(-99) = 99, margin 1*100000 = 100_000
    #            -> 1e9 < 99e6*8000 -> HEALTHY (flag)
    # seq 2 P=1000: equity 0 - 900 = -900, margin 100_000_000 -> LIQUIDATE (flag)
    assert flags_of(book_dir, tape) == [
        "0,1,LIQUIDATE,0,10000000",
        "1,1,HEALTHY,99,100000",
        "2,1,LIQUIDATE,-900,100000000",
    ]
    book = rm.load_book(book_dir)
    assert rm.Model(book).evaluate(9) == (0, 0, "HEALTHY")


# ---------------------------------------------------------------------------
# Edges over a tape
# ---------------------------------------------------------------------------

def test_seq0_load_flags_sorted_by_account(tmp_path):
    # Instrument 2: v=1, mark 100, tier 10% -> margin 10e6 for |qty| 1.
    # Accounts listed out of order in the file.
    # 30: collateral 5   -> LIQUIDATE (10e6 >= 5e6)
    #  7: collateral 12  -> 10e6 < 12e6; 1e11 >= 12e6*8000 = 9.6e10 -> MARGIN_CALL
    # 12: collateral 13  -> 1e11 < 1.04e11 -> HEALTHY (no flag)
    #  3: collateral -1  -> LIQUIDATE
    book_dir, tape = make_book(
        tmp_path,
        ["2,ETH,1,1,1000,100"],
        ["2,0,100000"],
        ["30,5", "7,12", "12,13", "3,-1"],
        ["30,2,1,100", "12,2,-1,100", "7,2,1,100", "3,2,-1,100"],
        [])
    assert flags_of(book_dir, tape) == [
        "0,3,LIQUIDATE,-1,10000000",
        "0,7,MARGIN_CALL,12,10000000",
        "0,30,LIQUIDATE,5,10000000",
    ]


def test_edges_only_on_state_change_with_value_per_lot_tick(tmp_path):
    # Instrument 3: tick 5, v=10, mark 50, single tier 50000 ppm (5%).
    # Account 42: collateral 1000, qty -2 at entry 50.
    # load  P=50:  equity 1000; notional 2*50*10 = 1000; margin 50_000_000 -> HEALTHY
    # seq 10 P=95: equity 1000 - 2*45*10 = 100; notional 1900; margin 95_000_000
    #              95e6 < 100e6; 9.5e11 >= 100e6*8000 = 8e11 -> MARGIN_CALL
    # seq 11 P=94: equity 120; notional 1880; margin 94_000_000
    #              9.4e11 < 120e6*8000 = 9.6e11 -> HEALTHY
    # seq 12 P=94: unchanged -> no flag
    # seq 13 P=100: equity 0; margin 100_000_000 >= 0 -> LIQUIDATE
    # seq 14 P=96: equity 80; margin 96_000_000 >= 80e6 -> LIQUIDATE, no flag
    # seq 15 P=95: -> MARGIN_CALL (100, 95_000_000)
    book_dir, tape = make_book(
        tmp_path,
        ["3,SOL,5,10,1000,50"],
        ["3,0,50000"],
        ["42,1000"],
        ["42,3,-2,50"],
        ["10,3,95", "11,3,94", "12,3,94", "13,3,100", "14,3,96", "15,3,95"])
    assert flags_of(book_dir, tape) == [
        "10,42,MARGIN_CALL,100,95000000",
        "11,42,HEALTHY,120,94000000",
        "13,42,LIQUIDATE,0,100000000",
        "15,42,MARGIN_CALL,100,95000000",
    ]


def test_tick_recomputes_account_with_other_instruments_current_price(tmp_path):
    # A (id 1): v=1, mark 100, 10%.  B (id 2): v=2, mark 50, 5%.
    # Account 9: collateral 30; A qty 1 at 100; B qty -1 at 50.
    # load: equity 30; margin A 100*100000 = 10e6 + B 1*50*2=100 -> 100*50000
    #       = 5e6 -> 15e6; 1.5e11 < 30e6*8000 = 2.4e11 -> HEALTHY
    # seq 1 B P=54: equity 30 + (-1)*4*2 = 22; margin 10e6 + 108*50000 = 15_400_000
    #       1.54e11 < 22e6*8000 = 1.76e11 -> HEALTHY, no flag
    # seq 2 A P=96: equity 30 - 4 - 8 = 18; margin 96*100000 + 5.4e6 = 15_000_000
    #       1.5e11 >= 18e6*8000 = 1.44e11 -> MARGIN_CALL
    # Account 10: collateral 1000, B qty 1 at 50: margin 5e6 at load, at
    #       P=54 equity 1008, margin 5.4e6 -> HEALTHY throughout, never flagged.
    book_dir, tape = make_book(
        tmp_path,
        ["1,A,1,1,1000,100", "2,B,1,2,1000,50"],
        ["1,0,100000", "2,0,50000"],
        ["9,30", "10,1000"],
        ["9,1,1,100", "9,2,-1,50", "10,2,1,50"],
        ["1,2,54", "2,1,96"])
    assert flags_of(book_dir, tape) == ["2,9,MARGIN_CALL,18,15000000"]


# ---------------------------------------------------------------------------
# CLI, --out and --check
# ---------------------------------------------------------------------------

def _cli_book(tmp_path):
    # Same data as test_edges_only_on_state_change_with_value_per_lot_tick.
    return make_book(
        tmp_path,
        ["3,SOL,5,10,1000,50"],
        ["3,0,50000"],
        ["42,1000"],
        ["42,3,-2,50"],
        ["10,3,95", "11,3,94", "12,3,94", "13,3,100", "14,3,96", "15,3,95"])


EXPECTED_CLI = (
    "seq,account_id,state,equity,margin_e6\n"
    "10,42,MARGIN_CALL,100,95000000\n"
    "11,42,HEALTHY,120,94000000\n"
    "13,42,LIQUIDATE,0,100000000\n"
    "15,42,MARGIN_CALL,100,95000000\n")


def test_cli_out_and_check_identical(tmp_path):
    book_dir, tape = _cli_book(tmp_path)
    out = tmp_path / "flags.csv"
    res = run_cli("--book", book_dir, "--prices", tape, "--out", out)
    assert res.returncode == 0, res.stderr
    assert out.read_text() == EXPECTED_CLI
    res = run_cli("--book", book_dir, "--prices", tape, "--check", out)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "model check: 4 flags identical" in res.stdout


def test_check_ignores_trailing_cycle_column(tmp_path):
    book_dir, tape = _cli_book(tmp_path)
    rust = tmp_path / "rust.csv"
    rust.write_text(
        "seq,account_id,state,equity,margin_e6,cycle\n"
        "10,42,MARGIN_CALL,100,95000000,1234\n"
        "11,42,HEALTHY,120,94000000,1300\n"
        "13,42,LIQUIDATE,0,100000000,1400\n"
        "15,42,MARGIN_CALL,100,95000000,1500\n")
    res = run_cli("--book", book_dir, "--prices", tape, "--check", rust)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "model check: 4 flags identical" in res.stdout


def test_check_detects_changed_flag(tmp_path):
    book_dir, tape = _cli_book(tmp_path)
    rust = tmp_path / "rust.csv"
    # line 4 (3rd flag): equity 0 changed to 1
    rust.write_text(EXPECTED_CLI.replace("13,42,LIQUIDATE,0,",
                                         "13,42,LIQUIDATE,1,"))
    res = run_cli("--book", book_dir, "--prices", tape, "--check", rust)
    assert res.returncode == 1
    assert "line 4" in res.stdout
    assert "expected: 13,42,LIQUIDATE,0,100000000" in res.stdout
    assert "got:      13,42,LIQUIDATE,1,100000000" in res.stdout
    assert "model 4 flags" in res.stdout


def test_check_detects_missing_flag(tmp_path):
    book_dir, tape = _cli_book(tmp_path)
    rust = tmp_path / "rust.csv"
    rust.write_text(EXPECTED_CLI.replace("15,42,MARGIN_CALL,100,95000000\n",
                                         ""))
    res = run_cli("--book", book_dir, "--prices", tape, "--check", rust)
    assert res.returncode == 1
    assert "line 5" in res.stdout
    assert "got:      <end of file>" in res.stdout
    assert "model 4 flags" in res.stdout and "3 flags" in res.stdout


# ---------------------------------------------------------------------------
# Bad input -> exit 2 naming file, line and field
# ---------------------------------------------------------------------------

def _bad(tmp_path, **over):
    data = dict(
        instruments=["1,A,1,1,1000,100"],
        brackets=["1,0,10000"],
        accounts=["1,100", "2,100"],
        positions=["1,1,1,100"],
        tape=["1,1,101"])
    data.update(over)
    book_dir, tape = make_book(tmp_path, data["instruments"],
                               data["brackets"], data["accounts"],
                               data["positions"], data["tape"])
    out = tmp_path / "flags.csv"
    return run_cli("--book", book_dir, "--prices", tape, "--out", out)


def test_good_baseline_input_is_accepted(tmp_path):
    assert _bad(tmp_path).returncode == 0


def test_bad_header(tmp_path):
    book_dir, tape = make_book(tmp_path, ["1,A,1,1,1000,100"], ["1,0,10000"],
                               ["1,100"], [], [])
    write(os.path.join(book_dir, "accounts.csv"), "account_id,collat",
          ["1,100"])
    res = run_cli("--book", book_dir, "--prices", tape, "--out",
                  tmp_path / "f.csv")
    assert res.returncode == 2
    assert "accounts.csv:1: field 'header'" in res.stderr


def test_duplicate_account(tmp_path):
    res = _bad(tmp_path, accounts=["1,100", "1,5"])
    assert res.returncode == 2
    assert "accounts.csv:3: field 'account_id'" in res.stderr


def test_position_unknown_account(tmp_path):
    res = _bad(tmp_path, positions=["1,1,1,100", "3,1,1,100"])
    assert res.returncode == 2
    assert "positions.csv:3: field 'account_id'" in res.stderr


def test_position_unknown_instrument(tmp_path):
    res = _bad(tmp_path, positions=["1,2,1,100"])
    assert res.returncode == 2
    assert "positions.csv:2: field 'instrument_id'" in res.stderr


def test_second_position_same_account_instrument(tmp_path):
    res = _bad(tmp_path, positions=["1,1,1,100", "2,1,1,100", "1,1,-1,90"])
    assert res.returncode == 2
    assert "positions.csv:4: field 'instrument_id'" in res.stderr


def test_tape_price_zero(tmp_path):
    res = _bad(tmp_path, tape=["1,1,0"])
    assert res.returncode == 2
    assert "tape.csv:2: field 'price'" in res.stderr


def test_tape_price_above_max(tmp_path):
    res = _bad(tmp_path, tape=["1,1,1000", "2,1,1001"])
    assert res.returncode == 2
    assert "tape.csv:3: field 'price'" in res.stderr


def test_mark_price_above_max(tmp_path):
    res = _bad(tmp_path, instruments=["1,A,1,1,1000,1001"])
    assert res.returncode == 2
    assert "instruments.csv:2: field 'mark_price'" in res.stderr


def test_tape_unknown_instrument(tmp_path):
    res = _bad(tmp_path, tape=["1,1,101", "2,9,101"])
    assert res.returncode == 2
    assert "tape.csv:3: field 'instrument_id'" in res.stderr


def test_tape_seq_not_increasing(tmp_path):
    res = _bad(tmp_path, tape=["1,1,101", "1,1,102"])
    assert res.returncode == 2
    assert "tape.csv:3: field 'seq'" in res.stderr


def test_tape_seq_zero(tmp_path):
    res = _bad(tmp_path, tape=["0,1,101"])
    assert res.returncode == 2
    assert "tape.csv:2: field 'seq'" in res.stderr


def test_not_an_integer(tmp_path):
    res = _bad(tmp_path, accounts=["1,100", "2,1e3"])
    assert res.returncode == 2
    assert "accounts.csv:3: field 'collateral'" in res.stderr


def test_brackets_must_start_at_zero_and_increase(tmp_path):
    res = _bad(tmp_path, brackets=["1,10,10000"])
    assert res.returncode == 2
    assert "brackets.csv:2: field 'notional_floor'" in res.stderr


def test_brackets_duplicate_floor(tmp_path):
    res = _bad(tmp_path, brackets=["1,0,10000", "1,500,20000", "1,500,30000"])
    assert res.returncode == 2
    assert "field 'notional_floor'" in res.stderr


def test_brackets_mmr_decreasing(tmp_path):
    res = _bad(tmp_path, brackets=["1,0,10000", "1,1000,5000"])
    assert res.returncode == 2
    assert "brackets.csv:3: field 'mmr_ppm'" in res.stderr


def test_instrument_without_brackets(tmp_path):
    res = _bad(tmp_path, instruments=["1,A,1,1,1000,100", "2,B,1,1,1000,100"])
    assert res.returncode == 2
    assert "brackets.csv" in res.stderr and "no brackets" in res.stderr


def test_too_many_brackets(tmp_path):
    rows = ["1,%d,%d" % (0 if t == 0 else 100 * t, 1000 * (t + 1))
            for t in range(17)]
    res = _bad(tmp_path, brackets=rows)
    assert res.returncode == 2
    assert "brackets.csv" in res.stderr and "at most 16" in res.stderr
