# Vivado script for an Alveo U55C (xcu55c-fsvh2892-2L-e). NOT RUN HERE: Vivado is not available
# on the machine this project is built on, so nothing below has been executed, and no figure in
# this repository comes from it. README.md (next to this file) says what each mode does, what
# it needs and what is still missing for a card a host can drive.
#
# From the repository root:
#
#   vivado -mode batch -source bitstreams/alveo/riskpipe_u55c.tcl -tclargs engine [OUT]
#   vivado -mode batch -source bitstreams/alveo/riskpipe_u55c.tcl -tclargs card [OUT]
#
# engine  The margin engine alone (module `top` of bitstreams/riskpipe.v, the default
#         configuration MarginEngine<8, 13, 15, 8>), synthesised out of context, placed and
#         routed against 250 MHz (engine_ooc.xdc); writes the timing summary, the worst paths
#         and the utilisation into OUT (default target/alveo/engine). No bitstream: out of
#         context the ports reach no pins.
# card    Creates the card's project in OUT (default target/alveo/card): the engine's Verilog,
#         the XDMA IP in AXI-bridge mode (PCIe Gen3 x16, 512-bit AXI at 250 MHz, BAR0 of
#         16 KiB) with its output products, and u55c.xdc. It stops there: the shell that joins
#         the XDMA's AXI ports to the engine (README.md, "The AXI glue") is not written yet, so
#         there is no card top level to synthesise.

set part xcu55c-fsvh2892-2L-e
set board_part xilinx.com:au55c:part0:1.0

set here [file normalize [file dirname [info script]]]
set root [file normalize [file join $here .. ..]]
set engine_v [file join $root bitstreams riskpipe.v]

set mode engine
if {$argc >= 1} { set mode [lindex $argv 0] }
if {$mode ni {engine card}} {
    puts stderr "riskpipe_u55c.tcl: mode must be `engine` or `card`, not `$mode`"
    exit 2
}
if {$argc >= 2} {
    set out [file normalize [lindex $argv 1]]
} else {
    set out [file join $root target alveo $mode]
}
if {![file exists $engine_v]} {
    puts stderr "riskpipe_u55c.tcl: $engine_v is missing (riskpipe verilog --out bitstreams)"
    exit 2
}
file mkdir $out

if {$mode eq "engine"} {
    # Non-project flow: every step is explicit and its report lands in $out.
    read_verilog $engine_v
    read_xdc -mode out_of_context [file join $here engine_ooc.xdc]
    synth_design -top top -part $part -mode out_of_context
    # The clock constraint must have reached the engine's clock port.
    set period [get_property PERIOD [get_clocks engine_clk]]
    if {$period != 4.000} {
        puts stderr "riskpipe_u55c.tcl: engine_clk has period $period ns, expected 4.000"
        exit 1
    }
    report_utilization -file [file join $out utilization_synth.txt]
    write_checkpoint -force [file join $out synth.dcp]
    opt_design
    place_design
    phys_opt_design
    route_design
    write_checkpoint -force [file join $out routed.dcp]
    report_timing_summary -max_paths 20 -file [file join $out timing_summary.txt]
    report_timing -max_paths 20 -nworst 1 -sort_by group -file [file join $out worst_paths.txt]
    report_utilization -file [file join $out utilization.txt]
    report_utilization -hierarchical -hierarchical_depth 2 \
        -file [file join $out utilization_hierarchy.txt]
    report_ram_utilization -file [file join $out ram_utilization.txt]
    # The achieved frequency from the worst setup slack at 4.000 ns.
    set wns [get_property SLACK [get_timing_paths -delay_type max -max_paths 1]]
    set fmax [expr {1000.0 / (4.000 - $wns)}]
    set summary [open [file join $out fmax.txt] w]
    puts $summary [format "WNS %.3f ns at 4.000 ns: Fmax %.1f MHz (part %s)" $wns $fmax $part]
    close $summary
    puts [format "riskpipe_u55c.tcl: WNS %.3f ns, Fmax %.1f MHz; reports in %s" $wns $fmax $out]
    exit 0
}

# mode card: the project, the XDMA IP and the engine.
create_project -force riskpipe_u55c $out -part $part
if {[lsearch [get_board_parts -quiet] $board_part] >= 0} {
    set_property board_part $board_part [current_project]
    set have_board 1
} else {
    puts "riskpipe_u55c.tcl: board part $board_part is not installed: the XDMA's pins are not"
    puts "    placed from the board file. Install the U55C board files (Vivado's board store)"
    puts "    and run again, or set the IP's GT locations and the pins by hand."
    set have_board 0
}
add_files -norecurse $engine_v
add_files -fileset constrs_1 -norecurse [file join $here u55c.xdc]

create_ip -name xdma -vendor xilinx.com -library ip -module_name riskpipe_xdma
set xdma [get_ips riskpipe_xdma]
# AXI-bridge mode, not DMA mode: the host writes commands into a BAR0 window and the card
# writes completion entries and the status block at host addresses the host programmed
# (docs/driver.md, section 1). The bridge gives exactly those two paths: BAR0 accesses as
# AXI4 transactions on its master port (M_AXI_B), and card-initiated memory writes through
# its AXI4 slave port (S_AXI_B). DMA mode would instead fetch descriptors from host memory,
# one more round trip per transfer.
set_property -dict [list \
    CONFIG.functional_mode {AXI_Bridge} \
    CONFIG.mode_selection {Advanced} \
    CONFIG.pl_link_cap_max_link_speed {8.0_GT/s} \
    CONFIG.pl_link_cap_max_link_width {X16} \
    CONFIG.axi_data_width {512_bit} \
    CONFIG.axisten_freq {250} \
    CONFIG.en_axi_slave_if {true} \
    CONFIG.pf0_bar0_scale {Kilobytes} \
    CONFIG.pf0_bar0_size {16} \
] $xdma
if {$have_board} {
    # The board interfaces place the lanes, the reference clock and PERST#. The names are
    # the ones the U55C board file is expected to use; if the IP refuses them, pick the
    # board's PCIe interface in the IP's customisation dialog instead.
    if {[catch {
        set_property -dict [list \
            CONFIG.PCIE_BOARD_INTERFACE {pci_express} \
            CONFIG.SYS_RST_N_BOARD_INTERFACE {pcie_perstn} \
        ] $xdma
    } err]} {
        puts "riskpipe_u55c.tcl: could not set the XDMA's board interfaces: $err"
    }
}
generate_target all $xdma
synth_ip $xdma

set_property top top [current_fileset]
puts "riskpipe_u55c.tcl: project written to $out (XDMA IP riskpipe_xdma and the engine)."
puts "    There is no card top level yet: the shell between the XDMA's M_AXI_B / S_AXI_B and"
puts "    the engine's s_axil / s_cmd / m_flag ports (bitstreams/alveo/README.md, \"The AXI"
puts "    glue\") has not been written. Synthesising this project as it stands would build"
puts "    the engine alone with its ports on pins, which the device cannot hold: use the"
puts "    `engine` mode for the engine's timing and utilisation."
exit 0
