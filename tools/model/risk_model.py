#!/usr/bin/env python3
"""Independent reference model of riskpipe's liquidation risk check.

Written only from the contract (not from the Rust code), so CI can
cross-check the Rust engines against it.  Standard library only, integers
only: Python ints are exact, so there is no overflow and no rounding.

Usage:
    python3 tools/model/risk_model.py --book DIR --prices FILE \
        [--warn-bps N] [--out FLAGS.csv] [--check RUST_FLAGS.csv]

At least one of --out / --check is required.
Exit status: 0 ok (and, with --check, identical), 1 --check found a
difference, 2 bad input or bad usage.

Contract summary
----------------
Book directory (CSV files, exact headers):
    instruments.csv  instrument_id,symbol,tick_size,value_per_lot_tick,max_price,mark_price
    brackets.csv     instrument_id,notional_floor,mmr_ppm
    accounts.csv     account_id,collateral
    positions.csv    account_id,instrument_id,qty,entry_price
Price tape:          seq,instrument_id,price
Flags output:        seq,account_id,state,equity,margin_e6

    maint_e6[0] = 0
    maint_e6[t] = maint_e6[t-1] + floor[t] * (mmr[t] - mmr[t-1])
    equity      = collateral + sum(qty * (P - entry) * v)
    notional    = |qty| * P * v                       (positions with qty != 0)
    tier t      = last tier with floor <= notional
    margin_e6   = sum(notional * mmr[t] - maint_e6[t])  (positions with qty != 0)
    state       = HEALTHY      if the account has no position with qty != 0
                  LIQUIDATE    if margin_e6 >= equity * 10**6
                  MARGIN_CALL  if margin_e6 * 10000 >= equity * 10**6 * warn_bps
                  HEALTHY      otherwise
"""

import argparse
import csv
import os
import sys
from bisect import bisect_right

HEALTHY = "HEALTHY"
MARGIN_CALL = "MARGIN_CALL"
LIQUIDATE = "LIQUIDATE"

DEFAULT_WARN_BPS = 8000
MAX_TIERS = 16

INSTRUMENTS_HEADER = ["instrument_id", "symbol", "tick_size",
                      "value_per_lot_tick", "max_price", "mark_price"]
BRACKETS_HEADER = ["instrument_id", "notional_floor", "mmr_ppm"]
ACCOUNTS_HEADER = ["account_id", "collateral"]
POSITIONS_HEADER = ["account_id", "instrument_id", "qty", "entry_price"]
TAPE_HEADER = ["seq", "instrument_id", "price"]
FLAGS_HEADER = ["seq", "account_id", "state", "equity", "margin_e6"]


# ---------------------------------------------------------------------------
# Input reading and validation
# ---------------------------------------------------------------------------

class InputError(Exception):
    """Bad input: names the file, the line (1-based) and the field."""

    def __init__(self, path, line, field, message):
        super().__init__(path, line, field, message)
        self.path = path
        self.line = line
        self.field = field
        self.message = message

    def __str__(self):
        return "%s:%d: field '%s': %s" % (self.path, self.line, self.field,
                                         self.message)


def read_rows(path, header):
    """Return [(line_number, {field: text})] for the data rows of a CSV file.

    The first line must be exactly `header`.  Blank lines are skipped.
    Every other row must have exactly len(header) fields.
    """
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as err:
        raise InputError(path, 0, "-", "cannot open file: %s" % err.strerror)
    rows = []
    with handle:
        reader = csv.reader(handle)
        try:
            first = next(reader, None)
            if first is None:
                raise InputError(path, 1, "header",
                                 "file is empty, expected header %s"
                                 % ",".join(header))
            if first != header:
                raise InputError(path, 1, "header",
                                 "expected header %s, got %s"
                                 % (",".join(header), ",".join(first)))
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise InputError(path, line, "-",
                                     "expected %d fields, got %d"
                                     % (len(header), len(row)))
                rows.append((line, dict(zip(header, row))))
        except csv.Error as err:
            raise InputError(path, reader.line_num, "-", "CSV error: %s" % err)
        except UnicodeDecodeError:
            raise InputError(path, reader.line_num + 1, "-",
                             "file is not valid UTF-8")
    return rows


def parse_int(path, line, row, field, lo=None, hi=None):
    """Parse row[field] as a plain decimal integer (optional leading '-')."""
    text = row[field]
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise InputError(path, line, field, "not an integer: %r" % text)
    value = int(text)
    if lo is not None and value < lo:
        raise InputError(path, line, field,
                         "value %d is below the minimum %d" % (value, lo))
    if hi is not None and value > hi:
        raise InputError(path, line, field,
                         "value %d is above the maximum %d" % (value, hi))
    return value


class Instrument:
    def __init__(self, instrument_id, symbol, tick_size, v, max_price,
                 mark_price):
        self.instrument_id = instrument_id
        self.symbol = symbol
        self.tick_size = tick_size
        self.v = v                    # value_per_lot_tick
        self.max_price = max_price
        self.mark_price = mark_price
        self.floors = []              # notional floors, strictly increasing
        self.mmrs = []                # mmr_ppm per tier
        self.maint_e6 = []            # maintenance amount per tier


class Book:
    def __init__(self):
        self.instruments = {}         # instrument_id -> Instrument
        self.collateral = {}          # account_id -> collateral
        self.positions = {}           # account_id -> [(instrument_id, qty, entry)]
        self.holders = {}             # instrument_id -> [account_id] (sorted)


def load_book(book_dir):
    """Read and validate the four book files of `book_dir`."""
    book = Book()

    # instruments.csv
    path = os.path.join(book_dir, "instruments.csv")
    for line, row in read_rows(path, INSTRUMENTS_HEADER):
        iid = parse_int(path, line, row, "instrument_id", lo=0)
        if iid in book.instruments:
            raise InputError(path, line, "instrument_id",
                             "duplicate instrument_id %d" % iid)
        if row["symbol"] == "":
            raise InputError(path, line, "symbol", "empty symbol")
        # tick_size is the decimal price of one tick; the model never uses it.
        tick_size = row["tick_size"]
        if tick_size == "":
            raise InputError(path, line, "tick_size", "empty tick_size")
        v = parse_int(path, line, row, "value_per_lot_tick", lo=1)
        max_price = parse_int(path, line, row, "max_price", lo=1)
        mark = parse_int(path, line, row, "mark_price", lo=1, hi=max_price)
        book.instruments[iid] = Instrument(iid, row["symbol"], tick_size, v,
                                           max_price, mark)
        book.holders[iid] = []

    # brackets.csv: rows per instrument, in file order (floors must rise along the file).
    path = os.path.join(book_dir, "brackets.csv")
    tiers = {iid: [] for iid in book.instruments}
    for line, row in read_rows(path, BRACKETS_HEADER):
        iid = parse_int(path, line, row, "instrument_id", lo=0)
        if iid not in book.instruments:
            raise InputError(path, line, "instrument_id",
                             "unknown instrument_id %d" % iid)
        floor = parse_int(path, line, row, "notional_floor", lo=0)
        mmr = parse_int(path, line, row, "mmr_ppm", lo=0)
        tiers[iid].append((floor, mmr, line))
    for iid, rows in tiers.items():
        if not rows:
            raise InputError(path, 0, "instrument_id",
                             "instrument %d has no brackets" % iid)
        if len(rows) > MAX_TIERS:
            raise InputError(path, rows[MAX_TIERS][2], "instrument_id",
                             "instrument %d has %d brackets, at most %d "
                             "allowed" % (iid, len(rows), MAX_TIERS))
        ins = book.instruments[iid]
        for t, (floor, mmr, line) in enumerate(rows):
            if t == 0:
                if floor != 0:
                    raise InputError(path, line, "notional_floor",
                                     "lowest floor of instrument %d must be "
                                     "0, got %d" % (iid, floor))
                maint = 0
            else:
                if floor <= ins.floors[t - 1]:
                    raise InputError(path, line, "notional_floor",
                                     "floor %d does not rise above %d for "
                                     "instrument %d" % (floor, ins.floors[t - 1], iid))
                if mmr < ins.mmrs[t - 1]:
                    raise InputError(path, line, "mmr_ppm",
                                     "mmr_ppm %d decreases (previous tier "
                                     "%d) for instrument %d"
                                     % (mmr, ins.mmrs[t - 1], iid))
                maint = ins.maint_e6[t - 1] + floor * (mmr - ins.mmrs[t - 1])
            ins.floors.append(floor)
            ins.mmrs.append(mmr)
            ins.maint_e6.append(maint)

    # accounts.csv
    path = os.path.join(book_dir, "accounts.csv")
    for line, row in read_rows(path, ACCOUNTS_HEADER):
        aid = parse_int(path, line, row, "account_id", lo=0)
        if aid in book.collateral:
            raise InputError(path, line, "account_id",
                             "duplicate account_id %d" % aid)
        book.collateral[aid] = parse_int(path, line, row, "collateral")
        book.positions[aid] = []

    # positions.csv
    path = os.path.join(book_dir, "positions.csv")
    seen = set()
    for line, row in read_rows(path, POSITIONS_HEADER):
        aid = parse_int(path, line, row, "account_id", lo=0)
        if aid not in book.collateral:
            raise InputError(path, line, "account_id",
                             "unknown account_id %d" % aid)
        iid = parse_int(path, line, row, "instrument_id", lo=0)
        if iid not in book.instruments:
            raise InputError(path, line, "instrument_id",
                             "unknown instrument_id %d" % iid)
        if (aid, iid) in seen:
            raise InputError(path, line, "instrument_id",
                             "second position of account %d in instrument %d"
                             % (aid, iid))
        seen.add((aid, iid))
        qty = parse_int(path, line, row, "qty")
        entry = parse_int(path, line, row, "entry_price", lo=1,
                          hi=book.instruments[iid].max_price)
        book.positions[aid].append((iid, qty, entry))
        book.holders[iid].append(aid)

    for aid_list in book.holders.values():
        aid_list.sort()
    return book


def load_tape(path, book):
    """Return [(seq, instrument_id, price)] after validating every row."""
    tape = []
    last_seq = 0
    for line, row in read_rows(path, TAPE_HEADER):
        seq = parse_int(path, line, row, "seq", lo=1)
        if seq <= last_seq:
            raise InputError(path, line, "seq",
                             "seq %d is not greater than previous seq %d"
                             % (seq, last_seq))
        last_seq = seq
        iid = parse_int(path, line, row, "instrument_id", lo=0)
        if iid not in book.instruments:
            raise InputError(path, line, "instrument_id",
                             "unknown instrument_id %d" % iid)
        price = parse_int(path, line, row, "price", lo=1,
                          hi=book.instruments[iid].max_price)
        tape.append((seq, iid, price))
    return tape


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

def position_margin_e6(ins, qty, price):
    """notional * mmr[t] - maint_e6[t] for the tier t of this notional."""
    notional = abs(qty) * price * ins.v
    t = bisect_right(ins.floors, notional) - 1   # last tier with floor <= notional
    return notional * ins.mmrs[t] - ins.maint_e6[t]


def classify(equity, margin_e6, has_open, warn_bps):
    if not has_open:
        return HEALTHY
    if margin_e6 >= equity * 10**6:
        return LIQUIDATE
    if margin_e6 * 10000 >= equity * 10**6 * warn_bps:
        return MARGIN_CALL
    return HEALTHY


class Model:
    def __init__(self, book, warn_bps=DEFAULT_WARN_BPS):
        self.book = book
        self.warn_bps = warn_bps
        self.prices = {iid: ins.mark_price
                       for iid, ins in book.instruments.items()}
        self.state = None             # account_id -> state, set by load_flags

    def evaluate(self, account_id):
        """Full recompute of one account: (equity, margin_e6, state)."""
        book = self.book
        equity = book.collateral[account_id]
        margin_e6 = 0
        has_open = False
        for iid, qty, entry in book.positions[account_id]:
            ins = book.instruments[iid]
            price = self.prices[iid]
            equity += qty * (price - entry) * ins.v
            if qty != 0:
                has_open = True
                margin_e6 += position_margin_e6(ins, qty, price)
        return equity, margin_e6, classify(equity, margin_e6, has_open,
                                           self.warn_bps)

    def load_flags(self):
        """Evaluate every account at mark prices; flag the non-HEALTHY ones."""
        flags = []
        self.state = {}
        for aid in sorted(self.book.collateral):
            equity, margin_e6, state = self.evaluate(aid)
            self.state[aid] = state
            if state != HEALTHY:
                flags.append((0, aid, state, equity, margin_e6))
        return flags

    def update(self, seq, instrument_id, price):
        """Apply one tape row; flag the accounts whose state changed."""
        assert self.state is not None, "call load_flags() first"
        self.prices[instrument_id] = price
        flags = []
        for aid in self.book.holders[instrument_id]:   # sorted account ids
            equity, margin_e6, state = self.evaluate(aid)
            if state != self.state[aid]:
                self.state[aid] = state
                flags.append((seq, aid, state, equity, margin_e6))
        return flags


def run_model(book, tape, warn_bps=DEFAULT_WARN_BPS):
    """All flags, in (seq, account_id) order."""
    model = Model(book, warn_bps)
    flags = model.load_flags()
    for seq, iid, price in tape:
        flags.extend(model.update(seq, iid, price))
    return flags


def flag_lines(flags):
    """The flags file as a list of lines (header first), without newlines."""
    lines = [",".join(FLAGS_HEADER)]
    for seq, aid, state, equity, margin_e6 in flags:
        lines.append("%d,%d,%s,%d,%d" % (seq, aid, state, equity, margin_e6))
    return lines


# ---------------------------------------------------------------------------
# --check: compare a flags file produced by the Rust CLI
# ---------------------------------------------------------------------------

def read_flags_lines(path):
    """Lines of a flags file, with a trailing `cycle` column removed."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        raise InputError(path, 0, "-", "cannot open file: %s" % err.strerror)
    except UnicodeDecodeError:
        raise InputError(path, 0, "-", "file is not valid UTF-8")
    lines = text.splitlines()
    while lines and lines[-1] == "":
        lines.pop()
    if lines and lines[0].split(",")[-1] == "cycle":
        lines = [line.rsplit(",", 1)[0] for line in lines]
    return lines


def compare(expected, got):
    """Return None if identical, else (line_number, expected, got)."""
    for i in range(max(len(expected), len(got))):
        want = expected[i] if i < len(expected) else "<end of file>"
        have = got[i] if i < len(got) else "<end of file>"
        if want != have:
            return i + 1, want, have
    return None


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Reference model of riskpipe's liquidation risk check.")
    parser.add_argument("--book", required=True,
                        help="directory with instruments.csv, brackets.csv, "
                             "accounts.csv, positions.csv")
    parser.add_argument("--prices", required=True, help="price tape CSV")
    parser.add_argument("--warn-bps", type=int, default=DEFAULT_WARN_BPS,
                        help="MARGIN_CALL threshold in basis points "
                             "(default %d)" % DEFAULT_WARN_BPS)
    parser.add_argument("--out", help="write the model's flags here")
    parser.add_argument("--check",
                        help="compare this flags file (from the Rust CLI) "
                             "with the model's flags")
    args = parser.parse_args(argv)
    if args.out is None and args.check is None:
        parser.error("at least one of --out and --check is required")
    if args.warn_bps < 0:
        parser.error("--warn-bps must not be negative")

    try:
        book = load_book(args.book)
        tape = load_tape(args.prices, book)
        expected = flag_lines(run_model(book, tape, args.warn_bps))
        if args.out is not None:
            try:
                with open(args.out, "w", newline="", encoding="utf-8") as out:
                    out.write("".join(line + "\n" for line in expected))
            except OSError as err:
                raise InputError(args.out, 0, "-",
                                 "cannot write file: %s" % err.strerror)
        if args.check is None:
            return 0
        got = read_flags_lines(args.check)
    except InputError as err:
        print("risk_model: error: %s" % err, file=sys.stderr)
        return 2

    diff = compare(expected, got)
    n_expected = len(expected) - 1
    n_got = max(len(got) - 1, 0)
    if diff is None:
        print("model check: %d flags identical" % n_expected)
        return 0
    line, want, have = diff
    print("model check: MISMATCH in %s at line %d" % (args.check, line))
    print("  expected: %s" % want)
    print("  got:      %s" % have)
    print("  counts: model %d flags, %s %d flags"
          % (n_expected, args.check, n_got))
    return 1


if __name__ == "__main__":
    sys.exit(main())
